//! Hour-bank arithmetic, pure: billing periods with a per-client anchor day, the bank each
//! period starts with (included hours plus rollover, capped), and the statement of a period
//! (included time used, overage, billable and emergency time, money in integer cents).
//!
//! A period is never "closed" by writing anything: every figure is computed from the time
//! entries, so closing is idempotent by construction and happens by itself when a date falls
//! past the boundary.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::EntryKind;
use crate::domain::Tier;

/// One billing period: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// Named by the month it starts in: "2026-11".
    pub fn name(&self) -> String {
        self.start.format("%Y-%m").to_string()
    }

    pub fn previous(&self, anchor_day: u32) -> Period {
        period_containing(self.start - Duration::days(1), anchor_day)
    }

    pub fn next(&self, anchor_day: u32) -> Period {
        period_containing(self.end, anchor_day)
    }
}

fn anchor_date(year: i32, month: u32, anchor_day: u32) -> NaiveDate {
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let last = (NaiveDate::from_ymd_opt(next_year, next_month, 1).expect("valid date") - Duration::days(1)).day();
    NaiveDate::from_ymd_opt(year, month, anchor_day.clamp(1, 31).min(last)).expect("valid date")
}

fn month_after(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// The period that holds `date`. With anchor day 31 the period starts on the last day of
/// short months (February 28/29, April 30).
pub fn period_containing(date: NaiveDate, anchor_day: u32) -> Period {
    let this_month = anchor_date(date.year(), date.month(), anchor_day);
    let start = if date >= this_month {
        this_month
    } else {
        let (year, month) = if date.month() == 1 { (date.year() - 1, 12) } else { (date.year(), date.month() - 1) };
        anchor_date(year, month, anchor_day)
    };
    let (year, month) = month_after(start.year(), start.month());
    Period { start, end: anchor_date(year, month, anchor_day) }
}

/// The period named "YYYY-MM" (the one starting in that month).
pub fn period_named(name: &str, anchor_day: u32) -> Option<Period> {
    let first = NaiveDate::parse_from_str(&format!("{name}-01"), "%Y-%m-%d").ok()?;
    let start = anchor_date(first.year(), first.month(), anchor_day);
    Some(period_containing(start, anchor_day))
}

/// A tier's bank rules (SOP "Hour Bank Management" and "Rollover Policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankRules {
    pub included_minutes: i64,
    pub rollover_max_minutes: i64,
    pub bank_cap_minutes: i64,
}

impl BankRules {
    pub fn for_tier(tier: Tier) -> BankRules {
        let hours = |h: i64| h * 60;
        match tier {
            Tier::Starter => {
                BankRules { included_minutes: hours(5), rollover_max_minutes: 0, bank_cap_minutes: hours(5) }
            }
            Tier::Growth => {
                BankRules { included_minutes: hours(10), rollover_max_minutes: hours(5), bank_cap_minutes: hours(15) }
            }
            Tier::Enterprise => {
                BankRules { included_minutes: hours(20), rollover_max_minutes: hours(10), bank_cap_minutes: hours(30) }
            }
        }
    }

    /// The bank a period starts with, given what was left of the previous one.
    pub fn opening_bank(&self, previous_left: i64) -> i64 {
        let rollover = previous_left.clamp(0, self.rollover_max_minutes);
        (self.included_minutes + rollover).min(self.bank_cap_minutes.max(self.included_minutes))
    }
}

/// Opening banks of consecutive periods, from each period's included minutes used. The first
/// period starts with the plain included hours.
pub fn opening_banks(rules: &BankRules, included_used_per_period: &[i64]) -> Vec<i64> {
    let mut banks = Vec::with_capacity(included_used_per_period.len());
    let mut previous_left: Option<i64> = None;
    for used in included_used_per_period {
        let bank = match previous_left {
            None => rules.included_minutes,
            Some(left) => rules.opening_bank(left),
        };
        banks.push(bank);
        previous_left = Some(bank - used);
    }
    banks
}

