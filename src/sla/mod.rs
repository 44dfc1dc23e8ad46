//! SLA clocks: response and resolution due times from the tier x severity matrix (the SOP's
//! by default, configurable), counted on the business calendar, and the state of a ticket's
//! clocks at a given moment. Pure: every function takes the time it works from.
//!
//! How the SOP's words are read (also in docs/sla.md):
//! - P0 counts calendar hours, round the clock. ENTERPRISE P0 response is 1 hour when the mail
//!   arrives within business hours and 4 hours otherwise (`P0_after_hours`).
//! - "N hours" elsewhere in the matrix counts business-day hours: time passes on working days
//!   only (all 24 hours of them). "48 hours (business days)" from Friday 15:00 is Tuesday 15:00.
//!   ENTERPRISE mail that arrives on a non-working day is answered within 24 calendar hours
//!   (`non_working_day`).
//! - "N business days" is N x 24 business-day hours: from Friday 15:00, 3 business days is
//!   Wednesday 15:00; from Saturday, the end of Wednesday.
//! - P3 resolution "next maintenance window / bi-weekly call / weekly check-in" is the first
//!   meeting of the tier's (or client's) schedule after the response is due (a ticket cannot
//!   be resolved before it is answered).
//! - Arithmetic is done in local wall time, so a daylight-saving change never moves a
//!   deadline by an hour.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::config::BusinessHoursConfig;
use crate::domain::{Severity, Tier};

mod calendar;

pub use calendar::*;

/// One SLA target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Calendar hours, round the clock.
    Hours(i64),
    /// Hours that pass on working days only (all 24 of them).
    BusinessDayHours(i64),
    /// Hours within opening hours only.
    BusinessHours(i64),
    /// The next meeting of the schedule (P3 resolution).
    NextMeeting,
}

impl Span {
    /// "4 hours", "24 business-day hours", "8 business hours", "3 business days", "next meeting".
    pub fn parse(text: &str) -> Result<Span, String> {
        let words: Vec<String> = text.split_whitespace().map(|w| w.to_ascii_lowercase()).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let number = |raw: &str| raw.parse::<i64>().ok().filter(|n| *n > 0 && *n <= 24 * 366);
        let span = match words.as_slice() {
            ["next", "meeting"] => Some(Span::NextMeeting),
            [n, "hour" | "hours"] => number(n).map(Span::Hours),
            [n, "business-day", "hour" | "hours"] => number(n).map(Span::BusinessDayHours),
            [n, "business", "hour" | "hours"] => number(n).map(Span::BusinessHours),
            [n, "business", "day" | "days"] => number(n).map(|days| Span::BusinessDayHours(days * 24)),
            _ => None,
        };
        span.ok_or_else(|| {
            format!("{text:?}: expected \"N hours\", \"N business-day hours\", \"N business hours\", \"N business days\" or \"next meeting\"")
        })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Hours(n) => write!(f, "{n} hours"),
            Span::BusinessDayHours(24) => f.write_str("1 business day"),
            Span::BusinessDayHours(n) if n % 24 == 0 => write!(f, "{} business days", n / 24),
            Span::BusinessDayHours(n) => write!(f, "{n} business-day hours"),
            Span::BusinessHours(n) => write!(f, "{n} business hours"),
            Span::NextMeeting => f.write_str("next meeting"),
        }
    }
}

