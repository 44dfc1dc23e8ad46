//! What the rest of the desk asks of the outbox: the desk's mail about a ticket, to a
//! recipient, of a kind, in an hour (the brakes), by Message-ID.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{OutboxKind, OutboxStatus};
use crate::domain::{EmailAddress, MessageId, TicketId};
use crate::storage::{time_to_db, Db, Tx};

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
