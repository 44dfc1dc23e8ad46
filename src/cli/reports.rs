//! `helpdesk report daily | weekly | monthly | quarterly` (print a report, or send it) and
//! `helpdesk metrics` (the SOP's success metrics for a month).

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use super::args::{ClientReportArgs, ReportCommand};
use super::format::{client_named, print_json, table};
use crate::desk::Desk;
use crate::reports::client::{last_complete_period, parse_period, prepare_report, preview, ReportKind};
use crate::reports::daily;
use crate::text::{multi_line, one_line};

/// `helpdesk report ...`: one function per report.
pub async fn report(desk: &Desk, command: ReportCommand, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    match command {
        ReportCommand::Daily { date, send, html } => daily_summary(desk, date, send, html, now).await,
        ReportCommand::Weekly(args) => client_report(desk, ReportKind::Weekly, args, now).await,
        ReportCommand::Monthly(args) => client_report(desk, ReportKind::Monthly, args, now).await,
        ReportCommand::Quarterly(args) => client_report(desk, ReportKind::Quarterly, args, now).await,
    }
}

/// `report daily [--date D] [--send] [--html]`: the summary due now (or of `date`), printed,
/// or sent to the agent once per date.
async fn daily_summary(
    desk: &Desk,
    date: Option<NaiveDate>,
    send: bool,
    html: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let date = date.unwrap_or_else(|| daily::due_summary_date(&desk.config, now));
    if send {
        let queued = daily::send_summary(desk, date, now).await?;
        send_queued(desk, now).await?;
        if queued {
            println!("Summary for {date} sent.");
        } else {
            println!("The summary for {date} was already sent.");
        }
    } else {
        let since = now - chrono::Duration::days(1);
        let summary = daily::build_summary(desk, date, since, now).await?;
        print_document(html, &summary.subject, &summary.text, &summary.html);
    }
    Ok(ExitCode::SUCCESS)
}

/// A client's weekly, monthly or quarterly report: previewed, or prepared and sent (once per
/// client, kind and period).
async fn client_report(
    desk: &Desk,
    kind: ReportKind,
    args: ClientReportArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let client = client_named(&desk.config, &args.client)?;
    // The SOP gives each tier its reports: another kind is refused when it would go to the
    // client, and printed with a warning when only previewed.
    if !ReportKind::for_tier(client.tier).contains(&kind) {
        let tier_kinds: Vec<&str> = ReportKind::for_tier(client.tier).iter().map(|kind| kind.as_str()).collect();
        let reason = format!(
            "{} is a {} client: its reports are {}, not {}",
            client.name,
            client.tier.as_str().to_ascii_uppercase(),
            tier_kinds.join(" and "),
            kind.as_str()
        );
        if args.send {
            anyhow::bail!("{reason}; nothing sent");
        }
        eprintln!("warning: {reason} (a preview only)");
    }
    let period = match &args.period {
        Some(text) => {
            parse_period(kind, text).with_context(|| format!("{text:?} is not a {} period", kind.as_str()))?
        }
        None => last_complete_period(kind, now.with_timezone(&desk.config.agent.timezone).date_naive()),
    };
    if args.send {
        let prepared = prepare_report(desk, client, kind, &period, now).await?;
        send_queued(desk, now).await?;
        match prepared {
            Some(id) => println!("Report {id} ({} {} {}) prepared and sent.", client.name, kind.as_str(), period.name),
            None => {
                println!("The {} report of {} for {} was already prepared.", kind.as_str(), client.name, period.name)
            }
        }
    } else {
        let report = preview(desk, client, kind, &period, now).await?;
        print_document(args.html, &report.subject, &report.text, &report.html);
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--send` queued goes out now, not on the desk's next pass.
async fn send_queued(desk: &Desk, now: DateTime<Utc>) -> anyhow::Result<()> {
    let transport = crate::outbound::sender::Transport::from_config(&desk.config, desk.tokens.clone())?;
    if let Some(waiting) = transport.waits_for_login().await {
        return Err(anyhow::Error::new(waiting).context("the mail is queued, not sent"));
    }
    crate::outbound::sender::send_step(&desk.db, &transport, now).await?;
    Ok(())
}

/// A report as text (its subject first) or, with `--html`, as the HTML document alone (to open
/// in a browser: nothing before it).
fn print_document(html_wanted: bool, subject: &str, text: &str, html: &str) {
    if html_wanted {
        println!("{}", multi_line(html));
    } else {
        println!("Subject: {}\n", one_line(subject));
        println!("{}", multi_line(text));
    }
}

/// `metrics [--period YYYY-MM] [--json]`: the month's metrics against their targets.
pub async fn metrics(desk: &Desk, period: Option<String>, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let name = period.unwrap_or_else(|| now.with_timezone(&desk.config.agent.timezone).format("%Y-%m").to_string());
    let Some(month) = crate::hours::bank::period_named(&name, 1) else {
        anyhow::bail!("{name:?} is not a month like 2026-11");
    };
    let metrics = daily::metrics_for(desk, month, now, None).await?;
    if json {
        print_json(&metrics)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = table(["Metric", "Value", "Target", "", "Counted"]);
    for metric in &metrics.metrics {
        let met = match metric.met {
            Some(true) => "met",
            Some(false) => "BELOW",
            None => "",
        };
        table.add_row([
            metric.name.to_string(),
            metric.value.map(|value| format!("{value}")).unwrap_or_else(|| "-".into()),
            metric.target.to_string(),
            met.to_string(),
            metric.counted_text.clone(),
        ]);
    }
    println!("Success metrics for {}\n{table}", metrics.period);
    Ok(ExitCode::SUCCESS)
}
