//! The clients (`[[clients]]`): who they are (domains, contacts), their tier and what of it
//! is their own (meeting, included hours, billing day, contract). Each client is read on its
//! own, so that one client's mistakes do not hide another's.
//!
//! Rules between clients (a domain or contact claimed twice, names that differ only in case)
//! are in `validate`.

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};
use toml::Value;

use super::fields::{self, Parse};
use super::read::{Reader, Table};
use super::sla::MeetingSection;
use crate::domain::{EmailAddress, Tier};
use crate::sla::MeetingSchedule;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub name: String,
    pub tier: Tier,
    pub domains: Vec<String>,
    pub contacts: Vec<EmailAddress>,
    /// Where due times are shown to this client; the agent's timezone when absent.
    pub timezone: Option<Tz>,
    /// This client's own P3 meeting schedule (else the tier's).
    pub meeting: Option<MeetingSchedule>,
    /// Included hours per period, when not the tier's.
    pub included_minutes: Option<i64>,
    /// The day of the month a billing period starts (1..31; 31 = the last day). Default 1.
    pub period_anchor_day: u32,
    /// Who gets the hour-bank emails and reports (else the requester of the ticket at hand).
    pub report_to: Option<EmailAddress>,
    pub contact_name: Option<String>,
    pub contract: Option<Contract>,
    /// Send this client's reports without waiting for the agent's `#send`.
    pub auto_send_reports: bool,
}

/// The client's contract, for renewal signals and the renewal rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub start: NaiveDate,
    pub annual: bool,
    /// When the client cancelled (the contract then ends at the next renewal date).
    pub cancelled_on: Option<NaiveDate>,
}

/// One `[[clients]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSection {
    name: String,
    #[serde(deserialize_with = "fields::parsed")]
    tier: Tier,
    /// Written without `@` (a leading one is dropped, with a warning).
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default, deserialize_with = "fields::list")]
    contacts: Vec<EmailAddress>,
    #[serde(default, deserialize_with = "fields::some")]
    timezone: Option<Tz>,
    #[serde(default)]
    meeting: Option<MeetingSection>,
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 0, 10_000>")]
    included_hours: Option<i64>,
    #[serde(default = "first_day", deserialize_with = "fields::int::<_, _, 1, 31>")]
    period_anchor_day: u32,
    #[serde(default, deserialize_with = "fields::some")]
    report_to: Option<EmailAddress>,
    #[serde(default)]
    contact_name: Option<String>,
    #[serde(default, deserialize_with = "contract_date")]
    contract_start: Option<NaiveDate>,
    /// "monthly" (default) or "annual".
    #[serde(default, deserialize_with = "fields::parsed")]
    contract_term: Term,
    #[serde(default, deserialize_with = "contract_date")]
    cancelled_on: Option<NaiveDate>,
    #[serde(default)]
    auto_send_reports: bool,
}

fn first_day() -> u32 {
    1
}

fn contract_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    fields::date_like(deserializer, "2026-01-15").map(Some)
}

#[derive(Default, PartialEq)]
enum Term {
    #[default]
    Monthly,
    Annual,
}

impl Parse for Term {
    fn parse(raw: &str) -> Result<Term, String> {
        match raw {
            "monthly" => Ok(Term::Monthly),
            "annual" => Ok(Term::Annual),
            other => Err(format!("expected monthly or annual, found {other:?}")),
        }
    }
}

/// Every client that reads, with its place in the file (`clients[N]`).
pub(super) fn read(reader: &mut Reader, root: &Table) -> Vec<(String, ClientConfig)> {
    let items = match root.get("clients") {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            reader.problem("clients", "must be a list of [[clients]] tables");
            return Vec::new();
        }
    };
    let mut clients = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let key = format!("clients[{index}]");
        if !item.is_table() {
            reader.problem(&key, "must be a table");
            continue;
        }
        if let Some(section) = reader.read::<ClientSection>(&key, item) {
            let client = client(reader, &key, section);
            clients.push((key, client));
        }
    }
    clients
}

fn client(reader: &mut Reader, key: &str, section: ClientSection) -> ClientConfig {
    for (position, domain) in section.domains.iter().enumerate() {
        if domain.trim().starts_with('@') {
            let read_as = domain.trim().trim_start_matches('@');
            reader.warnings.push(format!(
                "{key}.domains[{position}]: {domain:?} is read as {read_as:?} (write a domain without @)"
            ));
        }
    }
    let domains: Vec<String> =
        section.domains.iter().map(|domain| domain.trim().trim_start_matches('@').to_ascii_lowercase()).collect();
    if domains.is_empty() && section.contacts.is_empty() {
        reader.problem(key, "a client needs at least one of domains or contacts");
    }
    for (position, domain) in domains.iter().enumerate() {
        if EmailAddress::parse(&format!("x@{domain}")).is_none() {
            reader.problem(&format!("{key}.domains[{position}]"), format!("{domain:?} is not a domain"));
        }
    }
    let meeting = section.meeting.and_then(|meeting| meeting.schedule(reader, &format!("{key}.meeting")));
    let contract = section.contract_start.map(|start| Contract {
        start,
        annual: section.contract_term == Term::Annual,
        cancelled_on: section.cancelled_on,
    });
    ClientConfig {
        name: section.name,
        tier: section.tier,
        domains,
        contacts: section.contacts,
        timezone: section.timezone,
        meeting,
        included_minutes: section.included_hours.map(|hours| hours * 60),
        period_anchor_day: section.period_anchor_day,
        report_to: section.report_to,
        contact_name: section.contact_name,
        contract,
        auto_send_reports: section.auto_send_reports,
    }
}
