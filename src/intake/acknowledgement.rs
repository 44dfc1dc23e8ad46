//! The acknowledgement of a new ticket (SOP "Acknowledgment Email"): when the agent looks at
//! it and when the client has an update, within the per-mailbox and per-domain brakes.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::new_ticket::{client_time, threading_references, OpenedTicket};
use super::Incoming;
use crate::agent::authenticity::sender_authenticated;
use crate::config::Config;
use crate::domain::{EmailAddress, Severity};
use crate::outbound::compose::{build_mail, first_name, Draft};
use crate::outbound::outbox::{self, OutboxKind};
use crate::sla::{self, DueTimes};
use crate::storage::Tx;

/// The data of `templates/acknowledgement.*`.
#[derive(Serialize)]
pub(crate) struct AcknowledgementData<'a> {
    pub ticket: i64,
    /// The subject as echoed to the sender (links taken out unless the sender is proven).
    pub subject: &'a str,
    pub issue: &'a str,
    pub first_name: String,
    pub update_due: String,
    /// When the agent looks at it, outside business hours; `None`: now.
    pub looking_at: Option<String>,
    pub question: &'static str,
    pub severity: &'static str,
    pub agent_name: &'a str,
    pub client: Option<&'a str>,
}

/// Queues the acknowledgement unless the sender's mailbox or domain had its hour's share, or
/// its address cannot be written in a header. Returns whether it was queued.
pub(super) async fn acknowledge(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    opened: &OpenedTicket<'_>,
) -> anyhow::Result<bool> {
    let Incoming { desk, mail, raw, now, .. } = *incoming;
    let config = &desk.config;
    let requester = &opened.requester;
    if opened.client.is_none() && !config.intake.acknowledge_unknown_senders {
        return Ok(false);
    }
    let Some(requester_mailbox) = mailbox(requester, mail.from_name.as_deref()) else {
        tracing::warn!(ticket = opened.id.0, to = %requester, "the sender's address cannot be written in a mail header; not acknowledging");
        return Ok(false);
    };
    // Counted per mailbox (`+detail` and case do not make a new one) and per domain, so a bot
    // answering from a new `+tag` or a new address of its domain each time ends.
    let recent = outbox::recent_to(tx, requester, OutboxKind::Acknowledgement, now - Duration::hours(1)).await?;
    let mailbox_limit = i64::from(config.intake.acknowledgements_per_sender_per_hour);
    let domain_limit = i64::from(config.intake.acknowledgements_per_domain_per_hour);
    if recent.mailbox >= mailbox_limit || recent.domain >= domain_limit {
        tracing::warn!(ticket = opened.id.0, to = %requester, mailbox = recent.mailbox, domain = recent.domain,
                       "acknowledgement limit reached for this mailbox or its domain; not acknowledging");
        return Ok(false);
    }
    let timezone = opened.client.and_then(|client| client.timezone).unwrap_or(config.agent.timezone);
    let promise = acknowledgement_promise(config, opened.severity(), raw.arrived_at, opened.due.as_ref());
    let update_due = promise
        .update_by
        .map(|time| client_time(time, timezone))
        .unwrap_or_else(|| "the end of the next business day".into());
    let same_day = |time: DateTime<Utc>| {
        time.with_timezone(&timezone).date_naive() == raw.arrived_at.with_timezone(&timezone).date_naive()
    };
    let looking_at = promise.looking_at.map(|time| {
        if same_day(time) {
            time.with_timezone(&timezone).format("today at %-I:%M %p %Z").to_string()
        } else {
            client_time(time, timezone)
        }
    });
    // The subject is echoed to the address in From: unless a trusted server proved the mail
    // is from there, it may be an attacker's text sent to the real person.
    let from_proven = sender_authenticated(mail, &config.agent.trusted_authserv_ids, requester.domain());
    let echoed_subject = if from_proven { opened.subject.clone() } else { without_links(&opened.subject) };
    let data = AcknowledgementData {
        ticket: opened.id.0,
        subject: &echoed_subject,
        issue: &echoed_subject,
        first_name: first_name(mail.from_name.as_deref()),
        update_due,
        looking_at,
        question: crate::triage::acknowledgement_question(opened.triage.rule.as_deref()),
        severity: opened.severity().as_str(),
        agent_name: &config.agent.name,
        client: opened.client.map(|client| client.name.as_str()),
    };
    let draft = Draft {
        kind: OutboxKind::Acknowledgement,
        ticket: Some(opened.id),
        to: vec![requester_mailbox],
        cc: opened.participants.iter().filter_map(|address| mailbox(address, None)).collect(),
        subject: desk.templates.render_line("acknowledgement.subject", &data)?,
        body: desk.templates.render("acknowledgement.txt", &data)?,
        in_reply_to: mail.message_id.clone(),
        references: threading_references(mail),
        reply_to: Some(desk.reply_addresses.address_for(opened.id)),
        auto_submitted: Some("auto-replied"),
        message_id: None,
        html: None,
        images: Vec::new(),
        attachments: Vec::new(),
    };
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    Ok(true)
}

/// What the acknowledgement promises: when the agent looks at the request (`None`: now) and
/// when the client has an update.
struct Promise {
    looking_at: Option<DateTime<Utc>>,
    update_by: Option<DateTime<Utc>>,
}

/// Outside business hours a request other than a P0 is looked at when the agent is next at
/// work, and no update is promised at night: a response due outside business hours is
/// promised for the next opening after it.
fn acknowledgement_promise(
    config: &Config,
    severity: Severity,
    arrived_at: DateTime<Utc>,
    due: Option<&DueTimes>,
) -> Promise {
    let calendar = &config.business_hours;
    let urgent = severity == Severity::P0;
    let after_hours = !urgent && !sla::is_within_business_hours(arrived_at, calendar);
    let looking_at = after_hours.then(|| sla::next_business_opening(arrived_at, calendar));
    let update_by = due.map(|due| {
        // A due time at closing time (a business-hours span ends there) is inside the day.
        let at_work = sla::is_within_business_hours(due.first_response - Duration::minutes(1), calendar);
        if urgent || at_work {
            due.first_response
        } else {
            sla::next_business_opening(due.first_response, calendar)
        }
    });
    Promise { looking_at, update_by }
}

/// `text` with every link (`scheme://...`, `www....`, `host.tld/path`) replaced by
/// "[link removed]".
pub fn without_links(text: &str) -> String {
    static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b[a-z][a-z0-9+.-]*://\S*|\bwww\.\S+|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}/\S*")
            .expect("valid regex")
    });
    LINK.replace_all(text, "[link removed]").into_owned()
}

/// The address as a To: mailbox; `None` when lettre cannot write it in a header.
fn mailbox(address: &EmailAddress, name: Option<&str>) -> Option<lettre::message::Mailbox> {
    let address = address.as_str().parse().ok()?;
    Some(lettre::message::Mailbox::new(name.map(str::to_string), address))
}
