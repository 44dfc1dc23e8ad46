//! Alerts to the agent about SLA clocks: a warning when a due time is near (the configured
//! fraction of the target left) and a breach notice when it has passed, each at most once per
//! ticket, clock and kind. Owns the `sla_notices` table; a notice row and its outbox row commit
//! together, so restarts never repeat a notice and never lose one.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::desk::Desk;
use crate::outbound::compose::build_mail;
use crate::outbound::outbox::{self, OutboxKind};
use crate::sla::{clock_state, ClockState};
use crate::storage::{begin_write, time_to_db, Tx};
use crate::tickets::store::{self, ClockedTicket};

crate::stored_kind! {
    /// The SLA clock a notice is about.
    pub enum Clock {
        Response = "response",
        Resolution = "resolution",
    }
}

impl Clock {
    fn label(self) -> &'static str {
        match self {
            Clock::Response => "first response",
            Clock::Resolution => "resolution",
        }
    }
}

crate::stored_kind! {
    /// What a notice says of its clock.
    pub enum NoticeKind {
        /// The configured fraction of the target is left.
        Warning = "warning",
        /// The due time has passed.
        Breach = "breach",
    }
}

/// One notice to queue: a clock of a ticket, and what it says.
struct Notice<'a> {
    ticket: &'a ClockedTicket,
    clock: Clock,
    kind: NoticeKind,
    due: DateTime<Utc>,
}

/// Sends every warning and breach notice that is due at `now` and not sent yet. Returns how
/// many were queued.
pub async fn sla_alert_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let sla = &desk.config.sla;
    let mut queued = 0;
    for ticket in store::tickets_on_the_clock(&desk.db, sla.pause_while_waiting).await? {
        let mut clocks = vec![(Clock::Resolution, ticket.resolution_due)];
        if let (None, Some(due)) = (ticket.first_response_at, ticket.first_response_due) {
            clocks.insert(0, (Clock::Response, due));
        }
        for (clock, due) in clocks {
            let kind = match clock_state(ticket.opened_at, due, None, now, sla.warn_when_left) {
                ClockState::Breached => NoticeKind::Breach,
                ClockState::AtRisk => NoticeKind::Warning,
                ClockState::Ok | ClockState::Met => continue,
            };
            if queue_notice(desk, &Notice { ticket: &ticket, clock, kind, due }, now).await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Records the notice (and, for a breach, its moot warning); false when it was sent before.
async fn record_notice(tx: &mut Tx<'_>, notice: &Notice<'_>, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let record = |kind: NoticeKind| {
        sqlx::query(
            "INSERT INTO sla_notices (ticket_id, clock, kind, due_at, sent_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (ticket_id, clock, kind) DO NOTHING",
        )
        .bind(notice.ticket.id.0)
        .bind(notice.clock)
        .bind(kind)
        .bind(time_to_db(notice.due))
        .bind(time_to_db(now))
    };
    let inserted = record(notice.kind).execute(&mut **tx).await.context("recording an SLA notice")?.rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    // A breach found first makes the warning moot: record it as sent too.
    if notice.kind == NoticeKind::Breach {
        record(NoticeKind::Warning).execute(&mut **tx).await.context("recording a moot SLA warning")?;
    }
    Ok(true)
}

/// The data of `templates/sla_alert.*`: a warning, or a breach when `breached`.
#[derive(Debug, Serialize)]
pub(crate) struct SlaAlertData<'a> {
    pub(crate) ticket: i64,
    pub(crate) breached: bool,
    /// "first response" or "resolution".
    pub(crate) clock: &'static str,
    pub(crate) client: &'a str,
    /// The client's tier, "-" when the client is no longer configured.
    pub(crate) tier: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) severity: &'static str,
    /// Times in the agent's zone ("Tue Dec 1, 9:30 AM EST").
    pub(crate) opened: String,
    pub(crate) due: String,
    /// How long ago the due time passed (a breach), or how long is left (a warning).
    pub(crate) overdue: String,
    pub(crate) left: String,
}

async fn queue_notice(desk: &Desk, notice: &Notice<'_>, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let config = &desk.config;
    let ticket = notice.ticket;
    let mut tx = begin_write(&desk.db).await?;
    if !record_notice(&mut tx, notice, now).await? {
        return Ok(false);
    }
    let format = |time: DateTime<Utc>| config.agent_local_time(time);
    let tier = config.client(&ticket.client).map(|c| c.tier.as_str()).unwrap_or("-");
    let breached = notice.kind == NoticeKind::Breach;
    let data = SlaAlertData {
        ticket: ticket.id.0,
        breached,
        clock: notice.clock.label(),
        client: &ticket.client,
        tier,
        subject: &ticket.subject,
        severity: ticket.severity.as_str(),
        opened: format(ticket.opened_at),
        due: format(notice.due),
        overdue: human_duration(now - notice.due),
        left: human_duration(notice.due - now),
    };
    let draft = desk
        .threaded_notice_to_agent(
            &mut tx,
            if breached { OutboxKind::SlaBreach } else { OutboxKind::SlaWarning },
            ticket.id,
            desk.templates.render_line("sla_alert.subject", &data)?,
            desk.templates.render("sla_alert.txt", &data)?,
            now,
        )
        .await?;
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    tx.commit().await?;
    tracing::warn!(ticket = ticket.id.0, clock = %notice.clock, kind = %notice.kind, due = %notice.due, "SLA notice queued for the agent");
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
