//! Client reports, per tier as the SOP says: STARTER quarterly, GROWTH monthly plus the weekly
//! health check-in, ENTERPRISE weekly plus monthly. Each holds what the desk knows: tickets
//! opened and resolved by severity, first response and resolution against the SLA, incidents
//! (P0/P1) and how they ended, hours used against the bank, and the agent's observations.
//! The HTML version carries two charts (tickets over the period, hour-bank burn) as inline
//! PNG images. Reports are prepared once (`client_reports`), sent to the agent as a draft,
//! and go to the client when he answers `#send` (or at once for `auto_send_reports` clients).

use anyhow::{bail, Context};
use chrono::{DateTime, Datelike, Utc, Weekday};

use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::domain::Tier;
use crate::outbound::compose::{build_mail, Draft};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::storage::{begin_write, time_to_db, Tx};
use lettre::message::Mailbox;

mod build;
mod period;

pub use build::{build_report, RenderedReport};
#[cfg(test)]
pub(crate) use build::{ClientReportData, IncidentLine, SeverityCounts};
pub use period::{last_complete_period, parse_period, ReportPeriod};

crate::stored_kind! {
    /// The SOP's client reports.
    pub enum ReportKind {
        Weekly = "weekly",
        Monthly = "monthly",
        Quarterly = "quarterly",
    }
}

crate::stored_kind! {
    /// Where a prepared report stands.
    pub enum ReportStatus {
        /// Sent to the agent for his `#send`.
        Draft = "draft",
        /// Sent to the client.
        Sent = "sent",
    }
}

impl ReportKind {
    /// The SOP's reports for a tier.
    pub fn for_tier(tier: Tier) -> &'static [ReportKind] {
        match tier {
            Tier::Starter => &[ReportKind::Quarterly],
            Tier::Growth => &[ReportKind::Weekly, ReportKind::Monthly],
            Tier::Enterprise => &[ReportKind::Weekly, ReportKind::Monthly],
        }
    }
}

/// The report as the client's mail, the agent in copy.
fn to_client(report: RenderedReport, recipient: Mailbox, agent: Mailbox) -> Draft {
    Draft {
        to: vec![recipient],
        cc: vec![agent],
        subject: report.subject,
        body: report.text,
        html: Some(report.html),
        images: report.images,
        ..Draft::new(OutboxKind::ClientReport)
    }
}

fn report_recipient(client: &ClientConfig) -> Option<Mailbox> {
    let address = client.report_to.as_ref()?;
    Some(lettre::message::Mailbox::new(client.contact_name.clone(), address.as_str().parse().ok()?))
}

/// Prepares the report once; sends the draft to the agent, or the report to the client for
/// auto-send clients. Returns the report id when it was newly prepared.
pub async fn prepare_report(
    desk: &Desk,
    client: &ClientConfig,
    kind: ReportKind,
    period: &ReportPeriod,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    let config = &desk.config;
    let mut tx = begin_write(&desk.db).await?;
    let Some(id) = insert_draft(&mut tx, &client.name, kind, &period.name, now).await? else { return Ok(None) };
    let report = build_report(desk, &mut tx, client, kind, period, None, now).await?;
    let agent = config.agent.addresses[0].clone();
    let agent_mailbox = config.agent_mailbox();
    let auto_send = client.auto_send_reports && client.report_to.is_some();
    let draft = if auto_send {
        mark_sent(&mut tx, id, None, now).await?;
        to_client(report, report_recipient(client).context("auto_send_reports needs report_to")?, agent_mailbox)
    } else {
        let note = match &client.report_to {
            Some(to) => format!("DRAFT for {to}. Reply with #send to send it; any text you write above #send is added as observations and next steps.\n\n"),
            None => format!("DRAFT. {} has no report_to address: set one in the config, then reply with #send.\n\n", client.name),
        };
        Draft {
            to: vec![agent_mailbox],
            subject: format!("[Draft report] {}", report.subject),
            body: format!("{note}{}", report.text),
            html: Some(report.html),
            images: report.images,
            auto_submitted: Some("auto-generated"),
            message_id: Some(desk.agent_message_ids.signed_report_id(
                id,
                &agent,
                config.support_address().domain(),
                now,
            )),
            ..Draft::new(OutboxKind::ReportDraft)
        }
    };
    outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    tx.commit().await?;
    tracing::info!(client = %client.name, kind = kind.as_str(), period = %period.name, auto_send, "client report prepared");
    Ok(Some(id))
}

