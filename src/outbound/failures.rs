//! Tells the agent about mail the desk gave up on: a permanent rejection (5xx) or too many
//! transient failures. Each failed outbox row is reported once; the report and the mark
//! commit together. Failures of mail to the agent are not reported by mail (that could loop);
//! they show in the daily summary and in the log.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::compose::build_mail;
use super::outbox::{self, OutboxKind, UnreportedFailure};
use crate::desk::Desk;
use crate::domain::{EmailAddress, TicketId};
use crate::storage::{begin_write, database_problem};

/// The data of `templates/delivery_failure.*`.
#[derive(Serialize)]
pub(crate) struct FailureNotice<'a> {
    pub(crate) ticket: Option<i64>,
    pub(crate) kind: OutboxKind,
    pub(crate) to: String,
    pub(crate) subject: &'a str,
    pub(crate) attempts: i64,
    pub(crate) error: &'a str,
}

/// Queues one notice per newly failed outbox row. Returns how many were queued. A row whose
/// notice cannot be made is logged and marked reported, so it cannot stall later passes.
pub async fn delivery_failure_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut queued = 0;
    for failure in outbox::unreported_failures(&desk.db).await? {
        match report_failure(desk, &failure, now).await {
            Ok(notified) => queued += usize::from(notified),
            Err(err) if database_problem(&err).is_some() => return Err(err),
            Err(err) => {
                let id = failure.id;
                tracing::error!(outbox = id, error = format!("{err:#}"), "cannot report this failed mail to the agent");
                let mut tx = begin_write(&desk.db).await?;
                outbox::mark_failure_reported(&mut tx, id, now).await?;
                tx.commit().await?;
            }
        }
    }
    Ok(queued)
}

/// Marks one failed row reported and, unless it was addressed to the agent, queues his notice.
async fn report_failure(desk: &Desk, failure: &UnreportedFailure, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let config = &desk.config;
    let (id, kind, recipients) = (failure.id, failure.kind, &failure.recipients);
    let to_agent = recipients.split(',').filter_map(EmailAddress::parse).any(|address| config.is_agent(&address));
    let mut tx = begin_write(&desk.db).await?;
    if !outbox::mark_failure_reported(&mut tx, id, now).await? {
        return Ok(false);
    }
    if to_agent {
        tracing::error!(outbox = id, %kind, to = %recipients, "mail to the agent could not be delivered; not reporting it by mail");
        tx.commit().await?;
        return Ok(false);
    }
    let data = FailureNotice {
        ticket: failure.ticket,
        kind,
        to: recipients.replace(',', ", "),
        subject: &failure.subject,
        attempts: failure.attempts,
        error: failure.last_error.as_deref().unwrap_or_default(),
    };
    let draft = desk.notice_to_agent(
        OutboxKind::DeliveryFailure,
        failure.ticket.map(TicketId),
        desk.templates.render_line("delivery_failure.subject", &data)?,
        desk.templates.render("delivery_failure.txt", &data)?,
        now,
    );
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    tx.commit().await?;
    tracing::warn!(outbox = id, %kind, to = %recipients, "agent told about an undeliverable mail");
    Ok(true)
}
