//! Mail kept without a ticket: machine mail that threads nowhere, the agent's mail about no
//! ticket, and (with `intake.require_sender_authentication`) a client's mail nothing proves.

use super::{Incoming, IntakeOutcome};
use crate::agent::authenticity::{sender_authenticated, trusted_results_pass};
use crate::agent::notify::{explain_ignored_agent_mail, Ignored};
use crate::config::Config;
use crate::inbound::automated::AutomatedReason;
use crate::inbound::parse::InboundMail;
use crate::storage::Tx;
use crate::tickets::identify::Sender;
use crate::tickets::kinds::AuthorKind;
use crate::tickets::store::{self, NewMessage};

/// Machine mail that threads to no ticket: held, no ticket, no reply.
pub(super) async fn hold_automated(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    automated: &AutomatedReason,
    reason: &str,
) -> anyhow::Result<IntakeOutcome> {
    let hold_reason = format!("automated mail ({automated}); {reason}");
    let automated_text = automated.to_string();
    let message =
        NewMessage { thread_reason: &hold_reason, automated_reason: Some(&automated_text), ..incoming.message };
    store::insert_message(tx, &message, incoming.now).await?;
    tracing::info!(message_id = ?incoming.mail.message_id, from = incoming.sender_text(), %automated, "automated mail held aside: no ticket, no reply");
    Ok(IntakeOutcome::HeldAside { reason: hold_reason })
}

/// The agent's mail that threads to no ticket and is to no client: held, and he is told why
/// nothing ran.
pub(super) async fn hold_agent_mail(
    tx: &mut Tx<'_>,
    incoming: &Incoming<'_>,
    reason: &str,
) -> anyhow::Result<IntakeOutcome> {
    let Incoming { desk, mail, now, .. } = *incoming;
    let config = &desk.config;
    let hold_reason = format!("agent mail about no ticket; {reason}");
    // Nothing here proves it is his (no signed id of a ticket): only trusted results do.
    let from = mail.from.as_ref().expect("agent mail has a sender");
    let proven = trusted_results_pass(mail, &config.agent.trusted_authserv_ids, from.domain());
    let author_kind = if proven { AuthorKind::Agent } else { AuthorKind::UnverifiedAgent };
    store::insert_message(tx, &NewMessage { thread_reason: &hold_reason, author_kind, ..incoming.message }, now)
        .await?;
    explain_ignored_agent_mail(desk, tx, mail, Ignored::AboutNoTicket, now).await?;
    tracing::info!(message_id = ?mail.message_id, "agent mail that threads to no ticket held aside");
    Ok(IntakeOutcome::HeldAside { reason: hold_reason })
}

/// With `intake.require_sender_authentication`, a client's mail that no trusted server proved
/// to be from its domain is held like automated mail (no ticket, no reply): anyone can write
/// `From: boss@client`. The agent takes it in with `helpdesk held open N` when it is genuine.
pub(super) fn unauthenticated_client(
    config: &Config,
    sender: Sender<'_>,
    mail: &InboundMail,
) -> Option<AutomatedReason> {
    let Sender::Client(client) = sender else { return None };
    let from = mail.from.as_ref()?;
    let required = config.intake.require_sender_authentication;
    (required && !sender_authenticated(mail, &config.agent.trusted_authserv_ids, from.domain())).then(|| {
        AutomatedReason(format!(
            "a {} address, but no trusted Authentication-Results proves it is from {} (intake.require_sender_authentication)",
            client.name,
            from.domain()
        ))
    })
}
