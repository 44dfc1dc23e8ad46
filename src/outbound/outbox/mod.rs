//! The outbox table. Rows are written inside the caller's transaction (the change that caused
//! the mail), read by the sender step, and finished as `sent` or `failed`. Owns all SQL on
//! `outbox`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::compose::OutgoingMail;
use crate::domain::EmailAddress;
use crate::storage::{time_to_db, Tx};

mod delivery;
mod reads;

pub use delivery::*;
pub use reads::*;

crate::stored_kind! {
    /// What an outgoing mail is, to whom: the sender logs it, brakes and reports count by it.
    pub enum OutboxKind {
        /// To a client: the new ticket's acknowledgement with its SLA.
        Acknowledgement = "acknowledgement",
        /// To a client: the agent's words relayed.
        AgentReply = "agent_reply",
        /// To a client: the resolved email.
        Resolved = "resolved",
        /// To a client: the hour bank at 75%.
        HoursUpdate = "hours_update",
        /// To a client: the hour bank used up.
        HoursDepleted = "hours_depleted",
        /// To a client: a tier report.
        ClientReport = "client_report",
        /// To the agent: a new ticket.
        AgentNotification = "agent_notification",
        /// To the agent: client mail on an existing ticket.
        AgentFollowUp = "agent_follow_up",
        /// To the agent: what went wrong with his reply.
        AgentFeedback = "agent_feedback",
        /// To the agent: mail in his name that did not prove it was his ran nothing.
        UnverifiedFeedback = "unverified_feedback",
        /// To the agent: his mail ran nothing, and why.
        AgentIgnoredFeedback = "agent_ignored_feedback",
        /// To the agent: one notice for a flood of new tickets.
        FloodNotice = "flood_notice",
        /// To the agent: a mail the desk failed on, kept aside.
        Unprocessable = "unprocessable",
        /// To the agent: held mail he took in became a ticket.
        HeldTakenIn = "held_taken_in",
        /// To the agent: the daily summary.
        DailySummary = "daily_summary",
        /// To the agent: an SLA clock is at risk.
        SlaWarning = "sla_warning",
        /// To the agent: an SLA clock breached.
        SlaBreach = "sla_breach",
        /// To the agent: a client report to review and `#send`.
        ReportDraft = "report_draft",
        /// To the agent: his mail to a client opened a proactive ticket.
        ProactiveOpened = "proactive_opened",
        /// To the agent: mail the desk gave up delivering.
        DeliveryFailure = "delivery_failure",
    }
}

crate::stored_kind! {
    /// Where an outgoing mail stands.
    pub enum OutboxStatus {
        /// Waiting for its next attempt.
        Pending = "pending",
        /// The server accepted it.
        Sent = "sent",
        /// Given up on (a permanent rejection, or too many transient failures).
        Failed = "failed",
    }
}

impl OutboxKind {
    /// The mails the client side of a ticket gets (`ticket show` lists them).
    pub const TO_CLIENT: [OutboxKind; 5] = [
        OutboxKind::Acknowledgement,
        OutboxKind::AgentReply,
        OutboxKind::Resolved,
        OutboxKind::HoursUpdate,
        OutboxKind::HoursDepleted,
    ];
}

pub async fn enqueue(tx: &mut Tx<'_>, mail: &OutgoingMail, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let recipients = mail.recipients.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
    // What the acknowledgement brake counts (`recent_to`): the first recipient, the mail's
    // To (people in Cc come after it), so copying colleagues does not escape the brake.
    let only_recipient = mail.recipients.first();
    let id = sqlx::query(
        "INSERT INTO outbox (ticket_id, kind, envelope_from, recipients, recipient_key, recipient_domain, message_id,
                             subject, raw, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(mail.ticket.map(|t| t.0))
    .bind(mail.kind)
    .bind(mail.envelope_from.as_str())
    .bind(recipients)
    .bind(only_recipient.map(EmailAddress::mailbox_key))
    .bind(only_recipient.map(|recipient| recipient.domain().to_string()))
    .bind(mail.message_id.as_str())
    .bind(&mail.subject)
    .bind(&mail.raw)
    .bind(time_to_db(now))
    .bind(time_to_db(now))
    .fetch_one(&mut **tx)
    .await
    .context("enqueue")?
    .get::<i64, _>(0);
    Ok(id)
}
