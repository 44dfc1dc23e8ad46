//! What the agent does to a ticket as a whole, from the CLI (`helpdesk ticket close|reopen|
//! move|merge`) or in a reply (`#close`, `#client NAME`, `#merge M`): close without the
//! resolved email, reopen, give it to a client, merge it into another. Each is one call in
//! the caller's transaction; nothing here sends mail to the client.

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};

use super::store;
use crate::config::{ClientConfig, Config};
use crate::domain::TicketId;
use crate::sla;
use crate::storage::Tx;

/// The attention note a ticket of an unknown sender gets (cleared when it moves to a client).
pub const NO_CLIENT_ATTENTION: &str = "the sender belongs to no configured client";

/// Closes the ticket without the resolved email (spam, a duplicate, a request withdrawn).
pub async fn close(tx: &mut Tx<'_>, ticket: TicketId, at: DateTime<Utc>) -> anyhow::Result<()> {
    let status =
        store::ticket_record(tx, ticket).await?.with_context(|| format!("there is no ticket #{}", ticket.0))?;
    if !status.open {
        bail!("ticket #{} is already closed", ticket.0);
    }
    store::close_ticket(tx, ticket, at).await
}

pub async fn reopen(tx: &mut Tx<'_>, ticket: TicketId, now: DateTime<Utc>) -> anyhow::Result<()> {
    let status =
        store::ticket_record(tx, ticket).await?.with_context(|| format!("there is no ticket #{}", ticket.0))?;
    if status.open {
        bail!("ticket #{} is open already", ticket.0);
    }
    if let Some(target) = store::merged_into(tx, ticket).await? {
        bail!("ticket #{} was merged into #{}: reopen that one", ticket.0, target.0);
    }
    store::touch_ticket(tx, ticket, true, now).await
}

/// Gives the ticket to `client`: its SLA clocks are recomputed from the client's tier, from the
/// ticket's start, and an unknown sender's attention note goes. Returns whether the requester
/// never got an acknowledgement (the caller offers one).
pub async fn move_to_client(
    tx: &mut Tx<'_>,
    config: &Config,
    ticket: TicketId,
    client: &ClientConfig,
) -> anyhow::Result<()> {
    let status =
        store::ticket_record(tx, ticket).await?.with_context(|| format!("there is no ticket #{}", ticket.0))?;
    if status.client.as_deref() == Some(client.name.as_str()) {
        bail!("ticket #{} belongs to {} already", ticket.0, client.name);
    }
    let due = sla::due_times(
        &config.sla,
        client.tier,
        status.severity,
        status.opened_at,
        &config.business_hours,
        client.meeting.as_ref(),
    );
    store::set_client(tx, ticket, &client.name, due, NO_CLIENT_ATTENTION).await
}

/// Merges `from` into `into`: messages, time entries, participants, scores and the desk's
/// mail move; `from` is closed and points at `into`, so mail that threads to it lands there.
pub async fn merge(tx: &mut Tx<'_>, from: TicketId, into: TicketId, at: DateTime<Utc>) -> anyhow::Result<()> {
    if from == into {
        bail!("a ticket cannot be merged into itself");
    }
    for ticket in [from, into] {
        store::ticket_record(tx, ticket).await?.with_context(|| format!("there is no ticket #{}", ticket.0))?;
        if let Some(target) = store::merged_into(tx, ticket).await? {
            bail!("ticket #{} was already merged into #{}", ticket.0, target.0);
        }
    }
    store::move_ticket_contents(tx, from, into).await?;
    store::close_ticket(tx, from, at).await?;
    store::set_merged_into(tx, from, into).await
}

/// The ticket mail that threads to `ticket` belongs on: itself, or where it was merged.
pub async fn live_ticket(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<TicketId> {
    let mut current = ticket;
    // Merges never chain (a merged ticket cannot be merged again), but bound the walk anyway.
    for _ in 0..8 {
        match store::merged_into(tx, current).await? {
            Some(target) => current = target,
            None => return Ok(current),
        }
    }
    Ok(current)
}
