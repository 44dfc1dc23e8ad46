//! A mail that threads onto an existing ticket: the client's follow-up (which reopens a closed
//! ticket within the window), a courtesy on a closed one, a stranger's mail, the agent's reply,
//! or mail that belongs elsewhere (another client's, or too late to reopen: a new ticket).

use anyhow::Context;
use chrono::Duration;

use super::{new_ticket, Incoming, IntakeOutcome};
use crate::agent::notify::{announce_follow_up, invited_people, FollowUp};
use crate::agent::reply::record_agent_mail;
use crate::domain::{EmailAddress, TicketId};
use crate::sla;
use crate::storage::Tx;
use crate::tickets::actions::live_ticket;
use crate::tickets::courtesy::closing_courtesy;
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, NewMessage, TicketRecord};

/// Records a mail that threads onto `threaded` (or the ticket it was merged into).
pub(super) async fn record_on_ticket(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    threaded: TicketId,
    reason: String,
) -> anyhow::Result<IntakeOutcome> {
    // Mail to a ticket that was merged goes to the one it was merged into.
    let ticket = live_ticket(tx, threaded).await?;
    let reason =
        if ticket == threaded { reason } else { format!("{reason}; #{} was merged into #{}", threaded.0, ticket.0) };
    let record = store::ticket_record(tx, ticket).await?.context("threaded onto a ticket that does not exist")?;
    if let Some(outcome) = another_clients_ticket(tx, incoming, &record, &reason).await? {
        return Ok(outcome);
    }
    if is_stranger(tx, incoming, &record).await? {
        return record_stranger(tx, incoming, &record, &reason).await;
    }
    if incoming.is_the_agents() {
        let message = NewMessage { ticket: Some(ticket), thread_reason: &reason, ..incoming.message };
        let Incoming { desk, mail, raw, now, .. } = *incoming;
        let outcome = record_agent_mail(desk, tx, mail, raw, &record, message, &incoming.refused, now).await?;
        tracing::info!(ticket = ticket.0, message_id = ?mail.message_id, ?outcome, %reason, "agent mail on ticket");
        return Ok(IntakeOutcome::AddedToTicket { ticket });
    }
    let from_client_side = from_client_side(incoming);
    if from_client_side && !record.open {
        if let Some(outcome) = record_courtesy(tx, incoming, &record, &reason).await? {
            return Ok(outcome);
        }
        let config = &incoming.desk.config;
        let window = Duration::days(config.sla.reopen_window_days);
        if record.closed_at.is_some_and(|closed| incoming.raw.arrived_at > closed + window) {
            let reason = format!(
                "{reason}, but ticket #{ticket} was closed more than {} days earlier: new ticket linked to it",
                config.sla.reopen_window_days
            );
            return new_ticket::open_ticket(tx, incoming, &reason, Some(ticket)).await;
        }
    }
    add_to_ticket(tx, incoming, &record, &reason).await
}

/// A person's mail from the client's side (not machine mail, not the agent's).
fn from_client_side(incoming: &Incoming<'_>) -> bool {
    incoming.automated.is_none() && incoming.message.author_kind.is_client_side()
}

/// A client may only post to its own client's tickets, with any kind of mail: a person's mail
/// opens a ticket of its own, automated mail is held aside.
async fn another_clients_ticket(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    record: &TicketRecord,
    reason: &str,
) -> anyhow::Result<Option<IntakeOutcome>> {
    let sender_client = incoming.sender.client().map(|client| client.name.as_str());
    let (Some(sender_client), Some(owner)) = (sender_client, record.client.as_deref()) else { return Ok(None) };
    if sender_client == owner {
        return Ok(None);
    }
    let ticket = record.id;
    let reason = format!("{reason}, but ticket #{ticket} belongs to {owner}, not {sender_client}");
    let Some(automated) = &incoming.automated else {
        let reason = format!("{reason}: new ticket");
        return new_ticket::open_ticket(tx, incoming, &reason, None).await.map(Some);
    };
    let hold_reason = format!("automated mail ({automated}); {reason}: held aside");
    let automated_text = automated.to_string();
    let message =
        NewMessage { thread_reason: &hold_reason, automated_reason: Some(&automated_text), ..incoming.message };
    store::insert_message(tx, &message, incoming.now).await?;
    tracing::info!(ticket = ticket.0, from = incoming.sender_text(), "another client's automated mail held aside");
    Ok(Some(IntakeOutcome::HeldAside { reason: hold_reason }))
}

/// Someone who is neither the requester, nor of the ticket's client, nor a participant
/// (anyone who knows an acknowledgement's Message-ID).
async fn is_stranger(tx: &mut Tx<'_>, incoming: &Incoming<'_>, record: &TicketRecord) -> anyhow::Result<bool> {
    let mail = incoming.mail;
    if !from_client_side(incoming) || incoming.sender.client().is_some() {
        return Ok(false);
    }
    let is_requester = mail.from.as_ref().is_some_and(|from| from.as_str().eq_ignore_ascii_case(&record.requester));
    let participants = store::participants(tx, record.id).await?;
    let invited = mail.from.as_ref().is_some_and(|from| participants.contains(from));
    Ok(!is_requester && !invited)
}

