//! Intake: one raw mail becomes a ticket change. `record_mail` parses, identifies the sender,
//! threads, stores the message, and queues the acknowledgement and the agent's notification,
//! all in ONE transaction together with the source cursor.
//!
//! **Invariant:** a mail's ticket change, its outbox rows and the cursor past it commit
//! together or not at all; the source marks the mail processed only after that commit.
//! **Invariant:** the desk never acknowledges automated mail, never opens a ticket for it, and
//! acknowledges one address at most `acknowledgements_per_sender_per_hour` times an hour, and
//! announces at most `agent_notifications_per_sender_per_hour` of its new tickets to the agent.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::agent::authenticity::{sender_authenticated, trusted_results_pass, AgentMessageIds};
use crate::agent::notify::{
    address_list, announce_follow_up, as_file, copied_people, describe_attachments, explain_ignored_agent_mail,
    invited_people, not_attached_lines, split_attachments, FollowUp, Ignored,
};
use crate::agent::reply::record_agent_mail;
use crate::agent::signed_ids;
use crate::agent::tags::read_take_tags;
use crate::desk::Desk;
use crate::domain::{EmailAddress, TicketId};
use crate::hours::bank::hours_text;
use crate::inbound::attempts;
use crate::inbound::automated::automated_reason;
use crate::inbound::cursor::advance_cursor;
use crate::inbound::parse::{
    body_not_read_problem, hex_prefix, mark_body_not_read, parse_mail, unread_body_size, InboundMail,
};
use crate::inbound::RawMail;
use crate::outbound::compose::{build_mail, first_name, Draft};
use crate::outbound::outbox::{self, OutboxKind};
use crate::reports::client::answer_draft;
use crate::sla;
use crate::storage::{begin_write, database_problem, Tx};
use crate::tickets::courtesy::closing_courtesy;
use crate::tickets::identify::{identify_sender, Sender};
use crate::tickets::kinds::{AuthorKind, TicketOrigin};
use crate::tickets::store::{self, NewMessage, NewTicket};
use crate::tickets::threading::{base_subject, decide_thread, subject_token, ThreadDecision, ThreadEvidence};
use crate::triage::classify;

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