/// The agent answered a draft: with `#send`, the report (with his text as observations) goes
/// to the client. Runs inside the intake transaction. Returns what happened, for the log.
pub async fn answer_draft(
    desk: &Desk,
    tx: &mut Tx<'_>,
    report_id: i64,
    new_part: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let row: Option<(String, ReportKind, String, ReportStatus)> =
        sqlx::query_as("SELECT client, kind, period, status FROM client_reports WHERE id = $1")
            .bind(report_id)
            .fetch_optional(&mut **tx)
            .await
            .context("reading a client report")?;
    let Some((client_name, kind, period_name, status)) = row else { bail!("report {report_id} does not exist") };
    let wants_send = new_part.lines().any(|line| line.trim().eq_ignore_ascii_case("#send"));
    if !wants_send {
        return Ok("reply to a report draft without #send: nothing sent".into());
    }
    if status == ReportStatus::Sent {
        return Ok("report already sent".into());
    }
    let client = desk.config.client(&client_name).context("the report's client is no longer configured")?;
    let period = parse_period(kind, &period_name).context("bad report period")?;
    let Some(recipient) = report_recipient(client) else {
        return Ok(format!("{client_name} has no report_to address: not sent"));
    };
    let observations: String =
        new_part.lines().filter(|line| !line.trim().eq_ignore_ascii_case("#send")).collect::<Vec<_>>().join("\n");
    let report = build_report(desk, tx, client, kind, &period, Some(&observations), now).await?;
    let config = &desk.config;
    let agent_mailbox = config.agent_mailbox();
    let from = config.agent_via_support();
    let draft = to_client(report, recipient, agent_mailbox);
    outbox::enqueue(tx, &build_mail(&from, draft, now)?, now).await?;
    mark_sent(tx, report_id, Some(&observations), now).await?;
    Ok(format!("report {report_id} sent to {client_name}"))
}

/// The scheduler's step: each client's due reports, prepared once. Weekly reports on Mondays
/// (the week before), monthly ones from the 1st (the month before; the SOP's "first week"),
/// quarterly ones from the first day of a quarter (the quarter before), all after the daily
/// summary's time. Nothing with `reports.scheduled = false`.
pub async fn client_reports_step(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let config = &desk.config;
    let local = now.with_timezone(&config.agent.timezone);
    if !config.reports.scheduled || local.time() < config.summary.time {
        return Ok(0);
    }
    let today = local.date_naive();
    let mut prepared = 0;
    for client in &config.clients {
        for kind in ReportKind::for_tier(client.tier) {
            let due_today = match kind {
                ReportKind::Weekly => today.weekday() == Weekday::Mon,
                ReportKind::Monthly => today.day() <= 7,
                ReportKind::Quarterly => today.day() <= 7 && today.month0().is_multiple_of(3),
            };
            if !due_today {
                continue;
            }
            let period = last_complete_period(*kind, today);
            if prepare_report(desk, client, *kind, &period, now).await?.is_some() {
                prepared += 1;
            }
        }
    }
    Ok(prepared)
}

/// For the CLI: the report text for a client and period, without recording anything.
pub async fn preview(
    desk: &Desk,
    client: &ClientConfig,
    kind: ReportKind,
    period: &ReportPeriod,
    now: DateTime<Utc>,
) -> anyhow::Result<RenderedReport> {
    // Read-only: the draft row the report would insert is rolled back.
    let mut tx = desk.db.begin().await?;
    let report = build_report(desk, &mut tx, client, kind, period, None, now).await?;
    tx.rollback().await?;
    Ok(report)
}

/// Records a report as prepared (a draft); `None` when it was prepared before.
async fn insert_draft(
    tx: &mut Tx<'_>,
    client: &str,
    kind: ReportKind,
    period: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO client_reports (client, kind, period, status, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (client, kind, period) DO NOTHING RETURNING id",
    )
    .bind(client)
    .bind(kind)
    .bind(period)
    .bind(ReportStatus::Draft)
    .bind(time_to_db(now))
    .fetch_optional(&mut **tx)
    .await
    .context("recording a prepared report")
}

