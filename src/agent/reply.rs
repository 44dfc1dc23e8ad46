//! What a mail from the agent does to its ticket, inside the intake transaction.
//!
//! An authenticated reply: its new part is read for tags; with an unreadable tag nothing is
//! applied and the agent is told why. Otherwise the time is logged, severity and waiting state
//! are set, and the remaining words go to the client: as the SOP's resolved email when the
//! reply says RESOLVED, else relayed as they are (unless `#note`, or the agent's mail already
//! reached the client). A mail in the agent's name that cannot be authenticated is stored as
//! a client-side message, runs nothing, is never relayed, and the agent is told.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::authenticity::{authenticate_agent_mail, Authenticity};
use super::echo::{agent_words, AgentWords};
use super::signed_ids::Refusal;
use super::tags::{is_greeting, read_tags, AgentCommands};
use crate::desk::Desk;
use crate::domain::{EmailAddress, MessageId, TicketId};
use crate::domain::{Severity, Tier};
use crate::hours::bank::{hours_text, period_containing};
use crate::hours::bank_emails::{after_time_logged, offer_options_for_request, BankAlertContext};
use crate::hours::entries::{insert_entry, NewTimeEntry};
use crate::hours::ledger::client_period;
use crate::hours::{round_up_to_quarter_hour, EntryKind};
use crate::inbound::parse::InboundMail;
use crate::inbound::RawMail;
use crate::outbound::compose::{build_mail, first_name, Draft};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::sla;
use crate::storage::Tx;
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, NewMessage, TicketRecord};

/// The data of `templates/agent_feedback.*`: what the agent's mail did not do, and why.
#[derive(Debug, Serialize)]
pub(crate) struct AgentFeedbackData<'a> {
    pub(crate) ticket: i64,
    /// Mail in his name that could not be authenticated: nothing ran.
    pub(crate) unverified: bool,
    /// Applied except for `errors`; the key is absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) partly_applied: bool,
    /// The From address of the mail; absent on the partly-applied mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sender: Option<&'a str>,
    pub(crate) subject: &'a str,
    pub(crate) errors: &'a [String],
    /// The hourly limit of unverified-mail feedback, on the last one it allows; else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit_reached: Option<i64>,
}

/// The data of `templates/agent_reply.*` and `templates/resolved.*`: the agent's words to
/// the client.
#[derive(Debug, Serialize)]
pub(crate) struct AgentReplyData<'a> {
    pub(crate) ticket: i64,
    pub(crate) subject: &'a str,
    /// The ticket's subject, as the resolved email names the issue.
    pub(crate) issue: &'a str,
    pub(crate) first_name: String,
    pub(crate) text: String,
    /// The resolved email's P.S. (how to prevent it next time), when the agent wrote one.
    pub(crate) prevention: Option<String>,
    pub(crate) agent_name: &'a str,
}

/// What an agent mail did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMailOutcome {
    Unverified,
    NotUnderstood(Vec<String>),
    Applied { relayed: bool, resolved: bool, minutes_logged: u32 },
}

/// What the agent's mail on a ticket does, once it is known to be his.
struct Reply<'a> {
    desk: &'a Desk,
    mail: &'a InboundMail,
    raw: &'a RawMail,
    agent: EmailAddress,
    now: DateTime<Utc>,
}

