//! Alerts to the agent about SLA clocks: a warning when a due time is near (the configured
//! fraction of the target left) and a breach notice when it has passed, each at most once per
//! ticket, clock and kind. Owns the `sla_notices` table; a notice row and its outbox row commit
//! together, so restarts never repeat a notice and never lose one.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::Row;

use crate::desk::Desk;
use crate::domain::TicketId;
use crate::outbound::compose::build_mail;
use crate::outbound::outbox;
use crate::sla::{clock_state, ClockState};
use crate::storage::{begin_write, time_from_db, time_to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Response,
    Resolution,
}

impl Clock {
    fn as_str(self) -> &'static str {
        match self {
            Clock::Response => "response",
            Clock::Resolution => "resolution",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Clock::Response => "first response",
            Clock::Resolution => "resolution",
        }
    }
}

/// Sends every warning and breach notice that is due at `now` and not sent yet. Returns how
/// many were queued.
pub async fn sla_alert_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT id, client, subject, severity, opened_at, first_response_due_at, resolution_due_at, first_response_at
         FROM tickets WHERE status = 'open' AND client IS NOT NULL AND resolution_due_at IS NOT NULL
           AND (waiting_since IS NULL OR ? = 0)",
    )
    .bind(desk.config.sla.pause_while_waiting)
    .fetch_all(&desk.db)
    .await?;
    let mut queued = 0;
    for row in rows {
        let ticket = TicketId(row.get("id"));
        let opened = time_from_db(&row.get::<String, _>("opened_at"))?;
        let mut clocks = vec![(Clock::Resolution, time_from_db(&row.get::<String, _>("resolution_due_at"))?)];
        if row.get::<Option<String>, _>("first_response_at").is_none() {
            if let Some(due) = row.get::<Option<String>, _>("first_response_due_at") {
                clocks.insert(0, (Clock::Response, time_from_db(&due)?));
            }
        }
        for (clock, due) in clocks {
            let kind = match clock_state(opened, due, None, now, desk.config.sla.warn_when_left) {
                ClockState::Breached => "breach",
                ClockState::AtRisk => "warning",
                ClockState::Ok | ClockState::Met => continue,
            };
            let client: String = row.get("client");
            let subject: String = row.get("subject");
            let severity: String = row.get("severity");
            if queue_notice(desk, ticket, clock, kind, due, opened, now, &client, &subject, &severity).await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

#[allow(clippy::too_many_arguments)]
async fn queue_notice(
    desk: &Desk,
    ticket: TicketId,
    clock: Clock,
    kind: &str,
    due: DateTime<Utc>,
    opened: DateTime<Utc>,
    now: DateTime<Utc>,
    client: &str,
    subject: &str,
    severity: &str,
) -> anyhow::Result<bool> {
    let config = &desk.config;
    let mut tx = begin_write(&desk.db).await?;
    let inserted = sqlx::query(
        "INSERT INTO sla_notices (ticket_id, clock, kind, due_at, sent_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (ticket_id, clock, kind) DO NOTHING",
    )
    .bind(ticket.0)
    .bind(clock.as_str())
    .bind(kind)
    .bind(time_to_db(due))
    .bind(time_to_db(now))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    // A breach found first makes the warning moot: record it as sent too.
    if kind == "breach" {
        sqlx::query(
            "INSERT INTO sla_notices (ticket_id, clock, kind, due_at, sent_at) VALUES (?, ?, 'warning', ?, ?)
             ON CONFLICT (ticket_id, clock, kind) DO NOTHING",
        )
        .bind(ticket.0)
        .bind(clock.as_str())
        .bind(time_to_db(due))
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
    }
    let format = |time: DateTime<Utc>| config.agent_local_time(time);
    let tier = config.client(client).map(|c| c.tier.as_str()).unwrap_or("-");
    let data = json!({
        "ticket": ticket.0,
        "breached": kind == "breach",
        "clock": clock.label(),
        "client": client,
        "tier": tier,
        "subject": subject,
        "severity": severity,
        "opened": format(opened),
        "due": format(due),
        "overdue": human_duration(now - due),
        "left": human_duration(due - now),
    });
    let draft = desk
        .threaded_notice_to_agent(
            &mut tx,
            if kind == "breach" { "sla_breach" } else { "sla_warning" },
            ticket,
            desk.templates.render_line("sla_alert.subject", &data)?,
            desk.templates.render("sla_alert.txt", &data)?,
        )
        .await?;
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    tx.commit().await?;
    tracing::warn!(ticket = ticket.0, clock = clock.as_str(), kind, due = %due, "SLA notice queued for the agent");
    Ok(true)
}

/// "2 h 05 min", "3 days 4 h".
pub fn human_duration(duration: Duration) -> String {
    let minutes = duration.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours} h {mins:02} min"),
        _ => format!("{days} days {hours} h"),
    }
}