/// Money rates in cents per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rates {
    pub overage_cents_per_hour: i64,
    pub emergency_cents_per_hour: i64,
    /// Billable work beyond the subscription (new features, training ...).
    pub billable_cents_per_hour: i64,
}

impl Default for Rates {
    fn default() -> Rates {
        Rates { overage_cents_per_hour: 15_000, emergency_cents_per_hour: 30_000, billable_cents_per_hour: 15_000 }
    }
}

/// `minutes` at `cents_per_hour`, rounded half up to a cent.
pub fn amount_cents(minutes: i64, cents_per_hour: i64) -> i64 {
    (minutes * cents_per_hour + 30) / 60
}

/// An entry as the statement sees it, in the order it was logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    pub minutes: i64,
    pub kind: EntryKind,
}

/// How one entry was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub included: i64,
    pub overage: i64,
    pub billable: i64,
    pub emergency: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub available_minutes: i64,
    pub included_used_minutes: i64,
    pub remaining_minutes: i64,
    pub overage_minutes: i64,
    pub overage_cents: i64,
    pub billable_minutes: i64,
    pub billable_cents: i64,
    pub emergency_minutes: i64,
    pub emergency_cents: i64,
    /// Everything beyond the subscription price.
    pub total_beyond_subscription_cents: i64,
    pub per_entry: Vec<Counted>,
}

impl Statement {
    /// Included time used plus overage: all the support time of the period.
    pub fn used_minutes(&self) -> i64 {
        self.included_used_minutes + self.overage_minutes
    }
}

/// Counts a period's entries against its bank: included time uses the bank until it is empty;
/// the part of an entry beyond it is overage. Billable and emergency time never touch the bank.
pub fn statement(available_minutes: i64, entries: &[EntryLine], rates: &Rates) -> Statement {
    let mut left = available_minutes;
    let mut per_entry = Vec::with_capacity(entries.len());
    for entry in entries {
        let counted = match entry.kind {
            EntryKind::Included => {
                let included = entry.minutes.min(left.max(0));
                left -= included;
                Counted { included, overage: entry.minutes - included, billable: 0, emergency: 0 }
            }
            EntryKind::Billable => Counted { included: 0, overage: 0, billable: entry.minutes, emergency: 0 },
            EntryKind::Emergency => Counted { included: 0, overage: 0, billable: 0, emergency: entry.minutes },
        };
        per_entry.push(counted);
    }
    let sum = |f: fn(&Counted) -> i64| per_entry.iter().map(f).sum::<i64>();
    let (included, overage, billable, emergency) =
        (sum(|c| c.included), sum(|c| c.overage), sum(|c| c.billable), sum(|c| c.emergency));
    let overage_cents = amount_cents(overage, rates.overage_cents_per_hour);
    let billable_cents = amount_cents(billable, rates.billable_cents_per_hour);
    let emergency_cents = amount_cents(emergency, rates.emergency_cents_per_hour);
    Statement {
        available_minutes,
        included_used_minutes: included,
        remaining_minutes: (available_minutes - included).max(0),
        overage_minutes: overage,
        overage_cents,
        billable_minutes: billable,
        billable_cents,
        emergency_minutes: emergency,
        emergency_cents,
        total_beyond_subscription_cents: overage_cents + billable_cents + emergency_cents,
        per_entry,
    }
}

/// Which usage alerts a new entry makes due: 75% and 100% of the bank, each crossed at most
/// once per period (the caller records what was sent).
pub fn thresholds_crossed(available: i64, used_before: i64, used_after: i64) -> Vec<u8> {
    let mut crossed = Vec::new();
    if available <= 0 {
        return crossed;
    }
    for percent in [75u8, 100] {
        let threshold = available * percent as i64;
        if used_before * 100 < threshold && used_after * 100 >= threshold {
            crossed.push(percent);
        }
    }
    crossed
}

/// "$1,234.50" from cents.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// "1.5h", "0.25h", "10h".
pub fn hours_text(minutes: i64) -> String {
    let hours = minutes as f64 / 60.0;
    let text = format!("{hours:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}h")
}

#[cfg(test)]
mod tests;
