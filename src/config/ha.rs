//! `[ha]`: several desks on one database. Exactly one reads the mailbox and does the desk's
//! work at a time (it holds the mailbox lease, `crate::lease`); the others stand by and take
//! over when it stops renewing.

use serde::Deserialize;

use super::fields;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HaConfig {
    /// A standby desk takes the mailbox over this long after the active desk last renewed its
    /// lease (default 15 s). The active desk renews every third of it, and stops working at
    /// half of it without a renewal (a lost database connection), so the clocks of the
    /// machines may differ by up to half of it (run NTP).
    #[serde(deserialize_with = "fields::int::<_, _, 2, 600>")]
    pub takeover_secs: u64,
    /// The name of this machine in `helpdesk status` (default: its hostname). Desks with the
    /// same host name also see at once when another of them has died (its process is gone).
    pub host: Option<String>,
}

impl Default for HaConfig {
    fn default() -> HaConfig {
        HaConfig { takeover_secs: 15, host: None }
    }
}
