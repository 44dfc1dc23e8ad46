//! The `time_entries` table: one row per `#time` tag (or CLI entry), already rounded.

use chrono::{DateTime, NaiveDate, Utc};

use super::EntryKind;
use crate::domain::TicketId;
use crate::storage::{time_to_db, Db, Tx};

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

/// One stored entry, as `time list` shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct EntryRow {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub client: Option<String>,
    pub work_date: String,
    pub minutes: i64,
    pub kind: String,
    pub task: String,
}

const ENTRY_COLUMNS: &str = "id, ticket_id, client, work_date, minutes, kind, task";

/// The entries of `client` (or every client) whose work date is in `from..=to`, by date.
pub async fn list_entries(
    db: &Db,
    client: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Vec<EntryRow>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM time_entries WHERE work_date BETWEEN ? AND ? AND (? IS NULL OR client = ?)
         ORDER BY work_date, id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from.format("%Y-%m-%d").to_string())
        .bind(to.format("%Y-%m-%d").to_string())
        .bind(client)
        .bind(client)
        .fetch_all(db)
        .await?)
}

pub async fn entry(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<Option<EntryRow>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM time_entries WHERE id = ?");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut **tx).await?)
}

pub async fn delete_entry(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM time_entries WHERE id = ?").bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// What `time edit` changes; `None` leaves a field as it is.
pub struct EntryChange<'a> {
    pub minutes: Option<(u32, u32)>,
    pub task: Option<&'a str>,
    pub kind: Option<EntryKind>,
}

pub async fn update_entry(tx: &mut Tx<'_>, id: i64, change: &EntryChange<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE time_entries SET minutes_written = COALESCE(?, minutes_written), minutes = COALESCE(?, minutes),
                task = COALESCE(?, task), kind = COALESCE(?, kind) WHERE id = ?",
    )
    .bind(change.minutes.map(|(written, _)| written as i64))
    .bind(change.minutes.map(|(_, rounded)| rounded as i64))
    .bind(change.task)
    .bind(change.kind.map(EntryKind::as_str))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
