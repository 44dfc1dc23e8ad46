//! The business calendar: working days and hours in local wall time, holidays, meeting
//! schedules, and spans added in working time (DST gaps and folds handled). Pure.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::{MeetingSchedule, Span};
use crate::config::BusinessHoursConfig;

pub fn is_working_day(at: DateTime<Utc>, calendar: &BusinessHoursConfig) -> bool {
    is_working_date(at.with_timezone(&calendar.timezone).date_naive(), calendar)
}

pub(super) fn is_working_date(date: NaiveDate, calendar: &BusinessHoursConfig) -> bool {
    calendar.days.contains(&date.weekday()) && !calendar.holidays.contains(&date)
}

pub fn is_within_business_hours(at: DateTime<Utc>, calendar: &BusinessHoursConfig) -> bool {
    let local = at.with_timezone(&calendar.timezone).naive_local();
    is_working_date(local.date(), calendar) && local.time() >= calendar.opens && local.time() < calendar.closes
}

/// `start` plus `span`, in UTC. With no working day in ten years (an empty calendar) or no
/// meeting schedule, business spans fall back to calendar time.
pub fn add_span(
    start: DateTime<Utc>,
    span: Span,
    calendar: &BusinessHoursConfig,
    meeting: Option<&MeetingSchedule>,
) -> DateTime<Utc> {
    let local_start = start.with_timezone(&calendar.timezone).naive_local();
    let local_end = match span {
        Span::Hours(hours) => return start + Duration::hours(hours),
        Span::BusinessDayHours(hours) => {
            walk_working_time(local_start, Duration::hours(hours), calendar, |_| (NaiveTime::MIN, None))
        }
        Span::BusinessHours(hours) => walk_working_time(local_start, Duration::hours(hours), calendar, |_| {
            (calendar.opens, Some(calendar.closes))
        }),
        Span::NextMeeting => meeting.map(|schedule| next_working_meeting(schedule, local_start, calendar)),
    };
    match local_end {
        Some(local) => local_to_utc(local, calendar),
        None => {
            let hours = match span {
                Span::Hours(h) | Span::BusinessDayHours(h) | Span::BusinessHours(h) => h,
                Span::NextMeeting => 24 * 7,
            };
            start + Duration::hours(hours)
        }
    }
}

/// Consumes `remaining` inside each working day's window (`window(date)` gives its opening
/// time and closing time, None = midnight), in local wall time.
pub(super) fn walk_working_time(
    start: NaiveDateTime,
    mut remaining: Duration,
    calendar: &BusinessHoursConfig,
    window: impl Fn(NaiveDate) -> (NaiveTime, Option<NaiveTime>),
) -> Option<NaiveDateTime> {
    let mut date = start.date();
    for _ in 0..3660 {
        if is_working_date(date, calendar) {
            let (opens, closes) = window(date);
            let open_at = date.and_time(opens);
            let close_at = match closes {
                Some(time) => date.and_time(time),
                None => (date + Duration::days(1)).and_time(NaiveTime::MIN),
            };
            let from = open_at.max(start);
            if from < close_at {
                let available = close_at - from;
                if remaining <= available {
                    return Some(from + remaining);
                }
                remaining -= available;
            }
        }
        date += Duration::days(1);
    }
    None
}

/// The first meeting after `after` that falls on a working day (a meeting on a holiday or a
/// weekend does not happen); the first meeting at all when none does within 500 meetings.
pub(super) fn next_working_meeting(
    schedule: &MeetingSchedule,
    after: NaiveDateTime,
    calendar: &BusinessHoursConfig,
) -> NaiveDateTime {
    let first = next_meeting(schedule, after);
    let mut candidate = first;
    for _ in 0..500 {
        if is_working_date(candidate.date(), calendar) {
            return candidate;
        }
        candidate = next_meeting(schedule, candidate);
    }
    first
}

/// The next moment the agent is at work: `at` itself inside business hours, else the next
/// opening (in UTC). `at` when the calendar has no working day at all.
pub fn next_business_opening(at: DateTime<Utc>, calendar: &BusinessHoursConfig) -> DateTime<Utc> {
    let local = at.with_timezone(&calendar.timezone).naive_local();
    match walk_working_time(local, Duration::zero(), calendar, |_| (calendar.opens, Some(calendar.closes))) {
        Some(opening) if opening > local => local_to_utc(opening, calendar),
        _ => at,
    }
}

/// The first meeting strictly after `after` (local wall time).
pub fn next_meeting(schedule: &MeetingSchedule, after: NaiveDateTime) -> NaiveDateTime {
    match schedule {
        MeetingSchedule::EveryDays { days, first } => {
            if after < *first {
                return *first;
            }
            let periods = (after - *first).num_days() / days;
            let mut candidate = *first + Duration::days(periods * days);
            while candidate <= after {
                candidate += Duration::days(*days);
            }
            candidate
        }
        MeetingSchedule::Monthly { day, time } => {
            let mut year = after.year();
            let mut month = after.month();
            for _ in 0..24 {
                let last_day = last_day_of_month(year, month);
                let date = NaiveDate::from_ymd_opt(year, month, (*day).min(last_day)).expect("valid day");
                let candidate = date.and_time(*time);
                if candidate > after {
                    return candidate;
                }
                (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            }
            after + Duration::days(31)
        }
    }
}

pub(super) fn last_day_of_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let first_of_next = NaiveDate::from_ymd_opt(next_year, next_month, 1).expect("valid date");
    (first_of_next - Duration::days(1)).day()
}

/// The start of a local date in `timezone`, in UTC (midnight read as UTC if it does not exist).
pub fn local_midnight(timezone: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    timezone
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|time| time.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)))
}

/// Local wall time to UTC: in a DST gap the first valid instant after it, in a fold the
/// earlier of the two.
pub(super) fn local_to_utc(local: NaiveDateTime, calendar: &BusinessHoursConfig) -> DateTime<Utc> {
    for shift in 0..4 {
        match calendar.timezone.from_local_datetime(&(local + Duration::minutes(30 * shift))) {
            LocalResult::Single(time) => return time.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    Utc.from_utc_datetime(&local)
}
