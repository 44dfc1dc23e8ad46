//! Held mail taken in again from its stored original, when the agent says a person wrote it
//! (`helpdesk held open N`, or `#take N` in his reply to the daily summary).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{record_new_mail, IntakeOutcome, Screening};
use crate::desk::Desk;
use crate::inbound::parse::{mark_body_not_read, parse_mail, unread_body_size};
use crate::inbound::RawMail;
use crate::outbound::compose::build_mail;
use crate::outbound::outbox::{self, OutboxKind};
use crate::storage::{begin_write, database_problem, Tx};
use crate::tickets::store;

/// The data of `templates/held_taken_in.*`.
#[derive(Serialize)]
pub(crate) struct HeldTakenInData<'a> {
    /// What became of each `#take N`, one line each.
    pub results: &'a [String],
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
pub(super) async fn take_in_held(
    desk: &Desk,
    tx: &mut Tx<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<IntakeOutcome> {
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
pub(super) async fn answer_summary(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
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
    let data = HeldTakenInData { results: &results };
    let draft = desk.notice_to_agent(
        OutboxKind::HeldTakenIn,
        None,
        desk.templates.render_line("held_taken_in.subject", &data)?,
        desk.templates.render("held_taken_in.txt", &data)?,
        now,
    );
    outbox::enqueue(tx, &build_mail(&desk.config.support_mailbox, draft, now)?, now).await?;
    Ok(results.join("; "))
}
