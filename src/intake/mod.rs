//! Intake: one raw mail becomes a ticket change. `record_mail` reads the mail, identifies the
//! sender, threads it, and hands it to the outcome that fits: a new ticket (`new_ticket`,
//! with its `acknowledgement`), a follow-up on an existing one (`follow_up`), held mail
//! (`held`), the agent's mail (to a client first: `proactive`; answering the desk's own mail:
//! `desk_answers`; on a ticket: `agent::reply`). Mail the desk fails on is kept aside
//! (`kept_aside`); held mail the agent vouches for is taken in again (`take_in`). All of it
//! commits in ONE transaction together with the source cursor.
//!
//! **Invariant:** a mail's ticket change, its outbox rows and the cursor past it commit
//! together or not at all; the source marks the mail processed only after that commit.
//! **Invariant:** the desk never acknowledges automated mail, never opens a ticket for it, and
//! acknowledges one address at most `acknowledgements_per_sender_per_hour` times an hour, and
//! announces at most `agent_notifications_per_sender_per_hour` of its new tickets to the agent.

mod acknowledgement;
mod desk_answers;
mod follow_up;
mod held;
mod kept_aside;
mod new_ticket;
mod proactive;
mod take_in;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use crate::agent::authenticity::AgentMessageIds;
use crate::agent::notify::{explain_ignored_agent_mail, Ignored};
use crate::agent::signed_ids::{self, Refusal};
use crate::desk::Desk;
use crate::domain::{MessageId, TicketId};
use crate::inbound::attempts;
use crate::inbound::automated::{automated_reason, AutomatedReason};
use crate::inbound::cursor::advance_cursor;
use crate::inbound::parse::{mark_body_not_read, parse_mail, InboundMail};
use crate::inbound::RawMail;
use crate::storage::{begin_write, database_problem, Tx};
use crate::tickets::identify::{identify_sender, Sender};
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, NewMessage};
use crate::tickets::threading::{decide_thread, subject_token, ThreadDecision, ThreadEvidence};
use kept_aside::keep_unprocessable;
pub use new_ticket::quoted_for_agent;
pub use take_in::take_in_held_mail;
// Template data, for the test that renders every template (outbound::templates_test).
#[cfg(test)]
pub(crate) use {
    acknowledgement::AcknowledgementData, kept_aside::UnprocessableData, new_ticket::FloodNoticeData,
    new_ticket::NewTicketNoticeData, proactive::ProactiveOpenedData, take_in::HeldTakenInData,
};

/// What happened to one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// The same mail was recorded before; nothing changed.
    Duplicate,
    NewTicket {
        ticket: TicketId,
        acknowledged: bool,
    },
    AddedToTicket {
        ticket: TicketId,
    },
    /// Kept without a ticket (automated mail, or agent mail about no ticket).
    HeldAside {
        reason: String,
    },
}

