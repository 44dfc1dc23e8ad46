//! `helpdesk held [show N | open N]`: the mail kept without a ticket (automated mail, agent
//! mail about no ticket, mail the desk failed on), one held mail, and taking one in.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use comfy_table::Table;

use super::args::HeldCommand;
use super::format::{agent_time, clipped, local_short_time, print_json, table};
use crate::config::Config;
use crate::desk::Desk;
use crate::intake::IntakeOutcome;
use crate::text::{multi_line, one_line};
use crate::tickets::store::{self, MessageSummary};

/// `held [--days N] [--json]`, or one of its subcommands (which ignore those flags).
pub async fn held(
    desk: &Desk,
    command: Option<HeldCommand>,
    days: i64,
    json: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    match command {
        None => list(desk, days, json, now).await,
        Some(HeldCommand::Show { id, raw }) => show(desk, id, raw).await,
        Some(HeldCommand::Open { id }) => open(desk, id, now).await,
    }
}

/// What arrived in the last `days` days and was held aside.
async fn list(desk: &Desk, days: i64, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let since = now - chrono::Duration::days(days.clamp(0, 36_500));
    let held = store::held_messages(&desk.db, since).await?;
    if json {
        print_json(&held)?;
    } else if held.is_empty() {
        println!("No mail held aside in the last {days} days.");
    } else {
        println!("{}", held_table(&desk.config, &held));
    }
    Ok(ExitCode::SUCCESS)
}

fn held_table(config: &Config, messages: &[MessageSummary]) -> Table {
    let arrived = format!("Arrived ({})", config.agent.timezone.name());
    let mut table = table(["Msg", arrived.as_str(), "From", "Subject", "Held because"]);
    for message in messages {
        table.add_row([
            message.id.to_string(),
            local_short_time(config, &message.arrived_at),
            clipped(&message.sender, 40),
            clipped(&message.subject, 48),
            clipped(&held_reason(message), 60),
        ]);
    }
    table
}

/// The first thing to know about why a mail has no ticket.
fn held_reason(message: &MessageSummary) -> String {
    match (&message.automated_reason, &message.parse_problem) {
        (Some(automated), _) => format!("automated: {automated}"),
        (None, Some(problem)) if message.desk_failed_on() => problem.clone(),
        _ => message.thread_reason.clone(),
    }
}

/// `held show N [--raw]`: what the desk read and why it was held, or the original bytes.
async fn show(desk: &Desk, id: i64, raw: bool) -> anyhow::Result<ExitCode> {
    let Some(stored) = store::stored_message(&desk.db, id).await? else {
        eprintln!("error: there is no message {id}");
        return Ok(ExitCode::from(1));
    };
    if raw {
        use std::io::Write;
        std::io::stdout().write_all(&stored.raw)?;
        return Ok(ExitCode::SUCCESS);
    }
    let message = &stored.summary;
    let arrived = agent_time(&desk.config, &message.arrived_at);
    println!("Message {} from {} at {arrived}", message.id, one_line(&message.sender));
    println!("Subject:   {}", one_line(&message.subject));
    match stored.ticket {
        Some(ticket) => println!("On ticket: #{}", ticket.0),
        None => println!("Held:      {}", one_line(&held_reason(message))),
    }
    if let Some(problem) = &message.parse_problem {
        println!("Problem:   {}", one_line(problem));
    }
    println!("Size:      {} bytes (helpdesk held show {id} --raw prints the original)", stored.raw.len());
    println!("\n{}", multi_line(message.body_text.trim_end()));
    Ok(ExitCode::SUCCESS)
}

/// `held open N`: the mail taken in as a person's. A refusal (already on a ticket, no such
/// mail) is exit 1 with its reason; a database failure is an error.
async fn open(desk: &Desk, id: i64, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    match crate::intake::take_in_held_mail(desk, id, now).await {
        Ok(IntakeOutcome::NewTicket { ticket, acknowledged }) => println!(
            "Message {id} opened ticket #{}; {}",
            ticket.0,
            if acknowledged {
                "its acknowledgement is queued and goes out on the desk's next pass (or `helpdesk run --once`)."
            } else {
                "no acknowledgement was queued (see the log for why)."
            }
        ),
        Ok(IntakeOutcome::AddedToTicket { ticket }) => println!("Message {id} joined ticket #{}.", ticket.0),
        Ok(other) => println!("Message {id} taken in: {other:?}"),
        Err(err) if crate::storage::database_problem(&err).is_none() => {
            eprintln!("error: {err:#}");
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err),
    }
    Ok(ExitCode::SUCCESS)
}
