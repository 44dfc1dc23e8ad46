//! A client's hour bank as stored: reads `time_entries`, runs the bank arithmetic from the
//! client's first period on (so rollover is exact), and gives the statement and tracking sheet
//! of one period. Also owns `bank_alerts`, the record of the 75% and 100% emails.

use super::bank::{hours_text, opening_banks, period_containing, statement, BankRules, EntryLine, Period, Statement};
use super::entries::{entries_before, StoredEntry};
use super::EntryKind;
use crate::config::{ClientConfig, Config};
use crate::storage::{time_to_db, Conn};
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// One row of the SOP's hour-tracking sheet.
#[derive(Debug, Clone, Serialize)]
pub struct SheetLine {
    pub date: NaiveDate,
    pub ticket: Option<i64>,
    pub task: String,
    pub minutes: i64,
    pub kind: EntryKind,
    /// Included time used so far this period, after this line.
    pub running_total_minutes: i64,
    pub notes: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientPeriod {
    pub client: String,
    pub tier: String,
    pub period: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub included_minutes: i64,
    pub rollover_minutes: i64,
    pub statement: Statement,
    pub sheet: Vec<SheetLine>,
}

pub fn rules_for(config: &Config, client: &ClientConfig) -> BankRules {
    let mut rules = config.hours.tiers[&client.tier];
    if let Some(included) = client.included_minutes {
        rules.included_minutes = included;
        rules.bank_cap_minutes = rules.bank_cap_minutes.max(included);
    }
    rules
}

/// The bank, statement and sheet of `client` for `period`, from its stored entries.
pub async fn client_period(
    conn: &mut Conn,
    config: &Config,
    client: &ClientConfig,
    period: Period,
) -> anyhow::Result<ClientPeriod> {
    let entries = entries_before(conn, &client.name, period.end).await?;
    Ok(period_of(&entries, config, client, period))
}

/// The bank, statement and sheet of `client` for `period`, given all of its entries before
/// the period's end (`entries_before`), oldest first. Pure: the bank is computed from the
/// client's first period on, so rollover is exact.
pub fn period_of(entries: &[StoredEntry], config: &Config, client: &ClientConfig, period: Period) -> ClientPeriod {
    let anchor = client.period_anchor_day;
    let entries: Vec<&StoredEntry> = entries.iter().filter(|e| e.date < period.end).collect();
    // Consecutive periods from the first entry's (or the asked one) to the asked one.
    let mut periods =
        vec![entries.first().map(|e| period_containing(e.date, anchor)).unwrap_or(period).min_by_start(period)];
    while periods.last().expect("one period").start < period.start {
        let next = periods.last().expect("one period").next(anchor);
        periods.push(next);
    }
    let rules = rules_for(config, client);
    let lines_of = |p: &Period| -> Vec<&StoredEntry> {
        entries.iter().copied().filter(|e| e.date >= p.start && e.date < p.end).collect()
    };
    // Included use per period needs each period's own bank: compute them in order.
    let mut banks = Vec::new();
    let mut used = Vec::new();
    for p in &periods {
        let bank = opening_banks(&rules, &used.iter().copied().chain([0]).collect::<Vec<_>>())[used.len()];
        let lines: Vec<EntryLine> =
            lines_of(p).iter().map(|e| EntryLine { minutes: e.minutes, kind: e.kind }).collect();
        let period_statement = statement(bank, &lines, &config.hours.rates);
        used.push(period_statement.included_used_minutes);
        banks.push(bank);
    }
    let available = *banks.last().expect("one period");
    let own = lines_of(&period);
    let lines: Vec<EntryLine> = own.iter().map(|e| EntryLine { minutes: e.minutes, kind: e.kind }).collect();
    let period_statement = statement(available, &lines, &config.hours.rates);
    let mut running = 0;
    let sheet = own
        .iter()
        .zip(&period_statement.per_entry)
        .map(|(entry, counted)| {
            running += counted.included;
            let notes = match entry.kind {
                EntryKind::Billable => "Billable".to_string(),
                EntryKind::Emergency => "Emergency (after hours)".to_string(),
                EntryKind::Included if counted.overage > 0 && counted.included > 0 => {
                    format!("Included {}, overage {}", hours_text(counted.included), hours_text(counted.overage))
                }
                EntryKind::Included if counted.overage > 0 => "Overage".to_string(),
                EntryKind::Included => "Included".to_string(),
            };
            SheetLine {
                date: entry.date,
                ticket: entry.ticket,
                task: entry.task.clone(),
                minutes: entry.minutes,
                kind: entry.kind,
                running_total_minutes: running,
                notes,
            }
        })
        .collect();
    ClientPeriod {
        client: client.name.clone(),
        tier: client.tier.as_str().to_string(),
        period: period.name(),
        period_start: period.start,
        period_end: period.end,
        included_minutes: rules.included_minutes,
        rollover_minutes: available - rules.included_minutes,
        statement: period_statement,
        sheet,
    }
}

trait MinByStart {
    fn min_by_start(self, other: Period) -> Period;
}

impl MinByStart for Period {
    fn min_by_start(self, other: Period) -> Period {
        if self.start <= other.start {
            self
        } else {
            other
        }
    }
}

/// Records that the `percent` alert of a period was sent; false when it already was.
pub async fn record_bank_alert(
    conn: &mut Conn,
    client: &str,
    period: &Period,
    percent: u8,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO bank_alerts (client, period_start, percent, sent_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (client, period_start, percent) DO NOTHING",
    )
    .bind(client)
    .bind(period.start.format("%Y-%m-%d").to_string())
    .bind(percent as i64)
    .bind(time_to_db(now))
    .execute(&mut *conn)
    .await
    .context("record bank alert")?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether the email of `percent` was recorded for the client's period: one indexed lookup,
/// where computing the period's bank reads all of the client's entries.
pub async fn bank_alert_recorded(conn: &mut Conn, client: &str, period: &Period, percent: u8) -> anyhow::Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM bank_alerts WHERE client = $1 AND period_start = $2 AND percent = $3")
            .bind(client)
            .bind(period.start.format("%Y-%m-%d").to_string())
            .bind(percent as i64)
            .fetch_optional(&mut *conn)
            .await
            .context("bank alert recorded")?;
    Ok(found.is_some())
}