/// A stranger's mail is stored and shown, but reopens nothing, ends no waiting and sets no
/// score.
async fn record_stranger(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    record: &TicketRecord,
    reason: &str,
) -> anyhow::Result<IntakeOutcome> {
    let Incoming { desk, mail, now, .. } = *incoming;
    let ticket = record.id;
    let reason = format!("{reason}; the sender is neither the requester nor of the ticket's client");
    let message = NewMessage {
        ticket: Some(ticket),
        thread_reason: &reason,
        author_kind: AuthorKind::Stranger,
        ..incoming.message
    };
    let row = store::insert_message(tx, &message, now).await?;
    let sender = incoming.sender_text();
    let attention = format!("{sender}, who is neither the requester nor of the ticket's client, wrote on it");
    store::set_attention(tx, ticket, &attention).await?;
    announce_follow_up(desk, tx, mail, record, row, FollowUp::Stranger, now).await?;
    tracing::warn!(ticket = ticket.0, from = sender, "a stranger wrote on the ticket: stored, nothing reopened");
    Ok(IntakeOutcome::AddedToTicket { ticket })
}

/// "Thanks!", "10/10 - thanks!": on a closed ticket a courtesy reopens nothing and restarts no
/// clock; its score is recorded and the agent hears of it once. `None` when the mail is more.
async fn record_courtesy(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    record: &TicketRecord,
    reason: &str,
) -> anyhow::Result<Option<IntakeOutcome>> {
    let Incoming { desk, mail, raw, now, .. } = *incoming;
    let names = [mail.from_name.as_deref().unwrap_or(""), desk.config.agent.name.as_str()];
    let Some(courtesy) = closing_courtesy(&mail.new_part(), &names) else { return Ok(None) };
    let ticket = record.id;
    let row =
        store::insert_message(tx, &NewMessage { ticket: Some(ticket), thread_reason: reason, ..incoming.message }, now)
            .await?;
    if let Some(score) = courtesy.score {
        store::record_satisfaction(tx, ticket, record.client.as_deref(), score, raw.arrived_at).await?;
    }
    announce_follow_up(desk, tx, mail, record, row, FollowUp::Courtesy(courtesy), now).await?;
    tracing::info!(ticket = ticket.0, score = ?courtesy.score, "thanks on a closed ticket: recorded, not reopened");
    Ok(Some(IntakeOutcome::AddedToTicket { ticket }))
}

/// The mail joins the ticket. From the client's side it also reaches the agent, adds the
/// people it copies, ends a wait, and reopens a closed ticket with a fresh resolution clock.
async fn add_to_ticket(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    record: &TicketRecord,
    reason: &str,
) -> anyhow::Result<IntakeOutcome> {
    let Incoming { desk, mail, raw, now, .. } = *incoming;
    let config = &desk.config;
    let ticket = record.id;
    let automated_text = incoming.automated.as_ref().map(|reason| reason.to_string());
    let message = NewMessage {
        ticket: Some(ticket),
        thread_reason: reason,
        automated_reason: automated_text.as_deref(),
        ..incoming.message
    };
    let message_row = store::insert_message(tx, &message, now).await?;
    let from_client_side = from_client_side(incoming);
    if from_client_side {
        let newcomers: Vec<EmailAddress> = invited_people(desk, mail)
            .into_iter()
            .filter(|address| !address.as_str().eq_ignore_ascii_case(&record.requester))
            .collect();
        store::add_participants(tx, ticket, &newcomers, now).await?;
        let follow_up = if record.open { FollowUp::OnOpenTicket } else { FollowUp::Reopened };
        announce_follow_up(desk, tx, mail, record, message_row, follow_up, now).await?;
        if let Some(since) = record.waiting_since {
            let paused = config.sla.pause_while_waiting.then(|| raw.arrived_at - since);
            store::end_waiting(tx, ticket, paused).await?;
        }
    }
    if from_client_side && !record.open {
        restart_resolution_clock(tx, incoming, record).await?;
        tracing::info!(ticket = ticket.0, "client wrote to a closed ticket within the reopen window: reopened");
    }
    store::touch_ticket(tx, ticket, from_client_side, now).await?;
    let author = message.author_kind;
    tracing::info!(ticket = ticket.0, message_id = ?mail.message_id, from = incoming.sender_text(), author = %author, %reason, "added to ticket");
    Ok(IntakeOutcome::AddedToTicket { ticket })
}

/// A reopened ticket gets a fresh resolution clock from the client's mail: the old deadline
/// (met when it was resolved) would read as a breach at once.
async fn restart_resolution_clock(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    record: &TicketRecord,
) -> anyhow::Result<()> {
    let config = &incoming.desk.config;
    let Some(client) = record.client.as_deref().and_then(|name| config.client(name)) else { return Ok(()) };
    let due = sla::due_times(
        &config.sla,
        client.tier,
        record.severity,
        incoming.raw.arrived_at,
        &config.business_hours,
        client.meeting.as_ref(),
    );
    store::restart_resolution_clock(tx, record.id, due.resolution).await
}