/// Stores a mail the desk could not process, with nothing derived from its content, and
/// tells the agent (once: a second attempt finds the row).
async fn keep_unprocessable(
    desk: &Desk,
    raw: &RawMail,
    error: &str,
    attempt: Option<&attempts::Attempt>,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
    use sha2::{Digest, Sha256};
    let dedupe_key = format!("unprocessable:{}", hex_prefix(&Sha256::digest(&raw.bytes)));
    let reason = "kept aside: the desk failed while processing it".to_string();
    let mut problem = format!("{}{error}", store::UNPROCESSABLE_PROBLEM);
    // Only the headers were fetched: say so, so that taking it in later knows.
    if let Some(size) = raw.headers_only_of {
        problem = format!("{problem}; {}", body_not_read_problem(size, desk.config.intake.max_message_bytes));
    }
    let mut tx = begin_write(&desk.db).await?;
    if !store::is_already_recorded(&mut tx, &dedupe_key).await? {
        let message = NewMessage {
            ticket: None,
            dedupe_key: &dedupe_key,
            message_id: None,
            in_reply_to: None,
            references: &[],
            author_kind: AuthorKind::Unknown,
            sender: "(not read)",
            sender_name: None,
            subject: "",
            body_text: "",
            attachments_json: "[]",
            automated_reason: None,
            parse_problem: Some(&problem),
            desk_failed: true,
            thread_reason: &reason,
            arrived_at: raw.arrived_at,
            raw: &raw.bytes,
        };
        let message_row = store::insert_message(&mut tx, &message, now).await?;
        let config = &desk.config;
        let data = json!({
            "arrived": config.agent_local_time(raw.arrived_at),
            "bytes": raw.bytes.len(),
            "error": error,
            "message": message_row,
        });
        let draft = desk.notice_to_agent(
            OutboxKind::Unprocessable,
            None,
            desk.templates.render_line("unprocessable.subject", &data)?,
            desk.templates.render("unprocessable.txt", &data)?,
        );
        outbox::enqueue(&mut tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    }
    if let Some(cursor) = &raw.cursor {
        advance_cursor(&mut tx, cursor).await?;
    }
    if let Some(attempt) = attempt {
        attempts::finish(&mut tx, attempt).await?;
    }
    tx.commit().await?;
    Ok(IntakeOutcome::HeldAside { reason })
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

/// Takes a held mail in again from its stored original, as if it had just arrived: mail held
/// as automated is taken as a person's (the agent says the screening was wrong), and mail the
/// desk failed on is processed again (after an upgrade that fixed the bug). A new ticket gets
/// its acknowledgement as usual. Agent mail and answers to report drafts are not taken in.
pub async fn take_in_held_mail(desk: &Desk, id: i64, now: DateTime<Utc>) -> anyhow::Result<IntakeOutcome> {
    let mut tx = begin_write(&desk.db).await?;
    let outcome = take_in_held(desk, &mut tx, id, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// `take_in_held_mail` inside a caller's transaction, under a savepoint: when it fails, the
/// held mail stays exactly as it was and the caller's transaction goes on.
async fn take_in_held(desk: &Desk, tx: &mut Tx<'_>, id: i64, now: DateTime<Utc>) -> anyhow::Result<IntakeOutcome> {
    use futures::FutureExt;
    use sqlx::Acquire;
    let mut savepoint = tx.begin().await?;
    let Some(stored) = store::stored_message(&mut *savepoint, id).await? else {
        anyhow::bail!("there is no message {id}");
    };
    if let Some(ticket) = stored.ticket {
        anyhow::bail!("message {id} is already on ticket #{}", ticket.0);
    }
    let held = &stored.summary;
    let screening = if held.automated_reason.is_some() {
        Screening::PersonConfirmedByAgent
    } else if held.desk_failed_on() {
        Screening::Automatic
    } else {
        anyhow::bail!(
            "message {id} is {} mail held because: {}; only mail held as automated, or that the desk failed on, can be taken in",
            held.author_kind,
            held.thread_reason
        );
    };
    // Taken in now: the SLA clocks and the acknowledgement's promise start from now, never in
    // the past (the original arrival time stays in the mail's headers and in the log).
    tracing::info!(held_message = id, arrived_at = %held.arrived_at, "taking held mail in; its clocks start now");
    let raw = RawMail::new(stored.raw, now);
    let max_bytes = desk.config.intake.max_message_bytes;
    let mut mail = parse_mail(&raw.bytes, max_bytes);
    // An oversized mail was stored headers-only: keep saying so rather than show no body.
    if let Some(size) = held.parse_problem.as_deref().and_then(unread_body_size) {
        mark_body_not_read(&mut mail, size, max_bytes);
    }
    if screening == Screening::PersonConfirmedByAgent && mail.from.is_none() {
        anyhow::bail!("message {id} has no sender address: there is nobody to open a ticket for");
    }
    store::forget_held_message(&mut savepoint, id).await?;
    if store::is_already_recorded(&mut savepoint, &mail.dedupe_key).await? {
        anyhow::bail!("the mail held as message {id} has been recorded again since (another copy of it arrived)");
    }
    let recorded =
        std::panic::AssertUnwindSafe(Box::pin(record_new_mail(desk, &mut savepoint, &mail, &raw, screening, now)))
            .catch_unwind()
            .await;
    let outcome = match recorded {
        Ok(outcome) => outcome?,
        Err(_) => anyhow::bail!("the desk failed again on message {id}; it stays held"),
    };
    savepoint.commit().await?;
    tracing::info!(held_message = id, ?outcome, "held mail taken in by the agent");
    Ok(outcome)
}

/// The agent's reply to a daily summary: each `#take N` takes held message N in; he gets one
/// mail saying what became of each.
async fn answer_summary(desk: &Desk, tx: &mut Tx<'_>, ids: &[i64], now: DateTime<Utc>) -> anyhow::Result<String> {
    let mut results = Vec::new();
    for &id in ids {
        let result = match take_in_held(desk, tx, id, now).await {
            Ok(IntakeOutcome::NewTicket { ticket, acknowledged }) => format!(
                "message {id}: opened ticket #{}{}",
                ticket.0,
                if acknowledged { ", acknowledgement sent" } else { ", no acknowledgement (see the log)" }
            ),
            Ok(IntakeOutcome::AddedToTicket { ticket }) => format!("message {id}: added to ticket #{}", ticket.0),
            Ok(other) => format!("message {id}: {other:?}"),
            Err(err) if database_problem(&err).is_some() => return Err(err),
            Err(err) => format!("message {id}: not taken in: {err:#}"),
        };
        results.push(result);
    }
    let data = json!({ "results": results });
    let draft = desk.notice_to_agent(
        OutboxKind::HeldTakenIn,
        None,
        desk.templates.render_line("held_taken_in.subject", &data)?,
        desk.templates.render("held_taken_in.txt", &data)?,
    );
    outbox::enqueue(tx, &build_mail(&desk.config.support_mailbox, draft, now)?, now).await?;
    Ok(results.join("; "))
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
        Screening::Automatic => automated_reason(mail).or_else(|| unauthenticated_client(config, sender, mail)),
        Screening::PersonConfirmedByAgent => None,
    };
    let sender_client = sender.client().map(|client| client.name.as_str());
    // Only the agent gets the desk's signed ids: a person answering one from an address the
    // config does not know is most likely him, from another of his addresses.
    let answers_agent_mail = mail.referenced_ids().iter().any(AgentMessageIds::looks_signed);
    if automated.is_none() && sender == Sender::Unknown && answers_agent_mail {
        explain_ignored_agent_mail(desk, tx, mail, Ignored::AddressNotConfigured, now).await?;
    }

    let mut evidence = ThreadEvidence {
        references: store::find_known_references(tx, &mail.referenced_ids()).await?,
        signed_reply_address: mail.recipients.iter().find_map(|address| desk.reply_addresses.verify(address)),
        subject_token: None,
    };
    // Automated mail threads only by what its sender cannot copy from another system: a
    // reference or a signed reply address. A `[#N]` in an autoresponder's subject may be
    // another helpdesk's ticket number.
    if let Some(ticket) = subject_token(&mail.subject).filter(|_| automated.is_none()) {
        if let Some(client) = store::ticket_client(tx, ticket).await? {
            evidence.subject_token = Some((ticket, client));
        }
    }
    let decision = decide_thread(&evidence, sender_client);
    let author_kind = match (&automated, sender) {
        (Some(_), _) => AuthorKind::Automated,
        (None, Sender::Agent) => AuthorKind::Agent,
        (None, Sender::Client(_)) => AuthorKind::Client,
        (None, Sender::Unknown) => AuthorKind::Unknown,
    };
    let sender_text = mail.from.as_ref().map(|from| from.as_str()).unwrap_or("(no sender)");
    let attachments_json = serde_json::to_string(&mail.attachments)?;
    let base = NewMessage {
        ticket: None,
        dedupe_key: &mail.dedupe_key,
        message_id: mail.message_id.as_ref(),
        in_reply_to: mail.in_reply_to.first(),
        references: &mail.references,
        author_kind,
        sender: sender_text,
        sender_name: mail.from_name.as_deref(),
        subject: &mail.subject,
        body_text: &mail.text,
        attachments_json: &attachments_json,
        automated_reason: None,
        parse_problem: mail.problem.as_deref(),
        desk_failed: false,
        thread_reason: "",
        arrived_at: raw.arrived_at,
        raw: &raw.bytes,
    };

    // The signed ids of the desk's mail to the agent that this mail refers to but that prove
    // nothing any more (burned or expired); read once, for whatever his mail answers.
    let refused = match (&automated, sender) {
        (None, Sender::Agent) => signed_ids::refused_ids(tx, config, mail, now).await?,
        _ => Vec::new(),
    };
    // The agent answering a report draft (#send) is about a report, not a ticket; answering
    // the daily summary (#take N) is about held mail.
    if let (None, Sender::Agent) = (&automated, sender) {
        // The desk's mail goes to the agent's first address and its ids are signed for it; he
        // may answer from any of his addresses.
        let desk_mailbox = &config.agent.addresses[0];
        let unusable: Vec<_> = refused.iter().map(|(id, _)| id.clone()).collect();
        if let Some(report) = desk.agent_message_ids.report_answered(mail, desk_mailbox, &unusable) {
            let outcome = answer_draft(desk, tx, report, &mail.new_part(), now).await?;
            let reason = format!("answer to report draft {report}: {outcome}");
            store::insert_message(tx, &NewMessage { thread_reason: &reason, ..base }, now).await?;
            tracing::info!(report, %outcome, "agent answered a report draft");
            return Ok(IntakeOutcome::HeldAside { reason });
        }
        let held_to_take = read_take_tags(&mail.new_part());
        if !held_to_take.is_empty() && desk.agent_message_ids.summary_answered(mail, desk_mailbox, &unusable) {
            // Recorded first: a held mail taken in may thread by a reference to this one.
            let message =
                store::insert_message(tx, &NewMessage { thread_reason: "answer to the daily summary", ..base }, now)
                    .await?;
            let outcome = answer_summary(desk, tx, &held_to_take, now).await?;
            let reason = format!("answer to the daily summary: {outcome}");
            store::set_thread_reason(tx, message, &reason).await?;
            tracing::info!(%outcome, "agent took held mail in from the daily summary");
            return Ok(IntakeOutcome::HeldAside { reason });
        }
    }
    match (decision, &automated) {
        (ThreadDecision::Existing { ticket: threaded, reason }, _) => {
            // Mail to a ticket that was merged goes to the one it was merged into.
            let ticket = crate::tickets::actions::live_ticket(tx, threaded).await?;
            let reason = if ticket == threaded {
                reason
            } else {
                format!("{reason}; #{} was merged into #{}", threaded.0, ticket.0)
            };
            let status =
                store::ticket_record(tx, ticket).await?.context("threaded onto a ticket that does not exist")?;
            // A client may only post to its own client's tickets, with any kind of mail: a
            // person's mail opens a ticket of its own, automated mail is held aside.
            if let (Some(sender_client), Some(owner)) = (sender_client, status.client.as_deref()) {
                if sender_client != owner {
                    let reason = format!("{reason}, but ticket #{ticket} belongs to {owner}, not {sender_client}");
                    if let Some(automated) = &automated {
                        let hold_reason = format!("automated mail ({automated}); {reason}: held aside");
                        let automated_text = automated.to_string();
                        let message =
                            NewMessage { thread_reason: &hold_reason, automated_reason: Some(&automated_text), ..base };
                        store::insert_message(tx, &message, now).await?;
                        tracing::info!(
                            ticket = ticket.0,
                            from = sender_text,
                            "another client's automated mail held aside"
                        );
                        return Ok(IntakeOutcome::HeldAside { reason: hold_reason });
                    }
                    let reason = format!("{reason}: new ticket");
                    let message = NewMessage { thread_reason: &reason, ..base };
                    return open_ticket(desk, tx, mail, raw, sender, &reason, message, None, now).await;
                }
            }
            let from_client_side = automated.is_none() && author_kind.is_client_side();
            // Someone who is neither the requester nor of the ticket's client (anyone who knows
            // an acknowledgement's Message-ID): stored and shown, but reopens nothing, ends no
            // waiting and sets no score.
            let participants = store::participants(tx, ticket).await?;
            let invited = mail.from.as_ref().is_some_and(|from| participants.contains(from));
            let stranger =
                from_client_side && sender_client.is_none() && !is_requester(mail, &status.requester) && !invited;
            if stranger {
                let reason = format!("{reason}; the sender is neither the requester nor of the ticket's client");
                let message = NewMessage {
                    ticket: Some(ticket),
                    thread_reason: &reason,
                    author_kind: AuthorKind::Stranger,
                    ..base
                };
                let row = store::insert_message(tx, &message, now).await?;
                let attention =
                    format!("{sender_text}, who is neither the requester nor of the ticket's client, wrote on it");
                store::set_attention(tx, ticket, &attention).await?;
                announce_follow_up(desk, tx, mail, &status, row, FollowUp::Stranger, now).await?;
                tracing::warn!(
                    ticket = ticket.0,
                    from = sender_text,
                    "a stranger wrote on the ticket: stored, nothing reopened"
                );
                return Ok(IntakeOutcome::AddedToTicket { ticket });
            }
            if automated.is_none() && sender == Sender::Agent {
                let message = NewMessage { ticket: Some(ticket), thread_reason: &reason, ..base };
                let outcome = record_agent_mail(desk, tx, mail, raw, &status, message, &refused, now).await?;
                tracing::info!(ticket = ticket.0, message_id = ?mail.message_id, ?outcome, %reason, "agent mail on ticket");
                return Ok(IntakeOutcome::AddedToTicket { ticket });
            }
            // "Thanks!", "10/10 - thanks!": on a closed ticket a courtesy reopens nothing and
            // restarts no clock; its score is recorded and the agent hears of it once.
            if from_client_side && !status.open {
                let names = [mail.from_name.as_deref().unwrap_or(""), config.agent.name.as_str()];
                if let Some(courtesy) = closing_courtesy(&mail.new_part(), &names) {
                    let message = NewMessage { ticket: Some(ticket), thread_reason: &reason, ..base };
                    let row = store::insert_message(tx, &message, now).await?;
                    if let Some(score) = courtesy.score {
                        store::record_satisfaction(tx, ticket, status.client.as_deref(), score, raw.arrived_at).await?;
                    }
                    announce_follow_up(desk, tx, mail, &status, row, FollowUp::Courtesy(courtesy), now).await?;
                    tracing::info!(ticket = ticket.0, score = ?courtesy.score, "thanks on a closed ticket: recorded, not reopened");
                    return Ok(IntakeOutcome::AddedToTicket { ticket });
                }
            }
            let window = Duration::days(config.sla.reopen_window_days);
            if from_client_side
                && !status.open
                && status.closed_at.is_some_and(|closed| raw.arrived_at > closed + window)
            {
                let reason = format!(
                    "{reason}, but ticket #{ticket} was closed more than {} days earlier: new ticket linked to it",
                    config.sla.reopen_window_days
                );
                let message = NewMessage { thread_reason: &reason, ..base };
                return open_ticket(desk, tx, mail, raw, sender, &reason, message, Some(ticket), now).await;
            }
            let automated_text = automated.as_ref().map(|reason| reason.to_string());
            let new_message = NewMessage {
                ticket: Some(ticket),
                thread_reason: &reason,
                automated_reason: automated_text.as_deref(),
                ..base
            };
            let message_row = store::insert_message(tx, &new_message, now).await?;
            if from_client_side {
                let newcomers: Vec<EmailAddress> = invited_people(desk, mail)
                    .into_iter()
                    .filter(|address| !address.as_str().eq_ignore_ascii_case(&status.requester))
                    .collect();
                store::add_participants(tx, ticket, &newcomers, now).await?;
                let follow_up = if status.open { FollowUp::OnOpenTicket } else { FollowUp::Reopened };
                announce_follow_up(desk, tx, mail, &status, message_row, follow_up, now).await?;
                if let Some(since) = status.waiting_since {
                    let paused = config.sla.pause_while_waiting.then(|| raw.arrived_at - since);
                    store::end_waiting(tx, ticket, paused).await?;
                }
            }
            if from_client_side && !status.open {
                // A reopened ticket gets a fresh resolution clock from the client's mail: the
                // old deadline (met when it was resolved) would read as a breach at once.
                let client = status.client.as_deref().and_then(|name| config.client(name));
                if let Some(client) = client {
                    let due = sla::due_times(
                        &config.sla,
                        client.tier,
                        status.severity,
                        raw.arrived_at,
                        &config.business_hours,
                        client.meeting.as_ref(),
                    );
                    store::restart_resolution_clock(tx, ticket, due.resolution).await?;
                }
                tracing::info!(ticket = ticket.0, "client wrote to a closed ticket within the reopen window: reopened");
            }
            store::touch_ticket(tx, ticket, from_client_side, now).await?;
            tracing::info!(ticket = ticket.0, message_id = ?mail.message_id, from = sender_text, author = %author_kind, %reason, "added to ticket");
            Ok(IntakeOutcome::AddedToTicket { ticket })
        }
        (ThreadDecision::New { reason }, Some(automated)) => {
            let hold_reason = format!("automated mail ({automated}); {reason}");
            let automated_text = automated.to_string();
            let new_message =
                NewMessage { thread_reason: &hold_reason, automated_reason: Some(&automated_text), ..base };
            store::insert_message(tx, &new_message, now).await?;
            tracing::info!(message_id = ?mail.message_id, from = sender_text, %automated, "automated mail held aside: no ticket, no reply");
            Ok(IntakeOutcome::HeldAside { reason: hold_reason })
        }
        (ThreadDecision::New { reason }, None)
            if sender == Sender::Agent && proactive_recipient(config, mail).is_some() =>
        {
            open_proactive_ticket(desk, tx, mail, raw, &reason, base, now).await
        }
        (ThreadDecision::New { reason }, None) if sender == Sender::Agent => {
            let hold_reason = format!("agent mail about no ticket; {reason}");
            // Nothing here proves it is his (no signed id of a ticket): only trusted results do.
            let from = mail.from.as_ref().expect("agent mail has a sender");
            let proven = trusted_results_pass(mail, &config.agent.trusted_authserv_ids, from.domain());
            let author_kind = if proven { AuthorKind::Agent } else { AuthorKind::UnverifiedAgent };
            store::insert_message(tx, &NewMessage { thread_reason: &hold_reason, author_kind, ..base }, now).await?;
            explain_ignored_agent_mail(desk, tx, mail, Ignored::AboutNoTicket, now).await?;
            tracing::info!(message_id = ?mail.message_id, "agent mail that threads to no ticket held aside");
            Ok(IntakeOutcome::HeldAside { reason: hold_reason })
        }
        (ThreadDecision::New { reason }, None) => {
            open_ticket(desk, tx, mail, raw, sender, &reason, NewMessage { thread_reason: &reason, ..base }, None, now)
                .await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn open_ticket(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    raw: &RawMail,
    sender: Sender<'_>,
    thread_reason: &str,
    message: NewMessage<'_>,
    related_ticket: Option<TicketId>,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
    let config = &desk.config;
    let client = sender.client();
    let requester = mail.from.clone().expect("mail without a From address is automated");
    let subject = base_subject(&mail.subject);
    let triage = classify(&config.triage, client.map(|client| client.tier), &mail.subject, &mail.new_part());
    let severity = triage.severity;
    let severity_reason = triage.reason.as_str();
    let due = client.map(|client| {
        sla::due_times(
            &config.sla,
            client.tier,
            severity,
            raw.arrived_at,
            &config.business_hours,
            client.meeting.as_ref(),
        )
    });
    let attention = client.is_none().then_some(crate::tickets::actions::NO_CLIENT_ATTENTION);
    let ticket = store::insert_ticket(
        tx,
        &NewTicket {
            client: client.map(|client| client.name.as_str()),
            requester: requester.as_str(),
            requester_name: mail.from_name.as_deref(),
            subject: &subject,
            severity,
            severity_reason,
            severity_rule: triage.rule.as_deref(),
            attention,
            opened_at: raw.arrived_at,
            due,
            related_ticket,
            origin: TicketOrigin::Client,
            first_response_at: None,
        },
        now,
    )
    .await?;
    let message_row = store::insert_message(tx, &NewMessage { ticket: Some(ticket), ..message }, now).await?;
    let participants = invited_people(desk, mail);
    store::add_participants(tx, ticket, &participants, now).await?;

    let wants_acknowledgement = client.is_some() || config.intake.acknowledge_unknown_senders;
    let mut acknowledged = false;
    let requester_mailbox = mailbox(&requester, mail.from_name.as_deref());
    if wants_acknowledgement && requester_mailbox.is_none() {
        tracing::warn!(ticket = ticket.0, to = %requester, "the sender's address cannot be written in a mail header; not acknowledging");
    }
    if let (true, Some(requester_mailbox)) = (wants_acknowledgement, requester_mailbox) {
        // Counted per mailbox (`+detail` and case do not make a new one) and per domain, so a
        // bot answering from a new `+tag` or a new address of its domain each time ends.
        let recent = outbox::recent_to(tx, &requester, "acknowledgement", now - Duration::hours(1)).await?;
        let mailbox_limit = i64::from(config.intake.acknowledgements_per_sender_per_hour);
        let domain_limit = i64::from(config.intake.acknowledgements_per_domain_per_hour);
        if recent.mailbox < mailbox_limit && recent.domain < domain_limit {
            let timezone = client.and_then(|client| client.timezone).unwrap_or(config.agent.timezone);
            let promise = acknowledgement_promise(config, severity, raw.arrived_at, due.as_ref());
            let client_time =
                |time: DateTime<Utc>| time.with_timezone(&timezone).format("%A, %B %-d at %-I:%M %p %Z").to_string();
            let update_due =
                promise.update_by.map(client_time).unwrap_or_else(|| "the end of the next business day".into());
            let same_day = |time: DateTime<Utc>| {
                time.with_timezone(&timezone).date_naive() == raw.arrived_at.with_timezone(&timezone).date_naive()
            };
            let looking_at = promise.looking_at.map(|time| {
                if same_day(time) {
                    time.with_timezone(&timezone).format("today at %-I:%M %p %Z").to_string()
                } else {
                    client_time(time)
                }
            });
            // The subject is echoed to the address in From: unless a trusted server proved the
            // mail is from there, it may be an attacker's text sent to the real person.
            let from_proven = sender_authenticated(mail, &config.agent.trusted_authserv_ids, requester.domain());
            let echoed_subject = if from_proven { subject.clone() } else { without_links(&subject) };
            let data = json!({
                "ticket": ticket.0,
                "subject": echoed_subject,
                "issue": echoed_subject,
                "first_name": first_name(mail.from_name.as_deref()),
                "update_due": update_due,
                "looking_at": looking_at,
                "question": crate::triage::acknowledgement_question(triage.rule.as_deref()),
                "severity": severity.as_str(),
                "agent_name": config.agent.name,
                "client": client.map(|client| client.name.clone()),
            });
            let draft = Draft {
                kind: OutboxKind::Acknowledgement,
                ticket: Some(ticket),
                to: vec![requester_mailbox],
                cc: participants.iter().filter_map(|address| mailbox(address, None)).collect(),
                subject: desk.templates.render_line("acknowledgement.subject", &data)?,
                body: desk.templates.render("acknowledgement.txt", &data)?,
                in_reply_to: mail.message_id.clone(),
                references: threading_references(mail),
                reply_to: Some(desk.reply_addresses.address_for(ticket)),
                auto_submitted: Some("auto-replied"),
                message_id: None,
                html: None,
                images: Vec::new(),
                attachments: Vec::new(),
            };
            outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
            acknowledged = true;
        } else {
            tracing::warn!(ticket = ticket.0, to = %requester, mailbox = recent.mailbox, domain = recent.domain,
                           "acknowledgement limit reached for this mailbox or its domain; not acknowledging");
        }
    }

    let announce = if config.intake.notify_agent {
        let mailbox_limit = i64::from(config.intake.agent_notifications_per_sender_per_hour);
        let domain_limit = i64::from(config.intake.agent_notifications_per_domain_per_hour);
        let earlier = store::recent_tickets_from(tx, &requester, raw.arrived_at - Duration::hours(1), ticket).await?;
        let within = earlier.mailbox < mailbox_limit && earlier.domain < domain_limit;
        // The first ticket past a limit: one notice. Past both, or further past one, none.
        let first_past = !within && earlier.mailbox <= mailbox_limit && earlier.domain <= domain_limit;
        if first_past {
            let (flooder, count, limit) = if earlier.mailbox == mailbox_limit {
                (requester.mailbox_key(), earlier.mailbox + 1, mailbox_limit)
            } else {
                (format!("the domain {}", requester.domain()), earlier.domain + 1, domain_limit)
            };
            let data = json!({"requester": flooder, "count": count, "ticket": ticket.0, "subject": subject,
                              "limit": limit, "ack_limit": config.intake.acknowledgements_per_sender_per_hour});
            let notice = desk.notice_to_agent(
                OutboxKind::FloodNotice,
                Some(ticket),
                desk.templates.render_line("flood_notice.subject", &data)?,
                desk.templates.render("flood_notice.txt", &data)?,
            );
            outbox::enqueue(tx, &build_mail(&config.support_mailbox, notice, now)?, now).await?;
        }
        if !within {
            tracing::warn!(ticket = ticket.0, from = %requester, mailbox = earlier.mailbox, domain = earlier.domain,
                           "many new tickets from this mailbox or its domain within an hour; not announcing this one");
        }
        within
    } else {
        false
    };
    if announce {
        // SOP "100% Used (before doing additional work)": say so before he starts.
        let hours_used_up = match client {
            Some(client) => {
                let today = now.with_timezone(&config.agent.timezone).date_naive();
                let bank = crate::hours::alerts::hours_used_up(tx, desk, client, today).await?;
                bank.map(|bank| hours_text(bank.statement.available_minutes).trim_end_matches('h').to_string())
            }
            None => None,
        };
        let (attached, not_attached) =
            split_attachments(&mail.attachments, config.intake.forward_attachments_max_bytes);
        let data = json!({
            "hours_used_up": hours_used_up,
            "cc": address_list(&copied_people(desk, mail)),
            "ticket": ticket.0,
            "subject": subject,
            "client": client.map(|client| client.name.clone()),
            "tier": client.map(|client| client.tier.as_str().to_uppercase()),
            "requester": requester.as_str(),
            "severity": severity.as_str(),
            "severity_reason": severity_reason,
            "first_response_due": due.map(|due| config.agent_local_time(due.first_response)),
            "resolution_due": due.map(|due| config.agent_local_time(due.resolution)),
            "attention": attention,
            "acknowledged": acknowledged,
            "attached": describe_attachments(attached.iter().copied()),
            "not_attached": not_attached_lines(ticket, message_row, &not_attached),
            "body": quoted_for_agent(&mail.text),
            "problem": mail.problem,
        });
        let draft = Draft {
            in_reply_to: mail.message_id.clone(),
            references: threading_references(mail),
            attachments: attached.into_iter().map(as_file).collect(),
            ..desk.notice_to_agent(
                OutboxKind::AgentNotification,
                Some(ticket),
                desk.templates.render_line("agent_new_ticket.subject", &data)?,
                desk.templates.render("agent_new_ticket.txt", &data)?,
            )
        };
        outbox::enqueue(tx, &build_mail(&config.support_mailbox, draft, now)?, now).await?;
    }
    tracing::info!(
        ticket = ticket.0,
        client = client.map(|client| client.name.as_str()).unwrap_or("-"),
        from = %requester,
        message_id = ?mail.message_id,
        acknowledged,
        reason = thread_reason,
        "new ticket"
    );
    Ok(IntakeOutcome::NewTicket { ticket, acknowledged })
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
    config: &crate::config::Config,
    severity: crate::domain::Severity,
    arrived_at: DateTime<Utc>,
    due: Option<&sla::DueTimes>,
) -> Promise {
    let calendar = &config.business_hours;
    let urgent = severity == crate::domain::Severity::P0;
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

/// With `intake.require_sender_authentication`, a client's mail that no trusted server proved
/// to be from its domain is held like automated mail (no ticket, no reply): anyone can write
/// `From: boss@client`. The agent takes it in with `helpdesk held open N` when it is genuine.
fn unauthenticated_client(
    config: &crate::config::Config,
    sender: Sender<'_>,
    mail: &InboundMail,
) -> Option<crate::inbound::automated::AutomatedReason> {
    let Sender::Client(client) = sender else { return None };
    let from = mail.from.as_ref()?;
    let required = config.intake.require_sender_authentication;
    (required && !sender_authenticated(mail, &config.agent.trusted_authserv_ids, from.domain())).then(|| {
        crate::inbound::automated::AutomatedReason(format!(
            "a {} address, but no trusted Authentication-Results proves it is from {} (intake.require_sender_authentication)",
            client.name,
            from.domain()
        ))
    })
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

/// Whether the mail's sender is the ticket's requester (addresses compare case-blind).
fn is_requester(mail: &InboundMail, requester: &str) -> bool {
    mail.from.as_ref().is_some_and(|from| from.as_str().eq_ignore_ascii_case(requester))
}

/// A client's text as the agent's notification shows it: every line behind `> `, so that
/// whatever his mail client does with it when he replies, it reads as quoted history (the
/// desk also cuts its own text out of his reply, see `agent::echo`).
pub(crate) fn quoted_for_agent(text: &str) -> String {
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
fn threading_references(mail: &InboundMail) -> Vec<crate::domain::MessageId> {
    let mut references = mail.references.clone();
    if references.is_empty() {
        references.extend(mail.in_reply_to.iter().cloned());
    }
    references.extend(mail.message_id.iter().cloned());
    let keep_from = references.len().saturating_sub(20);
    references.split_off(keep_from)
}

/// The sender as a To: mailbox; `None` when lettre cannot write the address in a header.
fn mailbox(address: &EmailAddress, name: Option<&str>) -> Option<lettre::message::Mailbox> {
    let address = address.as_str().parse().ok()?;
    Some(lettre::message::Mailbox::new(name.map(str::to_string), address))
}

/// The client a mail from the agent is addressed to (To, then Cc), if any.
fn proactive_recipient<'c>(
    config: &'c crate::config::Config,
    mail: &InboundMail,
) -> Option<(EmailAddress, &'c crate::config::ClientConfig)> {
    mail.recipients.iter().find_map(|address| match identify_sender(config, Some(address)) {
        Sender::Client(client) => Some((address.clone(), client)),
        _ => None,
    })
}

/// The agent wrote to a client with support@ in Cc or Bcc (the SOP's "Heads up" email): a
/// proactive ticket. His mail is its first response; no acknowledgement, no notification.
async fn open_proactive_ticket(
    desk: &Desk,
    tx: &mut Tx<'_>,
    mail: &InboundMail,
    raw: &RawMail,
    thread_reason: &str,
    base: NewMessage<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
    let config = &desk.config;
    let (requester, client) = proactive_recipient(config, mail).expect("checked by the caller");
    let triage = classify(&config.triage, Some(client.tier), &mail.subject, &mail.new_part());
    let due = sla::due_times(
        &config.sla,
        client.tier,
        triage.severity,
        raw.arrived_at,
        &config.business_hours,
        client.meeting.as_ref(),
    );
    let subject = base_subject(&mail.subject);
    let ticket = store::insert_ticket(
        tx,
        &NewTicket {
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
        },
        now,
    )
    .await?;
    let reason = format!("proactive: the agent wrote to {requester} ({}); {thread_reason}", client.name);
    store::insert_message(tx, &NewMessage { ticket: Some(ticket), thread_reason: &reason, ..base }, now).await?;
    // He learns the ticket's number, and a forgery in his name (a "heads-up" with a phishing
    // link, say) does not open a ticket he never hears of.
    let from = mail.from.as_ref().expect("agent mail has a sender");
    let data = json!({
        "ticket": ticket.0, "client": client.name, "severity": triage.severity.as_str(), "subject": subject,
        "requester": requester.as_str(), "support": config.support_address().as_str(),
        "resolution_due": config.agent_local_time(due.resolution),
        "proven": trusted_results_pass(mail, &config.agent.trusted_authserv_ids, from.domain()),
    });
    let notice = desk.notice_to_agent(
        OutboxKind::ProactiveOpened,
        Some(ticket),
        desk.templates.render_line("proactive_opened.subject", &data)?,
        desk.templates.render("proactive_opened.txt", &data)?,
    );
    outbox::enqueue(tx, &build_mail(&config.support_mailbox, notice, now)?, now).await?;
    tracing::info!(ticket = ticket.0, client = %client.name, "proactive ticket opened from the agent's mail");
    Ok(IntakeOutcome::NewTicket { ticket, acknowledged: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only in unit tests: a mail starting with these bytes makes intake panic.
    pub const PANIC_TRIGGER: &[u8] = b"X-Test-Panic: yes";
    /// Only in unit tests: reading a mail starting with these bytes takes 3 s.
    pub const SLOW_TRIGGER: &[u8] = b"X-Test-Slow: yes";

    #[tokio::test]
    async fn a_panic_on_one_mail_keeps_it_aside_and_moves_on() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        let poison = RawMail::new(b"X-Test-Panic: yes\r\nFrom: a@acme.test\r\n\r\nboom\r\n".to_vec(), now);
        let outcome = record_mail(&desk, &poison, now).await.unwrap();
        assert!(matches!(outcome, IntakeOutcome::HeldAside { .. }), "{outcome:?}");
        // Again (a rescan): still one row, no error.
        record_mail(&desk, &poison, now).await.unwrap();
        let problems: Vec<(Option<String>, Vec<u8>)> =
            sqlx::query_as("SELECT parse_problem, raw FROM messages").fetch_all(&desk.db).await.unwrap();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].0.as_deref().unwrap().contains("test panic"));
        assert_eq!(problems[0].1, poison.bytes, "kept raw");
        let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'unprocessable'")
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert_eq!(notices, 1, "the agent is told once");
        // The next mail goes through normally.
        let next = RawMail::new(b"From: b@acme.test\r\nSubject: hi\r\n\r\nhello\r\n".to_vec(), now);
        assert!(matches!(record_mail(&desk, &next, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));
    }

    #[test]
    fn links_are_taken_out_of_an_echoed_subject() {
        assert_eq!(
            without_links("URGENT wire 50000 USD http://evil.test/pay now, or www.evil.test or evil.test/pay?x=1"),
            "URGENT wire 50000 USD [link removed] now, or [link removed] or [link removed]"
        );
        assert_eq!(without_links("Sync fails at 10.30 on v2.1"), "Sync fails at 10.30 on v2.1");
    }

    async fn held_problems(desk: &Desk) -> Vec<String> {
        sqlx::query_scalar("SELECT parse_problem FROM messages WHERE ticket_id IS NULL AND parse_problem IS NOT NULL")
            .fetch_all(&desk.db)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_mail_slower_to_read_than_the_limit_is_kept_aside_and_intake_goes_on() {
        let mut config = crate::testing::sample_config();
        config.intake.max_seconds_per_mail = 1;
        let desk = Desk::open(config).await.unwrap();
        let now = Utc::now();
        // Large enough to be marked while it is read.
        let padding = "x".repeat(crate::inbound::attempts::LARGE_MAIL_BYTES);
        let slow = RawMail::new(
            format!("X-Test-Slow: yes\r\nFrom: a@acme.test\r\nSubject: s\r\n\r\nslow {padding}\r\n").into_bytes(),
            now,
        );
        let outcome = record_mail(&desk, &slow, now).await.unwrap();
        assert!(matches!(outcome, IntakeOutcome::HeldAside { .. }), "{outcome:?}");
        let problems = held_problems(&desk).await;
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("longer than 1 s (intake.max_seconds_per_mail)"), "{}", problems[0]);
        let next = RawMail::new(b"From: b@acme.test\r\nSubject: hi\r\n\r\nhello\r\n".to_vec(), now);
        assert!(matches!(record_mail(&desk, &next, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));
        let marks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM intake_attempts").fetch_one(&desk.db).await.unwrap();
        assert_eq!(marks, 0, "the large mail's mark went with its record");
    }

    #[tokio::test]
    async fn a_mail_the_desk_died_on_twice_is_kept_aside_on_the_third_start() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        let padding = "x".repeat(crate::inbound::attempts::LARGE_MAIL_BYTES);
        let poison =
            RawMail::new(format!("From: a@acme.test\r\nSubject: crash\r\n\r\nboom {padding}\r\n").into_bytes(), now);
        // Two processes began it and died (their marks stay).
        for _ in 0..2 {
            crate::inbound::attempts::begin(&desk.db, &poison.bytes, now).await.unwrap();
        }
        let outcome = record_mail(&desk, &poison, now).await.unwrap();
        assert!(matches!(outcome, IntakeOutcome::HeldAside { .. }), "{outcome:?}");
        assert!(held_problems(&desk).await[0].contains("stopped 2 times"), "{:?}", held_problems(&desk).await);
        let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'unprocessable'")
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert_eq!(notices, 1, "the agent is told once");
        // One unfinished attempt is an ordinary crash: the mail is recorded normally.
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        crate::inbound::attempts::begin(&desk.db, &poison.bytes, now).await.unwrap();
        assert!(matches!(record_mail(&desk, &poison, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));
    }

    #[tokio::test]
    async fn a_flood_from_one_sender_is_announced_up_to_the_limit_then_once() {
        let mut config = crate::testing::sample_config();
        config.intake.agent_notifications_per_sender_per_hour = 3;
        let desk = Desk::open(config).await.unwrap();
        let start = Utc::now();
        let mail_at = |index: i64, minutes: i64| {
            let text = format!("From: zap@acme.test\r\nSubject: Zap error {index}\r\nMessage-ID: <z{index}@acme.test>\r\n\r\nStep 3 failed.\r\n");
            RawMail::new(text.into_bytes(), start + Duration::minutes(minutes))
        };
        for index in 0..6 {
            let mail = mail_at(index, index);
            assert!(matches!(
                record_mail(&desk, &mail, mail.arrived_at).await.unwrap(),
                IntakeOutcome::NewTicket { .. }
            ));
        }
        let kinds = || async {
            sqlx::query_as::<_, (String, i64)>("SELECT kind, COUNT(*) FROM outbox GROUP BY kind ORDER BY kind")
                .fetch_all(&desk.db)
                .await
                .unwrap()
        };
        assert_eq!(
            kinds().await,
            vec![("acknowledgement".into(), 5), ("agent_notification".into(), 3), ("flood_notice".into(), 1)],
            "3 announced, then one notice; acknowledgements have their own limit"
        );
        // Two hours later the sender is announced again.
        let later = mail_at(6, 130);
        record_mail(&desk, &later, later.arrived_at).await.unwrap();
        assert_eq!(kinds().await[1], ("agent_notification".into(), 4));
        assert_eq!(kinds().await[2], ("flood_notice".into(), 1));
    }

    /// Records one new mail from each of `senders`, a second apart, and counts the outbox by kind.
    async fn outbox_after_mails_from(desk: &Desk, senders: &[String]) -> Vec<(String, i64)> {
        let start = Utc::now();
        for (index, sender) in senders.iter().enumerate() {
            let text = format!(
                "From: {sender}\r\nSubject: Sync failed {index}\r\nMessage-ID: <f{index}@flood.test>\r\n\r\nAgain.\r\n"
            );
            let mail = RawMail::new(text.into_bytes(), start + Duration::seconds(index as i64));
            let outcome = record_mail(desk, &mail, mail.arrived_at).await.unwrap();
            assert!(matches!(outcome, IntakeOutcome::NewTicket { .. }), "{sender}: {outcome:?}");
        }
        sqlx::query_as("SELECT kind, COUNT(*) FROM outbox GROUP BY kind ORDER BY kind")
            .fetch_all(&desk.db)
            .await
            .unwrap()
    }

    fn counts(acknowledgements: i64, notifications: i64, flood_notices: i64) -> Vec<(String, i64)> {
        vec![
            ("acknowledgement".into(), acknowledgements),
            ("agent_notification".into(), notifications),
            ("flood_notice".into(), flood_notices),
        ]
    }

    #[tokio::test]
    async fn a_new_plus_tag_or_case_is_the_same_mailbox_for_both_brakes() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let senders: Vec<String> = (0..25)
            .map(|index| {
                if index % 2 == 0 {
                    format!("client2+{index}@globex.test")
                } else {
                    format!("Client2+{index}@Globex.TEST")
                }
            })
            .collect();
        let kinds = outbox_after_mails_from(&desk, &senders).await;
        assert_eq!(kinds, counts(5, 20, 1), "5 acknowledgements and 20 notifications per mailbox, then one notice");
        let notice: String = sqlx::query_scalar("SELECT subject FROM outbox WHERE kind = 'flood_notice'")
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert!(notice.contains("client2@globex.test"), "{notice}");
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT DISTINCT requester_key, requester_domain FROM tickets")
                .fetch_all(&desk.db)
                .await
                .unwrap();
        assert_eq!(keys, vec![("client2@globex.test".to_string(), "globex.test".to_string())]);
        // Another mailbox of the domain is still below the domain's limits.
        let other = outbox_after_mails_from(&desk, &["ops+1@globex.test".to_string()]).await;
        assert_eq!(other, counts(6, 21, 1));
    }

    #[tokio::test]
    async fn many_mailboxes_of_one_domain_share_the_domain_limits() {
        let mut config = crate::testing::sample_config();
        config.intake.acknowledgements_per_domain_per_hour = 4;
        config.intake.agent_notifications_per_domain_per_hour = 7;
        let desk = Desk::open(config).await.unwrap();
        let senders: Vec<String> = (0..12).map(|index| format!("a{index}@globex.test")).collect();
        let kinds = outbox_after_mails_from(&desk, &senders).await;
        assert_eq!(kinds, counts(4, 7, 1), "a1@, a2@ ... each new, the domain's limits hold");
        let notice: String = sqlx::query_scalar("SELECT subject FROM outbox WHERE kind = 'flood_notice'")
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert!(notice.contains("globex.test") && notice.contains('8'), "{notice}");
        // Another domain has its own counts.
        let other = outbox_after_mails_from(&desk, &["zap@acme.test".to_string()]).await;
        assert_eq!(other, counts(5, 8, 1));
    }

    /// Travis's reply to the desk's notification of `ticket`.
    async fn agent_reply(desk: &Desk, ticket: TicketId, text: &str, now: DateTime<Utc>) -> IntakeOutcome {
        agent_reply_with_headers(desk, ticket, "", text, now).await
    }

    async fn agent_reply_with_headers(
        desk: &Desk,
        ticket: TicketId,
        headers: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> IntakeOutcome {
        let notification: String =
            sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'agent_notification' AND ticket_id = $1")
                .bind(ticket.0)
                .fetch_one(&desk.db)
                .await
                .unwrap();
        let reply = format!(
            "From: travis@example.test\r\nSubject: Re: ticket\r\nMessage-ID: <r{}.{}@example.test>\r\nIn-Reply-To: <{notification}>\r\n{headers}\r\n{text}\r\n",
            ticket.0,
            text.len()
        );
        record_mail(desk, &RawMail::new(reply.into_bytes(), now), now).await.unwrap()
    }

    async fn new_ticket(desk: &Desk, from: &str, subject: &str, now: DateTime<Utc>) -> TicketId {
        let id = subject.replace(' ', "-");
        let mail = format!("From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{id}@x.test>\r\n\r\nPlease.\r\n");
        let IntakeOutcome::NewTicket { ticket, .. } =
            record_mail(desk, &RawMail::new(mail.into_bytes(), now), now).await.unwrap()
        else {
            panic!("a new ticket")
        };
        ticket
    }

    async fn outbox_text(desk: &Desk, kind: &str, ticket: TicketId) -> Vec<(String, String)> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT subject, raw FROM outbox WHERE kind = $1 AND ticket_id = $2 ORDER BY id")
                .bind(kind)
                .bind(ticket.0)
                .fetch_all(&desk.db)
                .await
                .unwrap();
        rows.into_iter()
            .map(|(subject, raw)| (subject, crate::inbound::parse::parse_mail(&raw, 1 << 20).text))
            .collect()
    }

    #[tokio::test]
    async fn a_reopened_ticket_gets_a_fresh_resolution_clock() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        let ticket = new_ticket(&desk, "jane@acme.test", "Sync stopped", at("2026-11-02T15:00:00Z")).await;
        agent_reply(&desk, ticket, "Fixed.\nRESOLVED", at("2026-11-02T16:00:00Z")).await;
        let acknowledgement: String =
            sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'acknowledgement' AND ticket_id = $1")
                .bind(ticket.0)
                .fetch_one(&desk.db)
                .await
                .unwrap();
        let later = at("2026-11-09T15:00:00Z");
        let again = format!(
            "From: jane@acme.test\r\nSubject: Re: Sync stopped\r\nMessage-ID: <again@acme.test>\r\nIn-Reply-To: <{acknowledgement}>\r\n\r\nIt stopped again.\r\n"
        );
        record_mail(&desk, &RawMail::new(again.into_bytes(), later), later).await.unwrap();
        let (status, due): (String, String) =
            sqlx::query_as("SELECT status, resolution_due_at FROM tickets WHERE id = $1")
                .bind(ticket.0)
                .fetch_one(&desk.db)
                .await
                .unwrap();
        assert_eq!(status, "open");
        assert!(crate::storage::time_from_db(&due).unwrap() > later, "the clock runs from the reopening: {due}");
    }

    #[tokio::test]
    async fn the_acknowledgement_fits_the_hour_and_the_request() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        // Saturday 03:38 New York time, a problem from Initech (STARTER): looked at on Monday
        // morning, no update promised at night, the troubleshooting question.
        let night = new_ticket(&desk, "bill@initech.test", "Sync stopped", at("2026-12-05T08:38:00Z")).await;
        let text = &outbox_text(&desk, "acknowledgement", night).await[0].1;
        assert!(
            text.contains("I'll look into \"Sync stopped\" first thing Monday, December 7 at 9:00 AM EST"),
            "{text}"
        );
        assert!(!text.contains("now."), "{text}");
        assert!(text.contains("update for you by Wednesday, December 9 at 9:00 AM EST"), "{text}");
        assert!(text.contains("when did this start"), "{text}");
        // A feature request in business hours: looked at now, asked what success looks like.
        let idea =
            new_ticket(&desk, "bill@initech.test", "Feature request: Slack alerts", at("2026-12-01T15:00:00Z")).await;
        let text = &outbox_text(&desk, "acknowledgement", idea).await[0].1;
        assert!(text.contains("looking into \"Feature request: Slack alerts\" now."), "{text}");
        assert!(text.contains("what would a good result look like for you"), "{text}");
        assert!(!text.contains("when did this start"), "{text}");
        // Before opening on a working day: "first thing today".
        let early = new_ticket(&desk, "bill@initech.test", "Export stuck", at("2026-12-01T13:45:00Z")).await;
        let text = &outbox_text(&desk, "acknowledgement", early).await[0].1;
        assert!(text.contains("I'll look into \"Export stuck\" first thing today at 9:00 AM EST"), "{text}");
    }

    #[tokio::test]
    async fn the_reply_that_resolves_and_uses_the_hours_up_sends_the_resolved_email_first() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        let ticket = new_ticket(&desk, "jane@acme.test", "Sync down", now).await;
        agent_reply(&desk, ticket, "The sync runs again.\n#time 10h\nRESOLVED", now).await;
        let kinds: Vec<String> = sqlx::query_scalar(
            "SELECT kind FROM outbox WHERE ticket_id = $1 AND kind IN ('resolved', 'hours_depleted') ORDER BY id",
        )
        .bind(ticket.0)
        .fetch_all(&desk.db)
        .await
        .unwrap();
        assert_eq!(kinds, vec!["resolved", "hours_depleted"], "SOP order");
        let depleted = &outbox_text(&desk, "hours_depleted", ticket).await[0].1;
        assert!(depleted.contains("For further requests this period, I have"), "{depleted}");
        assert!(!depleted.contains("Sync down"), "not about the request just resolved: {depleted}");
    }

    #[tokio::test]
    async fn with_hours_used_up_the_agent_is_told_and_estimate_sends_the_depleted_email_before_the_work() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        let first = new_ticket(&desk, "jane@acme.test", "Sync down", now).await;
        assert!(!outbox_text(&desk, "agent_notification", first).await[0].1.contains("Hours:"));
        agent_reply(&desk, first, "Fixed the sync.\n#time 10h", now).await;
        assert_eq!(outbox_text(&desk, "hours_depleted", first).await.len(), 1, "Acme's 10 hours are used up");

        // The next request: the agent hears of it before he starts, and quotes his estimate.
        let second = new_ticket(&desk, "jane@acme.test", "New report", now).await;
        let notification = &outbox_text(&desk, "agent_notification", second).await[0].1;
        assert!(
            notification.contains("all 10 of Acme's hours") && notification.contains("#estimate 2h"),
            "{notification}"
        );
        agent_reply(&desk, second, "#estimate 2h", now).await;
        let offers = outbox_text(&desk, "hours_depleted", second).await;
        assert_eq!(offers.len(), 1);
        assert!(offers[0].0.contains("Support Hours Depleted"), "{}", offers[0].0);
        assert!(
            offers[0].1.contains("For \"New report\"") && offers[0].1.contains("$150/hour (estimated 2 hours = $300)"),
            "{}",
            offers[0].1
        );
        assert!(
            offers[0].1.contains("\n\nWhich would you prefer?"),
            "a blank line before the question: {}",
            offers[0].1
        );
        assert!(outbox_text(&desk, "agent_reply", second).await.is_empty(), "an estimate alone relays nothing");

        // Time that uses the hours up and an estimate in one reply: one depleted email.
        let initech = new_ticket(&desk, "peter@initech.test", "CSV export", now).await;
        agent_reply(&desk, initech, "Started on it.\n#time 5h #estimate 1h #note", now).await;
        assert!(outbox_text(&desk, "hours_depleted", initech).await.is_empty(), "#estimate with #note is refused");
        agent_reply(&desk, initech, "Started on it.\n#time 5h #estimate 1h", now).await;
        let offers = outbox_text(&desk, "hours_depleted", initech).await;
        assert_eq!(offers.len(), 1, "the automatic email gives way to the estimate");
        assert!(offers[0].1.contains("(estimated 1 hour = $150)"), "{}", offers[0].1);

        // Globex has all its hours: nothing goes to the client, the agent is told why.
        let globex = new_ticket(&desk, "li@globex.test", "Question", now).await;
        agent_reply(&desk, globex, "Looking into it.\n#estimate 1h", now).await;
        assert!(outbox_text(&desk, "hours_depleted", globex).await.is_empty());
        let feedback = outbox_text(&desk, "agent_feedback", globex).await;
        assert!(feedback[0].1.contains("#estimate 1h: Globex has used 0 of 20 hours"), "{}", feedback[0].1);
        assert_eq!(outbox_text(&desk, "agent_reply", globex).await.len(), 1, "the rest of the reply still went out");
    }

    /// How the agent's mail clients quote the notification below his words (`{n}` is the
    /// notification's text as it arrived, `{q}` the same behind `> `).
    const QUOTING_STYLES: &[(&str, &str)] = &[
        ("Outlook for Windows", "{words}\n\n________________________________\nFrom: Support <support@example.test>\nSent: Monday, January 5, 2026 10:00 AM\nTo: Travis <travis@example.test>\nSubject: [#1] New ticket\n\n{n}"),
        ("Outlook for Mac", "{words}\n\nFrom: Support <support@example.test>\nDate: Monday, 5 January 2026 at 10:00\nTo: Travis <travis@example.test>\nSubject: [#1] New ticket\n\n{n}"),
        ("Outlook mobile", "{words}\n\nGet Outlook for iOS\nOn Mon, Jan 5, 2026 at 10:00 AM, \"Support\" <support@example.test> wrote:\n\n{n}"),
        ("Outlook mobile, no marker", "{words}\n\n{n}"),
        ("Apple Mail", "{words}\n\n> On 5 Jan 2026, at 10:00, Support <support@example.test> wrote:\n> \n{q}"),
        ("Gmail", "{words}\n\nOn Mon, Jan 5, 2026 at 10:00 AM Support <support@example.test> wrote:\n\n{q}"),
        ("Thunderbird", "{words}\n\nOn 1/5/26 10:00, Support wrote:\n{q}"),
        ("K-9 / FairEmail", "{words}\n\nOn January 5, 2026 10:00:00 AM UTC, Support <support@example.test> wrote:\n{q}"),
        ("Outlook HTML", "<html><body><div>{words}</div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Support &lt;support@example.test&gt;<br><b>Sent:</b> Monday</div><div>{n}</div></body></html>"),
        ("HTML, no marker", "<html><body><div>{words}</div><br><div>{n}</div></body></html>"),
    ];

    fn html_lines(text: &str) -> String {
        text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\n', "<br>\n")
    }

    #[tokio::test]
    async fn a_clients_tags_in_the_notification_never_run_whatever_the_agents_mail_client() {
        let hostile = "The sync fails.\r\n> earlier\r\nRESOLVED\r\n#time 9h\r\n#billable\r\n> more\r\n";
        for (style, template) in QUOTING_STYLES {
            for (words, minutes) in [("Looking into it now.", 0), ("Looking into it now.\n#time 30m", 30)] {
                let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
                let now = Utc::now();
                let mail =
                    format!("From: jane@acme.test\r\nSubject: Sync\r\nMessage-ID: <h1@acme.test>\r\n\r\n{hostile}");
                let IntakeOutcome::NewTicket { ticket, .. } =
                    record_mail(&desk, &RawMail::new(mail.into_bytes(), now), now).await.unwrap()
                else {
                    panic!("a new ticket")
                };
                let notification = outbox_text(&desk, "agent_notification", ticket).await.remove(0).1;
                // The worst case: a client that lost the quote markers of the desk's text.
                let bare =
                    notification.lines().map(|line| line.trim_start_matches("> ")).collect::<Vec<_>>().join("\n");
                let quoted = notification.lines().map(|line| format!("> {line}")).collect::<Vec<_>>().join("\n");
                if template.starts_with("<html>") {
                    let html = template.replace("{words}", &html_lines(words)).replace("{n}", &html_lines(&bare));
                    let headers = "Content-Type: text/html; charset=utf-8\r\n";
                    agent_reply_with_headers(&desk, ticket, headers, &html, now).await;
                } else {
                    let text = template.replace("{words}", words).replace("{n}", &bare).replace("{q}", &quoted);
                    agent_reply(&desk, ticket, &text, now).await;
                }
                let logged: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(minutes), 0) FROM time_entries")
                    .fetch_one(&desk.db)
                    .await
                    .unwrap();
                assert_eq!(logged, minutes, "{style}: only the agent's own #time counts");
                let billable: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM time_entries WHERE kind = 'billable'")
                    .fetch_one(&desk.db)
                    .await
                    .unwrap();
                assert_eq!(billable, 0, "{style}");
                let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
                    .bind(ticket.0)
                    .fetch_one(&desk.db)
                    .await
                    .unwrap();
                assert_eq!(status, "open", "{style}: the client's RESOLVED closed nothing");
                let relayed = outbox_text(&desk, "agent_reply", ticket).await;
                assert_eq!(relayed.len(), 1, "{style}");
                assert!(relayed[0].1.contains("Looking into it now."), "{style}: {}", relayed[0].1);
                assert!(
                    !relayed[0].1.contains("RESOLVED") && !relayed[0].1.contains("New ticket"),
                    "{style}: the desk's text is not relayed: {}",
                    relayed[0].1
                );
            }
        }
    }

    #[tokio::test]
    async fn a_reply_to_a_client_whose_address_cannot_be_written_applies_and_tells_the_agent() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        // Accepted by mail servers (old Japanese carriers), refused by lettre in a header.
        let client = RawMail::new(
            b"From: taro..yamada@acme.test\r\nSubject: Sync down\r\nMessage-ID: <c1@acme.test>\r\n\r\nNo sync.\r\n"
                .to_vec(),
            now,
        );
        let IntakeOutcome::NewTicket { ticket, acknowledged: false } = record_mail(&desk, &client, now).await.unwrap()
        else {
            panic!("a ticket, unacknowledged")
        };
        // Travis answers the desk's notification (its Message-ID is signed for him).
        let outcome = agent_reply(&desk, ticket, "Restarted the sync.\n#time 30m", now).await;
        assert!(matches!(outcome, IntakeOutcome::AddedToTicket { .. }), "{outcome:?}");
        let minutes: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(minutes), 0) FROM time_entries").fetch_one(&desk.db).await.unwrap();
        assert_eq!(minutes, 30, "the reply's tags still apply");
        let queued: Vec<(String, String, Vec<u8>)> =
            sqlx::query_as("SELECT kind, subject, raw FROM outbox ORDER BY id").fetch_all(&desk.db).await.unwrap();
        assert!(queued.iter().all(|(kind, _, _)| kind != "agent_reply"), "nothing relayed");
        let feedback: Vec<_> = queued.iter().filter(|(kind, _, _)| kind == "agent_feedback").collect();
        assert_eq!(feedback.len(), 1);
        assert!(feedback[0].1.contains("Applied, except"), "{}", feedback[0].1);
        let text = crate::inbound::parse::parse_mail(&feedback[0].2, 1 << 20).text;
        assert!(
            text.contains("nothing was sent to the client") && text.contains("\"taro..yamada@acme.test\""),
            "{text}"
        );
    }

    async fn held_id(desk: &Desk, sender: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM messages WHERE ticket_id IS NULL AND sender = $1")
            .bind(sender)
            .fetch_one(&desk.db)
            .await
            .unwrap()
    }

    async fn acknowledgements(desk: &Desk) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'")
            .fetch_one(&desk.db)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn held_mail_taken_in_by_the_agent_gets_its_ticket_once() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        // A client whose mail carries a list header, so the screening holds it as automated.
        let screened = RawMail::new(
            b"From: Dana <dana@acme.test>\r\nSubject: Zap stopped\r\nMessage-ID: <s1@acme.test>\r\nList-Unsubscribe: <mailto:x@acme.test>\r\nPrecedence: bulk\r\n\r\nThe Zap stopped.\r\n".to_vec(),
            now,
        );
        assert!(matches!(record_mail(&desk, &screened, now).await.unwrap(), IntakeOutcome::HeldAside { .. }));
        assert_eq!(acknowledgements(&desk).await, 0);
        let id = held_id(&desk, "dana@acme.test").await;
        let outcome = take_in_held_mail(&desk, id, now).await.unwrap();
        let IntakeOutcome::NewTicket { ticket, acknowledged: true } = outcome else { panic!("{outcome:?}") };
        assert_eq!(acknowledgements(&desk).await, 1);
        let opened: String = sqlx::query_scalar("SELECT opened_at FROM tickets WHERE id = $1")
            .bind(ticket.0)
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert_eq!(opened, crate::storage::time_to_db(now), "its clocks start when it is taken in");
        let client: Option<String> = sqlx::query_scalar("SELECT client FROM tickets WHERE id = $1")
            .bind(ticket.0)
            .fetch_one(&desk.db)
            .await
            .unwrap();
        assert_eq!(client.as_deref(), Some("Acme"));
        // Taken in once: the mail is on the ticket now, and arriving again is a duplicate.
        let again = take_in_held_mail(&desk, id, now).await.unwrap_err().to_string();
        assert!(again.contains("no message") || again.contains("already on ticket"), "{again}");
        assert!(matches!(record_mail(&desk, &screened, now).await.unwrap(), IntakeOutcome::Duplicate));
        assert_eq!(acknowledgements(&desk).await, 1);

        // Mail the desk failed on is processed again (as after an upgrade that fixed the bug).
        let poison =
            RawMail::new(b"X-Test-Panic: yes\r\nFrom: a@acme.test\r\nSubject: boom\r\n\r\nboom\r\n".to_vec(), now);
        record_mail(&desk, &poison, now).await.unwrap();
        let id = held_id(&desk, "(not read)").await;
        assert!(matches!(take_in_held_mail(&desk, id, now).await.unwrap(), IntakeOutcome::NewTicket { .. }));

        // Mail the desk failed on after fetching only its headers (it was oversized) is taken in
        // with its body still marked unread.
        let headers_only = RawMail {
            headers_only_of: Some(40_000_000),
            ..RawMail::new(b"X-Test-Panic: yes\r\nFrom: c@acme.test\r\nSubject: huge\r\n\r\n".to_vec(), now)
        };
        record_mail(&desk, &headers_only, now).await.unwrap();
        let id = sqlx::query_scalar("SELECT MAX(id) FROM messages WHERE ticket_id IS NULL")
            .fetch_one(&desk.db)
            .await
            .unwrap();
        let IntakeOutcome::NewTicket { ticket, .. } = take_in_held_mail(&desk, id, now).await.unwrap() else {
            panic!()
        };
        let (problem, body): (Option<String>, String) =
            sqlx::query_as("SELECT parse_problem, body_text FROM messages WHERE ticket_id = $1")
                .bind(ticket.0)
                .fetch_one(&desk.db)
                .await
                .unwrap();
        assert!(problem.unwrap().starts_with("40000000 bytes is over"), "still marked unread");
        assert!(body.contains("its body was not read"), "{body}");

        // Agent mail about no ticket is not the screening's doing: refused, still held.
        let agent = "travis@example.test";
        let note = format!("From: {agent}\r\nSubject: note to self\r\n\r\nremember\r\n");
        record_mail(&desk, &RawMail::new(note.into_bytes(), now), now).await.unwrap();
        let id = held_id(&desk, agent).await;
        let refused = take_in_held_mail(&desk, id, now).await.unwrap_err().to_string();
        assert!(refused.contains("only mail held as automated"), "{refused}");
        assert_eq!(held_id(&desk, agent).await, id);
        assert!(take_in_held_mail(&desk, 9999, now).await.unwrap_err().to_string().contains("no message 9999"));
    }

    #[tokio::test]
    async fn a_signed_reply_to_the_daily_summary_takes_held_mail_in() {
        let desk = Desk::open(crate::testing::sample_config()).await.unwrap();
        let now = Utc::now();
        let screened = b"From: Dana <dana@acme.test>\r\nSubject: Zap stopped\r\nMessage-ID: <s2@acme.test>\r\nAuto-Submitted: auto-generated\r\n\r\nThe Zap stopped.\r\n";
        record_mail(&desk, &RawMail::new(screened.to_vec(), now), now).await.unwrap();
        let id = held_id(&desk, "dana@acme.test").await;
        let agent = EmailAddress::parse("travis@example.test").unwrap();
        let summary_id = desk.agent_message_ids.signed_summary_id(&agent, "example.test");
        let reply = |message_id: &str, in_reply_to: &str, body: &str| {
            let text = format!(
                "From: travis@example.test\r\nSubject: Re: Daily summary\r\nMessage-ID: <{message_id}>\r\nIn-Reply-To: {in_reply_to}\r\n\r\n{body}\r\n\r\n> message {id} ... #take 77\r\n"
            );
            RawMail::new(text.into_bytes(), now)
        };
        let feedback = || async {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT raw FROM outbox WHERE kind = 'held_taken_in' ORDER BY id")
                .fetch_all(&desk.db)
                .await
                .unwrap()
                .into_iter()
                .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                .collect::<Vec<_>>()
        };

        // Forged: the right words, no signed reference. Nothing is taken in.
        let forged =
            reply("f1@evil.test", "<helpdesk.t0.aabc.0123456789abcdef0123@example.test>", &format!("#take {id}"));
        record_mail(&desk, &forged, now).await.unwrap();
        assert_eq!(held_id(&desk, "dana@acme.test").await, id, "still held");
        assert!(feedback().await.is_empty());

        let signed = reply(
            "r1@example.test",
            &format!("<{}>", summary_id.as_str()),
            &format!("Yes, that one.\r\n#take {id}, 9999"),
        );
        let outcome = record_mail(&desk, &signed, now).await.unwrap();
        let IntakeOutcome::HeldAside { reason } = outcome else { panic!("{outcome:?}") };
        assert!(reason.contains(&format!("message {id}: opened ticket #1")), "{reason}");
        assert!(reason.contains("message 9999: not taken in: there is no message 9999"), "{reason}");
        assert!(!reason.contains("77"), "quoted text takes nothing in: {reason}");
        assert_eq!(acknowledgements(&desk).await, 1);
        let notes = feedback().await;
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("opened ticket #1") && notes[0].contains("there is no message 9999"), "{}", notes[0]);
        // The same reply fetched again changes nothing.
        assert!(matches!(record_mail(&desk, &signed, now).await.unwrap(), IntakeOutcome::Duplicate));
        assert_eq!(acknowledgements(&desk).await, 1);
    }
}