#[allow(clippy::too_many_arguments)]
pub async fn record_agent_mail(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    raw: &RawMail,
    ticket: &TicketRecord,
    message: NewMessage<'_>,
    refused: &[(MessageId, Refusal)],
    now: DateTime<Utc>,
) -> anyhow::Result<AgentMailOutcome> {
    let agent = mail.from.clone().expect("agent mail has a From address");
    let reply = Reply { desk, mail, raw, agent, now };
    if authenticity(&reply, tx, ticket, refused).await? == Authenticity::Unverified {
        store::insert_message(tx, &NewMessage { author_kind: AuthorKind::UnverifiedAgent, ..message }, now).await?;
        return refuse_unverified(&reply, tx, ticket, refused).await;
    }
    if mail.body_unread() {
        // Its text is the desk's placeholder, not the agent's words: nothing runs or goes out.
        store::insert_message(tx, &NewMessage { author_kind: AuthorKind::Agent, ..message }, now).await?;
        let problem = mail.problem.clone().unwrap_or_default();
        let errors = vec![format!(
            "the desk could not read this mail ({problem}); nothing was run and nothing was sent to the client"
        )];
        tracing::warn!(ticket = ticket.id.0, %problem, "agent mail with an unread body: nothing applied");
        return refuse_not_understood(&reply, tx, ticket, errors).await;
    }
    let words = agents_own_words(desk, tx, ticket.id, mail).await?;
    let mut commands = read_tags(&mail.subject, &ticket.subject, &words.text);
    for line in &words.echoed_tag_lines {
        commands.errors.push(format!(
            "{line:?} stands in the client's text that the desk sent you, below other lines of that mail, so it was not read as yours: put your tags at the top of your reply, above anything you quote (or end the subject with \" - RESOLVED\" to resolve)"
        ));
    }
    let client_named = check_ticket_actions(desk, tx, ticket, &mut commands).await?;
    let message_row = store::insert_message(tx, &NewMessage { author_kind: AuthorKind::Agent, ..message }, now).await?;
    if !commands.errors.is_empty() {
        tracing::warn!(ticket = ticket.id.0, errors = ?commands.errors, "agent reply not understood: nothing applied");
        return refuse_not_understood(&reply, tx, ticket, commands.errors).await;
    }
    // `#client NAME` first: the reply's time then counts against that client's hours.
    let moved;
    let ticket = match client_named {
        Some(client) => {
            crate::tickets::actions::move_to_client(tx, &desk.config, ticket.id, client).await?;
            moved = store::ticket_record(tx, ticket.id).await?.context("the ticket just moved is gone")?;
            &moved
        }
        None => ticket,
    };
    apply_commands(&reply, tx, ticket, &commands, message_row).await
}

/// How the mail proves it is his. The desk's signed mail about a ticket merged into this one
/// proves his reply too.
async fn authenticity(
    reply: &Reply<'_>,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    refused: &[(MessageId, Refusal)],
) -> anyhow::Result<Authenticity> {
    let config = &reply.desk.config;
    let unusable: Vec<_> = refused.iter().map(|(id, _)| id.clone()).collect();
    let mut signed_for = vec![ticket.id];
    signed_for.extend(store::merged_from(tx, ticket.id).await?);
    Ok(signed_for
        .iter()
        .map(|signed_ticket| {
            authenticate_agent_mail(
                reply.mail,
                *signed_ticket,
                &reply.agent,
                &config.agent.addresses[0],
                &reply.desk.agent_message_ids,
                &config.agent.trusted_authserv_ids,
                &unusable,
            )
        })
        .find(|authenticity| *authenticity != Authenticity::Unverified)
        .unwrap_or(Authenticity::Unverified))
}

/// Mail in his name that proves nothing: stored, nothing run, and he is told why (which of
/// the desk's ids it answered no longer prove anything).
async fn refuse_unverified(
    reply: &Reply<'_>,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    refused: &[(MessageId, Refusal)],
) -> anyhow::Result<AgentMailOutcome> {
    let config = &reply.desk.config;
    let reasons: Vec<String> = refused
        .iter()
        .filter(|(id, _)| reply.desk.agent_message_ids.verify(id, ticket.id, &config.agent.addresses[0]))
        .map(|(_, refusal)| refusal.explain(config.agent.timezone))
        .collect();
    tracing::warn!(ticket = ticket.id.0, from = %reply.agent, ?reasons, "mail in the agent's name is not authenticated: stored, nothing run");
    let data = AgentFeedbackData {
        ticket: ticket.id.0,
        unverified: true,
        partly_applied: false,
        sender: Some(reply.agent.as_str()),
        subject: &reply.mail.subject,
        errors: &reasons,
        limit_reached: None,
    };
    queue_unverified_feedback(reply.desk, tx, ticket.id, data, reply.now).await?;
    Ok(AgentMailOutcome::Unverified)
}

