//! The `time_entries` table: one row per `#time` tag (or CLI entry), already rounded.

use chrono::{DateTime, NaiveDate, Utc};

use super::EntryKind;
use crate::domain::TicketId;
use crate::storage::{time_to_db, Tx};

pub struct NewTimeEntry<'a> {
    pub ticket: Option<TicketId>,
    pub client: Option<&'a str>,
    pub work_date: NaiveDate,
    pub minutes_written: u32,
    pub minutes: u32,
    pub kind: EntryKind,
    pub task: &'a str,
    pub message_row: Option<i64>,
}

pub async fn insert_entry(tx: &mut Tx<'_>, entry: &NewTimeEntry<'_>, now: DateTime<Utc>) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO time_entries (ticket_id, client, work_date, minutes_written, minutes, kind, task, message_row, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(entry.ticket.map(|t| t.0))
    .bind(entry.client)
    .bind(entry.work_date.format("%Y-%m-%d").to_string())
    .bind(entry.minutes_written as i64)
    .bind(entry.minutes as i64)
    .bind(entry.kind.as_str())
    .bind(entry.task)
    .bind(entry.message_row)
    .bind(time_to_db(now))
    .fetch_one(&mut **tx)
    .await?)
}
