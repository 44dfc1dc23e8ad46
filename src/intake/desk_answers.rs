//! The agent answering the desk's own mail rather than a ticket: a report draft (`#send`) is
//! about a report, the daily summary (`#take N`) about held mail.

use super::take_in::answer_summary;
use super::{Incoming, IntakeOutcome};
use crate::agent::tags::read_take_tags;
use crate::reports::client::answer_draft;
use crate::storage::Tx;
use crate::tickets::store::{self, NewMessage};

/// What the agent's mail did when it answers a report draft or the daily summary; `None` for
/// every other mail.
pub(super) async fn answer_desk_mail(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
) -> anyhow::Result<Option<IntakeOutcome>> {
    if !incoming.is_the_agents() {
        return Ok(None);
    }
    let Incoming { desk, mail, now, .. } = *incoming;
    // The desk's mail goes to the agent's first address and its ids are signed for it; he
    // may answer from any of his addresses.
    let desk_mailbox = &desk.config.agent.addresses[0];
    let unusable: Vec<_> = incoming.refused.iter().map(|(id, _)| id.clone()).collect();
    if let Some(report) = desk.agent_message_ids.report_answered(mail, desk_mailbox, &unusable) {
        let outcome = answer_draft(desk, tx, report, &mail.new_part(), now).await?;
        let reason = format!("answer to report draft {report}: {outcome}");
        store::insert_message(tx, &NewMessage { thread_reason: &reason, ..incoming.message }, now).await?;
        tracing::info!(report, %outcome, "agent answered a report draft");
        return Ok(Some(IntakeOutcome::HeldAside { reason }));
    }
    let held_to_take = read_take_tags(&mail.new_part());
    if !held_to_take.is_empty() && desk.agent_message_ids.summary_answered(mail, desk_mailbox, &unusable) {
        // Recorded first: a held mail taken in may thread by a reference to this one.
        let message = NewMessage { thread_reason: "answer to the daily summary", ..incoming.message };
        let row = store::insert_message(tx, &message, now).await?;
        let outcome = answer_summary(desk, tx, &held_to_take, now).await?;
        let reason = format!("answer to the daily summary: {outcome}");
        store::set_thread_reason(tx, row, &reason).await?;
        tracing::info!(%outcome, "agent took held mail in from the daily summary");
        return Ok(Some(IntakeOutcome::HeldAside { reason }));
    }
    Ok(None)
}