/// His mail could not be read or has an unreadable tag: nothing applied, and he is told.
async fn refuse_not_understood(
    reply: &Reply<'_>,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    errors: Vec<String>,
) -> anyhow::Result<AgentMailOutcome> {
    let data = AgentFeedbackData {
        ticket: ticket.id.0,
        unverified: false,
        partly_applied: false,
        sender: Some(reply.agent.as_str()),
        subject: &reply.mail.subject,
        errors: &errors,
        limit_reached: None,
    };
    queue_feedback(reply.desk, tx, ticket.id, &data, reply.now).await?;
    Ok(AgentMailOutcome::NotUnderstood(errors))
}

/// Runs an understood reply: time, severity, waiting, people, then what reaches the client,
/// then the close or merge.
async fn apply_commands(
    reply: &Reply<'_>,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
    message_row: i64,
) -> anyhow::Result<AgentMailOutcome> {
    let Reply { desk, raw, now, .. } = *reply;
    // The hour-bank email a resolving reply causes goes out after its resolved email (SOP
    // order), and speaks of further requests; otherwise before the relay.
    let mut minutes_logged = 0;
    if !commands.resolved {
        minutes_logged = log_time_and_estimate(desk, tx, ticket, commands, message_row, raw.arrived_at, now).await?;
    }
    if let Some(severity) = commands.severity.filter(|severity| *severity != ticket.severity) {
        change_severity(desk, tx, ticket, severity).await?;
    }
    if commands.waiting {
        store::set_waiting(tx, ticket.id, raw.arrived_at).await?;
    }
    apply_cc_tags(desk, tx, ticket, commands, now).await?;
    let relayed = answer_client(reply, tx, ticket, commands).await?;
    if commands.resolved {
        minutes_logged = log_time_and_estimate(desk, tx, ticket, commands, message_row, raw.arrived_at, now).await?;
    }
    store::touch_ticket(tx, ticket.id, false, now).await?;
    if let Some(into) = commands.merge_into {
        crate::tickets::actions::merge(tx, ticket.id, TicketId(into), raw.arrived_at).await?;
    }
    tracing::info!(
        ticket = ticket.id.0,
        relayed,
        resolved = commands.resolved,
        minutes_logged,
        note = commands.note,
        waiting = commands.waiting,
        "agent reply applied"
    );
    Ok(AgentMailOutcome::Applied { relayed, resolved: commands.resolved, minutes_logged })
}

/// `#p0`..`#p3`: the new severity, with due times from the ticket's opening.
async fn change_severity(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    severity: Severity,
) -> anyhow::Result<()> {
    let config = &desk.config;
    let client = ticket.client.as_deref().and_then(|name| config.client(name));
    let due = client.map(|client| {
        let calendar = &config.business_hours;
        sla::due_times(&config.sla, client.tier, severity, ticket.opened_at, calendar, client.meeting.as_ref())
    });
    let reason = format!("set by the agent (#{}), was {}", severity.as_str().to_ascii_lowercase(), ticket.severity);
    store::set_severity(tx, ticket.id, severity, &reason, due).await
}

/// Closes or resolves the ticket as the reply says, and relays his words (and files) to the
/// client unless his mail reached the client itself, or is a note or a merge. Returns
/// whether a mail to the client was queued; the first one stops the response clock.
async fn answer_client(
    reply: &Reply<'_>,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
) -> anyhow::Result<bool> {
    let Reply { desk, mail, raw, now, .. } = *reply;
    let requester = EmailAddress::parse(&ticket.requester);
    let reached_client = requester.as_ref().is_some_and(|requester| mail.recipients.contains(requester));
    // `#merge M`: the client is told nothing; his words stay on the ticket like a note.
    let quiet = commands.note || commands.merge_into.is_some();
    let has_words = !commands.text.trim().is_empty();
    if commands.close || commands.resolved {
        store::close_ticket(tx, ticket.id, raw.arrived_at).await?;
    }
    let kind = match () {
        _ if quiet => None,
        _ if commands.resolved => Some(OutboxKind::Resolved),
        _ if has_words && !reached_client => Some(OutboxKind::AgentReply),
        _ => None,
    };
    let relayed = match kind {
        Some(kind) => queue_to_client(desk, tx, ticket, kind, &commands.text, &mail.attachments, now).await?,
        None => false,
    };
    if (relayed || (reached_client && !commands.note)) && ticket.first_response_at.is_none() {
        store::record_first_response(tx, ticket.id, raw.arrived_at).await?;
    }
    Ok(relayed)
}

