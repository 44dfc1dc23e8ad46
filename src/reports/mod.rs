//! Reports: the agent's daily summary, the SOP's success metrics, and upsell and renewal
//! signals, and the tiers' client reports. Reads the other modules' tables; writes only
//! `daily_summaries` and `client_reports`.

pub mod daily;
pub mod metrics;
pub mod signals;
pub mod charts;
pub mod client;
