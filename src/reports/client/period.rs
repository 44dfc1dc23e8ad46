//! Report periods: ISO weeks, calendar months and quarters, in local dates.

use chrono::{Datelike, Duration, IsoWeek, NaiveDate, Weekday};

use super::ReportKind;

/// A report period: `start` inclusive, `end` exclusive, local dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPeriod {
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

fn week_period(week: IsoWeek) -> ReportPeriod {
    let start = NaiveDate::from_isoywd_opt(week.year(), week.week(), Weekday::Mon).expect("valid week");
    ReportPeriod { name: format!("{}-W{:02}", week.year(), week.week()), start, end: start + Duration::days(7) }
}

fn month_period(year: i32, month: u32) -> ReportPeriod {
    let start = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    let end =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) }
            .expect("valid month");
    ReportPeriod { name: format!("{year}-{month:02}"), start, end }
}

fn quarter_period(year: i32, quarter: u32) -> ReportPeriod {
    let start = NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1).expect("valid quarter");
    let end = if quarter == 4 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, quarter * 3 + 1, 1)
    }
    .expect("valid quarter");
    ReportPeriod { name: format!("{year}-Q{quarter}"), start, end }
}

/// "2026-W48", "2026-11", "2026-Q4".
pub fn parse_period(kind: ReportKind, text: &str) -> Option<ReportPeriod> {
    match kind {
        ReportKind::Weekly => {
            let (year, week) = text.split_once("-W")?;
            let start = NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)?;
            Some(week_period(start.iso_week()))
        }
        ReportKind::Monthly => {
            let (year, month) = text.split_once('-')?;
            let month: u32 = month.parse().ok()?;
            let year: i32 = year.parse().ok()?;
            (1..=12).contains(&month).then(|| month_period(year, month))
        }
        ReportKind::Quarterly => {
            let (year, quarter) = text.split_once("-Q")?;
            let quarter: u32 = quarter.parse().ok()?;
            let year: i32 = year.parse().ok()?;
            (1..=4).contains(&quarter).then(|| quarter_period(year, quarter))
        }
    }
}

/// The last complete period of `kind` before `today`.
pub fn last_complete_period(kind: ReportKind, today: NaiveDate) -> ReportPeriod {
    match kind {
        ReportKind::Weekly => week_period((today - Duration::days(7)).iso_week()),
        ReportKind::Monthly => {
            let previous = today.with_day(1).expect("day 1") - Duration::days(1);
            month_period(previous.year(), previous.month())
        }
        ReportKind::Quarterly => {
            let quarter_start = NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1).expect("valid");
            let previous = quarter_start - Duration::days(1);
            quarter_period(previous.year(), previous.month0() / 3 + 1)
        }
    }
}