/// `#client NAME` and `#merge M` name things that must exist: an unknown client or ticket is
/// an error (the whole reply then changes nothing). Returns the client `#client` names.
async fn check_ticket_actions<'c>(
    desk: &'c Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &mut AgentCommands,
) -> anyhow::Result<Option<&'c crate::config::ClientConfig>> {
    let mut client = None;
    if let Some(name) = &commands.client {
        match desk.config.client_named(name) {
            Some(found) if ticket.client.as_deref() == Some(found.name.as_str()) => commands
                .errors
                .push(format!("#client {name}: ticket #{} belongs to {} already", ticket.id.0, found.name)),
            Some(found) => client = Some(found),
            None => commands.errors.push(format!("#client {name}: no client of that name in the config")),
        }
    }
    if let Some(into) = commands.merge_into {
        let target = store::ticket_record(tx, TicketId(into)).await?;
        let merged = store::merged_into(tx, TicketId(into)).await?;
        if into == ticket.id.0 || target.is_none() || merged.is_some() {
            commands.errors.push(format!("#merge {into}: no other ticket #{into} to merge this one into"));
        }
    }
    Ok(client)
}

/// `#cc ADDRESS` / `#uncc ADDRESS`: the ticket's participants change before anything is sent,
/// so this reply already goes to them. The desk's, the agent's and the requester's own
/// addresses are never participants; a change that does nothing is reported to him.
async fn apply_cc_tags(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let config = &desk.config;
    let mut unchanged = Vec::new();
    for address in &commands.cc_added {
        let own = config.is_agent(address) || config.is_desk_address(address);
        if own || address.as_str().eq_ignore_ascii_case(&ticket.requester) {
            unchanged.push(format!("#cc {address}: the requester, you and the desk are always on the ticket"));
        } else if store::add_participants(tx, ticket.id, std::slice::from_ref(address), now).await? == 0 {
            unchanged.push(format!("#cc {address}: already copied on this ticket"));
        }
    }
    for address in &commands.cc_removed {
        if !store::remove_participant(tx, ticket.id, address).await? {
            unchanged.push(format!("#uncc {address}: was not copied on this ticket"));
        }
    }
    for error in unchanged {
        queue_partly_applied(desk, tx, ticket, error, now).await?;
    }
    Ok(())
}

/// How many of the desk's latest mails to the agent about a ticket his reply is compared with.
const SENT_MAILS_COMPARED: i64 = 30;

/// His reply's new part without the text the desk sent him about the ticket (see `echo`).
async fn agents_own_words(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: TicketId,
    mail: &InboundMail,
) -> anyhow::Result<AgentWords> {
    let agent = desk.config.agent.addresses[0].as_str();
    let sent: Vec<String> = outbox::mail_to_about(tx, ticket, agent, SENT_MAILS_COMPARED)
        .await?
        .iter()
        .map(|raw| crate::inbound::parse::parse_mail(raw, usize::MAX).text)
        .collect();
    Ok(agent_words(&mail.new_part(), &sent))
}

