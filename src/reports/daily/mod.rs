//! The agent's daily summary: gathered from the owners of the tables (`summary`), rendered as plain text and HTML from
//! `templates/daily_summary.*`, and sent once per local date at the configured time. A day
//! the desk was down for is covered by the next summary, which is sent late, once. Owns
//! `daily_summaries` and `raised_signals`.

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::metrics::{compute_metrics, MetricInputs, TicketFacts};
use crate::config::Config;
use crate::desk::Desk;
use crate::hours::bank::{period_containing, Period};
use crate::hours::ledger::client_period;
use crate::outbound::compose::{build_mail, Draft};
use crate::outbound::outbox::{self, OutboxKind};
use crate::sla::local_midnight;
use crate::storage::{begin_write, time_from_db, time_to_db, Conn, Db};
use crate::tickets::kinds::TicketOrigin;
use crate::tickets::store;

pub(crate) mod summary;

pub use summary::{build_summary, Summary, SummaryData};

/// The date of the first summary that raised the client's signal of `kind`, if one did.
async fn first_raised_on(conn: &mut Conn, client: &str, kind: &str) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar("SELECT first_summary_date FROM raised_signals WHERE client = $1 AND kind = $2")
        .bind(client)
        .bind(kind)
        .fetch_optional(&mut *conn)
        .await
        .context("reading a raised signal")
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
    let tickets: Vec<TicketFacts> = store::ticket_clocks_opened_between(&desk.db, start, end)
        .await?
        .into_iter()
        .map(|clocks| TicketFacts {
            proactive: clocks.origin == TicketOrigin::Proactive,
            first_response_due: clocks.first_response_due,
            first_response_at: clocks.first_response_at,
            resolution_due: clocks.resolution_due,
            resolved_at: clocks.resolved_at,
        })
        .collect();
    let scores = store::scores_received_between(&desk.db, start, end).await?;
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
    let last: Option<String> = sqlx::query_scalar("SELECT MAX(sent_at) FROM daily_summaries")
        .fetch_one(db)
        .await
        .context("last summary sent")?;
    last.map(|text| time_from_db(&text)).transpose()
}

/// Sends the summary for `date` unless it was sent: the row and the outbox mail commit
/// together. Returns whether a summary was queued.
pub async fn send_summary(desk: &Desk, date: NaiveDate, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let date_text = date.format("%Y-%m-%d").to_string();
    let already: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM daily_summaries WHERE summary_date = $1")
        .bind(&date_text)
        .fetch_one(&desk.db)
        .await
        .context("send summary")?;
    if already > 0 {
        return Ok(false);
    }
    let since = last_summary_sent(&desk.db).await?.unwrap_or(now - Duration::days(1));
    let summary = build_summary(desk, date, since, now).await?;
    let config = &desk.config;
    let agent = &config.agent.addresses[0];
    let mut tx = begin_write(&desk.db).await?;
    let inserted = sqlx::query(
        "INSERT INTO daily_summaries (summary_date, covers_since, sent_at) VALUES ($1, $2, $3) ON CONFLICT (summary_date) DO NOTHING",
    )
    .bind(&date_text)
    .bind(time_to_db(since))
    .bind(time_to_db(now))
    .execute(&mut *tx)
    .await.context("send summary")?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for (client, kind) in &summary.raised {
        sqlx::query(
            "INSERT INTO raised_signals (client, kind, first_summary_date) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(client)
        .bind(kind)
        .bind(&date_text)
        .execute(&mut *tx)
        .await
        .context("send summary")?;
    }
    let draft = Draft {
        message_id: Some(desk.agent_message_ids.signed_summary_id(agent, config.support_address().domain(), now)),
        html: Some(summary.html),
        ..desk.notice_to_agent(OutboxKind::DailySummary, None, summary.subject, summary.text, now)
    };
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now)
        .await
        .context("queueing the daily summary")?;
    tx.commit().await?;
    tracing::info!(date = %date_text, "daily summary queued");
    Ok(true)
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
