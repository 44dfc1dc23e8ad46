//! Client reports, per tier as the SOP says: STARTER quarterly, GROWTH monthly plus the weekly
//! health check-in, ENTERPRISE weekly plus monthly. Each holds what the desk knows: tickets
//! opened and resolved by severity, first response and resolution against the SLA, incidents
//! (P0/P1) and how they ended, hours used against the bank, and the agent's observations.
//! The HTML version carries two charts (tickets over the period, hour-bank burn) as inline
//! PNG images. Reports are prepared once (`client_reports`), sent to the agent as a draft,
//! and go to the client when he answers `#send` (or at once for `auto_send_reports` clients).

use anyhow::{bail, Context};
use chrono::{DateTime, Datelike, Duration, IsoWeek, NaiveDate, Utc, Weekday};
use serde::Serialize;
use sqlx::Row;

use super::charts::{bar_chart, burn_chart};
use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::domain::Tier;
use crate::hours::bank::{hours_text, period_containing};
use crate::hours::ledger::client_period;
use crate::outbound::compose::{build_mail, first_name, Draft, InlineImage};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::sla::{clock_state, local_midnight, ClockState};
use crate::storage::{begin_write, time_to_db, Tx};
use crate::tickets::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Weekly,
    Monthly,
    Quarterly,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Weekly => "weekly",
            ReportKind::Monthly => "monthly",
            ReportKind::Quarterly => "quarterly",
        }
    }

    pub fn parse(text: &str) -> Option<ReportKind> {
        match text {
            "weekly" => Some(ReportKind::Weekly),
            "monthly" => Some(ReportKind::Monthly),
            "quarterly" => Some(ReportKind::Quarterly),
            _ => None,
        }
    }

    /// The SOP's reports for a tier.
    pub fn for_tier(tier: Tier) -> &'static [ReportKind] {
        match tier {
            Tier::Starter => &[ReportKind::Quarterly],
            Tier::Growth => &[ReportKind::Weekly, ReportKind::Monthly],
            Tier::Enterprise => &[ReportKind::Weekly, ReportKind::Monthly],
        }
    }
}

/// A report period: `start` inclusive, `end` exclusive, local dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPeriod {
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

fn week_period(week: IsoWeek) -> ReportPeriod {
    let start = NaiveDate::from_isoywd_opt(week.year(), week.week(), Weekday::Mon).expect("valid week");
    ReportPeriod { name: format!("{}-W{:02}", week.year(), week.week()), start, end: start + Duration::days(7) }
}

fn month_period(year: i32, month: u32) -> ReportPeriod {
    let start = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    let end =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) }
            .expect("valid month");
    ReportPeriod { name: format!("{year}-{month:02}"), start, end }
}

fn quarter_period(year: i32, quarter: u32) -> ReportPeriod {
    let start = NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1).expect("valid quarter");
    let end = if quarter == 4 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, quarter * 3 + 1, 1)
    }
    .expect("valid quarter");
    ReportPeriod { name: format!("{year}-Q{quarter}"), start, end }
}

/// "2026-W48", "2026-11", "2026-Q4".
pub fn parse_period(kind: ReportKind, text: &str) -> Option<ReportPeriod> {
    match kind {
        ReportKind::Weekly => {
            let (year, week) = text.split_once("-W")?;
            let start = NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)?;
            Some(week_period(start.iso_week()))
        }
        ReportKind::Monthly => {
            let (year, month) = text.split_once('-')?;
            let month: u32 = month.parse().ok()?;
            let year: i32 = year.parse().ok()?;
            (1..=12).contains(&month).then(|| month_period(year, month))
        }
        ReportKind::Quarterly => {
            let (year, quarter) = text.split_once("-Q")?;
            let quarter: u32 = quarter.parse().ok()?;
            let year: i32 = year.parse().ok()?;
            (1..=4).contains(&quarter).then(|| quarter_period(year, quarter))
        }
    }
}