/// The reply's `#time` entries, then its `#estimate` (which needs the hours they used).
async fn log_time_and_estimate(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
    message_row: i64,
    arrived_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<u32> {
    let minutes = if commands.time_entries.is_empty() {
        0
    } else {
        log_entries(desk, tx, ticket, commands, Some(message_row), arrived_at, now).await?
    };
    if let Some(estimate) = commands.estimate {
        offer_hour_options(desk, tx, ticket, estimate, now).await?;
    }
    Ok(minutes)
}

async fn log_entries(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
    message_row: Option<i64>,
    arrived_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<u32> {
    let config = &desk.config;
    let client = ticket.client.as_deref().and_then(|name| config.client(name));
    let work_date = arrived_at.with_timezone(&config.agent.timezone).date_naive();
    let default_task = default_task(&commands.text, &ticket.subject);
    let severity = commands.severity.unwrap_or(ticket.severity);
    // After-hours or weekend P0 work for STARTER and GROWTH is emergency time (SOP).
    let emergency = client.is_some_and(|client| client.tier != Tier::Enterprise)
        && severity == Severity::P0
        && !sla::is_within_business_hours(arrived_at, &config.business_hours);
    let kind = match (commands.billable, emergency) {
        (true, _) => EntryKind::Billable,
        (false, true) => EntryKind::Emergency,
        (false, false) => EntryKind::Included,
    };
    let period = client.map(|client| period_containing(work_date, client.period_anchor_day));
    let before = match (client, period) {
        (Some(client), Some(period)) => Some(client_period(&mut *tx, config, client, period).await?),
        _ => None,
    };
    let mut total = 0;
    for written in &commands.time_entries {
        let minutes = round_up_to_quarter_hour(written.minutes);
        let entry = NewTimeEntry {
            ticket: Some(ticket.id),
            client: ticket.client.as_deref(),
            work_date,
            minutes_written: written.minutes,
            minutes,
            kind,
            task: written.task.as_deref().unwrap_or(&default_task),
            message_row,
        };
        insert_entry(tx, &entry, now).await?;
        total += minutes;
    }
    if let (Some(client), Some(before)) = (client, before) {
        let requester = EmailAddress::parse(&ticket.requester).map(|address| (address, ticket.requester_name.clone()));
        let request = BankAlertContext {
            ticket: Some(ticket.id),
            request: &ticket.subject,
            requester,
            estimate_minutes: commands.estimate,
            request_resolved: commands.resolved,
        };
        after_time_logged(desk, tx, client, &before, request, now).await?;
    }
    Ok(total)
}

/// The task of a `#time` entry with none written after its duration: the first line of the
/// reply that is not a greeting ("Hi Bill,"), else the ticket's subject.
fn default_task(text: &str, subject: &str) -> String {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty() && !is_greeting(line)).unwrap_or(subject);
    line.chars().take(200).collect()
}

/// `#estimate D`: the SOP's depleted-hours email for this ticket's request, or a notice to
/// the agent saying why it was not sent (hours left, no client, no address).
async fn offer_hour_options(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    estimate: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let hours = hours_text(i64::from(estimate));
    let outcome = match ticket.client.as_deref().and_then(|name| desk.config.client(name)) {
        None => Err("the ticket belongs to no client, so there are no hours to offer".to_string()),
        Some(client) => {
            let requester =
                EmailAddress::parse(&ticket.requester).map(|address| (address, ticket.requester_name.clone()));
            let context = BankAlertContext {
                ticket: Some(ticket.id),
                request: &ticket.subject,
                requester,
                estimate_minutes: Some(estimate),
                request_resolved: false,
            };
            offer_options_for_request(desk, tx, client, context, now).await?
        }
    };
    if let Err(reason) = outcome {
        tracing::info!(ticket = ticket.id.0, %reason, "#estimate: depleted-hours email not sent");
        queue_partly_applied(desk, tx, ticket, format!("#estimate {hours}: {reason}"), now).await?;
    }
    Ok(())
}

/// The agent's words to the client: relayed as they are (`agent_reply`) or inside the SOP's
/// resolved email (`resolved`), threaded onto the client's conversation. Returns whether it
/// was queued: a requester address that cannot be written in a header (lettre refuses some
/// that mail servers accept, such as `taro..yamada@docomo.ne.jp`) gets the agent a notice
/// instead, and the rest of his reply still applies.
async fn queue_to_client(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    kind: OutboxKind,
    text: &str,
    files: &[crate::inbound::parse::Attachment],
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let config = &desk.config;
    let writable = EmailAddress::parse(&ticket.requester).and_then(|address| address.as_str().parse().ok());
    let Some(requester) = writable else {
        tracing::warn!(ticket = ticket.id.0, requester = %ticket.requester, "the client's address cannot be written in a mail header: nothing relayed");
        let error = format!(
            "nothing was sent to the client: the address {:?} cannot be written in a mail header; write to them from your own mail client",
            ticket.requester
        );
        queue_partly_applied(desk, tx, ticket, error, now).await?;
        return Ok(false);
    };
    let (last_client_mail, references) = store::client_thread_ids(tx, ticket.id).await?;
    let participants = store::participants(tx, ticket.id).await?;
    let (text, prevention) = if kind == OutboxKind::Resolved {
        resolved_sections(&without_sign_off(text, &config.agent.name))
    } else {
        (text.to_string(), None)
    };
    let data = AgentReplyData {
        ticket: ticket.id.0,
        subject: &ticket.subject,
        issue: &ticket.subject,
        first_name: first_name(ticket.requester_name.as_deref()),
        text,
        prevention,
        agent_name: &config.agent.name,
    };
    let template = if kind == OutboxKind::Resolved { "resolved" } else { "agent_reply" };
    let from = config.agent_via_support();
    let draft = Draft {
        kind,
        ticket: Some(ticket.id),
        to: vec![lettre::message::Mailbox::new(ticket.requester_name.clone(), requester)],
        cc: participants.iter().filter_map(|address| address.as_str().parse().ok()).collect(),
        subject: desk.templates.render_line(&format!("{template}.subject"), &data)?,
        body: desk.templates.render(&format!("{template}.txt"), &data)?,
        in_reply_to: last_client_mail,
        references,
        reply_to: Some(desk.reply_addresses.address_for(ticket.id)),
        auto_submitted: None,
        message_id: None,
        html: None,
        images: Vec::new(),
        // His files (and the images of his signature) travel as he attached them.
        attachments: files.iter().map(crate::agent::notify::as_file).collect(),
    };
    outbox::enqueue(tx, &build_mail(&from, draft, now)?, now).await?;
    Ok(true)
}

/// The SOP's resolved email with no words of the agent's (`helpdesk ticket close N`).
pub async fn send_resolved_email(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    queue_to_client(desk, tx, ticket, OutboxKind::Resolved, "", &[], now).await
}

/// Tells the agent his reply was applied except for `error`.
async fn queue_partly_applied(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    error: String,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let data = AgentFeedbackData {
        ticket: ticket.id.0,
        unverified: false,
        partly_applied: true,
        sender: None,
        subject: &ticket.subject,
        errors: std::slice::from_ref(&error),
        limit_reached: None,
    };
    queue_feedback(desk, tx, ticket.id, &data, now).await
}

/// The "NOT acted on" mail about mail in the agent's name that was not authenticated, at most
/// `agent.unverified_feedback_per_hour` an hour (a forger must not flood his phone): the last
/// one allowed says so, and the daily summary lists every such mail.
async fn queue_unverified_feedback(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: TicketId,
    mut data: AgentFeedbackData<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let limit = i64::from(desk.config.agent.unverified_feedback_per_hour);
    let recent = outbox::count_kind_since(tx, OutboxKind::UnverifiedFeedback, now - chrono::Duration::hours(1)).await?;
    if recent >= limit {
        tracing::warn!(
            ticket = ticket.0,
            recent,
            "unverified-mail feedback limit reached this hour: not telling the agent again"
        );
        return Ok(());
    }
    if recent + 1 == limit {
        data.limit_reached = Some(limit);
    }
    queue_feedback_of_kind(desk, tx, OutboxKind::UnverifiedFeedback, ticket, &data, now).await
}

async fn queue_feedback(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: TicketId,
    data: &AgentFeedbackData<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    queue_feedback_of_kind(desk, tx, OutboxKind::AgentFeedback, ticket, data, now).await
}

async fn queue_feedback_of_kind(
    desk: &Desk,
    tx: &mut Tx<'_>,
    kind: OutboxKind,
    ticket: TicketId,
    data: &AgentFeedbackData<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let draft = desk
        .threaded_notice_to_agent(
            tx,
            kind,
            ticket,
            desk.templates.render_line("agent_feedback.subject", data)?,
            desk.templates.render("agent_feedback.txt", data)?,
        )
        .await?;
    outbox::enqueue(tx, &build_mail(&desk.config.support_mailbox, draft, now)?, now).await?;
    Ok(())
}

/// Whether `text` begins with a verb in the past tense ("added", "set up", "wrote").
fn starts_with_past_tense(text: &str) -> bool {
    const IRREGULAR: &[&str] = &[
        "set", "put", "made", "built", "wrote", "sent", "ran", "took", "gave", "left", "kept", "found", "got", "did",
        "rewrote", "rebuilt", "split", "cut", "shut",
    ];
    let first = text.split_whitespace().next().unwrap_or("").to_lowercase();
    (first.len() > 3 && first.ends_with("ed")) || IRREGULAR.contains(&first.as_str())
}

/// The first line without a greeting that opens it: "Hi Li, sorry for the wait." reads "Sorry
/// for the wait." (the template greets the client already).
fn without_leading_greeting(line: &str) -> String {
    static OPENING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(hi|hello|hey|dear|bonjour|hallo|hola|ciao)\s+[^,.!?\s][^,.!?]{0,29}[,!]\s*(\S)")
            .expect("valid regex")
    });
    match OPENING.captures(line) {
        Some(captures) => {
            let start = captures.get(2).map_or(0, |rest| rest.start());
            let rest = &line[start..];
            let mut chars = rest.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
        None => line.to_string(),
    }
}

