//! The sender's side of the outbox: what is due, and how each attempt ended; the mails given
//! up on and whether the agent was told.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::OutboxKind;
use crate::lease::DeskId;
use crate::storage::{begin_write, time_to_db, Db, Tx};

#[derive(Debug, Clone)]
pub struct PendingMail {
    pub id: i64,
    pub kind: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub message_id: String,
    pub attempts: i64,
    pub raw: Vec<u8>,
}

/// Claims up to `limit` pending mails whose next attempt is due at `due_by`, oldest first,
/// for `claimant` until `claimed_until`: while the claim lasts no other desk sends them.
/// Claimable are mails nobody claimed, whose claim ran out at `real_now`, that `claimant`
/// claimed before, or that a desk claimed which `claimant` sees is gone (its process ended on
/// this host). One write transaction: claims of two desks never overlap.
pub async fn claim_due(
    db: &Db,
    claimant: &DeskId,
    due_by: DateTime<Utc>,
    real_now: DateTime<Utc>,
    claimed_until: DateTime<Utc>,
    limit: i64,
) -> anyhow::Result<Vec<PendingMail>> {
    let mut tx = begin_write(db).await?;
    release_claims_of_gone_desks(&mut tx, claimant, real_now).await?;
    let rows = sqlx::query(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2
         WHERE id IN (SELECT id FROM outbox
                      WHERE status = 'pending' AND next_attempt_at <= $3
                        AND (claimed_until IS NULL OR claimed_until <= $4 OR claimed_by = $1)
                      ORDER BY id LIMIT $5)
         RETURNING id, kind, envelope_from, recipients, message_id, attempts, raw",
    )
    .bind(&claimant.id)
    .bind(time_to_db(claimed_until))
    .bind(time_to_db(due_by))
    .bind(time_to_db(real_now))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await
    .context("claiming due mail")?;
    tx.commit().await.context("claiming due mail")?;
    let mut mails: Vec<PendingMail> = rows.iter().map(pending_from_row).collect::<anyhow::Result<_>>()?;
    mails.sort_by_key(|mail| mail.id);
    Ok(mails)
}

async fn release_claims_of_gone_desks(
    tx: &mut Tx<'_>,
    claimant: &DeskId,
    real_now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let claimants: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT claimed_by FROM outbox
         WHERE status = 'pending' AND claimed_by IS NOT NULL AND claimed_by != $1 AND claimed_until > $2",
    )
    .bind(&claimant.id)
    .bind(time_to_db(real_now))
    .fetch_all(&mut **tx)
    .await
    .context("reading the claims on queued mail")?;
    for gone in claimants.iter().filter(|other| claimant.sees_gone(other)) {
        sqlx::query(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE status = 'pending' AND claimed_by = $1",
        )
        .bind(gone)
        .execute(&mut **tx)
        .await
        .context("releasing the claims of a desk that is gone")?;
        tracing::info!(desk = gone, "released the queued mail claimed by a desk that is gone");
    }
    Ok(())
}

fn pending_from_row(row: &crate::storage::Row) -> anyhow::Result<PendingMail> {
    Ok(PendingMail {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        envelope_from: row.try_get("envelope_from")?,
        recipients: row
            .try_get::<String, _>("recipients")?
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        message_id: row.try_get("message_id")?,
        attempts: row.try_get("attempts")?,
        raw: row.try_get("raw")?,
    })
}

/// The ids of pending mail due at `due_by` that no other desk has a live claim on.
pub async fn due_ids(
    db: &Db,
    claimant: &DeskId,
    due_by: DateTime<Utc>,
    real_now: DateTime<Utc>,
) -> anyhow::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
           AND (claimed_until IS NULL OR claimed_until <= $2 OR claimed_by = $3) ORDER BY id",
    )
    .bind(time_to_db(due_by))
    .bind(time_to_db(real_now))
    .bind(&claimant.id)
    .fetch_all(db)
    .await
    .context("due")
}

/// When the earliest pending mail is due, if any is pending.
pub async fn next_due_at(db: &Db) -> anyhow::Result<Option<DateTime<Utc>>> {
    let next: Option<String> = sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")
        .fetch_one(db)
        .await
        .context("next due at")?;
    next.map(|text| crate::storage::time_from_db(&text)).transpose()
}

pub async fn mark_sent(db: &Db, id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $1, last_error = NULL,
           claimed_by = NULL, claimed_until = NULL WHERE id = $2",
    )
    .bind(time_to_db(now))
    .bind(id)
    .execute(db)
    .await
    .context("mark sent")?;
    Ok(())
}

pub async fn mark_retry(db: &Db, id: i64, next_attempt_at: DateTime<Utc>, error: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2,
           claimed_by = NULL, claimed_until = NULL WHERE id = $3",
    )
    .bind(time_to_db(next_attempt_at))
    .bind(error)
    .bind(id)
    .execute(db)
    .await
    .context("mark retry")?;
    Ok(())
}

pub async fn mark_failed(db: &Db, id: i64, error: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1,
           claimed_by = NULL, claimed_until = NULL WHERE id = $2",
    )
    .bind(error)
    .bind(id)
    .execute(db)
    .await
    .context("mark failed")?;
    Ok(())
}

/// Postpones a row behind one that just failed, without counting an attempt against it.
pub async fn mark_retry_without_attempt(db: &Db, id: i64, next_attempt_at: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE outbox SET next_attempt_at = $1, claimed_by = NULL, claimed_until = NULL WHERE id = $2")
        .bind(time_to_db(next_attempt_at))
        .bind(id)
        .execute(db)
        .await
        .context("mark retry without attempt")?;
    Ok(())
}

/// A mail the desk gave up delivering, as the daily summary lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedMail {
    pub ticket: Option<i64>,
    pub kind: OutboxKind,
    #[serde(rename = "to")]
    pub recipients: String,
    #[serde(rename = "error")]
    pub last_error: Option<String>,
}

/// The newest `limit` mails given up on, newest first.
pub async fn recent_failures(db: &Db, limit: i64) -> anyhow::Result<Vec<FailedMail>> {
    let rows: Vec<(Option<i64>, OutboxKind, String, Option<String>)> = sqlx::query_as(
        "SELECT ticket_id, kind, recipients, last_error FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
    .context("reading failed mail")?;
    Ok(rows
        .into_iter()
        .map(|(ticket, kind, recipients, last_error)| FailedMail { ticket, kind, recipients, last_error })
        .collect())
}

/// A mail given up on that the agent was not told about yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnreportedFailure {
    pub id: i64,
    #[sqlx(rename = "ticket_id")]
    pub ticket: Option<i64>,
    pub kind: OutboxKind,
    pub recipients: String,
    pub subject: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// The failed mails not reported yet, oldest first.
pub async fn unreported_failures(db: &Db) -> anyhow::Result<Vec<UnreportedFailure>> {
    sqlx::query_as(
        "SELECT id, ticket_id, kind, recipients, subject, attempts, last_error FROM outbox
         WHERE status = 'failed' AND failure_reported_at IS NULL ORDER BY id",
    )
    .fetch_all(db)
    .await
    .context("reading unreported failed mail")
}

/// Marks a failed row reported; false when another pass did it first.
pub async fn mark_failure_reported(tx: &mut Tx<'_>, id: i64, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let claimed =
        sqlx::query("UPDATE outbox SET failure_reported_at = $1 WHERE id = $2 AND failure_reported_at IS NULL")
            .bind(time_to_db(now))
            .bind(id)
            .execute(&mut **tx)
            .await
            .context("marking a failed mail reported")?
            .rows_affected();
    Ok(claimed == 1)
}
