//! `helpdesk tickets` (the list) and `helpdesk ticket ...`: show one with its messages, save an
//! attachment, close, reopen, move to a client, merge. Each change is one transaction.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use comfy_table::Table;

use super::args::{StatusArg, TicketCommand};
use super::format::{agent_time, client_named, clipped, local_short_time, print_json, table};
use crate::config::Config;
use crate::desk::Desk;
use crate::domain::{EmailAddress, TicketId};
use crate::outbound::outbox::{client_mail_of_ticket, OutboxKind, SentMail};
use crate::sla::ClockState;
use crate::storage::Tx;
use crate::text::{multi_line, one_line};
use crate::tickets::actions;
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, MessageSummary, StatusFilter, TicketSummary};

/// `helpdesk tickets [--status S] [--client NAME] [--json]`.
pub async fn list(
    desk: &Desk,
    status: StatusArg,
    client: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let filter = match status {
        StatusArg::Open => StatusFilter::Open,
        StatusArg::Closed => StatusFilter::Closed,
        StatusArg::All => StatusFilter::All,
    };
    let of_client = |ticket: &TicketSummary| {
        client.is_none_or(|name| ticket.client.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name)))
    };
    let tickets: Vec<TicketSummary> = store::list_tickets(&desk.db, filter)
        .await?
        .into_iter()
        .filter(of_client)
        .map(|ticket| ticket.with_sla_state(now, &desk.config.sla))
        .collect::<anyhow::Result<_>>()?;
    if json {
        print_json(&tickets)?;
    } else {
        println!("{}", tickets_table(&desk.config, &tickets));
    }
    Ok(ExitCode::SUCCESS)
}

/// The ticket list, its times in the agent's timezone (named in the header).
pub fn tickets_table(config: &Config, tickets: &[TicketSummary]) -> Table {
    let zone = config.agent.timezone.name();
    let short_time = |stored: &str| local_short_time(config, stored);
    let mut table = table([
        "#".to_string(),
        "Client".into(),
        "Requester".into(),
        "Subject".into(),
        "Status".into(),
        "Sev".into(),
        format!("Opened ({zone})"),
        "Msgs".into(),
        "Response due".into(),
        "Resolution due".into(),
        "SLA".into(),
    ]);
    for ticket in tickets {
        table.add_row([
            ticket.id.to_string(),
            one_line(ticket.client.as_deref().unwrap_or("(unknown)")),
            one_line(&ticket.requester),
            clipped(&ticket.subject, 48),
            ticket.status.to_string(),
            ticket.severity.to_string(),
            short_time(&ticket.opened_at),
            ticket.messages.to_string(),
            ticket.first_response_due.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
            ticket.resolution_due.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
            ticket.sla.map_or("-", ClockState::as_str).to_string(),
        ]);
    }
    table
}

/// `helpdesk ticket ...`: one function per subcommand.
pub async fn ticket(desk: &Desk, command: TicketCommand, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    match command {
        TicketCommand::Show { id, json } => show(desk, TicketId(id), json, now).await,
        TicketCommand::Attachment { ticket, message, number, out } => {
            save_attachment(desk, TicketId(ticket), message, number, &out).await
        }
        TicketCommand::Close { id, silent } => close(desk, TicketId(id), silent, now).await,
        TicketCommand::Reopen { id } => reopen(desk, TicketId(id), now).await,
        TicketCommand::Move { id, client } => move_to_client(desk, TicketId(id), &client).await,
        TicketCommand::Merge { id, into } => merge(desk, TicketId(id), TicketId(into), now).await,
    }
}

/// `ticket show ID [--json]`: the JSON is the ticket with its `message_list`.
async fn show(desk: &Desk, id: TicketId, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let Some((ticket, messages)) = store::ticket_with_messages(&desk.db, id).await? else {
        eprintln!("error: there is no ticket #{}", id.0);
        return Ok(ExitCode::from(1));
    };
    let ticket = ticket.with_sla_state(now, &desk.config.sla)?;
    if json {
        let mut value = serde_json::to_value(&ticket)?;
        value["message_list"] = serde_json::to_value(&messages)?;
        print_json(&value)?;
    } else {
        let mut tx = desk.db.begin().await?;
        let participants = store::participants(&mut tx, id).await?;
        let sent_to_client = client_mail_of_ticket(&mut tx, id).await?;
        tx.rollback().await?;
        print_ticket(&desk.config, &ticket, &participants, &messages, &sent_to_client);
    }
    Ok(ExitCode::SUCCESS)
}