/// Records one mail. A bug that panics or fails on some mail (anything but the database or
/// the disk), a mail that takes longer than `intake.max_seconds_per_mail` to read, and a mail
/// the desk died on twice before, do not stop the desk or leave the mail to be fetched and
/// fail again forever: the mail is kept aside, raw, with its problem, the agent is told, and
/// intake goes on.
pub async fn record_mail(desk: &Desk, raw: &RawMail, now: DateTime<Utc>) -> anyhow::Result<IntakeOutcome> {
    use futures::FutureExt;
    let attempt = if raw.bytes.len() > attempts::LARGE_MAIL_BYTES {
        Some(attempts::begin(&desk.db, &raw.bytes, now).await?)
    } else {
        None
    };
    if let Some(attempt) = attempt.as_ref().filter(|attempt| attempt.is_poison()) {
        let problem = format!(
            "the desk stopped {} times while recording this mail (a crash or a kill); it is not tried again",
            attempt.unfinished_before
        );
        tracing::error!(bytes = raw.bytes.len(), "{problem}; keeping it aside, raw");
        return keep_unprocessable(desk, raw, &problem, Some(attempt), now).await;
    }
    let attempt = attempt.as_ref();
    match std::panic::AssertUnwindSafe(record_mail_checked(desk, raw, attempt, now)).catch_unwind().await {
        Ok(Ok(outcome)) => Ok(outcome),
        // The database or the disk: the mail stays unprocessed and is tried again.
        Ok(Err(err)) if database_problem(&err).is_some() => Err(err),
        // Anything else would fail the same way every time: keep the mail aside, go on.
        Ok(Err(err)) => {
            let message = format!("{err:#}");
            tracing::error!(error = %message, bytes = raw.bytes.len(), "the desk could not process this mail; keeping it aside, raw");
            keep_unprocessable(desk, raw, &message, attempt, now).await
        }
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(panic = %message, bytes = raw.bytes.len(), "the desk failed on this mail; keeping it aside, raw");
            keep_unprocessable(desk, raw, &message, attempt, now).await
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Why reading a mail was given up.
#[derive(Debug, thiserror::Error)]
enum ReadProblem {
    #[error("reading this mail took longer than {0} s (intake.max_seconds_per_mail); it was not processed")]
    TooSlow(u64),
    #[error("the desk failed while reading this mail: {0}")]
    Panicked(String),
}

/// Parses the mail and finds its new part (the per-mail text work that grows with its size)
/// on a blocking thread, waiting at most `intake.max_seconds_per_mail`. A mail that takes
/// longer is given up (its thread finishes in the background; the work is linear in the
/// mail's size, so it does end).
async fn read_mail(desk: &Desk, raw: &RawMail) -> Result<InboundMail, ReadProblem> {
    let max_bytes = desk.config.intake.max_message_bytes;
    let limit = desk.config.intake.max_seconds_per_mail;
    let bytes = raw.bytes.clone();
    let headers_only_of = raw.headers_only_of;
    let work = tokio::task::spawn_blocking(move || {
        #[cfg(test)]
        if bytes.starts_with(tests::SLOW_TRIGGER) {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        let mut mail = parse_mail(&bytes, max_bytes);
        if let Some(size) = headers_only_of {
            mark_body_not_read(&mut mail, size, max_bytes);
        }
        mail.new_part();
        mail
    });
    match tokio::time::timeout(std::time::Duration::from_secs(limit), work).await {
        Ok(Ok(mail)) => Ok(mail),
        Ok(Err(join_error)) => Err(ReadProblem::Panicked(match join_error.try_into_panic() {
            Ok(panic) => panic_message(panic.as_ref()),
            Err(other) => other.to_string(),
        })),
        Err(_elapsed) => Err(ReadProblem::TooSlow(limit)),
    }
}

async fn record_mail_checked(
    desk: &Desk,
    raw: &RawMail,
    attempt: Option<&attempts::Attempt>,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
    #[cfg(test)]
    if raw.bytes.starts_with(tests::PANIC_TRIGGER) {
        panic!("test panic");
    }
    let mail = match read_mail(desk, raw).await {
        Ok(mail) => mail,
        Err(problem) => {
            tracing::error!(%problem, bytes = raw.bytes.len(), "keeping the mail aside, raw");
            return keep_unprocessable(desk, raw, &problem.to_string(), attempt, now).await;
        }
    };
    if let Some(problem) = &mail.problem {
        tracing::warn!(message_id = ?mail.message_id, %problem, "mail read with a problem; keeping it");
    }
    if mail.message_id.is_none() {
        tracing::info!(from = ?mail.from, "mail without a usable Message-ID; recognised again by its content");
    }
    // The Date header is the sender's claim: clocks run from the server's arrival time.
    if let Some(date) = mail.date.filter(|date| (*date - raw.arrived_at).num_hours().abs() > 24) {
        tracing::info!(message_id = ?mail.message_id, %date, arrived_at = %raw.arrived_at, "Date header more than a day off the arrival time; using the arrival time");
    }
    let mut tx = begin_write(&desk.db).await?;
    let outcome = if store::is_already_recorded(&mut tx, &mail.dedupe_key).await? {
        tracing::info!(message_id = ?mail.message_id, "already recorded; skipping duplicate");
        IntakeOutcome::Duplicate
    } else {
        let outcome = record_new_mail(desk, &mut tx, &mail, raw, Screening::Automatic, now).await?;
        signed_ids::burn_if_leaked(&mut tx, &desk.config, &mail, now).await?;
        outcome
    };
    if let Some(cursor) = &raw.cursor {
        advance_cursor(&mut tx, cursor).await?;
    }
    if let Some(attempt) = attempt {
        attempts::finish(&mut tx, attempt).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Whether intake screens the mail for machine senders (always, on arrival) or the agent has
/// said it is a person's mail (`helpdesk held open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screening {
    Automatic,
    PersonConfirmedByAgent,
}

/// One mail on its way in: what was read of it, who sent it, how it was screened, and its
/// message row as every outcome stores it (each sets its own ticket and reason).
struct Incoming<'a> {
    desk: &'a Desk,
    mail: &'a InboundMail,
    raw: &'a RawMail,
    sender: Sender<'a>,
    /// Why the mail is machine mail, when it is.
    automated: Option<AutomatedReason>,
    message: NewMessage<'a>,
    /// The signed ids of the desk's mail to the agent that this mail refers to but that prove
    /// nothing any more (burned or expired); read once, for whatever his mail answers.
    refused: Vec<(MessageId, Refusal)>,
    now: DateTime<Utc>,
}

impl Incoming<'_> {
    /// The sender's address as stored and logged.
    fn sender_text(&self) -> &str {
        self.message.sender
    }

    /// A person's mail in the agent's name (not machine mail).
    fn is_the_agents(&self) -> bool {
        self.automated.is_none() && self.sender == Sender::Agent
    }
}

async fn record_new_mail(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    raw: &RawMail,
    screening: Screening,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
    let config = &desk.config;
    let sender = identify_sender(config, mail.from.as_ref());
    let automated = match screening {
        Screening::Automatic => automated_reason(mail).or_else(|| held::unauthenticated_client(config, sender, mail)),
        Screening::PersonConfirmedByAgent => None,
    };
    // Only the agent gets the desk's signed ids: a person answering one from an address the
    // config does not know is most likely him, from another of his addresses.
    let answers_agent_mail = mail.referenced_ids().iter().any(AgentMessageIds::looks_signed);
    if automated.is_none() && sender == Sender::Unknown && answers_agent_mail {
        explain_ignored_agent_mail(desk, tx, mail, Ignored::AddressNotConfigured, now).await?;
    }
    let decision = thread_decision(desk, tx, mail, sender, automated.is_some()).await?;
    let attachments_json = serde_json::to_string(&mail.attachments)?;
    let refused = match (&automated, sender) {
        (None, Sender::Agent) => signed_ids::refused_ids(tx, config, mail, now).await?,
        _ => Vec::new(),
    };
    let message = message_row(mail, raw, author_kind(&automated, sender), &attachments_json);
    let incoming = Incoming { desk, mail, raw, sender, automated, message, refused, now };
    if let Some(outcome) = desk_answers::answer_desk_mail(tx, &incoming).await? {
        return Ok(outcome);
    }
    match decision {
        ThreadDecision::Existing { ticket, reason } => follow_up::record_on_ticket(tx, &incoming, ticket, reason).await,
        ThreadDecision::New { reason } => match &incoming.automated {
            Some(automated) => held::hold_automated(tx, &incoming, automated, &reason).await,
            None if incoming.is_the_agents() && proactive::recipient(config, mail).is_some() => {
                proactive::open_proactive_ticket(tx, &incoming, &reason).await
            }
            None if incoming.is_the_agents() => held::hold_agent_mail(tx, &incoming, &reason).await,
            None => new_ticket::open_ticket(tx, &incoming, &reason, None).await,
        },
    }
}

/// Which ticket the mail belongs to, if any.
async fn thread_decision(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    sender: Sender<'_>,
    automated: bool,
) -> anyhow::Result<ThreadDecision> {
    let mut evidence = ThreadEvidence {
        references: store::find_known_references(tx, &mail.referenced_ids()).await?,
        signed_reply_address: mail.recipients.iter().find_map(|address| desk.reply_addresses.verify(address)),
        subject_token: None,
    };
    // Automated mail threads only by what its sender cannot copy from another system: a
    // reference or a signed reply address. A `[#N]` in an autoresponder's subject may be
    // another helpdesk's ticket number.
    if let Some(ticket) = subject_token(&mail.subject).filter(|_| !automated) {
        if let Some(client) = store::ticket_client(tx, ticket).await? {
            evidence.subject_token = Some((ticket, client));
        }
    }
    Ok(decide_thread(&evidence, sender.client().map(|client| client.name.as_str())))
}

fn author_kind(automated: &Option<AutomatedReason>, sender: Sender<'_>) -> AuthorKind {
    match (automated, sender) {
        (Some(_), _) => AuthorKind::Automated,
        (None, Sender::Agent) => AuthorKind::Agent,
        (None, Sender::Client(_)) => AuthorKind::Client,
        (None, Sender::Unknown) => AuthorKind::Unknown,
    }
}

/// The mail's message row, before an outcome gives it a ticket and a reason.
fn message_row<'a>(
    mail: &'a InboundMail,
    raw: &'a RawMail,
    author_kind: AuthorKind,
    attachments_json: &'a str,
) -> NewMessage<'a> {
    NewMessage {
        ticket: None,
        dedupe_key: &mail.dedupe_key,
        message_id: mail.message_id.as_ref(),
        in_reply_to: mail.in_reply_to.first(),
        references: &mail.references,
        author_kind,
        sender: mail.from.as_ref().map(|from| from.as_str()).unwrap_or("(no sender)"),
        sender_name: mail.from_name.as_deref(),
        subject: &mail.subject,
        body_text: &mail.text,
        attachments_json,
        automated_reason: None,
        parse_problem: mail.problem.as_deref(),
        desk_failed: false,
        thread_reason: "",
        arrived_at: raw.arrived_at,
        raw: &raw.bytes,
    }
}
