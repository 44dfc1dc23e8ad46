//! The one agent (`[agent]`: who he is, where he reads, what proves his mail) and the
//! calendar the SLA clocks run on (`[business_hours]`, in his time zone unless told).

use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use super::fields;
use super::read::{Reader, Table};
use crate::domain::EmailAddress;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub name: String,
    #[serde(default, deserialize_with = "fields::list")]
    pub addresses: Vec<EmailAddress>,
    /// Where the agent reads times (default UTC).
    #[serde(default = "utc", deserialize_with = "fields::parsed")]
    pub timezone: Tz,
    /// authserv-ids whose `Authentication-Results` (DMARC or DKIM pass) prove the agent's mail.
    #[serde(default)]
    pub trusted_authserv_ids: Vec<String>,
    /// A signed Message-ID of the desk's mail to the agent authenticates his replies for this
    /// many days after it was sent (default 30).
    #[serde(default = "thirty", deserialize_with = "fields::int::<_, _, 1, 3650>")]
    pub signed_id_max_age_days: i64,
    /// At most this many "not acted on" mails an hour for mail in the agent's name that was not
    /// authenticated (default 5); past it, one notice, and the daily summary counts the rest.
    #[serde(default = "five", deserialize_with = "fields::int::<_, _, 1, 1000>")]
    pub unverified_feedback_per_hour: u32,
}

fn utc() -> Tz {
    Tz::UTC
}

fn thirty() -> i64 {
    30
}

fn five() -> u32 {
    5
}

/// `[agent]`, which is required.
pub(super) fn read(reader: &mut Reader, root: &Table) -> Option<AgentConfig> {
    let Some(value) = reader.section(root, "agent") else {
        reader.problem("agent", "an [agent] section with name and addresses is required");
        return None;
    };
    let agent: AgentConfig = reader.read("agent", value)?;
    if agent.addresses.is_empty() {
        reader.problem("agent.addresses", "at least one address is required");
    }
    Some(agent)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHoursConfig {
    /// The agent's time zone when not given (see `read_business_hours`).
    #[serde(deserialize_with = "fields::parsed")]
    pub timezone: Tz,
    /// Working days (default mon..fri).
    #[serde(deserialize_with = "fields::list")]
    pub days: Vec<Weekday>,
    /// Opening hours on a working day (default 09:00 to 17:00).
    #[serde(deserialize_with = "time_like_0900")]
    pub opens: NaiveTime,
    #[serde(deserialize_with = "time_like_0900")]
    pub closes: NaiveTime,
    /// Days that are not working days, such as 2026-12-25.
    #[serde(deserialize_with = "fields::list")]
    pub holidays: Vec<NaiveDate>,
}

impl Default for BusinessHoursConfig {
    fn default() -> BusinessHoursConfig {
        BusinessHoursConfig {
            timezone: Tz::UTC,
            days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            opens: NaiveTime::from_hms_opt(9, 0, 0).expect("valid time"),
            closes: NaiveTime::from_hms_opt(17, 0, 0).expect("valid time"),
            holidays: Vec::new(),
        }
    }
}

fn time_like_0900<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
    fields::time_like(deserializer, "09:00")
}

/// `[business_hours]`: the agent's time zone unless the section names one.
pub(super) fn read_business_hours(
    reader: &mut Reader,
    root: &Table,
    agent: Option<&AgentConfig>,
) -> BusinessHoursConfig {
    let mut config: BusinessHoursConfig = reader.section_or_default(root, "business_hours");
    let names_timezone = root.get("business_hours").and_then(|section| section.get("timezone")).is_some();
    if !names_timezone {
        config.timezone = agent.map(|agent| agent.timezone).unwrap_or(Tz::UTC);
    }
    if config.opens >= config.closes {
        reader.problem("business_hours.closes", "must be later than opens");
    }
    config
}