/// `ticket show` as text: the ticket (`print_ticket_header`), then each message interleaved
/// with the mail the desk sent the client, by time.
fn print_ticket(
    config: &Config,
    ticket: &TicketSummary,
    participants: &[EmailAddress],
    messages: &[MessageSummary],
    sent_to_client: &[SentMail],
) {
    print_ticket_header(config, ticket, participants);
    let mut sent = sent_to_client.iter().peekable();
    for message in messages {
        while let Some(mail) = sent.next_if(|mail| mail.created_at.as_str() < message.arrived_at.as_str()) {
            print_sent_to_client(config, mail);
        }
        print_message(config, ticket, message);
    }
    for mail in sent {
        print_sent_to_client(config, mail);
    }
}

/// The ticket's lines above its messages: who, its clocks, time, merges, what needs the agent.
fn print_ticket_header(config: &Config, ticket: &TicketSummary, participants: &[EmailAddress]) {
    let time = |stored: &str| agent_time(config, stored);
    println!("Ticket #{} [{}] {}", ticket.id, ticket.status, one_line(&ticket.subject));
    println!("Client:    {}", one_line(ticket.client.as_deref().unwrap_or("(unknown sender)")));
    println!("Requester: {}", one_line(&ticket.requester));
    if !participants.is_empty() {
        println!("Cc:        {}", one_line(&crate::agent::notify::address_list(participants)));
    }
    println!("Severity:  {} ({})", ticket.severity, one_line(&ticket.severity_reason));
    println!("Opened:    {}", time(&ticket.opened_at));
    if let (Some(response), Some(resolution)) = (&ticket.first_response_due, &ticket.resolution_due) {
        let answered = ticket.first_response_at.as_deref().map(|at| format!(" (answered {})", time(at)));
        println!("Response due:   {}{}", time(response), answered.unwrap_or_default());
        let resolved = ticket.resolved_at.as_deref().map(|at| format!(" (resolved {})", time(at)));
        println!("Resolution due: {}{}", time(resolution), resolved.unwrap_or_default());
        println!("SLA:       {}", ticket.sla.map_or("-", ClockState::as_str));
    }
    if let Some(since) = &ticket.waiting_since {
        println!("Waiting:   on the client since {}", time(since));
    }
    println!("Time:      {} logged", crate::hours::bank::hours_text(ticket.minutes_logged));
    match (ticket.merged_into, ticket.related_ticket) {
        (Some(into), _) => println!("Merged:    into #{into} (its mail lands there; no SLA here)"),
        (None, Some(related)) => println!("Follows:   #{related}"),
        (None, None) => {}
    }
    if let Some(attention) = &ticket.attention {
        println!("Needs you: {}", one_line(attention));
    }
}

/// One message: what it was (the client's, the agent's reply or internal note, automated),
/// its files with the command that saves each, and its text.
fn print_message(config: &Config, ticket: &TicketSummary, message: &MessageSummary) {
    let what = match message.author_kind {
        AuthorKind::Agent if is_internal_note(&message.body_text, &ticket.subject, &message.subject) => {
            "agent, internal note"
        }
        AuthorKind::Agent => "agent",
        kind if kind.is_client_side() => "from the client's side",
        other => other.as_str(),
    };
    println!(
        "\n--- {} ({}) at {}\n    {}",
        one_line(&message.sender),
        what,
        agent_time(config, &message.arrived_at),
        one_line(&message.thread_reason)
    );
    println!("Subject: {}", one_line(&message.subject));
    if let Some(reason) = &message.automated_reason {
        println!("Automated: {}", one_line(reason));
    }
    if let Some(problem) = &message.parse_problem {
        println!("Problem: {}", one_line(problem));
    }
    let files = message.attachments.as_array().map(Vec::as_slice).unwrap_or_default();
    for (index, file) in files.iter().enumerate() {
        println!(
            "Attachment {}: {} ({}, {} bytes): helpdesk ticket attachment {} {} {}",
            index + 1,
            one_line(file["name"].as_str().unwrap_or("(unnamed)")),
            one_line(file["content_type"].as_str().unwrap_or("")),
            file["size"].as_u64().unwrap_or(0),
            ticket.id,
            message.id,
            index + 1
        );
    }
    println!("\n{}", multi_line(message.body_text.trim_end()));
}