/// The last complete period of `kind` before `today`.
pub fn last_complete_period(kind: ReportKind, today: NaiveDate) -> ReportPeriod {
    match kind {
        ReportKind::Weekly => week_period((today - Duration::days(7)).iso_week()),
        ReportKind::Monthly => {
            let previous = today.with_day(1).expect("day 1") - Duration::days(1);
            month_period(previous.year(), previous.month())
        }
        ReportKind::Quarterly => {
            let quarter_start = NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1).expect("valid");
            let previous = quarter_start - Duration::days(1);
            quarter_period(previous.year(), previous.month0() / 3 + 1)
        }
    }
}

/// A rendered report.
pub struct RenderedReport {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub images: Vec<InlineImage>,
}

/// The data of `templates/client_report.*` (the HTML shows the charts by `cid:`
/// `tickets-chart` and `hours-chart`).
#[derive(Debug, Serialize)]
pub(crate) struct ClientReportData<'a> {
    /// Also the mail's subject.
    pub(crate) title: &'a str,
    /// "weekly", "monthly" or "quarterly".
    pub(crate) kind: &'static str,
    /// GROWTH's weekly mail: the SOP's "Weekly Proactive Check-in".
    pub(crate) health_check: bool,
    pub(crate) weekly_call: bool,
    pub(crate) client: &'a str,
    pub(crate) first_name: String,
    /// "Nov 23 to Nov 29, 2026".
    pub(crate) period_label: String,
    pub(crate) opened_total: i64,
    pub(crate) opened: SeverityCounts,
    pub(crate) resolved_total: i64,
    pub(crate) resolved: SeverityCounts,
    /// "92% (11 of 12)", or "no tickets to measure".
    pub(crate) first_response: String,
    pub(crate) resolution: String,
    /// P0 and P1 tickets opened in the period.
    pub(crate) incidents: Vec<IncidentLine<'a>>,
    /// Hours as `hours_text` writes them ("7.5h").
    pub(crate) hours_used: String,
    pub(crate) hours_available: String,
    pub(crate) hours_left: String,
    /// The billing period holding the report's last day.
    pub(crate) billing_period: &'a str,
    /// The agent's text above `#send`, when there is some.
    pub(crate) observations: Option<&'a str>,
    pub(crate) agent_name: &'a str,
    /// What one bar of the tickets chart counts: "day" or "week".
    pub(crate) chart_unit: &'static str,
}

/// Tickets per severity, by the SOP's names.
#[derive(Debug, Serialize)]
pub(crate) struct SeverityCounts {
    #[serde(rename = "P0")]
    pub(crate) p0: i64,
    #[serde(rename = "P1")]
    pub(crate) p1: i64,
    #[serde(rename = "P2")]
    pub(crate) p2: i64,
    #[serde(rename = "P3")]
    pub(crate) p3: i64,
}

impl From<[i64; 4]> for SeverityCounts {
    fn from([p0, p1, p2, p3]: [i64; 4]) -> SeverityCounts {
        SeverityCounts { p0, p1, p2, p3 }
    }
}

/// One incident (P0/P1 ticket) of `ClientReportData`.
#[derive(Debug, Serialize)]
pub(crate) struct IncidentLine<'a> {
    pub(crate) id: i64,
    pub(crate) severity: &'static str,
    pub(crate) subject: &'a str,
    /// "resolved Nov 24" or "still open".
    pub(crate) outcome: String,
}

