//! Reads across a ticket's rows for the CLI, the alert step and the reports: typed rows,
//! never a caller's SQL.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;

use super::messages::{message_from_row, MessageSummary, MESSAGE_COLUMNS};
use crate::domain::{Severity, TicketId};
use crate::sla::{clock_state, ticket_state, ClockState, SlaConfig};
use crate::storage::{optional_time_from_db, time_from_db, time_to_db, Conn, Db, Row, Tx};
use crate::tickets::kinds::{TicketOrigin, TicketStatus};

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
    pub fn with_sla_state(mut self, now: DateTime<Utc>, sla: &SlaConfig) -> anyhow::Result<TicketSummary> {
        let warn_when_left = sla.warn_when_left;
        // A stored time that does not read is an error, never "no SLA".
        let parse = |text: &Option<String>| optional_time_from_db(text.as_deref());
        let now = match parse(&self.waiting_since)? {
            Some(since) if sla.pause_while_waiting => since.min(now),
            _ => now,
        };
        let opened = time_from_db(&self.opened_at)?;
        let (Some(response_due), Some(resolution_due), None) =
            (parse(&self.first_response_due)?, parse(&self.resolution_due)?, self.merged_into)
        else {
            return Ok(self);
        };
        let response = clock_state(opened, response_due, parse(&self.first_response_at)?, now, warn_when_left);
        let resolution = clock_state(opened, resolution_due, parse(&self.resolved_at)?, now, warn_when_left);
        self.sla = Some(ticket_state(response, resolution));
        Ok(self)
    }
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
    (SELECT CAST(COALESCE(SUM(e.minutes), 0) AS BIGINT) FROM time_entries e WHERE e.ticket_id = t.id) AS minutes_logged";

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
            .await
            .context("ticket with messages")?
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
    rows.into_iter()
        .map(|(id, client, subject, severity, opened, response_due, resolution_due, responded)| {
            Ok(ClockedTicket {
                id: TicketId(id),
                client,
                subject,
                severity,
                opened_at: time_from_db(&opened)?,
                first_response_due: optional_time_from_db(response_due.as_deref())?,
                resolution_due: time_from_db(&resolution_due)?,
                first_response_at: optional_time_from_db(responded.as_deref())?,
            })
        })
        .collect()
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
    rows.into_iter()
        .map(|(origin, response_due, responded, resolution_due, resolved)| {
            Ok(TicketClocks {
                origin,
                first_response_due: optional_time_from_db(response_due.as_deref())?,
                first_response_at: optional_time_from_db(responded.as_deref())?,
                resolution_due: optional_time_from_db(resolution_due.as_deref())?,
                resolved_at: optional_time_from_db(resolved.as_deref())?,
            })
        })
        .collect()
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
    rows.into_iter()
        .map(|(id, subject, severity, opened, response_due, responded, resolution_due, closed)| {
            Ok(ReportedTicket {
                id: TicketId(id),
                subject,
                severity,
                opened_at: time_from_db(&opened)?,
                first_response_due: optional_time_from_db(response_due.as_deref())?,
                first_response_at: optional_time_from_db(responded.as_deref())?,
                resolution_due: optional_time_from_db(resolution_due.as_deref())?,
                closed_at: optional_time_from_db(closed.as_deref())?,
            })
        })
        .collect()
}
