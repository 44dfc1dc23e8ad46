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

use super::authenticity::{authenticate_agent_mail, Authenticity};
use super::echo::{agent_words, AgentWords};
use super::signed_ids::Refusal;
use super::tags::{read_tags, AgentCommands};
use crate::desk::Desk;
use crate::domain::Severity;
use crate::domain::{EmailAddress, MessageId, TicketId};
use crate::inbound::parse::InboundMail;
use crate::inbound::RawMail;
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::sla;
use crate::storage::Tx;
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, NewMessage, TicketRecord};

mod feedback;
mod time;
mod to_client;

pub(crate) use feedback::AgentFeedbackData;
use feedback::{queue_feedback, queue_partly_applied, queue_unverified_feedback};
use time::log_time_and_estimate;
use to_client::queue_to_client;
pub use to_client::send_resolved_email;
#[cfg(test)]
pub(crate) use to_client::AgentReplyData;

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

impl Reply<'_> {
    /// What he is told when his mail ran nothing: the errors, or why it proved nothing.
    fn feedback<'a>(&'a self, ticket: &TicketRecord, errors: &'a [String], unverified: bool) -> AgentFeedbackData<'a> {
        AgentFeedbackData {
            ticket: ticket.id.0,
            unverified,
            partly_applied: false,
            sender: Some(self.agent.as_str()),
            subject: &self.mail.subject,
            errors,
            limit_reached: None,
        }
    }
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
    let data = reply.feedback(ticket, &reasons, true);
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
    let data = reply.feedback(ticket, &errors, false);
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
