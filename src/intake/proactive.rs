//! The agent wrote to a client with support@ in Cc or Bcc (the SOP's "Heads up" email): a
//! proactive ticket. His mail is its first response; no acknowledgement, no notification of
//! a new ticket, but one notice so that he learns its number (and a forgery in his name does
//! not open a ticket he never hears of).

use serde::Serialize;

use super::{Incoming, IntakeOutcome};
use crate::agent::authenticity::trusted_results_pass;
use crate::config::{ClientConfig, Config};
use crate::domain::EmailAddress;
use crate::inbound::parse::InboundMail;
use crate::outbound::compose::build_mail;
use crate::outbound::outbox::{self, OutboxKind};
use crate::sla;
use crate::storage::Tx;
use crate::tickets::identify::{identify_sender, Sender};
use crate::tickets::kinds::TicketOrigin;
use crate::tickets::store::{self, NewMessage, NewTicket};
use crate::tickets::threading::base_subject;
use crate::triage::classify;

/// The client a mail from the agent is addressed to (To, then Cc), if any.
pub(super) fn recipient<'c>(config: &'c Config, mail: &InboundMail) -> Option<(EmailAddress, &'c ClientConfig)> {
    mail.recipients.iter().find_map(|address| match identify_sender(config, Some(address)) {
        Sender::Client(client) => Some((address.clone(), client)),
        _ => None,
    })
}

/// The data of `templates/proactive_opened.*`.
#[derive(Serialize)]
pub(crate) struct ProactiveOpenedData<'a> {
    pub ticket: i64,
    pub client: &'a str,
    pub severity: &'static str,
    pub subject: &'a str,
    pub requester: &'a str,
    pub support: &'a str,
    pub resolution_due: String,
    /// Whether a trusted server proved the mail is his.
    pub proven: bool,
}

pub(super) async fn open_proactive_ticket(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    thread_reason: &str,
) -> anyhow::Result<IntakeOutcome> {
    let Incoming { desk, mail, raw, now, .. } = *incoming;
    let config = &desk.config;
    let (requester, client) = recipient(config, mail).expect("checked by the caller");
    let triage = classify(&config.triage, Some(client.tier), &mail.subject, &mail.new_part());
    let calendar = &config.business_hours;
    let due =
        sla::due_times(&config.sla, client.tier, triage.severity, raw.arrived_at, calendar, client.meeting.as_ref());
    let subject = base_subject(&mail.subject);
    let row = NewTicket {
        client: Some(&client.name),
        requester: requester.as_str(),
        requester_name: None,
        subject: &subject,
        severity: triage.severity,
        severity_reason: &triage.reason,
        severity_rule: triage.rule.as_deref(),
        attention: None,
        opened_at: raw.arrived_at,
        due: Some(due),
        related_ticket: None,
        origin: TicketOrigin::Proactive,
        first_response_at: Some(raw.arrived_at),
    };
    let ticket = store::insert_ticket(tx, &row, now).await?;
    let reason = format!("proactive: the agent wrote to {requester} ({}); {thread_reason}", client.name);
    store::insert_message(tx, &NewMessage { ticket: Some(ticket), thread_reason: &reason, ..incoming.message }, now)
        .await?;
    let from = mail.from.as_ref().expect("agent mail has a sender");
    let support = config.support_address();
    let data = ProactiveOpenedData {
        ticket: ticket.0,
        client: &client.name,
        severity: triage.severity.as_str(),
        subject: &subject,
        requester: requester.as_str(),
        support: support.as_str(),
        resolution_due: config.agent_local_time(due.resolution),
        proven: trusted_results_pass(mail, &config.agent.trusted_authserv_ids, from.domain()),
    };
    let notice = desk.notice_to_agent(
        OutboxKind::ProactiveOpened,
        Some(ticket),
        desk.templates.render_line("proactive_opened.subject", &data)?,
        desk.templates.render("proactive_opened.txt", &data)?,
        now,
    );
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, notice, now)?, now).await?;
    tracing::info!(ticket = ticket.0, client = %client.name, "proactive ticket opened from the agent's mail");
    Ok(IntakeOutcome::NewTicket { ticket, acknowledged: false })
}
