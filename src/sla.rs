//! SLA clocks: when the first response to a ticket is due, from the SOP's "Response Time SLAs"
//! matrix, counted on the configured business calendar. Pure: every function takes the time
//! it works from.
//!
//! How the SOP's words are read (documented in README.md):
//! - P0 is critical and counts round the clock ("calendar" hours). ENTERPRISE P0 is 1 hour
//!   when the mail arrives within business hours and 4 hours after hours.
//! - Every other target counts "business-day hours": hours pass on working days only (all 24
//!   of them), not on weekends or holidays. "48 hours (business days)" from Friday 15:00 is
//!   Tuesday 15:00. ENTERPRISE mail that arrives on a non-working day is answered within 24
//!   calendar hours ("24 hours (weekends)").
//! - Arithmetic is done in local wall-clock time, so a daylight-saving change never moves a
//!   deadline by an hour.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};

use crate::config::BusinessHoursConfig;
use crate::domain::{Severity, Tier};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Every hour counts.
    Calendar,
    /// Only hours on working days count.
    BusinessDays,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub hours: i64,
    pub clock: Clock,
}

/// The SOP's response target for a ticket of `severity` from a `tier` client that arrived at
/// `arrived_at`.
pub fn response_target(
    tier: Tier,
    severity: Severity,
    arrived_at: DateTime<Utc>,
    calendar: &BusinessHoursConfig,
) -> Target {
    use Clock::*;
    let in_hours = is_within_business_hours(arrived_at, calendar);
    let working_day = is_working_day(arrived_at, calendar);
    match (tier, severity) {
        (Tier::Starter, Severity::P0) => Target { hours: 4, clock: Calendar },
        (Tier::Growth, Severity::P0) => Target { hours: 2, clock: Calendar },
        (Tier::Enterprise, Severity::P0) => Target { hours: if in_hours { 1 } else { 4 }, clock: Calendar },
        (Tier::Enterprise, _) if !working_day => Target { hours: 24, clock: Calendar },
        (Tier::Starter, Severity::P1) => Target { hours: 24, clock: BusinessDays },
        (Tier::Growth, Severity::P1) => Target { hours: 8, clock: BusinessDays },
        (Tier::Enterprise, Severity::P1) => Target { hours: 2, clock: BusinessDays },
        (Tier::Starter, Severity::P2) => Target { hours: 48, clock: BusinessDays },
        (Tier::Growth, Severity::P2) => Target { hours: 24, clock: BusinessDays },
        (Tier::Enterprise, Severity::P2) => Target { hours: 4, clock: BusinessDays },
        (Tier::Starter, Severity::P3) => Target { hours: 5 * 24, clock: BusinessDays },
        (Tier::Growth, Severity::P3) => Target { hours: 3 * 24, clock: BusinessDays },
        (Tier::Enterprise, Severity::P3) => Target { hours: 24, clock: BusinessDays },
    }
}

pub fn first_response_due_at(
    tier: Tier,
    severity: Severity,
    arrived_at: DateTime<Utc>,
    calendar: &BusinessHoursConfig,
) -> DateTime<Utc> {
    add_target(arrived_at, response_target(tier, severity, arrived_at, calendar), calendar)
}

pub fn is_working_day(at: DateTime<Utc>, calendar: &BusinessHoursConfig) -> bool {
    let local = at.with_timezone(&calendar.timezone).naive_local();
    is_working_date(local, calendar)
}

fn is_working_date(local: NaiveDateTime, calendar: &BusinessHoursConfig) -> bool {
    calendar.days.contains(&local.weekday()) && !calendar.holidays.contains(&local.date())
}

pub fn is_within_business_hours(at: DateTime<Utc>, calendar: &BusinessHoursConfig) -> bool {
    let local = at.with_timezone(&calendar.timezone).naive_local();
    is_working_date(local, calendar) && local.time() >= calendar.opens && local.time() < calendar.closes
}

/// `start` plus `target`, in UTC.
pub fn add_target(start: DateTime<Utc>, target: Target, calendar: &BusinessHoursConfig) -> DateTime<Utc> {
    match target.clock {
        Clock::Calendar => start + Duration::hours(target.hours),
        Clock::BusinessDays => {
            let mut local = start.with_timezone(&calendar.timezone).naive_local();
            let mut remaining = Duration::hours(target.hours);
            // Each pass consumes what is left of one local day (or skips a non-working one).
            for _ in 0..3660 {
                let next_midnight = (local.date() + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight exists");
                if is_working_date(local, calendar) {
                    let left_today = next_midnight - local;
                    if remaining <= left_today {
                        return local_to_utc(local + remaining, calendar);
                    }
                    remaining -= left_today;
                }
                local = next_midnight;
            }
            // No working day within ten years: the calendar is empty; fall back to calendar time.
            start + Duration::hours(target.hours)
        }
    }
}

/// Local wall time to UTC: in a DST gap the first valid instant after it, in a fold the
/// earlier of the two.
fn local_to_utc(local: NaiveDateTime, calendar: &BusinessHoursConfig) -> DateTime<Utc> {
    match calendar.timezone.from_local_datetime(&local) {
        LocalResult::Single(time) => time.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => local_to_utc(local + Duration::hours(1), calendar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_config;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn check(tier: Tier, severity: Severity, arrived: &str, expected_due: &str) {
        let calendar = sample_config().business_hours;
        assert_eq!(
            first_response_due_at(tier, severity, utc(arrived), &calendar),
            utc(expected_due),
            "{tier} {severity} {arrived}"
        );
    }

    #[test]
    fn sop_matrix_on_a_new_york_calendar() {
        // Friday 15:00 New York (20:00Z), 2026-11-27.
        check(Tier::Starter, Severity::P2, "2026-11-27T20:00:00Z", "2026-12-01T20:00:00Z");
        check(Tier::Growth, Severity::P2, "2026-11-27T20:00:00Z", "2026-11-30T20:00:00Z");
        check(Tier::Growth, Severity::P0, "2026-11-27T20:00:00Z", "2026-11-27T22:00:00Z");
        check(Tier::Enterprise, Severity::P0, "2026-11-27T20:00:00Z", "2026-11-27T21:00:00Z");
        // Enterprise P0 at 22:00 New York is after hours: 4 hours.
        check(Tier::Enterprise, Severity::P0, "2026-11-28T03:00:00Z", "2026-11-28T07:00:00Z");
        // Enterprise P2 on Saturday: 24 calendar hours.
        check(Tier::Enterprise, Severity::P2, "2026-11-28T15:00:00Z", "2026-11-29T15:00:00Z");
        // Starter P2 on Saturday: the clock starts Monday 00:00 local.
        check(Tier::Starter, Severity::P2, "2026-11-28T15:00:00Z", "2026-12-02T05:00:00Z");
    }

    #[test]
    fn daylight_saving_does_not_move_a_deadline() {
        // Friday 2026-10-30 10:00 EDT (14:00Z); 48 business-day hours ends Tuesday 10:00 EST
        // (15:00Z) after the clocks go back on Sunday 2026-11-01.
        check(Tier::Starter, Severity::P2, "2026-10-30T14:00:00Z", "2026-11-03T15:00:00Z");
    }
}
