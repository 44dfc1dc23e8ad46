//! The `messages` and `message_refs` tables: every mail the desk took in, on a ticket or
//! held aside, with the Message-IDs it points at.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;

use crate::domain::{MessageId, TicketId};
use crate::outbound::outbox;
use crate::storage::{time_to_db, Backend, Db, Flag, Row, Tx};
use crate::tickets::kinds::AuthorKind;
use crate::tickets::threading::KnownReference;

#[derive(Clone, Copy)]
pub struct NewMessage<'a> {
    pub ticket: Option<TicketId>,
    pub dedupe_key: &'a str,
    pub message_id: Option<&'a MessageId>,
    pub in_reply_to: Option<&'a MessageId>,
    pub references: &'a [MessageId],
    pub author_kind: AuthorKind,
    pub sender: &'a str,
    pub sender_name: Option<&'a str>,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub attachments_json: &'a str,
    pub automated_reason: Option<&'a str>,
    pub parse_problem: Option<&'a str>,
    /// The desk failed while processing the mail: it is stored raw, aside.
    pub desk_failed: bool,
    pub thread_reason: &'a str,
    pub arrived_at: DateTime<Utc>,
    pub raw: &'a [u8],
}

pub async fn insert_message(tx: &mut Tx<'_>, message: &NewMessage<'_>, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let references = message.references.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(" ");
    let row: i64 = sqlx::query_scalar(
        "INSERT INTO messages (ticket_id, dedupe_key, message_id, in_reply_to, references_ids, author_kind, sender,
                               sender_name, subject, body_text, attachments_json, automated_reason, parse_problem,
                               desk_failed, thread_reason, arrived_at, recorded_at, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
    )
    .bind(message.ticket.map(|t| t.0))
    .bind(message.dedupe_key)
    .bind(message.message_id.map(|id| id.as_str()))
    .bind(message.in_reply_to.map(|id| id.as_str()))
    .bind(references)
    .bind(message.author_kind)
    .bind(message.sender)
    .bind(message.sender_name)
    .bind(message.subject)
    .bind(message.body_text)
    .bind(message.attachments_json)
    .bind(message.automated_reason)
    .bind(message.parse_problem)
    .bind(message.desk_failed)
    .bind(message.thread_reason)
    .bind(time_to_db(message.arrived_at))
    .bind(time_to_db(now))
    .bind(message.raw)
    .fetch_one(&mut **tx)
    .await
    .context("insert message")?;
    let mut pointed_at: Vec<&MessageId> = message.in_reply_to.into_iter().chain(message.references).collect();
    pointed_at.dedup();
    for referenced in pointed_at.into_iter().take(50) {
        sqlx::query("INSERT INTO message_refs (message_row, ticket_id, referenced_id) VALUES ($1, $2, $3)")
            .bind(row)
            .bind(message.ticket.map(|t| t.0))
            .bind(referenced.as_str())
            .execute(&mut **tx)
            .await
            .context("insert message")?;
    }
    Ok(row)
}

pub async fn is_already_recorded(tx: &mut Tx<'_>, dedupe_key: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM messages WHERE dedupe_key = $1")
        .bind(dedupe_key)
        .fetch_one(&mut **tx)
        .await
        .context("is already recorded")?
        > 0)
}

