//! `[summary]` (the agent's daily summary) and `[reports]` (client reports on their tier's
//! schedule).

use chrono::NaiveTime;
use serde::{Deserialize, Deserializer};

use super::fields;

/// The agent's daily summary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SummaryConfig {
    /// Default true.
    pub enabled: bool,
    /// Local time (agent's timezone) the summary is due each day (default 07:30).
    #[serde(deserialize_with = "time_like_0730")]
    pub time: NaiveTime,
}

impl Default for SummaryConfig {
    fn default() -> SummaryConfig {
        SummaryConfig { enabled: true, time: NaiveTime::from_hms_opt(7, 30, 0).expect("valid time") }
    }
}

fn time_like_0730<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
    fields::time_like(deserializer, "07:30")
}

/// Client reports (SOP "Reporting").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Prepare each client's tier reports on their schedule, after the daily summary's time
    /// (default true). Off, reports are made only with `helpdesk report`.
    pub scheduled: bool,
}

impl Default for ReportsConfig {
    fn default() -> ReportsConfig {
        ReportsConfig { scheduled: true }
    }
}