/// His text without the sign-off his mail client added (the resolved email signs with his
/// name already): from a closing line ("Thanks,", "Best,", "Cheers,", his name) to the end,
/// when that is at most four lines.
fn without_sign_off(text: &str, agent_name: &str) -> String {
    static CLOSING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)^\s*(-\s*)?(thanks|thank you|best|best regards|regards|cheers|kind regards)\s*[,!.]?\s*$",
        )
        .expect("valid regex")
    });
    let first_name = agent_name.split_whitespace().next().unwrap_or(agent_name).to_lowercase();
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let closes = |line: &&str| {
        let bare = line.trim().trim_start_matches(['-', '–', '—', ' ']).to_lowercase();
        CLOSING.is_match(line) || (!first_name.is_empty() && (bare == first_name || bare == agent_name.to_lowercase()))
    };
    let start = lines.len().saturating_sub(4);
    match lines.iter().enumerate().skip(start.max(1)).find(|(_, line)| closes(line)) {
        Some((index, _)) => lines[..index].join("\n"),
        None => text.to_string(),
    }
}

/// The agent's words shaped into the SOP's "Issue Resolved" email: his "What was wrong:",
/// "What I fixed:" and "Testing:" lines get the SOP's check marks, and his prevention line
/// becomes the P.S.: "Prevention: added an alert" reads "To prevent this in the future, I
/// added an alert."; a line he wrote as a sentence ("To prevent this from happening again,
/// I ...", "Prevention: We've ...") is kept word for word. Anything else stays as written.
pub fn resolved_sections(text: &str) -> (String, Option<String>) {
    static SECTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(?:✅\s*)?(what was wrong|what i fixed|testing)\s*:").expect("valid regex")
    });
    static PREVENTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(?:p\.?s\.?\s*-?\s*)?(prevention\s*:|to prevent this\b)\s*(.*?)\s*$")
            .expect("valid regex")
    });
    let mut prevention = None;
    let mut lines = Vec::new();
    // The template greets the client: his own "Hi Bill," at the top would greet twice.
    let mut text_lines = text.lines().skip_while(|line| line.trim().is_empty()).peekable();
    if text_lines.peek().is_some_and(|first| is_greeting(first)) {
        text_lines.next();
    }
    // "Hi Li, sorry for the wait." keeps its sentence, not its greeting.
    let first = text_lines.next().map(without_leading_greeting);
    for line in first.iter().map(String::as_str).chain(text_lines) {
        let found = PREVENTION.captures(line).filter(|c| prevention.is_none() && !c[2].is_empty());
        if let Some(captures) = found {
            let rest = captures[2].trim_end_matches('.');
            let sentence = if captures[1].to_ascii_lowercase().starts_with("prevention") {
                match rest.strip_prefix("I ") {
                    Some(action) => format!("To prevent this in the future, I {action}."),
                    // "added an alert": what he did. "the footer now takes the year": what is so.
                    None if starts_with_past_tense(rest) => format!("To prevent this in the future, I {rest}."),
                    None if rest.starts_with(|c: char| c.is_lowercase()) => {
                        format!("To prevent this in the future, {rest}.")
                    }
                    None => format!("{rest}."),
                }
            } else {
                let from_keyword = captures.get(1).map_or(0, |keyword| keyword.start());
                format!("{}.", line[from_keyword..].trim().trim_end_matches('.'))
            };
            prevention = Some(sentence);
        } else if SECTION.is_match(line) && !line.trim_start().starts_with('✅') {
            lines.push(format!("✅ {}", line.trim_start()));
        } else {
            lines.push(line.to_string());
        }
    }
    (lines.join("\n").trim().to_string(), prevention)
}

