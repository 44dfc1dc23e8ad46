//! The outbox table. Rows are written inside the caller's transaction (the change that caused
//! the mail), read by the sender step, and finished as `sent` or `failed`. Owns all SQL on
//! `outbox`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::compose::OutgoingMail;
use crate::domain::{EmailAddress, MessageId, TicketId};
use crate::storage::{time_to_db, Db, Tx};

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

/// The ticket of one of the desk's own outgoing mails.
pub async fn ticket_of_sent_message(tx: &mut Tx<'_>, message_id: &MessageId) -> anyhow::Result<Option<TicketId>> {
    let ticket: Option<Option<i64>> = sqlx::query_scalar("SELECT ticket_id FROM outbox WHERE message_id = $1")
        .bind(message_id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .context("ticket of sent message")?;
    Ok(ticket.flatten().map(TicketId))
}

/// The raw mails the desk queued to `recipient` alone about `ticket`, newest first, at most
/// `limit` (what the agent may be quoting when he replies).
pub async fn mail_to_about(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    recipient: &str,
    limit: i64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    sqlx::query_scalar("SELECT raw FROM outbox WHERE ticket_id = $1 AND recipients = $2 ORDER BY id DESC LIMIT $3")
        .bind(ticket.0)
        .bind(recipient)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await
        .context("mail to about")
}

/// The Message-IDs of the desk's mail to `recipient` about a ticket: the first and the latest
/// (the same when there is one), to thread a new mail under them.
pub async fn first_and_last_to_about(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    recipient: &str,
) -> anyhow::Result<Vec<MessageId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM outbox WHERE id IN (
            SELECT MIN(id) FROM outbox WHERE ticket_id = $1 AND recipients = $2
            UNION SELECT MAX(id) FROM outbox WHERE ticket_id = $3 AND recipients = $4) ORDER BY id",
    )
    .bind(ticket.0)
    .bind(recipient)
    .bind(ticket.0)
    .bind(recipient)
    .fetch_all(&mut **tx)
    .await
    .context("first and last to about")?;
    Ok(ids.iter().filter_map(|id| MessageId::parse(id)).collect())
}

/// How many mails of `kind` about `ticket` were queued since `since`.
pub async fn count_for_ticket_since(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    kind: OutboxKind,
    since: DateTime<Utc>,
) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE ticket_id = $1 AND kind = $2 AND created_at >= $3")
        .bind(ticket.0)
        .bind(kind)
        .bind(time_to_db(since))
        .fetch_one(&mut **tx)
        .await
        .context("count for ticket since")
}

/// One mail the desk queued for a ticket's client side, as `ticket show` lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SentMail {
    pub kind: OutboxKind,
    pub recipients: String,
    pub subject: String,
    pub status: OutboxStatus,
    pub created_at: String,
}

/// The mail queued for the client side of a ticket (acknowledgement, relays, resolved email,
/// hour-bank emails), oldest first.
pub async fn client_mail_of_ticket(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Vec<SentMail>> {
    let [a, b, c, d, e] = OutboxKind::TO_CLIENT;
    sqlx::query_as(
        "SELECT kind, recipients, subject, status, created_at FROM outbox
         WHERE ticket_id = $1 AND kind IN ($2, $3, $4, $5, $6) ORDER BY id",
    )
    .bind(ticket.0)
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(d)
    .bind(e)
    .fetch_all(&mut **tx)
    .await
    .context("reading a ticket's mail to the client")
}

/// (Message-ID, queued at) of the desk's mails that carry a ticket's conversation with the
/// client (acknowledgement, relays, resolved email): what a new mail to him threads under.
pub async fn ids_to_client_of(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT message_id, created_at FROM outbox WHERE ticket_id = $1 AND kind IN ($2, $3, $4) ORDER BY id",
    )
    .bind(ticket.0)
    .bind(OutboxKind::Acknowledgement)
    .bind(OutboxKind::AgentReply)
    .bind(OutboxKind::Resolved)
    .fetch_all(&mut **tx)
    .await
    .context("reading the desk's mail ids of a ticket")
}

/// Puts a merged ticket's mail on the ticket it went into (replies to it thread there).
pub async fn move_to_ticket(tx: &mut Tx<'_>, from: TicketId, into: TicketId) -> anyhow::Result<()> {
    sqlx::query("UPDATE outbox SET ticket_id = $1 WHERE ticket_id = $2")
        .bind(into.0)
        .bind(from.0)
        .execute(&mut **tx)
        .await
        .context("moving a merged ticket's mail")?;
    Ok(())
}