/// Records a report as sent to the client, with the agent's observations when he wrote some.
async fn mark_sent(tx: &mut Tx<'_>, id: i64, observations: Option<&str>, now: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE client_reports SET status = $1, sent_at = $2, observations = COALESCE($3, observations) WHERE id = $4",
    )
    .bind(ReportStatus::Sent)
    .bind(time_to_db(now))
    .bind(observations)
    .bind(id)
    .execute(&mut **tx)
    .await
    .context("recording a report as sent")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods() {
        assert_eq!(last_complete_period(ReportKind::Weekly, date("2026-11-30")).name, "2026-W48");
        assert_eq!(last_complete_period(ReportKind::Weekly, date("2026-11-30")).start, date("2026-11-23"));
        assert_eq!(last_complete_period(ReportKind::Monthly, date("2026-12-01")).name, "2026-11");
        assert_eq!(last_complete_period(ReportKind::Monthly, date("2027-01-03")).name, "2026-12");
        assert_eq!(last_complete_period(ReportKind::Quarterly, date("2027-01-02")).name, "2026-Q4");
        let q4 = parse_period(ReportKind::Quarterly, "2026-Q4").unwrap();
        assert_eq!((q4.start, q4.end), (date("2026-10-01"), date("2027-01-01")));
        assert_eq!(parse_period(ReportKind::Weekly, "2026-W48").unwrap().start, date("2026-11-23"));
        assert_eq!(parse_period(ReportKind::Monthly, "2026-13"), None);
    }

    #[tokio::test]
    async fn growth_gets_the_weekly_health_report_and_enterprise_the_week_summary() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now: DateTime<Utc> = "2026-12-01T13:00:00Z".parse().unwrap();
        let week = parse_period(ReportKind::Weekly, "2026-W48").unwrap();
        let acme = desk.config.client("Acme").unwrap();
        let growth = preview(&desk, acme, ReportKind::Weekly, &week, now).await.unwrap();
        assert_eq!(growth.subject, "Acme - Weekly Health Report");
        assert!(
            growth.text.contains("📊 This Week's Stats:") && growth.text.contains("✅ All systems running smoothly!")
        );
        let globex = desk.config.client("Globex").unwrap();
        let enterprise = preview(&desk, globex, ReportKind::Weekly, &week, now).await.unwrap();
        assert_eq!(enterprise.subject, "Globex - Week of Nov 23 Summary");
        assert!(enterprise.text.contains("Week in review") && enterprise.text.contains("See you on our weekly call!"));
    }

    async fn reports_prepared(config: crate::config::Config, moments: &[&str]) -> Vec<String> {
        let desk = Desk::open(config).await.unwrap();
        for moment in moments {
            client_reports_step(&desk, moment.parse().unwrap()).await.unwrap();
        }
        sqlx::query_scalar("SELECT client || ' ' || kind || ' ' || period FROM client_reports ORDER BY id")
            .fetch_all(&desk.db)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn reports_are_prepared_once_on_their_days_after_the_summary_time_unless_switched_off() {
        // Tuesday 2026-12-01 in New York: 07:00 is before the summary's 07:30, 08:00 and
        // 12:00 after it; Wednesday the 2nd is still in the monthly week.
        let moments = ["2026-12-01T12:00:00Z", "2026-12-01T13:00:00Z", "2026-12-01T17:00:00Z", "2026-12-02T13:00:00Z"];
        let prepared = reports_prepared(crate::testing::sample_config(), &moments).await;
        assert_eq!(prepared, ["Acme monthly 2026-11", "Globex monthly 2026-11"], "no weekly report on a Tuesday");
        // Monday 2027-01-04: weekly and monthly for Growth and Enterprise, quarterly for Starter.
        let prepared = reports_prepared(crate::testing::sample_config(), &["2027-01-04T13:00:00Z"]).await;
        assert_eq!(
            prepared,
            [
                "Acme weekly 2026-W53",
                "Acme monthly 2026-12",
                "Globex weekly 2026-W53",
                "Globex monthly 2026-12",
                "Initech quarterly 2026-Q4"
            ]
        );
        let mut config = crate::testing::sample_config();
        config.reports.scheduled = false;
        assert!(reports_prepared(config, &["2027-01-04T13:00:00Z"]).await.is_empty());
    }
}
