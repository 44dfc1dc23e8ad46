//! `helpdesk time add | list | remove | edit`: time on no ticket, and correcting entries. The
//! work is `hours::manual`; this file parses the durations and says what was done.

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};

use super::args::TimeCommand;
use super::format::{client_named, print_json, table};
use crate::agent::tags::parse_duration;
use crate::desk::Desk;
use crate::hours::bank::hours_text;
use crate::hours::entries::EntryRow;
use crate::hours::{manual, sheets, EntryKind};
use crate::text::one_line;

/// `helpdesk time ...`: one function per subcommand.
pub async fn time(desk: &Desk, command: TimeCommand, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    match command {
        TimeCommand::Add { client, duration, task, billable, date } => {
            add(desk, &client, &duration, &task, billable, date, now).await
        }
        TimeCommand::List { client, period, json } => list(desk, client.as_deref(), period.as_deref(), json, now).await,
        TimeCommand::Remove { id } => remove(desk, id).await,
        TimeCommand::Edit { id, minutes, task, billable, included } => {
            let kind = match (billable, included) {
                (true, _) => Some(EntryKind::Billable),
                (_, true) => Some(EntryKind::Included),
                _ => None,
            };
            edit(desk, id, minutes.as_deref(), task.as_deref(), kind, now).await
        }
    }
}

/// "45m", "1h30m", "1.5h" as minutes, or the error every time command gives.
fn duration_minutes(text: &str) -> anyhow::Result<u32> {
    parse_duration(text).ok_or_else(|| anyhow::anyhow!("{text:?} is not a duration like 45m, 1h30m or 1.5h"))
}

/// `time add CLIENT DURATION TASK [--billable] [--date D]`, with the client mail it queued.
async fn add(
    desk: &Desk,
    client: &str,
    duration: &str,
    task: &str,
    billable: bool,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let client = client_named(&desk.config, client)?;
    let written = duration_minutes(duration)?;
    let kind = if billable { EntryKind::Billable } else { EntryKind::Included };
    let logged = manual::log_time(desk, client, written, task, kind, date, now).await?;
    println!(
        "Logged entry {}: {} ({}) for {} on {}: {}",
        logged.id,
        hours_text(logged.minutes as i64),
        logged.kind.as_str(),
        one_line(&client.name),
        logged.work_date,
        one_line(task)
    );
    for (kind, recipients, subject) in logged.queued {
        println!("Queued {kind} to {}: {}", one_line(&recipients), one_line(&subject));
    }
    Ok(ExitCode::SUCCESS)
}

/// `time list [--client NAME] [--period YYYY-MM] [--json]`: the entries with their ids. A
/// client's period is its billing period; without a client, the calendar month (default: the
/// current one).
async fn list(
    desk: &Desk,
    client: Option<&str>,
    period: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let client = client.map(|name| client_named(&desk.config, name)).transpose()?;
    let (period, entries) = sheets::entries_in_period(desk, client, period, now).await?;
    if json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("No time logged from {} to {}.", period.start, period.end);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = table(["Id", "Date", "Client", "Ticket", "Time", "Kind", "Task"]);
    for row in &entries {
        table.add_row([
            row.id.to_string(),
            row.work_date.clone(),
            one_line(row.client.as_deref().unwrap_or("-")),
            row.ticket_id.map_or("-".into(), |ticket| format!("#{ticket}")),
            hours_text(row.minutes),
            row.kind.to_string(),
            one_line(&row.task),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

/// `time remove ID`: an hour-bank email already sent for its period stays sent; it says so.
async fn remove(desk: &Desk, id: i64) -> anyhow::Result<ExitCode> {
    let removed = manual::remove_time(desk, id).await?;
    println!("Removed entry {id}: {}", describe_entry(&removed.entry));
    print_sent_alerts(&removed.alerts_sent);
    Ok(ExitCode::SUCCESS)
}

/// `time edit ID [--minutes D] [--task T] [--billable | --included]`.
async fn edit(
    desk: &Desk,
    id: i64,
    duration: Option<&str>,
    task: Option<&str>,
    kind: Option<EntryKind>,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let written = duration.map(duration_minutes).transpose()?;
    if written.is_none() && task.is_none() && kind.is_none() {
        anyhow::bail!("nothing to change: give --minutes, --task, --billable or --included");
    }
    let edited = manual::edit_time(desk, id, written, task, kind, now).await?;
    println!("Entry {id} was: {}", describe_entry(&edited.before));
    println!("Entry {id} is:  {}", describe_entry(&edited.after));
    // Less time than before: the emails it no longer reaches were sent all the same.
    if edited.after.minutes < edited.before.minutes {
        print_sent_alerts(&edited.alerts_sent);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_entry(row: &EntryRow) -> String {
    format!(
        "{} {} {} ({}) on {}: {}",
        row.work_date,
        one_line(row.client.as_deref().unwrap_or("(no client)")),
        hours_text(row.minutes),
        row.kind,
        row.ticket_id.map_or("no ticket".into(), |ticket| format!("ticket #{ticket}")),
        one_line(&row.task)
    )
}

fn print_sent_alerts(sent: &[u8]) {
    for percent in sent {
        println!("Note: the {percent}% hour-bank email for this period was already sent; it stays sent.");
    }
}
