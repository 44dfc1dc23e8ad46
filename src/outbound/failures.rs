//! Tells the agent about mail the desk gave up on: a permanent rejection (5xx) or too many
//! transient failures. Each failed outbox row is reported once; the report and the mark
//! commit together. Failures of mail to the agent are not reported by mail (that could loop);
//! they show in the daily summary and in the log.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use super::compose::{build_mail, Draft};
use super::outbox;
use crate::desk::Desk;
use crate::domain::TicketId;
use crate::storage::time_to_db;

/// Queues one notice per newly failed outbox row. Returns how many were queued.
pub async fn delivery_failure_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let config = &desk.config;
    let rows = sqlx::query(
        "SELECT id, ticket_id, kind, recipients, subject, attempts, last_error FROM outbox
         WHERE status = 'failed' AND failure_reported_at IS NULL ORDER BY id",
    )
    .fetch_all(&desk.db)
    .await?;
    let mut queued = 0;
    for row in rows {
        let id: i64 = row.get("id");
        let kind: String = row.get("kind");
        let recipients: String = row.get("recipients");
        let to_agent =
            recipients.split(',').any(|recipient| config.agent.addresses.iter().any(|a| a.as_str() == recipient));
        let mut tx = crate::storage::begin_write(&desk.db).await?;
        let claimed =
            sqlx::query("UPDATE outbox SET failure_reported_at = ? WHERE id = ? AND failure_reported_at IS NULL")
                .bind(time_to_db(now))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if claimed == 0 {
            continue;
        }
        if to_agent {
            tracing::error!(outbox = id, %kind, to = %recipients, "mail to the agent could not be delivered; not reporting it by mail");
            tx.commit().await?;
            continue;
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
        let agent = &config.agent.addresses[0];
        let draft = Draft {
            kind: "delivery_failure",
            ticket,
            to: vec![config.agent_mailbox()],
            cc: Vec::new(),
            subject: desk.templates.render_line("delivery_failure.subject", &data)?,
            body: desk.templates.render("delivery_failure.txt", &data)?,
            in_reply_to: None,
            references: Vec::new(),
            reply_to: ticket.map(|ticket| desk.reply_addresses.address_for(ticket)),
            auto_submitted: Some("auto-generated"),
            message_id: ticket.map(|ticket| {
                desk.agent_message_ids.signed_message_id(ticket, agent, config.support_address().domain())
            }),
            html: None,
            images: Vec::new(),
        };
        outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
        tx.commit().await?;
        tracing::warn!(outbox = id, %kind, to = %recipients, "agent told about an undeliverable mail");
        queued += 1;
    }
    Ok(queued)
}
