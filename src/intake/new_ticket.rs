//! A mail that opens a ticket: triage, due times, the acknowledgement (`acknowledgement`),
//! and the agent's notification, within the flood brakes.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::acknowledgement::acknowledge;
use super::{Incoming, IntakeOutcome};
use crate::agent::notify::{
    address_list, as_file, copied_people, describe_attachments, invited_people, not_attached_lines, split_attachments,
};
use crate::config::ClientConfig;
use crate::domain::{EmailAddress, MessageId, Severity, TicketId};
use crate::hours::bank::hours_text;
use crate::inbound::parse::InboundMail;
use crate::outbound::compose::{build_mail, Draft};
use crate::outbound::outbox::{self, OutboxKind};
use crate::sla::{self, DueTimes};
use crate::storage::Tx;
use crate::tickets::kinds::TicketOrigin;
use crate::tickets::store::{self, NewMessage, NewTicket};
use crate::tickets::threading::base_subject;
use crate::triage::{classify, Triage};

/// A ticket just opened, as its acknowledgement and notification need it.
pub(super) struct OpenedTicket<'a> {
    pub id: TicketId,
    pub client: Option<&'a ClientConfig>,
    pub requester: EmailAddress,
    pub subject: String,
    pub triage: Triage,
    pub due: Option<DueTimes>,
    pub attention: Option<&'static str>,
    /// The people the mail copies, now the ticket's participants.
    pub participants: Vec<EmailAddress>,
    pub message_row: i64,
}

impl OpenedTicket<'_> {
    pub fn severity(&self) -> Severity {
        self.triage.severity
    }
}

/// Opens a ticket for the mail (linked to `related_ticket`, a closed one it follows up too
/// late), acknowledges it and tells the agent.
pub(super) async fn open_ticket(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    thread_reason: &str,
    related_ticket: Option<TicketId>,
) -> anyhow::Result<IntakeOutcome> {
    let opened = insert_ticket(tx, incoming, thread_reason, related_ticket).await?;
    let acknowledged = acknowledge(tx, incoming, &opened).await?;
    if within_flood_brake(tx, incoming, &opened).await? {
        notify_agent(tx, incoming, &opened, acknowledged).await?;
    }
    let client = opened.client.map(|client| client.name.as_str()).unwrap_or("-");
    tracing::info!(ticket = opened.id.0, client, from = %opened.requester, message_id = ?incoming.mail.message_id,
                   acknowledged, reason = thread_reason, "new ticket");
    Ok(IntakeOutcome::NewTicket { ticket: opened.id, acknowledged })
}

/// The ticket row (triaged, with due times from the arrival), its first message and its
/// participants.
async fn insert_ticket<'a>(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'a>,
    thread_reason: &str,
    related_ticket: Option<TicketId>,
) -> anyhow::Result<OpenedTicket<'a>> {
    let Incoming { desk, mail, raw, now, .. } = *incoming;
    let config = &desk.config;
    let client = incoming.sender.client();
    let requester = mail.from.clone().expect("mail without a From address is automated");
    let subject = base_subject(&mail.subject);
    let triage = classify(&config.triage, client.map(|client| client.tier), &mail.subject, &mail.new_part());
    let due = client.map(|client| {
        let calendar = &config.business_hours;
        sla::due_times(&config.sla, client.tier, triage.severity, raw.arrived_at, calendar, client.meeting.as_ref())
    });
    let attention = client.is_none().then_some(crate::tickets::actions::NO_CLIENT_ATTENTION);
    let row = NewTicket {
        client: client.map(|client| client.name.as_str()),
        requester: requester.as_str(),
        requester_name: mail.from_name.as_deref(),
        subject: &subject,
        severity: triage.severity,
        severity_reason: &triage.reason,
        severity_rule: triage.rule.as_deref(),
        attention,
        opened_at: raw.arrived_at,
        due,
        related_ticket,
        origin: TicketOrigin::Client,
        first_response_at: None,
    };
    let id = store::insert_ticket(tx, &row, now).await?;
    let message = NewMessage { ticket: Some(id), thread_reason, ..incoming.message };
    let message_row = store::insert_message(tx, &message, now).await?;
    let participants = invited_people(desk, mail);
    store::add_participants(tx, id, &participants, now).await?;
    Ok(OpenedTicket { id, client, requester, subject, triage, due, attention, participants, message_row })
}

/// The data of `templates/flood_notice.*`.
#[derive(Serialize)]
pub(crate) struct FloodNoticeData<'a> {
    /// The mailbox (or "the domain x") that opened too many tickets.
    pub requester: String,
    pub count: i64,
    pub ticket: i64,
    pub subject: &'a str,
    pub limit: i64,
    pub ack_limit: u32,
}