/// Builds a client's report for a period from what the desk stored.
pub async fn build_report(
    desk: &Desk,
    tx: &mut Tx<'_>,
    client: &ClientConfig,
    kind: ReportKind,
    period: &ReportPeriod,
    observations: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<RenderedReport> {
    let config = &desk.config;
    let start = local_midnight(config.agent.timezone, period.start);
    let end = local_midnight(config.agent.timezone, period.end);
    let rows = store::client_tickets_between(tx, &client.name, start, end).await?;
    let mut opened = [0i64; 4];
    let mut resolved = [0i64; 4];
    let (mut response_met, mut response_decided, mut resolution_met, mut resolution_decided) = (0, 0, 0, 0);
    let mut incidents = Vec::new();
    let weeks = ((period.end - period.start).num_days() + 6) / 7;
    let buckets = if kind == ReportKind::Weekly { 7 } else { weeks.max(1) };
    let mut per_bucket = vec![0i64; buckets as usize];
    for row in &rows {
        let severity = row.severity;
        let index = severity as usize;
        let opened_at = row.opened_at;
        let closed_at = row.closed_at;
        let in_period = |at: DateTime<Utc>| at >= start && at < end;
        if in_period(opened_at) {
            opened[index] += 1;
            let day = (opened_at.with_timezone(&config.agent.timezone).date_naive() - period.start).num_days();
            let bucket = if kind == ReportKind::Weekly { day } else { day / 7 };
            if let Some(slot) = per_bucket.get_mut(bucket as usize) {
                *slot += 1;
            }
            if let Some(due) = row.first_response_due {
                match clock_state(opened_at, due, row.first_response_at, end.min(now), 0.0) {
                    ClockState::Met => (response_met, response_decided) = (response_met + 1, response_decided + 1),
                    ClockState::Breached => response_decided += 1,
                    _ => {}
                }
            }
        }
        if closed_at.is_some_and(in_period) {
            resolved[index] += 1;
            if let Some(due) = row.resolution_due {
                resolution_decided += 1;
                if closed_at.is_some_and(|closed| closed <= due) {
                    resolution_met += 1;
                }
            }
        }
        if index <= 1 && in_period(opened_at) {
            let outcome = match closed_at {
                Some(closed) => format!("resolved {}", closed.with_timezone(&config.agent.timezone).format("%b %-d")),
                None => "still open".to_string(),
            };
            incidents.push(IncidentLine { id: row.id.0, severity: severity.as_str(), subject: &row.subject, outcome });
        }
    }
    // Hours: the billing period holding the report's last day, and its burn over the report.
    let last_day = period.end - Duration::days(1);
    let bank = client_period(tx, config, client, period_containing(last_day, client.period_anchor_day)).await?;
    let mut cumulative = Vec::new();
    let mut used = 0;
    let mut day = period.start;
    while day < period.end {
        used += bank.sheet.iter().filter(|line| line.date == day).map(|line| line.minutes).sum::<i64>();
        cumulative.push(used);
        day += Duration::days(1);
    }
    let statement = &bank.statement;
    let percent = |met: i64, decided: i64| {
        if decided > 0 {
            format!("{}% ({met} of {decided})", met * 100 / decided)
        } else {
            "no tickets to measure".into()
        }
    };
    // GROWTH's weekly mail is the SOP's "Weekly Proactive Check-in"; ENTERPRISE's is its
    // "Week of [Date] Summary".
    let health_check = kind == ReportKind::Weekly && client.tier == Tier::Growth;
    let title = match kind {
        ReportKind::Weekly if health_check => format!("{} - Weekly Health Report", client.name),
        ReportKind::Weekly => format!("{} - Week of {} Summary", client.name, period.start.format("%b %-d")),
        ReportKind::Monthly => format!("{} - Monthly Report, {}", client.name, period.start.format("%B %Y")),
        ReportKind::Quarterly => format!("{} - Quarterly Report, {}", client.name, period.name.replace('-', " ")),
    };
    let data = ClientReportData {
        title: &title,
        kind: kind.as_str(),
        health_check,
        // Only ENTERPRISE has the SOP's weekly call.
        weekly_call: kind == ReportKind::Weekly && client.tier == Tier::Enterprise,
        client: &client.name,
        first_name: first_name(client.contact_name.as_deref()),
        period_label: format!("{} to {}", period.start.format("%b %-d"), last_day.format("%b %-d, %Y")),
        opened_total: opened.iter().sum::<i64>(),
        opened: SeverityCounts::from(opened),
        resolved_total: resolved.iter().sum::<i64>(),
        resolved: SeverityCounts::from(resolved),
        first_response: percent(response_met, response_decided),
        resolution: percent(resolution_met, resolution_decided),
        incidents,
        hours_used: hours_text(statement.used_minutes()),
        hours_available: hours_text(statement.available_minutes),
        hours_left: hours_text(statement.remaining_minutes),
        billing_period: &bank.period,
        observations: observations.map(str::trim).filter(|text| !text.is_empty()),
        agent_name: &config.agent.name,
        chart_unit: if kind == ReportKind::Weekly { "day" } else { "week" },
    };
    let images = vec![
        InlineImage { content_id: "tickets-chart".into(), png: bar_chart(&per_bucket)? },
        InlineImage { content_id: "hours-chart".into(), png: burn_chart(&cumulative, statement.available_minutes)? },
    ];
    let text = desk.templates.render("client_report.txt", &data)?;
    let html = desk.templates.render("client_report.html", &data)?;
    Ok(RenderedReport { subject: title, text, html, images })
}

fn report_recipient(client: &ClientConfig) -> Option<lettre::message::Mailbox> {
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
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO client_reports (client, kind, period, status, created_at) VALUES ($1, $2, $3, 'draft', $4)
         ON CONFLICT (client, kind, period) DO NOTHING RETURNING id",
    )
    .bind(&client.name)
    .bind(kind.as_str())
    .bind(&period.name)
    .bind(time_to_db(now))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    let report = build_report(desk, &mut tx, client, kind, period, None, now).await?;
    let agent = config.agent.addresses[0].clone();
    let agent_mailbox = config.agent_mailbox();
    let auto_send = client.auto_send_reports && client.report_to.is_some();
    let draft = if auto_send {
        sqlx::query("UPDATE client_reports SET status = 'sent', sent_at = $1 WHERE id = $2")
            .bind(time_to_db(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Draft {
            kind: OutboxKind::ClientReport,
            to: vec![report_recipient(client).context("auto_send_reports needs report_to")?],
            cc: vec![agent_mailbox],
            subject: report.subject,
            body: report.text,
            html: Some(report.html),
            images: report.images,
            attachments: Vec::new(),
            ..Draft::new(OutboxKind::ClientReport)
        }
    } else {
        let note = match &client.report_to {
            Some(to) => format!("DRAFT for {to}. Reply with #send to send it; any text you write above #send is added as observations and next steps.\n\n"),
            None => format!("DRAFT. {} has no report_to address: set one in the config, then reply with #send.\n\n", client.name),
        };
        Draft {
            kind: OutboxKind::ReportDraft,
            to: vec![agent_mailbox],
            subject: format!("[Draft report] {}", report.subject),
            body: format!("{note}{}", report.text),
            html: Some(report.html),
            images: report.images,
            attachments: Vec::new(),
            auto_submitted: Some("auto-generated"),
            message_id: Some(desk.agent_message_ids.signed_report_id(id, &agent, config.support_address().domain())),
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
    let row = sqlx::query("SELECT client, kind, period, status FROM client_reports WHERE id = $1")
        .bind(report_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { bail!("report {report_id} does not exist") };
    let (client_name, kind, period_name, status): (String, String, String, String) =
        (row.get("client"), row.get("kind"), row.get("period"), row.get("status"));
    let wants_send = new_part.lines().any(|line| line.trim().eq_ignore_ascii_case("#send"));
    if !wants_send {
        return Ok("reply to a report draft without #send: nothing sent".into());
    }
    if status == "sent" {
        return Ok("report already sent".into());
    }
    let client = desk.config.client(&client_name).context("the report's client is no longer configured")?;
    let kind = ReportKind::parse(&kind).context("unknown report kind")?;
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
    let draft = Draft {
        kind: OutboxKind::ClientReport,
        to: vec![recipient],
        cc: vec![agent_mailbox],
        subject: report.subject,
        body: report.text,
        html: Some(report.html),
        images: report.images,
        attachments: Vec::new(),
        ..Draft::new(OutboxKind::ClientReport)
    };
    outbox::enqueue(tx, &build_mail(&from, draft, now)?, now).await?;
    sqlx::query("UPDATE client_reports SET status = 'sent', sent_at = $1, observations = $2 WHERE id = $3")
        .bind(time_to_db(now))
        .bind(&observations)
        .bind(report_id)
        .execute(&mut **tx)
        .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
