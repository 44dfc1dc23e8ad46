//! Hours: the time the agent logs against a client's hour bank. `entries` owns the
//! `time_entries` table; the arithmetic here is pure; `bank_emails` sends the 75% and 100%
//! emails. `sheets` and `manual` give the hour commands their data; the CLI prints it.

pub mod bank_emails;
pub mod bank;
pub mod entries;
pub mod ledger;
pub mod manual;
pub mod sheets;

/// The SOP tracks time "in 15-minute increments": each entry is rounded up to the next
/// quarter hour (20 minutes is logged as 30).
pub fn round_up_to_quarter_hour(minutes: u32) -> u32 {
    minutes.div_ceil(15) * 15
}

crate::stored_kind! {
    /// What kind of time an entry is (SOP "Included in Monthly Hours" vs "Billable").
    /// Emergency time is after-hours or weekend P0 work for STARTER and GROWTH, billed at the
    /// emergency rate (ENTERPRISE includes it).
    pub enum EntryKind {
        Included = "included",
        Billable = "billable",
        Emergency = "emergency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_up_to_quarter_hours() {
        for (written, logged) in [(1, 15), (15, 15), (16, 30), (20, 30), (45, 45), (60, 60), (61, 75), (90, 90)] {
            assert_eq!(round_up_to_quarter_hour(written), logged, "{written}");
        }
    }
}