/// Whether an agent's stored mail was a `#note` (its new part carries the tag).
fn is_internal_note(body: &str, ticket_subject: &str, subject: &str) -> bool {
    let new_part = crate::inbound::quotes::new_part(body);
    crate::agent::tags::read_tags(subject, ticket_subject, &new_part).note
}

fn print_sent_to_client(config: &Config, mail: &SentMail) {
    println!(
        "\n=== sent to {} ({}) at {}, {}: {}",
        one_line(&mail.recipients),
        mail.kind.as_str(),
        agent_time(config, &mail.created_at),
        mail.status.as_str(),
        one_line(&mail.subject)
    );
}

/// `ticket attachment TICKET MESSAGE NUMBER --out FILE`: the file as the client sent it, read
/// from the stored mail.
async fn save_attachment(
    desk: &Desk,
    ticket: TicketId,
    message: i64,
    number: usize,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let stored = store::stored_message(&desk.db, message).await?;
    let Some(stored) = stored.filter(|stored| stored.ticket == Some(ticket)) else {
        anyhow::bail!("ticket #{} has no message {message} (helpdesk ticket show {} lists them)", ticket.0, ticket.0);
    };
    let mail = crate::inbound::parse::parse_mail(&stored.raw, desk.config.intake.max_message_bytes);
    let count = mail.attachments.len();
    let Some(attachment) = number.checked_sub(1).and_then(|index| mail.attachments.get(index)) else {
        anyhow::bail!("message {message} has {count} attachment(s); there is no number {number}");
    };
    std::fs::write(out, &attachment.contents).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "Saved {} to {}",
        crate::agent::notify::describe_attachments([attachment]),
        one_line(&out.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}

/// `ticket close ID [--silent]`: the client gets the SOP's resolved email unless `--silent`.
async fn close(desk: &Desk, id: TicketId, silent: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let mut tx = crate::storage::begin_write(&desk.db).await?;
    actions::close(&mut tx, id, now).await?;
    let done = if silent {
        format!("Closed ticket #{}; the client was sent nothing.", id.0)
    } else {
        let status = store::ticket_record(&mut tx, id).await?.context("the ticket is gone")?;
        let sent = crate::agent::reply::send_resolved_email(desk, &mut tx, &status, now).await?;
        let told = if sent { "the client gets the resolved email" } else { "no resolved email could be written" };
        format!("Closed ticket #{}; {told}.", id.0)
    };
    commit_and_say(tx, &done).await
}

/// `ticket reopen ID`: its clocks run on from their due times.
async fn reopen(desk: &Desk, id: TicketId, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let mut tx = crate::storage::begin_write(&desk.db).await?;
    actions::reopen(&mut tx, id, now).await?;
    commit_and_say(tx, &format!("Reopened ticket #{}.", id.0)).await
}

/// `ticket move ID --client NAME`: the SLA clocks follow the client's tier from the start.
async fn move_to_client(desk: &Desk, id: TicketId, client: &str) -> anyhow::Result<ExitCode> {
    let mut tx = crate::storage::begin_write(&desk.db).await?;
    let client = client_named(&desk.config, client)?;
    actions::move_to_client(&mut tx, &desk.config, id, client).await?;
    let mails = client_mail_of_ticket(&mut tx, id).await?;
    let offer = if mails.iter().any(|mail| mail.kind == OutboxKind::Acknowledgement) {
        ""
    } else {
        " The requester got no acknowledgement: answer the ticket's notification and your reply reaches them."
    };
    let done = format!(
        "Ticket #{} now belongs to {} ({}); its SLA clocks follow that tier.{offer}",
        id.0,
        client.name,
        client.tier.as_str().to_uppercase()
    );
    commit_and_say(tx, &done).await
}

/// `ticket merge ID --into INTO`: the client is told nothing.
async fn merge(desk: &Desk, id: TicketId, into: TicketId, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let mut tx = crate::storage::begin_write(&desk.db).await?;
    actions::merge(&mut tx, id, into, now).await?;
    commit_and_say(tx, &format!("Merged ticket #{} into #{}; the client was told nothing.", id.0, into.0)).await
}

/// A ticket change is said done only once it is committed.
async fn commit_and_say(tx: Tx<'_>, done: &str) -> anyhow::Result<ExitCode> {
    tx.commit().await?;
    println!("{}", one_line(done));
    Ok(ExitCode::SUCCESS)
}
