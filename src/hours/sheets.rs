//! What the hour commands read, as data: a client's period chosen by name or by today, its
//! bank and tracking sheet, each client's use of the current period, and the entries of a
//! period. The CLI prints them (`cli::hours`, `cli::time`); nothing here prints.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::bank::{period_containing, period_named, Period};
use super::entries::{list_entries, EntryRow};
use super::ledger::{client_period, rules_for, ClientPeriod};
use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::domain::{EmailAddress, Tier};

/// The period named by the month it starts in ("2026-11"), or without a name the one holding
/// `today`; periods start on `anchor_day`.
pub fn period_or_current(name: Option<&str>, anchor_day: u32, today: NaiveDate) -> anyhow::Result<Period> {
    match name {
        Some(name) => period_named(name, anchor_day).with_context(|| format!("{name:?} is not a period like 2026-11")),
        None => Ok(period_containing(today, anchor_day)),
    }
}

/// The agent's date at `now` (his timezone).
fn agent_today(desk: &Desk, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&desk.config.agent.timezone).date_naive()
}

/// The bank, statement and sheet of `client` for the period named (default: the current one).
pub async fn client_sheet(
    desk: &Desk,
    client: &ClientConfig,
    period: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<ClientPeriod> {
    let period = period_or_current(period, client.period_anchor_day, agent_today(desk, now))?;
    let mut conn = desk.db.acquire().await?;
    client_period(&mut conn, &desk.config, client, period).await
}

/// One client and its use of the current period, as `clients` shows it. The fields are in
/// alphabetical order, the order `clients --json` has always printed them in.
#[derive(Debug, Clone, Serialize)]
pub struct ClientUse {
    pub available_minutes: i64,
    pub contacts: Vec<EmailAddress>,
    pub domains: Vec<String>,
    pub included_minutes: i64,
    pub name: String,
    pub overage_minutes: i64,
    pub period: String,
    pub remaining_minutes: i64,
    pub tier: Tier,
    pub used_minutes: i64,
}

/// Every client of the config, in its order, with this period's use.
pub async fn clients_use(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<Vec<ClientUse>> {
    let mut rows = Vec::new();
    for client in &desk.config.clients {
        let bank = client_sheet(desk, client, None, now).await?;
        rows.push(ClientUse {
            available_minutes: bank.statement.available_minutes,
            contacts: client.contacts.clone(),
            domains: client.domains.clone(),
            included_minutes: rules_for(&desk.config, client).included_minutes,
            name: client.name.clone(),
            overage_minutes: bank.statement.overage_minutes,
            period: bank.period,
            remaining_minutes: bank.statement.remaining_minutes,
            tier: client.tier,
            used_minutes: bank.statement.included_used_minutes,
        });
    }
    Ok(rows)
}

/// The entries of `client` (or of every client) in a period: the client's billing period, or
/// without a client the calendar month; the one named, or the current one.
pub async fn entries_in_period(
    desk: &Desk,
    client: Option<&ClientConfig>,
    period: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<(Period, Vec<EntryRow>)> {
    let anchor = client.map_or(1, |client| client.period_anchor_day);
    let period = period_or_current(period, anchor, agent_today(desk, now))?;
    let entries = list_entries(&desk.db, client.map(|c| c.name.as_str()), period.start, period.end).await?;
    Ok((period, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_use_keeps_the_field_order_clients_json_has_always_printed() {
        let row = ClientUse {
            available_minutes: 600,
            contacts: vec![EmailAddress::parse("ops@partner.test").unwrap()],
            domains: vec!["acme.test".into()],
            included_minutes: 600,
            name: "Acme".into(),
            overage_minutes: 0,
            period: "2026-12".into(),
            remaining_minutes: 360,
            tier: Tier::Growth,
            used_minutes: 240,
        };
        // A `serde_json::Value` keeps its keys sorted: the struct must write them in that order.
        let written = serde_json::to_string(&row).unwrap();
        let sorted = serde_json::to_string(&serde_json::to_value(&row).unwrap()).unwrap();
        assert_eq!(written, sorted);
        assert!(written.contains(r#""tier":"growth""#), "{written}");
    }
}
