//! Reports: the agent's daily summary, the SOP's success metrics, and upsell and renewal
//! signals. Reads the other modules' tables; writes only `daily_summaries`.

pub mod daily;
pub mod metrics;
pub mod signals;
