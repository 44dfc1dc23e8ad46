//! Tells the agent about mail the desk gave up on: a permanent rejection (5xx) or too many
//! transient failures. Each failed outbox row is reported once; the report and the mark
//! commit together. Failures of mail to the agent are not reported by mail (that could loop);
//! they show in the daily summary and in the log.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::compose::build_mail;
use super::outbox::{self, OutboxKind};
use crate::desk::Desk;
use crate::domain::{EmailAddress, TicketId};
use crate::storage::{begin_write, database_problem, time_to_db, Tx};

/// Queues one notice per newly failed outbox row. Returns how many were queued. A row whose
/// notice cannot be made is logged and marked reported, so it cannot stall later passes.
pub async fn delivery_failure_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT id, ticket_id, kind, recipients, subject, attempts, last_error FROM outbox
         WHERE status = 'failed' AND failure_reported_at IS NULL ORDER BY id",
    )
    .fetch_all(&desk.db)
    .await?;
    let mut queued = 0;
    for row in rows {
        let id: i64 = row.get("id");
        match report_failure(desk, &row, now).await {
            Ok(notified) => queued += usize::from(notified),
            Err(err) if database_problem(&err).is_some() => return Err(err),
            Err(err) => {
                tracing::error!(outbox = id, error = format!("{err:#}"), "cannot report this failed mail to the agent");
                let mut tx = begin_write(&desk.db).await?;
                mark_reported(&mut tx, id, now).await?;
                tx.commit().await?;
            }
        }
    }
    Ok(queued)
}

/// Marks the row reported; false when another pass did it first.
async fn mark_reported(tx: &mut Tx<'_>, id: i64, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let claimed = sqlx::query("UPDATE outbox SET failure_reported_at = ? WHERE id = ? AND failure_reported_at IS NULL")
        .bind(time_to_db(now))
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(claimed == 1)
}

/// Marks one failed row reported and, unless it was addressed to the agent, queues his notice.
async fn report_failure(desk: &Desk, row: &SqliteRow, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let config = &desk.config;
    let id: i64 = row.get("id");
    let kind: String = row.get("kind");
    let recipients: String = row.get("recipients");
    let to_agent = recipients.split(',').filter_map(EmailAddress::parse).any(|address| config.is_agent(&address));
    let mut tx = begin_write(&desk.db).await?;
    if !mark_reported(&mut tx, id, now).await? {
        return Ok(false);
    }
    if to_agent {
        tracing::error!(outbox = id, %kind, to = %recipients, "mail to the agent could not be delivered; not reporting it by mail");
        tx.commit().await?;
        return Ok(false);
    }
    let ticket = row.get::<Option<i64>, _>("ticket_id").map(TicketId);
    let data = json!({
        "ticket": ticket.map(|ticket| ticket.0),
        "kind": kind,
        "to": recipients.replace(',', ", "),
        "subject": row.get::<String, _>("subject"),
        "attempts": row.get::<i64, _>("attempts"),
        "error": row.get::<Option<String>, _>("last_error").unwrap_or_default(),
    });
    let draft = desk.notice_to_agent(
        OutboxKind::DeliveryFailure,
        ticket,
        desk.templates.render_line("delivery_failure.subject", &data)?,
        desk.templates.render("delivery_failure.txt", &data)?,
    );
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    tx.commit().await?;
    tracing::warn!(outbox = id, %kind, to = %recipients, "agent told about an undeliverable mail");
    Ok(true)
}
