//! A client report's content: its tickets counted, its hours, its charts, rendered.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{ReportKind, ReportPeriod};
use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::domain::Tier;
use crate::hours::bank::{hours_text, period_containing};
use crate::hours::ledger::{client_period, ClientPeriod};
use crate::outbound::compose::{first_name, InlineImage};
use crate::reports::charts::{bar_chart, burn_chart};
use crate::sla::{clock_state, local_midnight, ClockState};
use crate::storage::Tx;
use crate::tickets::store::{self, ReportedTicket};

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
    let timezone = config.agent.timezone;
    let (start, end) = (local_midnight(timezone, period.start), local_midnight(timezone, period.end));
    let rows = store::client_tickets_between(tx, &client.name, start, end).await?;
    let counts = count_tickets(&rows, kind, period, (start, end), now, timezone);
    // Hours: the billing period holding the report's last day, and its burn over the report.
    let last_day = period.end - Duration::days(1);
    let bank = client_period(tx, config, client, period_containing(last_day, client.period_anchor_day)).await?;
    let cumulative = hours_burn(&bank, period);
    let statement = &bank.statement;
    // GROWTH's weekly mail is the SOP's "Weekly Proactive Check-in"; ENTERPRISE's is its
    // "Week of [Date] Summary".
    let health_check = kind == ReportKind::Weekly && client.tier == Tier::Growth;
    let title = report_title(client, kind, period, health_check);
    let data = ClientReportData {
        title: &title,
        kind: kind.as_str(),
        health_check,
        // Only ENTERPRISE has the SOP's weekly call.
        weekly_call: kind == ReportKind::Weekly && client.tier == Tier::Enterprise,
        client: &client.name,
        first_name: first_name(client.contact_name.as_deref()),
        period_label: format!("{} to {}", period.start.format("%b %-d"), last_day.format("%b %-d, %Y")),
        opened_total: counts.opened.iter().sum::<i64>(),
        opened: SeverityCounts::from(counts.opened),
        resolved_total: counts.resolved.iter().sum::<i64>(),
        resolved: SeverityCounts::from(counts.resolved),
        first_response: percent(counts.response),
        resolution: percent(counts.resolution),
        incidents: counts.incidents,
        hours_used: hours_text(statement.used_minutes()),
        hours_available: hours_text(statement.available_minutes),
        hours_left: hours_text(statement.remaining_minutes),
        billing_period: &bank.period,
        observations: observations.map(str::trim).filter(|text| !text.is_empty()),
        agent_name: &config.agent.name,
        chart_unit: if kind == ReportKind::Weekly { "day" } else { "week" },
    };
    let images = vec![
        InlineImage { content_id: "tickets-chart".into(), png: bar_chart(&counts.per_bucket)? },
        InlineImage { content_id: "hours-chart".into(), png: burn_chart(&cumulative, statement.available_minutes)? },
    ];
    let text = desk.templates.render("client_report.txt", &data)?;
    let html = desk.templates.render("client_report.html", &data)?;
    Ok(RenderedReport { subject: title, text, html, images })
}

/// What a report counts of the client's tickets.
struct TicketCounts<'a> {
    /// Opened in the period, by severity P0..P3.
    opened: [i64; 4],
    /// Resolved in the period, by severity.
    resolved: [i64; 4],
    /// (met, decided) of the first-response clocks of tickets opened in the period.
    response: (i64, i64),
    /// (met, decided) of the resolution clocks of tickets resolved in the period.
    resolution: (i64, i64),
    incidents: Vec<IncidentLine<'a>>,
    /// Tickets opened per bar of the chart: days of a week, weeks of a longer period.
    per_bucket: Vec<i64>,
}

/// Counts the tickets of `rows` (opened before the period's end and opened or closed in it)
/// for the period `start..end`, seen at `now`. Pure.
fn count_tickets<'a>(
    rows: &'a [ReportedTicket],
    kind: ReportKind,
    period: &ReportPeriod,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    timezone: chrono_tz::Tz,
) -> TicketCounts<'a> {
    let weeks = ((period.end - period.start).num_days() + 6) / 7;
    let buckets = if kind == ReportKind::Weekly { 7 } else { weeks.max(1) };
    let mut counts = TicketCounts {
        opened: [0; 4],
        resolved: [0; 4],
        response: (0, 0),
        resolution: (0, 0),
        incidents: Vec::new(),
        per_bucket: vec![0; buckets as usize],
    };
    let in_period = |at: DateTime<Utc>| at >= start && at < end;
    for row in rows {
        let index = row.severity as usize;
        if in_period(row.opened_at) {
            counts.opened[index] += 1;
            let day = (row.opened_at.with_timezone(&timezone).date_naive() - period.start).num_days();
            let bucket = if kind == ReportKind::Weekly { day } else { day / 7 };
            if let Some(slot) = counts.per_bucket.get_mut(bucket as usize) {
                *slot += 1;
            }
            if let Some(due) = row.first_response_due {
                match clock_state(row.opened_at, due, row.first_response_at, end.min(now), 0.0) {
                    ClockState::Met => counts.response = (counts.response.0 + 1, counts.response.1 + 1),
                    ClockState::Breached => counts.response.1 += 1,
                    _ => {}
                }
            }
        }
        if let Some(closed) = row.closed_at.filter(|closed| in_period(*closed)) {
            counts.resolved[index] += 1;
            if let Some(due) = row.resolution_due {
                counts.resolution.1 += 1;
                counts.resolution.0 += i64::from(closed <= due);
            }
        }
        if index <= 1 && in_period(row.opened_at) {
            let outcome = match row.closed_at {
                Some(closed) => format!("resolved {}", closed.with_timezone(&timezone).format("%b %-d")),
                None => "still open".to_string(),
            };
            counts.incidents.push(IncidentLine {
                id: row.id.0,
                severity: row.severity.as_str(),
                subject: &row.subject,
                outcome,
            });
        }
    }
    counts
}

/// "92% (11 of 12)" of (met, decided), or "no tickets to measure".
fn percent((met, decided): (i64, i64)) -> String {
    if decided > 0 {
        format!("{}% ({met} of {decided})", met * 100 / decided)
    } else {
        "no tickets to measure".into()
    }
}

/// Minutes used so far in the bank's period, at the end of each day of the report.
fn hours_burn(bank: &ClientPeriod, period: &ReportPeriod) -> Vec<i64> {
    let mut cumulative = Vec::new();
    let mut used = 0;
    let mut day = period.start;
    while day < period.end {
        used += bank.sheet.iter().filter(|line| line.date == day).map(|line| line.minutes).sum::<i64>();
        cumulative.push(used);
        day += Duration::days(1);
    }
    cumulative
}

fn report_title(client: &ClientConfig, kind: ReportKind, period: &ReportPeriod, health_check: bool) -> String {
    match kind {
        ReportKind::Weekly if health_check => format!("{} - Weekly Health Report", client.name),
        ReportKind::Weekly => format!("{} - Week of {} Summary", client.name, period.start.format("%b %-d")),
        ReportKind::Monthly => format!("{} - Monthly Report, {}", client.name, period.start.format("%B %Y")),
        ReportKind::Quarterly => format!("{} - Quarterly Report, {}", client.name, period.name.replace('-', " ")),
    }
}
