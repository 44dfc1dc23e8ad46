//! Where "now" comes from. Only the service loop and the CLI ask a `Clock`; everything below
//! takes the time as an argument. `--now` makes a command run as if it were that moment, to
//! replay or audit what the desk would have done.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => at,
        }
    }
}