#[cfg(test)]
mod tests {
    use super::resolved_sections;

    #[test]
    fn the_resolved_email_reads_well_whatever_he_wrote() {
        use super::without_sign_off;
        let prevention = |line: &str| resolved_sections(&format!("Done.\n{line}")).1.unwrap();
        assert_eq!(
            prevention("Prevention: the footer now takes the year from the invoice date"),
            "To prevent this in the future, the footer now takes the year from the invoice date."
        );
        assert_eq!(
            prevention("Prevention: set up a daily check"),
            "To prevent this in the future, I set up a daily check."
        );
        let (text, _) = resolved_sections("Hi Li, sorry for the wait.\nThe import runs again.");
        assert_eq!(text, "Sorry for the wait.\nThe import runs again.");
        let (french, _) = resolved_sections("Bonjour Marie, tout marche.");
        assert_eq!(french, "Tout marche.");
        assert_eq!(
            without_sign_off("Replayed the three leads.\n\nTravis\nTravis Automation | +1 555 0100", "Travis"),
            "Replayed the three leads.\n"
        );
        assert_eq!(without_sign_off("Fixed it.\nThanks,\nTravis", "Travis"), "Fixed it.");
        let kept = "Travis here: fixed it.\nThe sync runs.";
        assert_eq!(without_sign_off(kept, "Travis"), kept, "a sentence is not a sign-off");
    }