/// A recurring meeting: every N days from a first one, or a day of each month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingSchedule {
    EveryDays { days: i64, first: NaiveDateTime },
    Monthly { day: u32, time: NaiveTime },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierTargets {
    /// P0..P3.
    pub response: [Span; 4],
    pub resolution: [Span; 4],
    /// P0 response when the mail arrives outside business hours.
    pub p0_response_after_hours: Option<Span>,
    /// Non-P0 response when the mail arrives on a non-working day.
    pub response_on_non_working_day: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlaConfig {
    pub tiers: BTreeMap<Tier, TierTargets>,
    pub meetings: BTreeMap<Tier, MeetingSchedule>,
    /// Warn the agent when this fraction of a target is left (default 0.25).
    pub warn_when_left: f64,
    /// A client reply within this many days of the close reopens the ticket; later, a new
    /// ticket that links to the old one.
    pub reopen_window_days: i64,
    /// Stop both clocks while the ticket waits on the client (`#waiting`). Off by default.
    pub pause_while_waiting: bool,
}

impl Default for SlaConfig {
    fn default() -> SlaConfig {
        use Span::*;
        let days = |n: i64| BusinessDayHours(n * 24);
        let tiers = BTreeMap::from([
            (
                Tier::Starter,
                TierTargets {
                    response: [Hours(4), BusinessDayHours(24), BusinessDayHours(48), days(5)],
                    resolution: [Hours(24), days(3), days(5), NextMeeting],
                    p0_response_after_hours: None,
                    response_on_non_working_day: None,
                },
            ),
            (
                Tier::Growth,
                TierTargets {
                    response: [Hours(2), BusinessDayHours(8), BusinessDayHours(24), days(3)],
                    resolution: [Hours(12), days(2), days(3), NextMeeting],
                    p0_response_after_hours: None,
                    response_on_non_working_day: None,
                },
            ),
            (
                Tier::Enterprise,
                TierTargets {
                    response: [Hours(1), BusinessDayHours(2), BusinessDayHours(4), BusinessDayHours(24)],
                    resolution: [Hours(4), days(1), days(2), NextMeeting],
                    p0_response_after_hours: Some(Hours(4)),
                    response_on_non_working_day: Some(Hours(24)),
                },
            ),
        ]);
        let ten = NaiveTime::from_hms_opt(10, 0, 0).expect("valid time");
        // Anchored on Tuesday 2026-01-06 10:00 local: bi-weekly and weekly calls.
        let first_call = NaiveDate::from_ymd_opt(2026, 1, 6).expect("valid date").and_time(ten);
        let meetings = BTreeMap::from([
            (Tier::Starter, MeetingSchedule::Monthly { day: 1, time: ten }),
            (Tier::Growth, MeetingSchedule::EveryDays { days: 14, first: first_call }),
            (Tier::Enterprise, MeetingSchedule::EveryDays { days: 7, first: first_call }),
        ]);
        SlaConfig { tiers, meetings, warn_when_left: 0.25, reopen_window_days: 14, pause_while_waiting: false }
    }
}

fn index(severity: Severity) -> usize {
    match severity {
        Severity::P0 => 0,
        Severity::P1 => 1,
        Severity::P2 => 2,
        Severity::P3 => 3,
    }
}

/// The response target that applies to a mail arriving at `arrived_at`.
pub fn response_span(
    sla: &SlaConfig,
    tier: Tier,
    severity: Severity,
    arrived_at: DateTime<Utc>,
    calendar: &BusinessHoursConfig,
) -> Span {
    let targets = &sla.tiers[&tier];
    if severity == Severity::P0 {
        if let Some(after_hours) = targets.p0_response_after_hours {
            if !is_within_business_hours(arrived_at, calendar) {
                return after_hours;
            }
        }
    } else if let Some(weekend) = targets.response_on_non_working_day {
        if !is_working_day(arrived_at, calendar) {
            return weekend;
        }
    }
    targets.response[index(severity)]
}

/// Both due times of a ticket that started at `started_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    pub first_response: DateTime<Utc>,
    pub resolution: DateTime<Utc>,
}

pub fn due_times(
    sla: &SlaConfig,
    tier: Tier,
    severity: Severity,
    started_at: DateTime<Utc>,
    calendar: &BusinessHoursConfig,
    meeting: Option<&MeetingSchedule>,
) -> DueTimes {
    let meeting = meeting.or_else(|| sla.meetings.get(&tier));
    let response = response_span(sla, tier, severity, started_at, calendar);
    let first_response = add_span(started_at, response, calendar, meeting);
    let resolution = match sla.tiers[&tier].resolution[index(severity)] {
        // A ticket cannot be resolved before it is answered: the meeting after the response due.
        Span::NextMeeting => add_span(first_response.max(started_at), Span::NextMeeting, calendar, meeting),
        span => add_span(started_at, span, calendar, meeting),
    };
    DueTimes { first_response, resolution }
}

/// Where one clock stands (`tickets --json` shows it as `sla`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Met,
    Ok,
    AtRisk,
    Breached,
}

impl ClockState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::Met => "met",
            ClockState::Ok => "ok",
            ClockState::AtRisk => "at_risk",
            ClockState::Breached => "breached",
        }
    }
}

/// A clock that started at `started_at`, is due at `due_at`, and was stopped at `stopped_at`
/// (the first response, or the close), seen at `now`.
pub fn clock_state(
    started_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    stopped_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    warn_when_left: f64,
) -> ClockState {
    match stopped_at {
        Some(stopped) if stopped <= due_at => ClockState::Met,
        Some(_) => ClockState::Breached,
        None if now > due_at => ClockState::Breached,
        None => {
            let total = (due_at - started_at).num_seconds().max(1) as f64;
            let left = (due_at - now).num_seconds() as f64;
            if left <= total * warn_when_left {
                ClockState::AtRisk
            } else {
                ClockState::Ok
            }
        }
    }
}

/// The ticket's overall state: breached if either clock breached, else at risk if either is,
/// else met when both are met, else ok.
pub fn ticket_state(response: ClockState, resolution: ClockState) -> ClockState {
    match (response, resolution) {
        (ClockState::Breached, _) | (_, ClockState::Breached) => ClockState::Breached,
        (ClockState::AtRisk, _) | (_, ClockState::AtRisk) => ClockState::AtRisk,
        (ClockState::Met, ClockState::Met) => ClockState::Met,
        _ => ClockState::Ok,
    }
}

#[cfg(test)]
mod tests;
