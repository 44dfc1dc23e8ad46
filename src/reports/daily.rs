//! The agent's daily summary: gathered from the tables (read-only, apart from
//! `daily_summaries`, which this module owns), rendered as plain text and HTML from
//! `templates/daily_summary.*`, and sent once per local date at the configured time. A day
//! the desk was down for is covered by the next summary, which is sent late, once.

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use sqlx::Row;

use super::metrics::{compute_metrics, next_renewal, MetricInputs, TicketFacts};
use super::signals::{signals_for, ClientFacts};
use crate::config::Config;
use crate::desk::Desk;
use crate::domain::EmailAddress;
use crate::hours::bank::{hours_text, period_containing, period_named, Period};
use crate::hours::ledger::client_period;
use crate::outbound::compose::{build_mail, Draft};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::sla::local_midnight;
use crate::storage::{begin_write, time_from_db, time_to_db, Db};
use crate::tickets::identify::identify_sender;
use crate::tickets::store::{self, StatusFilter};

/// The summary's content as template data, and its subject.
pub struct Summary {
    pub data: Value,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The signals it raises (client, kind), recorded when it is sent.
    pub raised: Vec<(String, &'static str)>,
}

fn local_label(config: &Config, at: &str) -> String {
    time_from_db(at)
        .map(|time| time.with_timezone(&config.agent.timezone).format("%a %b %-d %-I:%M %p").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// The summary for `date` (the agent's local date), covering what happened since `since`.
pub async fn build_summary(
    desk: &Desk,
    date: NaiveDate,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Summary> {
    let config = &desk.config;
    let db = &desk.db;
    // Only open tickets and the new ones are read: the summary's cost does not grow with the
    // number of closed tickets in the history.
    let tickets: Vec<_> = store::list_tickets(db, StatusFilter::Open)
        .await?
        .into_iter()
        .map(|t| t.with_sla_state(now, &config.sla))
        .collect();

    let since_text = time_to_db(since);
    let new_tickets: Vec<Value> = store::tickets_opened_since(db, since)
        .await?
        .iter()
        .map(|t| {
            json!({"id": t.id, "client": t.client.clone().unwrap_or_else(|| "(unknown sender)".into()),
                   "severity": t.severity, "subject": t.subject, "requester": t.requester})
        })
        .collect();

    let rank = |state: Option<&str>| match state {
        Some("breached") => 0,
        Some("at_risk") => 1,
        _ => 2,
    };
    let mut open: Vec<_> = tickets.iter().filter(|t| t.status == "open").collect();
    let next_due = |t: &&crate::tickets::store::TicketSummary| -> (String, &'static str) {
        match (&t.first_response_at, &t.first_response_due, &t.resolution_due) {
            (None, Some(due), _) => (due.clone(), "first response"),
            (_, _, Some(due)) => (due.clone(), "resolution"),
            _ => ("9999".into(), ""),
        }
    };
    open.sort_by_key(|t| (rank(t.sla), next_due(t).0));
    let open_rows: Vec<Value> = open
        .iter()
        .map(|t| {
            let (due, label) = next_due(t);
            let state = match t.sla {
                Some("breached") => "BREACHED",
                Some("at_risk") => "AT RISK",
                Some(_) => "ok",
                None => "no SLA",
            };
            let color = match t.sla {
                Some("breached") => "#c00",
                Some("at_risk") => "#c60",
                _ => "#383",
            };
            json!({"id": t.id, "client": t.client.clone().unwrap_or_else(|| "(unknown)".into()), "severity": t.severity,
                   "subject": t.subject, "state": state, "color": color, "due_label": label,
                   "due": if due == "9999" { "-".to_string() } else { local_label(config, &due) }})
        })
        .collect();
    let breached_count = open.iter().filter(|t| t.sla == Some("breached")).count();
    let at_risk_count = open.iter().filter(|t| t.sla == Some("at_risk")).count();
    let waiting: Vec<Value> = open
        .iter()
        .filter_map(|t| t.waiting_since.as_ref().map(|since| (t, since)))
        .map(|(t, since)| json!({"id": t.id, "client": t.client, "subject": t.subject, "since": local_label(config, since)}))
        .collect();

    let mut attention: Vec<Value> = tickets
        .iter()
        .filter(|t| t.status == "open" && t.attention.is_some())
        .map(|t| json!({"id": t.id, "what": format!("{} ({})", t.attention.clone().unwrap_or_default(), t.requester), "subject": t.subject}))
        .collect();
    for row in sqlx::query(
        "SELECT ticket_id, sender, subject FROM messages WHERE author_kind = 'unverified_agent' AND recorded_at >= ? ORDER BY id",
    )
    .bind(&since_text)
    .fetch_all(db)
    .await?
    {
        let what = format!("unauthenticated mail in your name from {}", row.get::<String, _>("sender"));
        push_or_count(&mut attention, row.get::<Option<i64>, _>("ticket_id"), what, row.get::<String, _>("subject"));
    }
    let (held_count, held_to_check) = held_since(desk, &since_text).await?;
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let automated_on_tickets: Vec<Value> = store::automated_on_tickets_since(db, since)
        .await?
        .into_iter()
        .map(|(ticket, sender, subject, why)| {
            json!({"ticket": ticket, "sender": one_line(&sender), "subject": one_line(&subject), "why": one_line(&why)})
        })
        .collect();
    let failed: Vec<Value> = sqlx::query("SELECT ticket_id, kind, recipients, last_error FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT 20")
        .fetch_all(db)
        .await?
        .iter()
        .map(|row| json!({"ticket": row.get::<Option<i64>, _>("ticket_id"), "kind": row.get::<String, _>("kind"),
                          "to": row.get::<String, _>("recipients"), "error": row.get::<Option<String>, _>("last_error")}))
        .collect();

    let mut hours = Vec::new();
    let mut signals = Vec::new();
    let mut raised = Vec::new();
    let mut used_total = 0;
    let mut available_total = 0;
    let mut conn = db.acquire().await?;
    for client in &config.clients {
        let period = period_containing(date, client.period_anchor_day);
        let bank = client_period(&mut conn, config, client, period).await?;
        let s = &bank.statement;
        used_total += s.included_used_minutes;
        available_total += s.available_minutes;
        hours.push(json!({"client": client.name, "tier": client.tier.as_str().to_uppercase(),
            "used": hours_text(s.used_minutes()), "available": hours_text(s.available_minutes),
            "percent": if s.available_minutes > 0 { s.used_minutes() * 100 / s.available_minutes } else { 0 },
            "remaining": hours_text(s.remaining_minutes),
            "overage": if s.overage_minutes > 0 { Some(hours_text(s.overage_minutes)) } else { None }}));
        let mut maxed = Vec::new();
        let mut previous = period;
        for _ in 0..3 {
            previous = previous.previous(client.period_anchor_day);
            let past = client_period(&mut conn, config, client, previous).await?;
            maxed.push(
                past.statement.available_minutes > 0
                    && past.statement.included_used_minutes >= past.statement.available_minutes,
            );
        }
        let emergencies: i64 = sqlx::query_scalar(
            // Requests, not entries: two `#time` tags on one weekend P0 are one emergency. Time
            // added by hand without a ticket counts once per entry.
            "SELECT COUNT(DISTINCT COALESCE('ticket ' || ticket_id, 'entry ' || id)) FROM time_entries
             WHERE client = ? AND kind = 'emergency' AND work_date >= ?",
        )
        .bind(&client.name)
        .bind((date - Duration::days(90)).format("%Y-%m-%d").to_string())
        .fetch_one(&mut *conn)
        .await?;
        let feature_requests: Vec<String> = sqlx::query_scalar(
            "SELECT subject FROM tickets WHERE client = ? AND opened_at >= ? AND severity_reason LIKE 'rule \"feature request\"%' ORDER BY id",
        )
        .bind(&client.name)
        .bind(time_to_db(now - Duration::days(30)))
        .fetch_all(&mut *conn)
        .await?;
        let contract = client.contract.as_ref().filter(|c| c.cancelled_on.is_none());
        let facts = ClientFacts {
            client: client.name.clone(),
            tier: client.tier,
            maxed_recent_periods: maxed,
            emergencies_last_90_days: emergencies,
            feature_requests,
            annual_renewal: contract.filter(|c| c.annual).map(|c| next_renewal(c, date)),
            monthly_contract_end: client
                .contract
                .as_ref()
                .filter(|c| !c.annual)
                .and_then(|c| c.cancelled_on.map(|_| next_renewal(c, date))),
            today: date,
            contact_name: client.contact_name.clone(),
        };
        for signal in signals_for(&facts, &config.agent.name) {
            // The draft once, in the first summary that raises the signal; then a reminder.
            let first_raised = first_raised_on(&mut conn, &signal.client, signal.kind).await?;
            let reminder = first_raised.filter(|first| first.as_str() < date_text_of(date).as_str());
            raised.push((signal.client.clone(), signal.kind));
            let mut value = serde_json::to_value(&signal)?;
            value["reminder_since"] = json!(reminder);
            signals.push(value);
        }
    }
    drop(conn);

    let month = period_named(&date.format("%Y-%m").to_string(), 1).expect("a month name is a period");
    let metrics = metrics_for(desk, month, now, Some((used_total, available_total))).await?;
    let metric_rows: Vec<Value> = metrics
        .metrics
        .iter()
        .map(|m| {
            // Month to date, the banks are still filling: too little used is no verdict yet
            // (every month would start BELOW TARGET); too much already is.
            let met = match (m.name, m.value) {
                ("hour bank utilisation (%)", Some(value)) if value <= 80.0 => None,
                _ => m.met,
            };
            let flag = match (met, m.value) {
                (Some(true), _) => "OK",
                (Some(false), Some(value)) if m.target == "60-80%" && value > 80.0 => "ABOVE TARGET",
                (Some(false), _) => "BELOW TARGET",
                (None, _) => "",
            };
            json!({"name": m.name, "value": m.value.map(|v| format!("{v}")), "target": m.target, "flag": flag})
        })
        .collect();

    let data = json!({
        "agent_name": config.agent.name,
        "date": date.format("%A, %B %-d, %Y").to_string(),
        "date_short": date.format("%a %b %-d").to_string(),
        "new_count": new_tickets.len(),
        "new_tickets": new_tickets,
        "open_count": open_rows.len(),
        "breached_count": breached_count,
        "at_risk_count": at_risk_count,
        "open": open_rows,
        "waiting": waiting,
        "attention": attention,
        "held_count": held_count,
        "held_to_check": held_to_check,
        "automated_on_tickets": automated_on_tickets,
        "failed": failed,
        "hours": hours,
        "signals": signals,
        "metrics_period": metrics.period,
        "metrics": metric_rows,
    });
    let subject = desk.templates.render_line("daily_summary.subject", &data)?;
    let text = desk.templates.render("daily_summary.txt", &data)?;
    let html = desk.templates.render("daily_summary.html", &data)?;
    Ok(Summary { data, subject, text, html, raised })
}

fn date_text_of(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The date of the first summary that raised the client's signal of `kind`, if one did.
async fn first_raised_on(
    conn: &mut sqlx::SqliteConnection,
    client: &str,
    kind: &str,
) -> anyhow::Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT first_summary_date FROM raised_signals WHERE client = ? AND kind = ?")
        .bind(client)
        .bind(kind)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The metrics of `period` (a calendar month), seen at `now`.
pub async fn metrics_for(
    desk: &Desk,
    period: Period,
    now: DateTime<Utc>,
    bank: Option<(i64, i64)>,
) -> anyhow::Result<super::metrics::Metrics> {
    let config = &desk.config;
    let start = local_midnight(config.agent.timezone, period.start);
    let end = local_midnight(config.agent.timezone, period.end);
    let rows = sqlx::query(
        "SELECT origin, first_response_due_at, first_response_at, resolution_due_at, closed_at FROM tickets
         WHERE client IS NOT NULL AND merged_into IS NULL AND opened_at >= ? AND opened_at < ?",
    )
    .bind(time_to_db(start))
    .bind(time_to_db(end))
    .fetch_all(&desk.db)
    .await?;
    let time = |row: &sqlx::sqlite::SqliteRow, name: &str| -> Option<DateTime<Utc>> {
        row.get::<Option<String>, _>(name).and_then(|text| time_from_db(&text).ok())
    };
    let tickets: Vec<TicketFacts> = rows
        .iter()
        .map(|row| TicketFacts {
            proactive: row.get::<String, _>("origin") == "proactive",
            first_response_due: time(row, "first_response_due_at"),
            first_response_at: time(row, "first_response_at"),
            resolution_due: time(row, "resolution_due_at"),
            resolved_at: time(row, "closed_at"),
        })
        .collect();
    let scores: Vec<u8> = sqlx::query_scalar::<_, i64>(
        "SELECT score FROM satisfaction_scores WHERE received_at >= ? AND received_at < ?",
    )
    .bind(time_to_db(start))
    .bind(time_to_db(end))
    .fetch_all(&desk.db)
    .await?
    .into_iter()
    .map(|score| score as u8)
    .collect();
    let (used, available) = match bank {
        Some(totals) => totals,
        None => {
            let mut conn = desk.db.acquire().await?;
            let (mut used, mut available) = (0, 0);
            for client in &config.clients {
                let bank =
                    client_period(&mut conn, config, client, period_containing(period.start, client.period_anchor_day))
                        .await?;
                used += bank.statement.included_used_minutes;
                available += bank.statement.available_minutes;
            }
            (used, available)
        }
    };
    let contracts: Vec<_> = config.clients.iter().filter_map(|c| c.contract.clone()).collect();
    Ok(compute_metrics(&MetricInputs {
        period: period.name(),
        tickets: &tickets,
        scores: &scores,
        bank_used_minutes: used,
        bank_available_minutes: available,
        contracts: &contracts,
        period_start: period.start,
        period_end: period.end.pred_opt().unwrap_or(period.end),
        now,
    }))
}

/// The date whose summary is due at `now`: today once the configured time has passed, else
/// yesterday.
pub fn due_summary_date(config: &Config, now: DateTime<Utc>) -> NaiveDate {
    let local = now.with_timezone(&config.agent.timezone);
    if local.time() >= config.summary.time {
        local.date_naive()
    } else {
        local.date_naive() - Duration::days(1)
    }
}

async fn last_summary_sent(db: &Db) -> anyhow::Result<Option<DateTime<Utc>>> {
    let last: Option<String> = sqlx::query_scalar("SELECT MAX(sent_at) FROM daily_summaries").fetch_one(db).await?;
    last.map(|text| time_from_db(&text)).transpose()
}

/// Sends the summary for `date` unless it was sent: the row and the outbox mail commit
/// together. Returns whether a summary was queued.
pub async fn send_summary(desk: &Desk, date: NaiveDate, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let date_text = date.format("%Y-%m-%d").to_string();
    let already: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM daily_summaries WHERE summary_date = ?")
        .bind(&date_text)
        .fetch_one(&desk.db)
        .await?;
    if already > 0 {
        return Ok(false);
    }
    let since = last_summary_sent(&desk.db).await?.unwrap_or(now - Duration::days(1));
    let summary = build_summary(desk, date, since, now).await?;
    let config = &desk.config;
    let agent = &config.agent.addresses[0];
    let mut tx = begin_write(&desk.db).await?;
    let inserted = sqlx::query(
        "INSERT INTO daily_summaries (summary_date, covers_since, sent_at) VALUES (?, ?, ?) ON CONFLICT (summary_date) DO NOTHING",
    )
    .bind(&date_text)
    .bind(time_to_db(since))
    .bind(time_to_db(now))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for (client, kind) in &summary.raised {
        sqlx::query(
            "INSERT INTO raised_signals (client, kind, first_summary_date) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(client)
        .bind(kind)
        .bind(&date_text)
        .execute(&mut *tx)
        .await?;
    }
    let draft = Draft {
        message_id: Some(desk.agent_message_ids.signed_summary_id(agent, config.support_address().domain())),
        html: Some(summary.html),
        ..desk.notice_to_agent(OutboxKind::DailySummary, None, summary.subject, summary.text)
    };
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now)
        .await
        .context("queueing the daily summary")?;
    tx.commit().await?;
    tracing::info!(date = %date_text, "daily summary queued");
    Ok(true)
}

/// Adds a NEEDS YOU line, or counts it on the same line already there: several forgeries
/// alike read "... (3 mails)".
fn push_or_count(attention: &mut Vec<Value>, ticket: Option<i64>, what: String, subject: String) {
    let same = |line: &&mut Value| line["id"] == json!(ticket) && line["subject"] == subject && line["base"] == what;
    match attention.iter_mut().find(same) {
        Some(line) => {
            let count = line["count"].as_i64().unwrap_or(1) + 1;
            line["count"] = json!(count);
            line["what"] = json!(format!("{what} ({count} mails)"));
        }
        None => attention.push(json!({"id": ticket, "what": what, "base": what, "subject": subject})),
    }
}

/// The scheduler's step: the summary due at `now`, once. A new desk's first summary is the
/// first one due after it first ran (the run that created the database at 13:00 sends no
/// summary for that morning, which was before the desk existed).
pub async fn daily_summary_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<bool> {
    if !desk.config.summary.enabled {
        return Ok(false);
    }
    let started =
        time_from_db(&crate::storage::setting_or_create(&desk.db, "first_run_at", || time_to_db(now)).await?)?;
    let date = due_summary_date(&desk.config, now);
    if scheduled_at(&desk.config, date) < started {
        return Ok(false);
    }
    send_summary(desk, date, now).await
}

/// When the summary of `date` is due: `[summary] time` on that date, in the agent's timezone.
fn scheduled_at(config: &Config, date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_time(config.summary.time);
    config
        .agent
        .timezone
        .from_local_datetime(&local)
        .earliest()
        .map(|time| time.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// Mail held without a ticket since `since` (bounces, auto-replies, the desk's failures; not
/// the agent's own), and among it what may be a person's: mail from a client's address that
/// the screening took for automated, and mail the desk failed on.
async fn held_since(desk: &Desk, since_text: &str) -> anyhow::Result<(usize, Vec<Value>)> {
    let rows = sqlx::query(
        "SELECT id, sender, subject, automated_reason, parse_problem
         FROM messages INDEXED BY messages_held_recorded
         WHERE ticket_id IS NULL AND recorded_at >= ? AND author_kind NOT IN ('agent', 'unverified_agent') ORDER BY id",
    )
    .bind(since_text)
    .fetch_all(&desk.db)
    .await?;
    let mut to_check = Vec::new();
    for row in &rows {
        let sender: String = row.get("sender");
        let client = identify_sender(&desk.config, EmailAddress::parse(&sender).as_ref()).client();
        let why =
            match (row.get::<Option<String>, _>("automated_reason"), row.get::<Option<String>, _>("parse_problem")) {
                (Some(automated), _) if client.is_some() => format!("held as automated ({automated})"),
                (None, Some(problem)) if problem.starts_with(store::UNPROCESSABLE_PROBLEM) => problem,
                _ => continue,
            };
        // One line each: nothing from the held mail may start a line of the summary (where a
        // `#take` would count if the agent's mail client did not mark the quote).
        let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let (why, subject) = (one_line(&why), one_line(&row.get::<String, _>("subject")));
        to_check
            .push(json!({"id": row.get::<i64, _>("id"), "sender": sender, "client": client.map(|c| c.name.clone()),
                             "subject": subject, "why": why}));
    }
    Ok((rows.len(), to_check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgeries_alike_are_one_needs_you_line_with_their_count() {
        let mut attention = Vec::new();
        let what = || "unauthenticated mail in your name from travis@example.test".to_string();
        for _ in 0..3 {
            push_or_count(&mut attention, Some(1), what(), "Re: HubSpot".into());
        }
        push_or_count(&mut attention, Some(2), what(), "Re: HubSpot".into());
        let lines: Vec<&str> = attention.iter().map(|line| line["what"].as_str().unwrap()).collect();
        assert_eq!(
            lines,
            vec!["unauthenticated mail in your name from travis@example.test (3 mails)", what().as_str()],
            "another ticket is another line"
        );
    }
}