/// The tickets behind the referenced Message-IDs, nearest first. For each id: one of the
/// desk's own outgoing mails; else a stored mail with that Message-ID on a ticket; else a
/// stored mail on a ticket that points at the same id (two replies to one unseen mail).
pub async fn find_known_references(tx: &mut Tx<'_>, ids: &[MessageId]) -> anyhow::Result<Vec<KnownReference>> {
    let mut found = Vec::new();
    for id in ids.iter().take(50) {
        if let Some(ticket) = outbox::ticket_of_sent_message(tx, id).await? {
            found.push(KnownReference { message_id: id.clone(), ticket, ours: true });
            continue;
        }
        let ticket: Option<i64> = sqlx::query_scalar(
            "SELECT ticket_id FROM messages WHERE message_id = $1 AND ticket_id IS NOT NULL ORDER BY id LIMIT 1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .context("find known references")?;
        if let Some(ticket) = ticket {
            found.push(KnownReference { message_id: id.clone(), ticket: TicketId(ticket), ours: false });
            continue;
        }
        let sibling: Option<i64> = sqlx::query_scalar(
            "SELECT ticket_id FROM message_refs WHERE referenced_id = $1 AND ticket_id IS NOT NULL ORDER BY message_row LIMIT 1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await.context("find known references")?;
        if let Some(ticket) = sibling {
            found.push(KnownReference { message_id: id.clone(), ticket: TicketId(ticket), ours: false });
        }
    }
    Ok(found)
}

/// Message-IDs to thread a mail to the client with: the ticket's client-side mails and the
/// desk's mails to the client, oldest first (at most the last 20), and the newest client mail.
pub async fn client_thread_ids(
    tx: &mut Tx<'_>,
    ticket: TicketId,
) -> anyhow::Result<(Option<MessageId>, Vec<MessageId>)> {
    let mut rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT message_id, arrived_at FROM messages
          WHERE ticket_id = $1 AND message_id IS NOT NULL AND author_kind IN ($2, $3) ORDER BY arrived_at, id",
    )
    .bind(ticket.0)
    .bind(AuthorKind::Client)
    .bind(AuthorKind::Unknown)
    .fetch_all(&mut **tx)
    .await
    .context("reading a ticket's client mail ids")?;
    let last_client = rows.iter().max_by(|a, b| a.1.cmp(&b.1)).and_then(|(id, _)| MessageId::parse(id));
    rows.extend(outbox::ids_to_client_of(tx, ticket).await?);
    // A stable sort: the client's mails keep their order among equal times, as they arrived.
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    let mut ids: Vec<MessageId> = rows.iter().filter_map(|(id, _)| MessageId::parse(id)).collect();
    let keep_from = ids.len().saturating_sub(20);
    ids = ids.split_off(keep_from);
    Ok((last_client, ids))
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    pub id: i64,
    pub author_kind: AuthorKind,
    pub sender: String,
    pub subject: String,
    pub arrived_at: String,
    pub message_id: Option<String>,
    pub thread_reason: String,
    pub automated_reason: Option<String>,
    /// What went wrong reading or processing the mail, when anything did.
    pub parse_problem: Option<String>,
    /// The desk failed while processing it (`parse_problem` says how).
    #[serde(skip)]
    pub desk_failed: bool,
    pub attachments: serde_json::Value,
    pub body_text: String,
}

/// How the stored problem of a mail the desk failed on begins (`intake::record_mail` keeps
/// such mail raw, aside).
pub const UNPROCESSABLE_PROBLEM: &str = "internal error while processing this mail: ";

impl MessageSummary {
    /// Whether this is a mail the desk failed on (stored raw, nothing read from it).
    pub fn desk_failed_on(&self) -> bool {
        self.desk_failed
    }
}

pub(super) const MESSAGE_COLUMNS: &str = "id, author_kind, sender, subject, arrived_at, message_id, thread_reason,
    automated_reason, parse_problem, desk_failed, attachments_json, body_text";

pub(super) fn message_from_row(row: &Row) -> anyhow::Result<MessageSummary> {
    let attachments: String = row.try_get("attachments_json")?;
    Ok(MessageSummary {
        id: row.try_get("id")?,
        author_kind: row.try_get("author_kind")?,
        sender: row.try_get("sender")?,
        subject: row.try_get("subject")?,
        arrived_at: row.try_get("arrived_at")?,
        message_id: row.try_get("message_id")?,
        thread_reason: row.try_get("thread_reason")?,
        automated_reason: row.try_get("automated_reason")?,
        parse_problem: row.try_get("parse_problem")?,
        desk_failed: row.try_get::<Flag, _>("desk_failed")?.0,
        attachments: serde_json::from_str(&attachments).context("bad attachments_json in messages")?,
        body_text: row.try_get("body_text")?,
    })
}

/// Automated mail (an out-of-office, a bounce of a relay) recorded on a ticket since `since`:
/// (ticket, sender, subject, why it is automated), at most 20, oldest first. The agent is not
/// sent these one by one; the daily summary names them.
pub async fn automated_on_tickets_since(
    db: &Db,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(i64, String, String, String)>> {
    sqlx::query_as(
        "SELECT ticket_id, sender, subject, automated_reason FROM messages
         WHERE ticket_id IS NOT NULL AND automated_reason IS NOT NULL AND recorded_at >= $1
         ORDER BY id LIMIT 20",
    )
    .bind(time_to_db(since))
    .fetch_all(db)
    .await
    .context("automated on tickets since")
}

/// Mail held aside without a ticket: automated mail that threads nowhere, agent mail about no
/// ticket, answers to report drafts, and mail the desk failed on.
pub async fn count_held_messages(db: &Db) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE ticket_id IS NULL")
        .fetch_one(db)
        .await
        .context("count held messages")
}

/// The held mail that arrived at or after `since`, newest first.
pub async fn held_messages(db: &Db, since: DateTime<Utc>) -> anyhow::Result<Vec<MessageSummary>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id IS NULL AND arrived_at >= $1
         ORDER BY arrived_at DESC, id DESC"
    )))
    .bind(time_to_db(since))
    .fetch_all(db)
    .await
    .context("reading held mail")?;
    rows.iter().map(message_from_row).collect()
}