/// Whether the agent hears of this new ticket: at most N of a mailbox's and N' of a domain's
/// new tickets an hour are announced; the first one past a limit gets one flood notice
/// instead, and the rest nothing.
async fn within_flood_brake(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    opened: &OpenedTicket<'_>,
) -> anyhow::Result<bool> {
    let Incoming { desk, raw, now, .. } = *incoming;
    let config = &desk.config;
    if !config.intake.notify_agent {
        return Ok(false);
    }
    let mailbox_limit = i64::from(config.intake.agent_notifications_per_sender_per_hour);
    let domain_limit = i64::from(config.intake.agent_notifications_per_domain_per_hour);
    let requester = &opened.requester;
    let earlier = store::recent_tickets_from(tx, requester, raw.arrived_at - Duration::hours(1), opened.id).await?;
    let within = earlier.mailbox < mailbox_limit && earlier.domain < domain_limit;
    // The first ticket past a limit: one notice. Past both, or further past one, none.
    let first_past = !within && earlier.mailbox <= mailbox_limit && earlier.domain <= domain_limit;
    if first_past {
        let (flooder, count, limit) = if earlier.mailbox == mailbox_limit {
            (requester.mailbox_key(), earlier.mailbox + 1, mailbox_limit)
        } else {
            (format!("the domain {}", requester.domain()), earlier.domain + 1, domain_limit)
        };
        let data = FloodNoticeData {
            requester: flooder,
            count,
            ticket: opened.id.0,
            subject: &opened.subject,
            limit,
            ack_limit: config.intake.acknowledgements_per_sender_per_hour,
        };
        let notice = desk.notice_to_agent(
            OutboxKind::FloodNotice,
            Some(opened.id),
            desk.templates.render_line("flood_notice.subject", &data)?,
            desk.templates.render("flood_notice.txt", &data)?,
            now,
        );
        outbox::enqueue(tx, &build_mail(&config.support_mailbox, notice, now)?, now).await?;
    }
    if !within {
        tracing::warn!(ticket = opened.id.0, from = %requester, mailbox = earlier.mailbox, domain = earlier.domain,
                       "many new tickets from this mailbox or its domain within an hour; not announcing this one");
    }
    Ok(within)
}

/// The data of `templates/agent_new_ticket.*`.
#[derive(Serialize)]
pub(crate) struct NewTicketNoticeData<'a> {
    /// The hours of a bank already used up ("10"), said before he starts the work.
    pub hours_used_up: Option<String>,
    pub cc: String,
    pub ticket: i64,
    pub subject: &'a str,
    pub client: Option<&'a str>,
    pub tier: Option<String>,
    pub requester: &'a str,
    pub severity: &'static str,
    pub severity_reason: &'a str,
    pub first_response_due: Option<String>,
    pub resolution_due: Option<String>,
    pub attention: Option<&'a str>,
    pub acknowledged: bool,
    pub attached: String,
    pub not_attached: Vec<String>,
    pub body: String,
    pub problem: Option<&'a str>,
}

/// The agent's notification of the new ticket, with the client's files and text.
async fn notify_agent(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    opened: &OpenedTicket<'_>,
    acknowledged: bool,
) -> anyhow::Result<()> {
    let Incoming { desk, mail, now, .. } = *incoming;
    let config = &desk.config;
    let hours_used_up = match opened.client {
        // SOP "100% Used (before doing additional work)": say so before he starts.
        Some(client) => {
            let today = now.with_timezone(&config.agent.timezone).date_naive();
            let bank = crate::hours::bank_emails::hours_used_up(tx, desk, client, today).await?;
            bank.map(|bank| hours_text(bank.statement.available_minutes).trim_end_matches('h').to_string())
        }
        None => None,
    };
    let (attached, not_attached) = split_attachments(&mail.attachments, config.intake.forward_attachments_max_bytes);
    let data = NewTicketNoticeData {
        hours_used_up,
        cc: address_list(&copied_people(desk, mail)),
        ticket: opened.id.0,
        subject: &opened.subject,
        client: opened.client.map(|client| client.name.as_str()),
        tier: opened.client.map(|client| client.tier.as_str().to_uppercase()),
        requester: opened.requester.as_str(),
        severity: opened.severity().as_str(),
        severity_reason: &opened.triage.reason,
        first_response_due: opened.due.map(|due| config.agent_local_time(due.first_response)),
        resolution_due: opened.due.map(|due| config.agent_local_time(due.resolution)),
        attention: opened.attention,
        acknowledged,
        attached: describe_attachments(attached.iter().copied()),
        not_attached: not_attached_lines(opened.id, opened.message_row, &not_attached),
        body: quoted_for_agent(&mail.text),
        problem: mail.problem.as_deref(),
    };
    let draft = Draft {
        in_reply_to: mail.message_id.clone(),
        references: threading_references(mail),
        attachments: attached.into_iter().map(as_file).collect(),
        ..desk.notice_to_agent(
            OutboxKind::AgentNotification,
            Some(opened.id),
            desk.templates.render_line("agent_new_ticket.subject", &data)?,
            desk.templates.render("agent_new_ticket.txt", &data)?,
            now,
        )
    };
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    Ok(())
}

/// A client's text as the agent's notification shows it: every line behind `> `, so that
/// whatever his mail client does with it when he replies, it reads as quoted history (the
/// desk also cuts its own text out of his reply, see `agent::echo`).
pub fn quoted_for_agent(text: &str) -> String {
    let mut end = text.len().min(NOTIFIED_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut quoted: Vec<String> = text[..end]
        .lines()
        .map(|line| if line.trim().is_empty() { ">".to_string() } else { format!("> {line}") })
        .collect();
    if end < text.len() {
        quoted.push(format!(
            "[... {} more bytes: the whole mail is on the ticket (helpdesk ticket show)]",
            text.len() - end
        ));
    }
    quoted.join("\n")
}

/// At most this much of a client's text goes into the agent's notification.
const NOTIFIED_TEXT_BYTES: usize = 256 * 1024;

/// References for a reply: the mail's own chain plus the mail itself (RFC 5322 3.6.4).
pub(super) fn threading_references(mail: &InboundMail) -> Vec<MessageId> {
    let mut references = mail.references.clone();
    if references.is_empty() {
        references.extend(mail.in_reply_to.iter().cloned());
    }
    references.extend(mail.message_id.iter().cloned());
    let keep_from = references.len().saturating_sub(20);
    references.split_off(keep_from)
}

/// The time a client reads, in its zone: "Tuesday, December 1 at 3:00 PM EST".
pub(super) fn client_time(time: DateTime<Utc>, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone).format("%A, %B %-d at %-I:%M %p %Z").to_string()
}
