//! The `tickets` and `messages` tables: all their SQL lives here. Writes take the caller's
//! transaction so a ticket change, its messages and its outbox rows commit together.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;

use super::kinds::{AuthorKind, TicketOrigin, TicketStatus};
use super::threading::KnownReference;
use crate::domain::{EmailAddress, MessageId, Severity, TicketId};
use crate::outbound::outbox::{self, RecentCounts};
use crate::sla::{clock_state, ticket_state, ClockState, DueTimes, SlaConfig};
use crate::storage::{time_from_db, time_to_db, Backend, Conn, Db, Row, Tx};

pub struct NewTicket<'a> {
    pub client: Option<&'a str>,
    pub requester: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub severity: Severity,
    pub severity_reason: &'a str,
    /// The name of the triage rule that decided, if one did.
    pub severity_rule: Option<&'a str>,
    pub attention: Option<&'a str>,
    pub opened_at: DateTime<Utc>,
    pub due: Option<DueTimes>,
    pub related_ticket: Option<TicketId>,
    pub origin: TicketOrigin,
    /// Set for proactive tickets: the agent's own mail is the first response.
    pub first_response_at: Option<DateTime<Utc>>,
}

pub async fn insert_ticket(tx: &mut Tx<'_>, ticket: &NewTicket<'_>, now: DateTime<Utc>) -> anyhow::Result<TicketId> {
    // What the flood brakes count (`recent_tickets_from`).
    let address = EmailAddress::parse(ticket.requester);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (client, requester, requester_key, requester_domain, requester_name, subject, severity,
                              severity_reason, severity_rule, attention, opened_at, first_response_due_at,
                              resolution_due_at, related_ticket_id, origin, first_response_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    )
    .bind(ticket.client)
    .bind(ticket.requester)
    .bind(address.as_ref().map(EmailAddress::mailbox_key))
    .bind(address.as_ref().map(|address| address.domain().to_string()))
    .bind(ticket.requester_name)
    .bind(ticket.subject)
    .bind(ticket.severity)
    .bind(ticket.severity_reason)
    .bind(ticket.severity_rule)
    .bind(ticket.attention)
    .bind(time_to_db(ticket.opened_at))
    .bind(ticket.due.map(|due| time_to_db(due.first_response)))
    .bind(ticket.due.map(|due| time_to_db(due.resolution)))
    .bind(ticket.related_ticket.map(|t| t.0))
    .bind(ticket.origin)
    .bind(ticket.first_response_at.map(time_to_db))
    .bind(time_to_db(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok(TicketId(id))
}

/// Marks a ticket as changed; a client writing to a closed ticket reopens it.
pub async fn touch_ticket(tx: &mut Tx<'_>, ticket: TicketId, reopen: bool, now: DateTime<Utc>) -> anyhow::Result<()> {
    let sql = if reopen {
        "UPDATE tickets SET updated_at = $1, status = $3, closed_at = NULL WHERE id = $2"
    } else {
        "UPDATE tickets SET updated_at = $1 WHERE id = $2"
    };
    let query = sqlx::query(sql).bind(time_to_db(now)).bind(ticket.0);
    let query = if reopen { query.bind(TicketStatus::Open) } else { query };
    query.execute(&mut **tx).await.context("marking a ticket changed")?;
    Ok(())
}

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
    .await?;
    let mut pointed_at: Vec<&MessageId> = message.in_reply_to.into_iter().chain(message.references).collect();
    pointed_at.dedup();
    for referenced in pointed_at.into_iter().take(50) {
        sqlx::query("INSERT INTO message_refs (message_row, ticket_id, referenced_id) VALUES ($1, $2, $3)")
            .bind(row)
            .bind(message.ticket.map(|t| t.0))
            .bind(referenced.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(row)
}

pub async fn is_already_recorded(tx: &mut Tx<'_>, dedupe_key: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM messages WHERE dedupe_key = $1")
        .bind(dedupe_key)
        .fetch_one(&mut **tx)
        .await?
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
        .await?;
        if let Some(ticket) = ticket {
            found.push(KnownReference { message_id: id.clone(), ticket: TicketId(ticket), ours: false });
            continue;
        }
        let sibling: Option<i64> = sqlx::query_scalar(
            "SELECT ticket_id FROM message_refs WHERE referenced_id = $1 AND ticket_id IS NOT NULL ORDER BY message_row LIMIT 1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(ticket) = sibling {
            found.push(KnownReference { message_id: id.clone(), ticket: TicketId(ticket), ours: false });
        }
    }
    Ok(found)
}

/// A ticket's state as intake and the agent's replies need it.
#[derive(Debug, Clone)]
pub struct TicketRecord {
    pub id: TicketId,
    pub client: Option<String>,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub severity: Severity,
    pub open: bool,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub waiting_since: Option<DateTime<Utc>>,
}

pub async fn ticket_record(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<TicketRecord>> {
    let row = sqlx::query(
        "SELECT client, requester, requester_name, subject, severity, status, opened_at, closed_at,
                first_response_at, waiting_since
         FROM tickets WHERE id = $1",
    )
    .bind(ticket.0)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let time = |name: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
        row.get::<Option<String>, _>(name).as_deref().map(time_from_db).transpose()
    };
    Ok(Some(TicketRecord {
        id: ticket,
        client: row.get("client"),
        requester: row.get("requester"),
        requester_name: row.get("requester_name"),
        subject: row.get("subject"),
        severity: row.try_get("severity")?,
        open: row.try_get::<TicketStatus, _>("status")? == TicketStatus::Open,
        opened_at: time_from_db(&row.get::<String, _>("opened_at"))?,
        closed_at: time("closed_at")?,
        first_response_at: time("first_response_at")?,
        waiting_since: time("waiting_since")?,
    }))
}

pub async fn close_ticket(tx: &mut Tx<'_>, ticket: TicketId, at: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET status = $3, closed_at = $1, waiting_since = NULL WHERE id = $2")
        .bind(time_to_db(at))
        .bind(ticket.0)
        .bind(TicketStatus::Closed)
        .execute(&mut **tx)
        .await
        .context("closing a ticket")?;
    Ok(())
}

/// A new resolution deadline (a reopened ticket's fresh clock).
pub async fn restart_resolution_clock(tx: &mut Tx<'_>, ticket: TicketId, due: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET resolution_due_at = $1 WHERE id = $2")
        .bind(time_to_db(due))
        .bind(ticket.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The ticket another was merged into, if it was.
pub async fn merged_into(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<TicketId>> {
    let target: Option<Option<i64>> = sqlx::query_scalar("SELECT merged_into FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(target.flatten().map(TicketId))
}

pub async fn set_merged_into(tx: &mut Tx<'_>, from: TicketId, into: TicketId) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET merged_into = $1, related_ticket_id = $2, attention = NULL WHERE id = $3")
        .bind(into.0)
        .bind(into.0)
        .bind(from.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves everything that hangs on `from` to `into`: messages, the desk's mail (so replies to
/// it thread there), time entries, scores and participants.
pub async fn move_ticket_contents(tx: &mut Tx<'_>, from: TicketId, into: TicketId) -> anyhow::Result<()> {
    outbox::move_to_ticket(tx, from, into).await?;
    crate::hours::entries::move_to_ticket(tx, from, into).await?;
    for sql in [
        "UPDATE messages SET ticket_id = $1 WHERE ticket_id = $2",
        "UPDATE satisfaction_scores SET ticket_id = $1 WHERE ticket_id = $2",
        "INSERT INTO ticket_participants (ticket_id, address, added_at)
           SELECT $1, address, added_at FROM ticket_participants WHERE ticket_id = $2
           ON CONFLICT DO NOTHING",
    ] {
        sqlx::query(sql).bind(into.0).bind(from.0).execute(&mut **tx).await.context("moving a merged ticket's rows")?;
    }
    sqlx::query("DELETE FROM ticket_participants WHERE ticket_id = $1")
        .bind(from.0)
        .execute(&mut **tx)
        .await
        .context("moving a merged ticket's participants")?;
    // The requester of the merged ticket joins the one it went into.
    sqlx::query(
        "INSERT INTO ticket_participants (ticket_id, address, added_at)
           SELECT $1, requester, updated_at FROM tickets WHERE id = $2
             AND lower(requester) <> (SELECT lower(requester) FROM tickets WHERE id = $1)
           ON CONFLICT DO NOTHING",
    )
    .bind(into.0)
    .bind(from.0)
    .execute(&mut **tx)
    .await
    .context("adding a merged ticket's requester")?;
    Ok(())
}

/// Gives the ticket to `client` with new due times; drops `attention` when it is that note.
pub async fn set_client(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    client: &str,
    due: DueTimes,
    stale_attention: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE tickets SET client = $1, first_response_due_at = $2, resolution_due_at = $3,
                attention = CASE WHEN attention = $4 THEN NULL ELSE attention END WHERE id = $5",
    )
    .bind(client)
    .bind(time_to_db(due.first_response))
    .bind(time_to_db(due.resolution))
    .bind(stale_attention)
    .bind(ticket.0)
    .execute(&mut **tx)
    .await?;
    for sql in [
        "UPDATE time_entries SET client = $1 WHERE ticket_id = $2",
        "UPDATE satisfaction_scores SET client = $1 WHERE ticket_id = $2",
    ] {
        sqlx::query(sql).bind(client).bind(ticket.0).execute(&mut **tx).await?;
    }
    Ok(())
}

/// The tickets that were merged into `ticket`.
pub async fn merged_from(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Vec<TicketId>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM tickets WHERE merged_into = $1 ORDER BY id")
        .bind(ticket.0)
        .fetch_all(&mut **tx)
        .await?;
    Ok(ids.into_iter().map(TicketId).collect())
}

/// A new severity, and the due times recomputed from the ticket's start.
pub async fn set_severity(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    severity: Severity,
    reason: &str,
    due: Option<DueTimes>,
) -> anyhow::Result<()> {
    // The agent's (or an escalation's) severity is no triage rule's any more.
    sqlx::query(
        "UPDATE tickets SET severity = $1, severity_reason = $2, severity_rule = NULL,
                first_response_due_at = COALESCE($3, first_response_due_at),
                resolution_due_at = COALESCE($4, resolution_due_at)
         WHERE id = $5",
    )
    .bind(severity)
    .bind(reason)
    .bind(due.map(|due| time_to_db(due.first_response)))
    .bind(due.map(|due| time_to_db(due.resolution)))
    .bind(ticket.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_waiting(tx: &mut Tx<'_>, ticket: TicketId, since: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET waiting_since = $1 WHERE id = $2")
        .bind(time_to_db(since))
        .bind(ticket.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The client answered: the ticket no longer waits. With `shift`, the paused time is added to
/// the due times (the clocks did not run while waiting); the response clock only if unmet.
pub async fn end_waiting(tx: &mut Tx<'_>, ticket: TicketId, shift: Option<chrono::Duration>) -> anyhow::Result<()> {
    let row: Option<(Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT first_response_due_at, first_response_at, resolution_due_at FROM tickets WHERE id = $1")
            .bind(ticket.0)
            .fetch_optional(&mut **tx)
            .await
            .context("reading a waiting ticket's due times")?;
    let Some((response_due, responded, resolution_due)) = row else { return Ok(()) };
    let shift = shift.filter(|shift| *shift > chrono::Duration::zero());
    let later = |due: Option<String>| -> anyhow::Result<Option<String>> {
        match (due, shift) {
            (Some(due), Some(shift)) => Ok(Some(time_to_db(time_from_db(&due)? + shift))),
            (due, _) => Ok(due),
        }
    };
    // The response clock moves only while it runs: a ticket already answered keeps its due time.
    let response_due = if responded.is_none() { later(response_due)? } else { response_due };
    sqlx::query(
        "UPDATE tickets SET waiting_since = NULL, first_response_due_at = $1, resolution_due_at = $2 WHERE id = $3",
    )
    .bind(response_due)
    .bind(later(resolution_due)?)
    .bind(ticket.0)
    .execute(&mut **tx)
    .await
    .context("ending a ticket's wait")?;
    Ok(())
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

/// The ticket's SLA due times (first response, resolution); `None` for a ticket of no client.
pub async fn due_times(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<crate::sla::DueTimes>> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT first_response_due_at, resolution_due_at FROM tickets WHERE id = $1")
            .bind(ticket.0)
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some((Some(first), Some(resolution))) => Ok(Some(crate::sla::DueTimes {
            first_response: time_from_db(&first)?,
            resolution: time_from_db(&resolution)?,
        })),
        _ => Ok(None),
    }
}

/// Adds `addresses` to the ticket's participants (each once); returns how many were new.
pub async fn add_participants(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    addresses: &[EmailAddress],
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let mut added = 0;
    for address in addresses {
        added += sqlx::query(
            "INSERT INTO ticket_participants (ticket_id, address, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(ticket.0)
        .bind(address.as_str())
        .bind(time_to_db(now))
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(added)
}

/// Removes `address` from the ticket's participants; whether it was one.
pub async fn remove_participant(tx: &mut Tx<'_>, ticket: TicketId, address: &EmailAddress) -> anyhow::Result<bool> {
    let removed = sqlx::query("DELETE FROM ticket_participants WHERE ticket_id = $1 AND address = $2")
        .bind(ticket.0)
        .bind(address.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(removed > 0)
}

/// The ticket's participants besides its requester, in the order they joined.
pub async fn participants(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Vec<EmailAddress>> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT address FROM ticket_participants WHERE ticket_id = $1 ORDER BY added_at, address")
            .bind(ticket.0)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows.iter().filter_map(|address| EmailAddress::parse(address)).collect())
}

pub async fn record_satisfaction(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    client: Option<&str>,
    score: u8,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO satisfaction_scores (ticket_id, client, score, received_at) VALUES ($1, $2, $3, $4)")
        .bind(ticket.0)
        .bind(client)
        .bind(score as i64)
        .bind(time_to_db(at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The agent's first reply to the client stops the response clock.
pub async fn record_first_response(tx: &mut Tx<'_>, ticket: TicketId, at: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET first_response_at = $1 WHERE id = $2 AND first_response_at IS NULL")
        .bind(time_to_db(at))
        .bind(ticket.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether the ticket exists, and its client.
pub async fn ticket_client(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<Option<String>>> {
    Ok(sqlx::query_scalar::<_, Option<String>>("SELECT client FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_optional(&mut **tx)
        .await?)
}

/// What the agent and scripts see of a ticket (`tickets --json`). Times are RFC 3339 UTC.
#[derive(Debug, Clone, Serialize)]
pub struct TicketSummary {
    pub id: i64,
    pub client: Option<String>,
    pub requester: String,
    pub subject: String,
    pub status: TicketStatus,
    pub severity: Severity,
    pub severity_reason: String,
    pub attention: Option<String>,
    pub opened_at: String,
    pub first_response_due: Option<String>,
    pub resolution_due: Option<String>,
    pub first_response_at: Option<String>,
    pub resolved_at: Option<String>,
    /// `ok`, `at_risk`, `breached` or `met`; null when no SLA applies (no client).
    pub sla: Option<ClockState>,
    pub related_ticket: Option<i64>,
    /// The ticket this one was merged into: its SLA no longer applies (it has none).
    pub merged_into: Option<i64>,
    /// Set while the ticket waits on the client (`#waiting`).
    pub waiting_since: Option<String>,
    pub updated_at: String,
    pub messages: i64,
    /// Time logged on the ticket, after rounding each entry up to 15 minutes.
    pub minutes_logged: i64,
}

impl TicketSummary {
    /// Fills `sla` as seen at `now`. With `pause_while_waiting`, a waiting ticket's clocks are
    /// read at the moment it started waiting.
    pub fn with_sla_state(mut self, now: DateTime<Utc>, sla: &SlaConfig) -> TicketSummary {
        let warn_when_left = sla.warn_when_left;
        let parse = |text: &Option<String>| text.as_deref().and_then(|t| time_from_db(t).ok());
        let now = match parse(&self.waiting_since) {
            Some(since) if sla.pause_while_waiting => since.min(now),
            _ => now,
        };
        let (Some(opened), Some(response_due), Some(resolution_due), None) = (
            time_from_db(&self.opened_at).ok(),
            parse(&self.first_response_due),
            parse(&self.resolution_due),
            self.merged_into,
        ) else {
            return self;
        };
        let response = clock_state(opened, response_due, parse(&self.first_response_at), now, warn_when_left);
        let resolution = clock_state(opened, resolution_due, parse(&self.resolved_at), now, warn_when_left);
        self.sla = Some(ticket_state(response, resolution));
        self
    }
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

const MESSAGE_COLUMNS: &str = "id, author_kind, sender, subject, arrived_at, message_id, thread_reason,
    automated_reason, parse_problem, desk_failed, attachments_json, body_text";

fn message_from_row(row: &Row) -> anyhow::Result<MessageSummary> {
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
        desk_failed: row.try_get("desk_failed")?,
        attachments: serde_json::from_str(&attachments).context("bad attachments_json in messages")?,
        body_text: row.try_get("body_text")?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Open,
    Closed,
    All,
}

const SUMMARY_COLUMNS: &str = "t.id, t.client, t.requester, t.subject, t.status, t.severity, t.severity_reason,
    t.attention, t.opened_at, t.first_response_due_at, t.resolution_due_at, t.first_response_at, t.closed_at,
    t.related_ticket_id, t.merged_into, t.waiting_since, t.updated_at,
    (SELECT COUNT(*) FROM messages m WHERE m.ticket_id = t.id) AS messages,
    (SELECT COALESCE(SUM(e.minutes), 0) FROM time_entries e WHERE e.ticket_id = t.id) AS minutes_logged";

fn summary_from_row(row: &Row) -> anyhow::Result<TicketSummary> {
    Ok(TicketSummary {
        id: row.try_get("id")?,
        client: row.try_get("client")?,
        requester: row.try_get("requester")?,
        subject: row.try_get("subject")?,
        status: row.try_get("status")?,
        severity: row.try_get("severity")?,
        severity_reason: row.try_get("severity_reason")?,
        attention: row.try_get("attention")?,
        opened_at: row.try_get("opened_at")?,
        first_response_due: row.try_get("first_response_due_at")?,
        resolution_due: row.try_get("resolution_due_at")?,
        first_response_at: row.try_get("first_response_at")?,
        resolved_at: row.try_get("closed_at")?,
        sla: None,
        related_ticket: row.try_get("related_ticket_id")?,
        merged_into: row.try_get("merged_into")?,
        waiting_since: row.try_get("waiting_since")?,
        updated_at: row.try_get("updated_at")?,
        messages: row.try_get("messages")?,
        minutes_logged: row.try_get("minutes_logged")?,
    })
}

pub async fn list_tickets(db: &Db, filter: StatusFilter) -> anyhow::Result<Vec<TicketSummary>> {
    let status = match filter {
        StatusFilter::Open => Some(TicketStatus::Open),
        StatusFilter::Closed => Some(TicketStatus::Closed),
        StatusFilter::All => None,
    };
    let condition = if status.is_some() { "WHERE t.status = $1" } else { "" };
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM tickets t {condition} ORDER BY t.id");
    let query = sqlx::query(sqlx::AssertSqlSafe(sql));
    let query = match status {
        Some(status) => query.bind(status),
        None => query,
    };
    let rows = query.fetch_all(db).await.context("listing tickets")?;
    rows.iter().map(summary_from_row).collect()
}

/// Tickets opened at or after `since` (any status), oldest first.
pub async fn tickets_opened_since(db: &Db, since: DateTime<Utc>) -> anyhow::Result<Vec<TicketSummary>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS} FROM tickets t WHERE t.opened_at >= $1 ORDER BY t.opened_at, t.id"
    )))
    .bind(time_to_db(since))
    .fetch_all(db)
    .await
    .context("listing new tickets")?;
    rows.iter().map(summary_from_row).collect()
}

pub async fn ticket_with_messages(
    db: &Db,
    ticket: TicketId,
) -> anyhow::Result<Option<(TicketSummary, Vec<MessageSummary>)>> {
    let Some(row) =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SUMMARY_COLUMNS} FROM tickets t WHERE t.id = $1")))
            .bind(ticket.0)
            .fetch_optional(db)
            .await?
    else {
        return Ok(None);
    };
    let messages = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 ORDER BY arrived_at, id"
    )))
    .bind(ticket.0)
    .fetch_all(db)
    .await
    .context("reading a ticket's messages")?
    .iter()
    .map(message_from_row)
    .collect::<anyhow::Result<_>>()?;
    Ok(Some((summary_from_row(&row)?, messages)))
}

/// Automated mail (an out-of-office, a bounce of a relay) recorded on a ticket since `since`:
/// (ticket, sender, subject, why it is automated), at most 20, oldest first. The agent is not
/// sent these one by one; the daily summary names them.
pub async fn automated_on_tickets_since(
    db: &Db,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(i64, String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT ticket_id, sender, subject, automated_reason FROM messages
         WHERE ticket_id IS NOT NULL AND automated_reason IS NOT NULL AND recorded_at >= $1
         ORDER BY id LIMIT 20",
    )
    .bind(time_to_db(since))
    .fetch_all(db)
    .await?)
}

/// Mail held aside without a ticket: automated mail that threads nowhere, agent mail about no
/// ticket, answers to report drafts, and mail the desk failed on.
pub async fn count_held_messages(db: &Db) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE ticket_id IS NULL").fetch_one(db).await?)
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

/// How many tickets opened at or after `since`, other than `except`, came from the mailbox of
/// `requester` (any `+detail`, any case) and from its domain: the counts the agent-notification
/// flood brake limits.
pub async fn recent_tickets_from(
    tx: &mut Tx<'_>,
    requester: &EmailAddress,
    since: DateTime<Utc>,
    except: TicketId,
) -> anyhow::Result<RecentCounts> {
    let (mailbox, domain): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM tickets WHERE requester_key = $1 AND opened_at >= $2 AND id <> $3),
                (SELECT COUNT(*) FROM tickets WHERE requester_domain = $4 AND opened_at >= $5 AND id <> $6)",
    )
    .bind(requester.mailbox_key())
    .bind(time_to_db(since))
    .bind(except.0)
    .bind(requester.domain())
    .bind(time_to_db(since))
    .bind(except.0)
    .fetch_one(&mut **tx)
    .await?;
    Ok(RecentCounts { mailbox, domain })
}

/// Marks a ticket as needing the agent (the daily summary lists it), with why.
pub async fn set_attention(tx: &mut Tx<'_>, ticket: TicketId, attention: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET attention = $1 WHERE id = $2")
        .bind(attention)
        .bind(ticket.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_thread_reason(tx: &mut Tx<'_>, message: i64, reason: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE messages SET thread_reason = $1 WHERE id = $2")
        .bind(reason)
        .bind(message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes a held message so that its mail can be recorded again from its raw bytes (the
/// caller does that in the same transaction). Nothing else may point at it.
pub async fn forget_held_message(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM message_refs WHERE message_row = $1").bind(id).execute(&mut **tx).await?;
    let deleted = sqlx::query("DELETE FROM messages WHERE id = $1 AND ticket_id IS NULL")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    anyhow::ensure!(deleted == 1, "message {id} is not held aside");
    Ok(())
}

/// An open ticket of a client, with the SLA clocks the alert step watches.
pub struct ClockedTicket {
    pub id: TicketId,
    pub client: String,
    pub subject: String,
    pub severity: Severity,
    pub opened_at: DateTime<Utc>,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
}

/// The open tickets whose SLA clocks run: a client's, with due times; with
/// `pause_while_waiting`, not those waiting on the client.
pub async fn tickets_on_the_clock(db: &Db, pause_while_waiting: bool) -> anyhow::Result<Vec<ClockedTicket>> {
    type Clocked = (i64, String, String, Severity, String, Option<String>, String, Option<String>);
    let rows: Vec<Clocked> = sqlx::query_as(
        "SELECT id, client, subject, severity, opened_at, first_response_due_at, resolution_due_at, first_response_at
         FROM tickets WHERE status = $1 AND client IS NOT NULL AND resolution_due_at IS NOT NULL
           AND (waiting_since IS NULL OR NOT $2)",
    )
    .bind(TicketStatus::Open)
    .bind(pause_while_waiting)
    .fetch_all(db)
    .await
    .context("reading the tickets on the SLA clock")?;
    let time = |text: Option<String>| text.as_deref().map(time_from_db).transpose();
    rows.into_iter()
        .map(|(id, client, subject, severity, opened, response_due, resolution_due, responded)| {
            Ok(ClockedTicket {
                id: TicketId(id),
                client,
                subject,
                severity,
                opened_at: time_from_db(&opened)?,
                first_response_due: time(response_due)?,
                resolution_due: time_from_db(&resolution_due)?,
                first_response_at: time(responded)?,
            })
        })
        .collect()
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
    type Held = (i64, String, String, Option<String>, Option<String>, bool);
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
            desk_failed,
        })
        .collect())
}

/// Subjects of the client's tickets opened since `since` whose severity the triage rule
/// `rule` set, oldest first.
pub async fn subjects_by_rule_since(
    conn: &mut Conn,
    client: &str,
    rule: &str,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT subject FROM tickets WHERE client = $1 AND opened_at >= $2 AND severity_rule = $3 ORDER BY id",
    )
    .bind(client)
    .bind(time_to_db(since))
    .bind(rule)
    .fetch_all(&mut *conn)
    .await
    .context("reading tickets by triage rule")
}

/// The clocks of a ticket, as the monthly metrics count them.
pub struct TicketClocks {
    pub origin: TicketOrigin,
    pub first_response_due: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The clocks of the clients' tickets opened in `from..to` (merged tickets left out).
pub async fn ticket_clocks_opened_between(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<TicketClocks>> {
    type Clocks = (TicketOrigin, Option<String>, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Clocks> = sqlx::query_as(
        "SELECT origin, first_response_due_at, first_response_at, resolution_due_at, closed_at FROM tickets
         WHERE client IS NOT NULL AND merged_into IS NULL AND opened_at >= $1 AND opened_at < $2",
    )
    .bind(time_to_db(from))
    .bind(time_to_db(to))
    .fetch_all(db)
    .await
    .context("reading the month's ticket clocks")?;
    let time = |text: Option<String>| text.as_deref().map(time_from_db).transpose();
    rows.into_iter()
        .map(|(origin, response_due, responded, resolution_due, resolved)| {
            Ok(TicketClocks {
                origin,
                first_response_due: time(response_due)?,
                first_response_at: time(responded)?,
                resolution_due: time(resolution_due)?,
                resolved_at: time(resolved)?,
            })
        })
        .collect()
}

/// The satisfaction scores received in `from..to`.
pub async fn scores_received_between(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<u8>> {
    let scores: Vec<i64> =
        sqlx::query_scalar("SELECT score FROM satisfaction_scores WHERE received_at >= $1 AND received_at < $2")
            .bind(time_to_db(from))
            .bind(time_to_db(to))
            .fetch_all(db)
            .await
            .context("reading satisfaction scores")?;
    // The table's CHECK keeps scores in 0..=10.
    Ok(scores.into_iter().map(|score| score.clamp(0, 10) as u8).collect())
}

/// A client's ticket as its report counts it.
pub struct ReportedTicket {
    pub id: TicketId,
    pub subject: String,
    pub severity: Severity,
    pub opened_at: DateTime<Utc>,
    pub first_response_due: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// The client's tickets opened before `to` and opened or closed at or after `from`, by id.
pub async fn client_tickets_between(
    tx: &mut Tx<'_>,
    client: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<ReportedTicket>> {
    type Reported = (i64, String, Severity, String, Option<String>, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Reported> = sqlx::query_as(
        "SELECT id, subject, severity, opened_at, first_response_due_at, first_response_at, resolution_due_at, closed_at
         FROM tickets WHERE client = $1 AND opened_at < $2 AND (opened_at >= $3 OR closed_at >= $3) ORDER BY id",
    )
    .bind(client)
    .bind(time_to_db(to))
    .bind(time_to_db(from))
    .fetch_all(&mut **tx)
    .await
    .context("reading a client's tickets for its report")?;
    let time = |text: Option<String>| text.as_deref().map(time_from_db).transpose();
    rows.into_iter()
        .map(|(id, subject, severity, opened, response_due, responded, resolution_due, closed)| {
            Ok(ReportedTicket {
                id: TicketId(id),
                subject,
                severity,
                opened_at: time_from_db(&opened)?,
                first_response_due: time(response_due)?,
                first_response_at: time(responded)?,
                resolution_due: time(resolution_due)?,
                closed_at: time(closed)?,
            })
        })
        .collect()
}