    #[test]
    fn the_agents_own_greeting_is_not_repeated_under_the_templates() {
        let (text, _) = resolved_sections("Hi Bill,\n\nThe sync runs again.");
        assert_eq!(text, "The sync runs again.");
        let (kept, _) = resolved_sections("Hey, the sync runs again.");
        assert_eq!(kept, "Hey, the sync runs again.", "a sentence is not a greeting");
    }

    #[test]
    fn the_resolved_email_takes_the_sops_shape_from_the_agents_lines() {
        let (text, prevention) = resolved_sections(
            "What was wrong: the token had expired.\nWhat I fixed: renewed it.\ntesting: synced 20 leads.\nPrevention: added an expiry alert.",
        );
        assert_eq!(
            text,
            "✅ What was wrong: the token had expired.\n✅ What I fixed: renewed it.\n✅ testing: synced 20 leads."
        );
        assert_eq!(prevention.as_deref(), Some("To prevent this in the future, I added an expiry alert."));
        let written = |line: &str| resolved_sections(&format!("Done.\n{line}")).1;
        assert_eq!(
            written("To prevent this from happening again, I added monitoring.").as_deref(),
            Some("To prevent this from happening again, I added monitoring."),
            "his own sentence, word for word"
        );
        assert_eq!(
            written("Prevention: I set up monitoring").as_deref(),
            Some("To prevent this in the future, I set up monitoring.")
        );
        assert_eq!(written("Prevention: We've added an alert").as_deref(), Some("We've added an alert."));
        assert_eq!(
            written("P.S. To prevent this, clear your cache weekly").as_deref(),
            Some("To prevent this, clear your cache weekly.")
        );
        assert_eq!(resolved_sections("Done.\nPrevention: ").1, None, "an empty line is no P.S.");
        let plain = "Renewed the key; all good.";
        assert_eq!(resolved_sections(plain), (plain.to_string(), None), "free text stays as written");
    }
}
