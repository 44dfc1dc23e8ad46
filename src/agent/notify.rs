//! What the agent is told when someone on the client's side writes on a ticket that already
//! exists: a follow-up, a reopening, or a courtesy on a closed ticket ("Thanks! 9"). Each is
//! one mail he can answer from any mail client, threaded under the desk's earlier mail to him
//! about the ticket, with a signed Message-ID and the ticket's reply address, and the
//! client's files attached up to `intake.forward_attachments_max_bytes`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::desk::Desk;
use crate::domain::{EmailAddress, TicketId};
use crate::inbound::parse::{Attachment, InboundMail};
use crate::outbound::compose::{build_mail, FileAttachment};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::storage::Tx;
use crate::tickets::courtesy::Courtesy;
use crate::tickets::store::{self, TicketRecord};

/// The outbox kind of these mails.
pub const FOLLOW_UP_KIND: OutboxKind = OutboxKind::AgentFollowUp;

/// Why the client's mail is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// On an open ticket.
    OnOpenTicket,
    /// On a closed ticket, which it reopened.
    Reopened,
    /// On a closed ticket, only thanks and/or a score: it stays closed.
    Courtesy(Courtesy),
    /// From someone who is neither the requester, nor of the ticket's client, nor a
    /// participant: stored, reopens nothing.
    Stranger,
}

/// The data of `templates/agent_follow_up.*`.
#[derive(Debug, Serialize)]
pub(crate) struct AgentFollowUpData<'a> {
    pub(crate) ticket: i64,
    pub(crate) subject: &'a str,
    pub(crate) client: Option<&'a str>,
    /// In capitals, as the SOP writes tiers.
    pub(crate) tier: Option<String>,
    pub(crate) severity: &'static str,
    pub(crate) sender: &'a str,
    pub(crate) reopened: bool,
    pub(crate) courtesy: bool,
    pub(crate) stranger: bool,
    pub(crate) score: Option<u8>,
    pub(crate) cc: String,
    pub(crate) first_response_due: Option<String>,
    pub(crate) first_response_sent: bool,
    pub(crate) resolution_due: Option<String>,
    pub(crate) attached: String,
    pub(crate) not_attached: Vec<String>,
    pub(crate) body: String,
}

/// A due time as the agent reads it, marked when it has passed.
fn due_text(config: &crate::config::Config, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let text = config.agent_local_time(due);
    if due < now {
        format!("{text} (OVERDUE)")
    } else {
        text
    }
}

/// The attachments that travel with the agent's mail, in the client's order, while their
/// sizes add up to at most `limit`; and the rest, with their numbers (1-based, as
/// `helpdesk ticket attachment` counts them).
pub fn split_attachments(attachments: &[Attachment], limit: usize) -> (Vec<&Attachment>, Vec<(usize, &Attachment)>) {
    let mut attached = Vec::new();
    let mut left = Vec::new();
    let mut total = 0usize;
    for (index, attachment) in attachments.iter().enumerate() {
        let size = attachment.contents.len();
        if size > 0 && total.saturating_add(size) <= limit {
            total += size;
            attached.push(attachment);
        } else {
            left.push((index + 1, attachment));
        }
    }
    (attached, left)
}

/// An attachment of a client's mail as a file of the desk's mail. A text part's contents are
/// already decoded to UTF-8 (mail-parser converts its charset), so it travels as UTF-8.
pub fn as_file(attachment: &Attachment) -> FileAttachment {
    let content_type = if attachment.content_type.starts_with("text/") {
        format!("{}; charset=utf-8", attachment.content_type)
    } else {
        attachment.content_type.clone()
    };
    FileAttachment { name: attachment.name.clone(), content_type, bytes: attachment.contents.clone() }
}

