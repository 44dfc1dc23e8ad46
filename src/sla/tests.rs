use super::*;
use crate::testing::sample_config;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn calendar() -> BusinessHoursConfig {
    let mut calendar = sample_config().business_hours;
    calendar.holidays.push(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
    calendar
}

#[test]
fn the_sop_matrix_table() {
    let table = include_str!("../../tests/data/sla/matrix.txt");
    let sla = SlaConfig::default();
    let mut checked = 0;
    for line in table.lines().filter(|line| !line.trim().is_empty() && !line.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let tier: Tier = fields[0].parse().unwrap();
        let severity: Severity = fields[1].parse().unwrap();
        let due = due_times(&sla, tier, severity, utc(fields[2]), &calendar(), None);
        let expected = (utc(fields[3]), utc(fields[4]));
        assert_eq!((due.first_response, due.resolution), expected, "line: {line}");
        checked += 1;
    }
    assert_eq!(checked, 24);
}

#[test]
fn business_hours_count_opening_hours_only() {
    // Friday 2026-12-04 15:00 EST: 2 hours on Friday, 6 on Monday.
    let due = add_span(utc("2026-12-04T20:00:00Z"), Span::BusinessHours(8), &calendar(), None);
    assert_eq!(due, utc("2026-12-07T20:00:00Z"));
    // Before opening: the clock starts at 09:00.
    let due = add_span(utc("2026-12-01T12:00:00Z"), Span::BusinessHours(1), &calendar(), None);
    assert_eq!(due, utc("2026-12-01T15:00:00Z"));
}

#[test]
fn monthly_meetings_clamp_to_short_months() {
    let schedule = MeetingSchedule::Monthly { day: 31, time: NaiveTime::from_hms_opt(10, 0, 0).unwrap() };
    let after = NaiveDate::from_ymd_opt(2027, 2, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    assert_eq!(next_meeting(&schedule, after).date(), NaiveDate::from_ymd_opt(2027, 2, 28).unwrap());
}

#[test]
fn spans_parse_and_print() {
    for text in
        ["4 hours", "30 business-day hours", "8 business hours", "3 business days", "1 business day", "next meeting"]
    {
        assert_eq!(Span::parse(text).unwrap().to_string(), text);
    }
    assert_eq!(Span::parse("24 business-day hours").unwrap(), Span::parse("1 business day").unwrap());
    assert!(Span::parse("soon").is_err());
    assert!(Span::parse("0 hours").is_err());
}

#[test]
fn clock_states() {
    let start = utc("2026-12-01T15:00:00Z");
    let due = utc("2026-12-01T19:00:00Z");
    assert_eq!(clock_state(start, due, None, utc("2026-12-01T16:00:00Z"), 0.25), ClockState::Ok);
    assert_eq!(clock_state(start, due, None, utc("2026-12-01T18:00:00Z"), 0.25), ClockState::AtRisk);
    assert_eq!(clock_state(start, due, None, utc("2026-12-01T19:00:01Z"), 0.25), ClockState::Breached);
    assert_eq!(
        clock_state(start, due, Some(utc("2026-12-01T18:59:00Z")), utc("2027-01-01T00:00:00Z"), 0.25),
        ClockState::Met
    );
    assert_eq!(
        clock_state(start, due, Some(utc("2026-12-01T19:30:00Z")), utc("2027-01-01T00:00:00Z"), 0.25),
        ClockState::Breached
    );
    assert_eq!(ticket_state(ClockState::Met, ClockState::AtRisk), ClockState::AtRisk);
    assert_eq!(ticket_state(ClockState::Met, ClockState::Met), ClockState::Met);
    assert_eq!(ticket_state(ClockState::Breached, ClockState::Met), ClockState::Breached);
}

#[test]
fn a_meeting_on_a_holiday_or_a_weekend_does_not_count_as_the_next_meeting() {
    // The monthly maintenance window on the 25th: 2026-12-25 is a holiday, 2027-01-25 a Monday.
    let schedule = MeetingSchedule::Monthly { day: 25, time: NaiveTime::from_hms_opt(10, 0, 0).unwrap() };
    let due = add_span(utc("2026-12-20T15:00:00Z"), Span::NextMeeting, &calendar(), Some(&schedule));
    assert_eq!(due, utc("2027-01-25T15:00:00Z"), "Dec 25 skipped");
    // On the 1st: 2027-01-01 is a Friday but a holiday once configured; 2027-05-01 a Saturday.
    let mut with_new_year = calendar();
    with_new_year.holidays.push(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
    let first = MeetingSchedule::Monthly { day: 1, time: NaiveTime::from_hms_opt(10, 0, 0).unwrap() };
    let due = add_span(utc("2026-12-20T15:00:00Z"), Span::NextMeeting, &with_new_year, Some(&first));
    assert_eq!(due, utc("2027-02-01T15:00:00Z"), "Jan 1 skipped");
    let due = add_span(utc("2027-04-20T15:00:00Z"), Span::NextMeeting, &with_new_year, Some(&first));
    assert_eq!(due, utc("2027-06-01T14:00:00Z"), "Saturday May 1 skipped (EDT in June)");
}

#[test]
fn the_next_business_opening() {
    // Saturday 2026-12-05 03:38 EST: Monday 09:00.
    assert_eq!(next_business_opening(utc("2026-12-05T08:38:00Z"), &calendar()), utc("2026-12-07T14:00:00Z"));
    // Tuesday 03:38: the same day at 09:00; inside business hours: the moment itself.
    assert_eq!(next_business_opening(utc("2026-12-01T08:38:00Z"), &calendar()), utc("2026-12-01T14:00:00Z"));
    assert_eq!(next_business_opening(utc("2026-12-01T16:00:00Z"), &calendar()), utc("2026-12-01T16:00:00Z"));
    // Thursday 2026-12-24 after closing: the 25th is a holiday, so Monday the 28th.
    assert_eq!(next_business_opening(utc("2026-12-24T23:00:00Z"), &calendar()), utc("2026-12-28T14:00:00Z"));
}
