//! What the agent is told when his mail did not (all) run.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::desk::Desk;
use crate::domain::TicketId;
use crate::outbound::compose::build_mail;
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::storage::Tx;
use crate::tickets::store::TicketRecord;

/// The data of `templates/agent_feedback.*`: what the agent's mail did not do, and why.
#[derive(Debug, Serialize)]
pub(crate) struct AgentFeedbackData<'a> {
    pub(crate) ticket: i64,
    /// Mail in his name that could not be authenticated: nothing ran.
    pub(crate) unverified: bool,
    /// Applied except for `errors`; the key is absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) partly_applied: bool,
    /// The From address of the mail; absent on the partly-applied mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sender: Option<&'a str>,
    pub(crate) subject: &'a str,
    pub(crate) errors: &'a [String],
    /// The hourly limit of unverified-mail feedback, on the last one it allows; else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit_reached: Option<i64>,
}

/// Tells the agent his reply was applied except for `error`.
pub(super) async fn queue_partly_applied(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    error: String,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let data = AgentFeedbackData {
        ticket: ticket.id.0,
        unverified: false,
        partly_applied: true,
        sender: None,
        subject: &ticket.subject,
        errors: std::slice::from_ref(&error),
        limit_reached: None,
    };
    queue_feedback(desk, tx, ticket.id, &data, now).await
}

/// The "NOT acted on" mail about mail in the agent's name that was not authenticated, at most
/// `agent.unverified_feedback_per_hour` an hour (a forger must not flood his phone): the last
/// one allowed says so, and the daily summary lists every such mail.
pub(super) async fn queue_unverified_feedback(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: TicketId,
    mut data: AgentFeedbackData<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let limit = i64::from(desk.config.agent.unverified_feedback_per_hour);
    let recent = outbox::count_kind_since(tx, OutboxKind::UnverifiedFeedback, now - chrono::Duration::hours(1)).await?;
    if recent >= limit {
        tracing::warn!(
            ticket = ticket.0,
            recent,
            "unverified-mail feedback limit reached this hour: not telling the agent again"
        );
        return Ok(());
    }
    if recent + 1 == limit {
        data.limit_reached = Some(limit);
    }
    queue_feedback_of_kind(desk, tx, OutboxKind::UnverifiedFeedback, ticket, &data, now).await
}

pub(super) async fn queue_feedback(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: TicketId,
    data: &AgentFeedbackData<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    queue_feedback_of_kind(desk, tx, OutboxKind::AgentFeedback, ticket, data, now).await
}

async fn queue_feedback_of_kind(
    desk: &Desk,
    tx: &mut Tx<'_>,
    kind: OutboxKind,
    ticket: TicketId,
    data: &AgentFeedbackData<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let draft = desk
        .threaded_notice_to_agent(
            tx,
            kind,
            ticket,
            desk.templates.render_line("agent_feedback.subject", data)?,
            desk.templates.render("agent_feedback.txt", data)?,
            now,
        )
        .await?;
    outbox::enqueue(tx, &build_mail(&desk.config.support_mailbox, draft, now)?, now).await?;
    Ok(())
}