/// The id of the newest outbox row (0 when there is none).
pub async fn last_id(tx: &mut Tx<'_>) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbox").fetch_one(&mut **tx).await.context("last id")
}

/// (kind, recipients, subject) of the mails queued after row `id`, in order.
pub async fn queued_after(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<Vec<(String, String, String)>> {
    sqlx::query_as("SELECT kind, recipients, subject FROM outbox WHERE id > $1 ORDER BY id")
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .context("queued after")
}

/// How many mails of `kind` were queued since `since`, to anyone.
pub async fn count_kind_since(tx: &mut Tx<'_>, kind: OutboxKind, since: DateTime<Utc>) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = $1 AND created_at >= $2")
        .bind(kind)
        .bind(time_to_db(since))
        .fetch_one(&mut **tx)
        .await
        .context("count kind since")
}

/// When one of the desk's own mails was queued.
pub async fn queued_at(tx: &mut Tx<'_>, message_id: &MessageId) -> anyhow::Result<Option<DateTime<Utc>>> {
    let created: Option<String> = sqlx::query_scalar("SELECT created_at FROM outbox WHERE message_id = $1")
        .bind(message_id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .context("queued at")?;
    Ok(created.and_then(|text| crate::storage::time_from_db(&text).ok()))
}

/// Counts of recent rows from or to one mailbox (any `+detail`, any case) and its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentCounts {
    pub mailbox: i64,
    pub domain: i64,
}

/// How many mails of `kind` were queued since `since` for the mailbox of `recipient` and for
/// its domain (the acknowledgement brake).
pub async fn recent_to(
    tx: &mut Tx<'_>,
    recipient: &EmailAddress,
    kind: OutboxKind,
    since: DateTime<Utc>,
) -> anyhow::Result<RecentCounts> {
    let (mailbox, domain): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE recipient_key = $1 AND kind = $2 AND created_at >= $3),
                (SELECT COUNT(*) FROM outbox WHERE recipient_domain = $4 AND kind = $5 AND created_at >= $6)",
    )
    .bind(recipient.mailbox_key())
    .bind(kind)
    .bind(time_to_db(since))
    .bind(recipient.domain())
    .bind(kind)
    .bind(time_to_db(since))
    .fetch_one(&mut **tx)
    .await
    .context("recent to")?;
    Ok(RecentCounts { mailbox, domain })
}

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

/// Pending mail whose next attempt is due, oldest first.
pub async fn due(db: &Db, now: DateTime<Utc>, limit: i64) -> anyhow::Result<Vec<PendingMail>> {
    let rows = sqlx::query(
        "SELECT id, kind, envelope_from, recipients, message_id, attempts, raw FROM outbox
         WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
    )
    .bind(time_to_db(now))
    .bind(limit)
    .fetch_all(db)
    .await
    .context("due")?;
    Ok(rows
        .into_iter()
        .map(|row| PendingMail {
            id: row.get("id"),
            kind: row.get("kind"),
            envelope_from: row.get("envelope_from"),
            recipients: row
                .get::<String, _>("recipients")
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
            message_id: row.get("message_id"),
            attempts: row.get("attempts"),
            raw: row.get("raw"),
        })
        .collect())
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
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $1, last_error = NULL WHERE id = $2",
    )
    .bind(time_to_db(now))
    .bind(id)
    .execute(db)
    .await
    .context("mark sent")?;
    Ok(())
}

pub async fn mark_retry(db: &Db, id: i64, next_attempt_at: DateTime<Utc>, error: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3")
        .bind(time_to_db(next_attempt_at))
        .bind(error)
        .bind(id)
        .execute(db)
        .await
        .context("mark retry")?;
    Ok(())
}

pub async fn mark_failed(db: &Db, id: i64, error: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(db)
        .await
        .context("mark failed")?;
    Ok(())
}

/// Postpones a row behind one that just failed, without counting an attempt against it.
pub async fn mark_retry_without_attempt(db: &Db, id: i64, next_attempt_at: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2")
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

/// The Message-ID of the first mail of `kind` queued about `ticket`.
pub async fn first_message_id_of_kind(
    db: &Db,
    ticket: TicketId,
    kind: OutboxKind,
) -> anyhow::Result<Option<MessageId>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE ticket_id = $1 AND kind = $2 ORDER BY id LIMIT 1")
            .bind(ticket.0)
            .bind(kind)
            .fetch_optional(db)
            .await
            .context("reading a ticket's mail of one kind")?;
    Ok(id.as_deref().and_then(MessageId::parse))
}