/// "name (type, N bytes)" for each attachment, joined by "; ".
pub fn describe_attachments<'a>(attachments: impl IntoIterator<Item = &'a Attachment>) -> String {
    attachments
        .into_iter()
        .map(|a| format!("{} ({}, {} bytes)", a.name, a.content_type, a.size))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line per attachment left out of the agent's mail, with the command that saves it.
pub fn not_attached_lines(ticket: TicketId, message_row: i64, left: &[(usize, &Attachment)]) -> Vec<String> {
    left.iter()
        .map(|(number, attachment)| {
            format!(
                "{}: save it with: helpdesk ticket attachment {} {message_row} {number} --out FILE",
                describe_attachments([*attachment]),
                ticket.0
            )
        })
        .collect()
}

/// The people the mail was also addressed to: its To and Cc without the desk's and the
/// agent's own addresses and without the sender.
pub fn copied_people(desk: &Desk, mail: &InboundMail) -> Vec<EmailAddress> {
    let config = &desk.config;
    mail.addressed
        .iter()
        .filter(|address| Some(*address) != mail.from.as_ref())
        .filter(|address| !config.is_agent(address) && !config.is_desk_address(address))
        .cloned()
        .collect()
}

/// The copied people of a client's mail who become the ticket's participants: all of them,
/// unless the mail went to more than `MOST_INVITED_BY_ONE_MAIL` others (a mass mailing, or
/// someone using the desk to write to many addresses): then none.
pub fn invited_people(desk: &Desk, mail: &InboundMail) -> Vec<EmailAddress> {
    let copied = copied_people(desk, mail);
    if copied.len() > MOST_INVITED_BY_ONE_MAIL {
        tracing::info!(copied = copied.len(), "a mail to many people: none of them joins the ticket");
        return Vec::new();
    }
    copied
}

/// See `invited_people`.
pub const MOST_INVITED_BY_ONE_MAIL: usize = 10;

/// Addresses joined by ", " for the agent's mails.
pub fn address_list(addresses: &[EmailAddress]) -> String {
    addresses.iter().map(EmailAddress::as_str).collect::<Vec<_>>().join(", ")
}

/// Queues the agent's mail about `mail` (stored as message `message_row`) on `ticket`,
/// unless more than `intake.agent_notifications_per_sender_per_hour` went out about this
/// ticket in the last hour (a client's script or a loop writing on one ticket): then the
/// ticket is flagged for his attention instead.
pub async fn announce_follow_up(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    ticket: &TicketRecord,
    message_row: i64,
    follow_up: FollowUp,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let config = &desk.config;
    if !config.intake.notify_agent {
        return Ok(());
    }
    let limit = i64::from(config.intake.agent_notifications_per_sender_per_hour);
    let recent = outbox::count_for_ticket_since(tx, ticket.id, FOLLOW_UP_KIND, now - Duration::hours(1)).await?;
    if recent >= limit {
        let attention = format!("more than {limit} mails within an hour on this ticket: not all were sent to you");
        store::set_attention(tx, ticket.id, &attention).await?;
        tracing::warn!(ticket = ticket.id.0, recent, "follow-up not announced: too many on this ticket this hour");
        return Ok(());
    }
    let client = ticket.client.as_deref().and_then(|name| config.client(name));
    let due = store::due_times(tx, ticket.id).await?;
    let (attached, not_attached) = split_attachments(&mail.attachments, config.intake.forward_attachments_max_bytes);
    let new_part = mail.new_part();
    let words = if new_part.trim().is_empty() { mail.text.as_str() } else { new_part.as_str() };
    let data = AgentFollowUpData {
        ticket: ticket.id.0,
        subject: &ticket.subject,
        client: ticket.client.as_deref(),
        tier: client.map(|client| client.tier.as_str().to_uppercase()),
        severity: ticket.severity.as_str(),
        sender: mail.from.as_ref().map(|from| from.as_str()).unwrap_or("(no sender)"),
        reopened: follow_up == FollowUp::Reopened,
        courtesy: matches!(follow_up, FollowUp::Courtesy(_)),
        stranger: follow_up == FollowUp::Stranger,
        score: match follow_up {
            FollowUp::Courtesy(courtesy) => courtesy.score,
            _ => None,
        },
        cc: address_list(&copied_people(desk, mail)),
        first_response_due: due.map(|due| due_text(config, due.first_response, now)),
        first_response_sent: ticket.first_response_at.is_some(),
        resolution_due: due.map(|due| due_text(config, due.resolution, now)),
        attached: describe_attachments(attached.iter().copied()),
        not_attached: not_attached_lines(ticket.id, message_row, &not_attached),
        body: crate::intake::quoted_for_agent(words),
    };
    let mut draft = desk
        .threaded_notice_to_agent(
            tx,
            FOLLOW_UP_KIND,
            ticket.id,
            desk.templates.render_line("agent_follow_up.subject", &data)?,
            desk.templates.render("agent_follow_up.txt", &data)?,
            now,
        )
        .await?;
    draft.references.extend(mail.message_id.iter().cloned());
    draft.attachments = attached.into_iter().map(as_file).collect();
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    Ok(())
}

/// Why a mail that looks like the agent's ran nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// From one of his addresses, about no ticket the desk can tell (a fresh mail to support@).
    AboutNoTicket,
    /// A reply to one of the desk's signed mails to him, from an address that is not in
    /// `agent.addresses` (only he gets those mails: most likely another of his addresses).
    AddressNotConfigured,
}

/// The data of `templates/agent_ignored.*`: why a mail that looks like the agent's ran nothing.
#[derive(Debug, Serialize)]
pub(crate) struct AgentIgnoredData<'a> {
    pub(crate) sender: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) about_no_ticket: bool,
    pub(crate) address_not_configured: bool,
    /// The desk's support address.
    pub(crate) support: &'a str,
}

/// Tells the agent, once per mail, why his mail ran nothing and how to do it right. Never
/// answered in turn (it is `Auto-Submitted` and goes to his first address); at most
/// `agent.unverified_feedback_per_hour` such mails an hour (counted on their own).
pub async fn explain_ignored_agent_mail(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    why: Ignored,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let config = &desk.config;
    let limit = i64::from(config.agent.unverified_feedback_per_hour);
    let recent = outbox::count_kind_since(tx, IGNORED_KIND, now - Duration::hours(1)).await?;
    if recent >= limit {
        tracing::warn!(recent, "ignored-agent-mail feedback limit reached this hour: not telling the agent again");
        return Ok(());
    }
    let support = config.support_address();
    let data = AgentIgnoredData {
        sender: mail.from.as_ref().map(|from| from.as_str()).unwrap_or("(no sender)"),
        subject: &mail.subject,
        about_no_ticket: why == Ignored::AboutNoTicket,
        address_not_configured: why == Ignored::AddressNotConfigured,
        support: support.as_str(),
    };
    let draft = desk.notice_to_agent(
        IGNORED_KIND,
        None,
        desk.templates.render_line("agent_ignored.subject", &data)?,
        desk.templates.render("agent_ignored.txt", &data)?,
        now,
    );
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    Ok(())
}

/// The outbox kind of `explain_ignored_agent_mail`'s mails.
pub const IGNORED_KIND: OutboxKind = OutboxKind::AgentIgnoredFeedback;