/// One stored message with its original bytes, whether held or on a ticket.
pub struct StoredMessage {
    pub summary: MessageSummary,
    pub ticket: Option<TicketId>,
    pub raw: Vec<u8>,
}

pub async fn stored_message<'e>(
    executor: impl sqlx::Executor<'e, Database = Backend>,
    id: i64,
) -> anyhow::Result<Option<StoredMessage>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS}, ticket_id, raw FROM messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(executor)
    .await
    .context("reading a stored message")?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(StoredMessage {
        summary: message_from_row(&row)?,
        ticket: row.try_get::<Option<i64>, _>("ticket_id")?.map(TicketId),
        raw: row.try_get("raw")?,
    }))
}

pub async fn set_thread_reason(tx: &mut Tx<'_>, message: i64, reason: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE messages SET thread_reason = $1 WHERE id = $2")
        .bind(reason)
        .bind(message)
        .execute(&mut **tx)
        .await
        .context("set thread reason")?;
    Ok(())
}

/// Removes a held message so that its mail can be recorded again from its raw bytes (the
/// caller does that in the same transaction). Nothing else may point at it.
pub async fn forget_held_message(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM message_refs WHERE message_row = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("forget held message")?;
    let deleted = sqlx::query("DELETE FROM messages WHERE id = $1 AND ticket_id IS NULL")
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("forget held message")?
        .rows_affected();
    anyhow::ensure!(deleted == 1, "message {id} is not held aside");
    Ok(())
}

/// A line of mail in the agent's name that did not prove it was his: (ticket, sender, subject).
pub struct UnverifiedAgentMail {
    pub ticket: Option<i64>,
    pub sender: String,
    pub subject: String,
}

/// Mail in the agent's name recorded since `since` that was not authenticated, oldest first.
pub async fn unverified_agent_mail_since(db: &Db, since: DateTime<Utc>) -> anyhow::Result<Vec<UnverifiedAgentMail>> {
    // The kind is written out, not bound: SQLite uses the partial index
    // `messages_unverified_agent` only for a literal it can match at prepare time.
    let rows: Vec<(Option<i64>, String, String)> = sqlx::query_as(
        "SELECT ticket_id, sender, subject FROM messages
         WHERE author_kind = 'unverified_agent' AND recorded_at >= $1 ORDER BY id",
    )
    .bind(time_to_db(since))
    .fetch_all(db)
    .await
    .context("reading unauthenticated mail in the agent's name")?;
    Ok(rows.into_iter().map(|(ticket, sender, subject)| UnverifiedAgentMail { ticket, sender, subject }).collect())
}

/// Mail held without a ticket, as the daily summary screens it.
pub struct HeldMail {
    pub id: i64,
    pub sender: String,
    pub subject: String,
    pub automated_reason: Option<String>,
    pub parse_problem: Option<String>,
    pub desk_failed: bool,
}

/// Mail recorded since `since` and held without a ticket, other than the agent's own, oldest
/// first. Read through the partial index `messages_held_recorded`: held mail piles up over
/// the years.
pub async fn held_since(db: &Db, since: DateTime<Utc>) -> anyhow::Result<Vec<HeldMail>> {
    type Held = (i64, String, String, Option<String>, Option<String>, Flag);
    let rows: Vec<Held> = sqlx::query_as(
        "SELECT id, sender, subject, automated_reason, parse_problem, desk_failed FROM messages
         WHERE ticket_id IS NULL AND recorded_at >= $1 AND author_kind NOT IN ($2, $3) ORDER BY id",
    )
    .bind(time_to_db(since))
    .bind(AuthorKind::Agent)
    .bind(AuthorKind::UnverifiedAgent)
    .fetch_all(db)
    .await
    .context("reading held mail")?;
    Ok(rows
        .into_iter()
        .map(|(id, sender, subject, automated_reason, parse_problem, desk_failed)| HeldMail {
            id,
            sender,
            subject,
            automated_reason,
            parse_problem,
            desk_failed: desk_failed.0,
        })
        .collect())
}
