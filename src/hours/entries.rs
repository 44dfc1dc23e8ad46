//! The `time_entries` table: one row per `#time` tag (or CLI entry), already rounded.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use super::EntryKind;
use crate::domain::TicketId;
use crate::storage::{time_to_db, Conn, Db, Tx};

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
    sqlx::query_scalar(
        "INSERT INTO time_entries (ticket_id, client, work_date, minutes_written, minutes, kind, task, message_row, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(entry.ticket.map(|t| t.0))
    .bind(entry.client)
    .bind(entry.work_date.format("%Y-%m-%d").to_string())
    .bind(entry.minutes_written as i64)
    .bind(entry.minutes as i64)
    .bind(entry.kind)
    .bind(entry.task)
    .bind(entry.message_row)
    .bind(time_to_db(now))
    .fetch_one(&mut **tx)
    .await.context("insert entry")
}

/// One stored entry, as `time list` shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct EntryRow {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub client: Option<String>,
    pub work_date: String,
    pub minutes: i64,
    pub kind: EntryKind,
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
        "SELECT {ENTRY_COLUMNS} FROM time_entries WHERE work_date BETWEEN $1 AND $2 AND ($3 IS NULL OR client = $4)
         ORDER BY work_date, id"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from.format("%Y-%m-%d").to_string())
        .bind(to.format("%Y-%m-%d").to_string())
        .bind(client)
        .bind(client)
        .fetch_all(db)
        .await
        .context("list entries")
}

pub async fn entry(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<Option<EntryRow>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM time_entries WHERE id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut **tx).await.context("entry")
}

pub async fn delete_entry(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM time_entries WHERE id = $1").bind(id).execute(&mut **tx).await.context("delete entry")?;
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
        "UPDATE time_entries SET minutes_written = COALESCE($1, minutes_written), minutes = COALESCE($2, minutes),
                task = COALESCE($3, task), kind = COALESCE($4, kind) WHERE id = $5",
    )
    .bind(change.minutes.map(|(written, _)| written as i64))
    .bind(change.minutes.map(|(_, rounded)| rounded as i64))
    .bind(change.task)
    .bind(change.kind)
    .bind(id)
    .execute(&mut **tx)
    .await
    .context("update entry")?;
    Ok(())
}

/// Puts a merged ticket's time on the ticket it went into.
pub async fn move_to_ticket(tx: &mut Tx<'_>, from: TicketId, into: TicketId) -> anyhow::Result<()> {
    sqlx::query("UPDATE time_entries SET ticket_id = $1 WHERE ticket_id = $2")
        .bind(into.0)
        .bind(from.0)
        .execute(&mut **tx)
        .await
        .context("moving a merged ticket's time")?;
    Ok(())
}

/// One stored entry as the bank arithmetic reads it.
pub struct StoredEntry {
    pub date: NaiveDate,
    pub ticket: Option<i64>,
    pub task: String,
    pub minutes: i64,
    pub kind: EntryKind,
}

/// Every entry of `client` whose work date is before `end`, oldest first.
pub async fn entries_before(conn: &mut Conn, client: &str, end: NaiveDate) -> anyhow::Result<Vec<StoredEntry>> {
    let rows: Vec<(String, Option<i64>, String, i64, EntryKind)> = sqlx::query_as(
        "SELECT work_date, ticket_id, task, minutes, kind FROM time_entries
         WHERE client = $1 AND work_date < $2 ORDER BY work_date, id",
    )
    .bind(client)
    .bind(end.format("%Y-%m-%d").to_string())
    .fetch_all(&mut *conn)
    .await
    .context("reading a client's time entries")?;
    rows.into_iter()
        .map(|(date, ticket, task, minutes, kind)| {
            let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .with_context(|| format!("bad work date {date:?} in time_entries"))?;
            Ok(StoredEntry { date, ticket, task, minutes, kind })
        })
        .collect()
}

/// The client's emergency requests with work dated on or after `since`: entries on one ticket
/// are one request (two `#time` tags on one weekend P0 are one emergency); time added by hand
/// without a ticket counts once per entry.
pub async fn emergency_requests_since(conn: &mut Conn, client: &str, since: NaiveDate) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(DISTINCT COALESCE('ticket ' || ticket_id, 'entry ' || id)) FROM time_entries
         WHERE client = $1 AND kind = $2 AND work_date >= $3",
    )
    .bind(client)
    .bind(EntryKind::Emergency)
    .bind(since.format("%Y-%m-%d").to_string())
    .fetch_one(&mut *conn)
    .await
    .context("counting emergency requests")
}
