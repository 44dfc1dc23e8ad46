//! The time his reply logs (`#time`), and the hour-bank emails it may cause.

use chrono::{DateTime, Utc};

use super::feedback::queue_partly_applied;
use crate::agent::tags::{is_greeting, AgentCommands};
use crate::desk::Desk;
use crate::domain::EmailAddress;
use crate::domain::{Severity, Tier};
use crate::hours::bank::{hours_text, period_containing};
use crate::hours::bank_emails::{after_time_logged, offer_options_for_request, BankAlertContext};
use crate::hours::entries::{insert_entry, NewTimeEntry};
use crate::hours::ledger::client_period;
use crate::hours::{round_up_to_quarter_hour, EntryKind};
use crate::sla;
use crate::storage::Tx;
use crate::tickets::store::TicketRecord;

/// The reply's `#time` entries, then its `#estimate` (which needs the hours they used).
pub(super) async fn log_time_and_estimate(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
    message_row: i64,
    arrived_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<u32> {
    let minutes = if commands.time_entries.is_empty() {
        0
    } else {
        log_entries(desk, tx, ticket, commands, Some(message_row), arrived_at, now).await?
    };
    if let Some(estimate) = commands.estimate {
        offer_hour_options(desk, tx, ticket, estimate, now).await?;
    }
    Ok(minutes)
}

async fn log_entries(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    commands: &AgentCommands,
    message_row: Option<i64>,
    arrived_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<u32> {
    let config = &desk.config;
    let client = ticket.client.as_deref().and_then(|name| config.client(name));
    let work_date = arrived_at.with_timezone(&config.agent.timezone).date_naive();
    let default_task = default_task(&commands.text, &ticket.subject);
    let severity = commands.severity.unwrap_or(ticket.severity);
    // After-hours or weekend P0 work for STARTER and GROWTH is emergency time (SOP).
    let emergency = client.is_some_and(|client| client.tier != Tier::Enterprise)
        && severity == Severity::P0
        && !sla::is_within_business_hours(arrived_at, &config.business_hours);
    let kind = match (commands.billable, emergency) {
        (true, _) => EntryKind::Billable,
        (false, true) => EntryKind::Emergency,
        (false, false) => EntryKind::Included,
    };
    let period = client.map(|client| period_containing(work_date, client.period_anchor_day));
    let before = match (client, period) {
        (Some(client), Some(period)) => Some(client_period(&mut *tx, config, client, period).await?),
        _ => None,
    };
    let mut total = 0;
    for written in &commands.time_entries {
        let minutes = round_up_to_quarter_hour(written.minutes);
        let entry = NewTimeEntry {
            ticket: Some(ticket.id),
            client: ticket.client.as_deref(),
            work_date,
            minutes_written: written.minutes,
            minutes,
            kind,
            task: written.task.as_deref().unwrap_or(&default_task),
            message_row,
        };
        insert_entry(tx, &entry, now).await?;
        total += minutes;
    }
    if let (Some(client), Some(before)) = (client, before) {
        let requester = EmailAddress::parse(&ticket.requester).map(|address| (address, ticket.requester_name.clone()));
        let request = BankAlertContext {
            ticket: Some(ticket.id),
            request: &ticket.subject,
            requester,
            estimate_minutes: commands.estimate,
            request_resolved: commands.resolved,
        };
        after_time_logged(desk, tx, client, &before, request, now).await?;
    }
    Ok(total)
}

/// The task of a `#time` entry with none written after its duration: the first line of the
/// reply that is not a greeting ("Hi Bill,"), else the ticket's subject.
fn default_task(text: &str, subject: &str) -> String {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty() && !is_greeting(line)).unwrap_or(subject);
    line.chars().take(200).collect()
}

/// `#estimate D`: the SOP's depleted-hours email for this ticket's request, or a notice to
/// the agent saying why it was not sent (hours left, no client, no address).
async fn offer_hour_options(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    estimate: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let hours = hours_text(i64::from(estimate));
    let outcome = match ticket.client.as_deref().and_then(|name| desk.config.client(name)) {
        None => Err("the ticket belongs to no client, so there are no hours to offer".to_string()),
        Some(client) => {
            let requester =
                EmailAddress::parse(&ticket.requester).map(|address| (address, ticket.requester_name.clone()));
            let context = BankAlertContext {
                ticket: Some(ticket.id),
                request: &ticket.subject,
                requester,
                estimate_minutes: Some(estimate),
                request_resolved: false,
            };
            offer_options_for_request(desk, tx, client, context, now).await?
        }
    };
    if let Err(reason) = outcome {
        tracing::info!(ticket = ticket.id.0, %reason, "#estimate: depleted-hours email not sent");
        queue_partly_applied(desk, tx, ticket, format!("#estimate {hours}: {reason}"), now).await?;
    }
    Ok(())
}
