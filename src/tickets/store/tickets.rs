//! The `tickets` table: ticket rows and their changes. Writes take the caller's
//! transaction so a ticket change, its messages and its outbox rows commit together.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::domain::{EmailAddress, Severity, TicketId};
use crate::outbound::outbox::{self, RecentCounts};
use crate::sla::DueTimes;
use crate::storage::{optional_time_from_db, time_from_db, time_to_db, Tx};
use crate::tickets::kinds::{TicketOrigin, TicketStatus};

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
    .await
    .context("insert ticket")?;
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
    .await
    .context("ticket record")?;
    let Some(row) = row else { return Ok(None) };
    let time = |name: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
        optional_time_from_db(row.get::<Option<String>, _>(name).as_deref())
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
        .await
        .context("restart resolution clock")?;
    Ok(())
}

/// The ticket another was merged into, if it was.
pub async fn merged_into(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<TicketId>> {
    let target: Option<Option<i64>> = sqlx::query_scalar("SELECT merged_into FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_optional(&mut **tx)
        .await
        .context("merged into")?;
    Ok(target.flatten().map(TicketId))
}

pub async fn set_merged_into(tx: &mut Tx<'_>, from: TicketId, into: TicketId) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET merged_into = $1, related_ticket_id = $2, attention = NULL WHERE id = $3")
        .bind(into.0)
        .bind(into.0)
        .bind(from.0)
        .execute(&mut **tx)
        .await
        .context("set merged into")?;
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
    .await
    .context("set client")?;
    for sql in [
        "UPDATE time_entries SET client = $1 WHERE ticket_id = $2",
        "UPDATE satisfaction_scores SET client = $1 WHERE ticket_id = $2",
    ] {
        sqlx::query(sql).bind(client).bind(ticket.0).execute(&mut **tx).await.context("set client")?;
    }
    Ok(())
}

/// The tickets that were merged into `ticket`.
pub async fn merged_from(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Vec<TicketId>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM tickets WHERE merged_into = $1 ORDER BY id")
        .bind(ticket.0)
        .fetch_all(&mut **tx)
        .await
        .context("merged from")?;
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
    .await
    .context("set severity")?;
    Ok(())
}

pub async fn set_waiting(tx: &mut Tx<'_>, ticket: TicketId, since: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET waiting_since = $1 WHERE id = $2")
        .bind(time_to_db(since))
        .bind(ticket.0)
        .execute(&mut **tx)
        .await
        .context("set waiting")?;
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

/// The ticket's SLA due times (first response, resolution); `None` for a ticket of no client.
pub async fn due_times(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<crate::sla::DueTimes>> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT first_response_due_at, resolution_due_at FROM tickets WHERE id = $1")
            .bind(ticket.0)
            .fetch_optional(&mut **tx)
            .await
            .context("due times")?;
    match row {
        Some((Some(first), Some(resolution))) => Ok(Some(crate::sla::DueTimes {
            first_response: time_from_db(&first)?,
            resolution: time_from_db(&resolution)?,
        })),
        _ => Ok(None),
    }
}

/// The agent's first reply to the client stops the response clock.
pub async fn record_first_response(tx: &mut Tx<'_>, ticket: TicketId, at: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET first_response_at = $1 WHERE id = $2 AND first_response_at IS NULL")
        .bind(time_to_db(at))
        .bind(ticket.0)
        .execute(&mut **tx)
        .await
        .context("record first response")?;
    Ok(())
}

/// Whether the ticket exists, and its client.
pub async fn ticket_client(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Option<Option<String>>> {
    sqlx::query_scalar::<_, Option<String>>("SELECT client FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_optional(&mut **tx)
        .await
        .context("ticket client")
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
    .await
    .context("recent tickets from")?;
    Ok(RecentCounts { mailbox, domain })
}

/// Marks a ticket as needing the agent (the daily summary lists it), with why.
pub async fn set_attention(tx: &mut Tx<'_>, ticket: TicketId, attention: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE tickets SET attention = $1 WHERE id = $2")
        .bind(attention)
        .bind(ticket.0)
        .execute(&mut **tx)
        .await
        .context("set attention")?;
    Ok(())
}
