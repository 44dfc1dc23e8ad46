//! Time the agent logs or corrects by hand (the `time add | remove | edit` commands): each is
//! one transaction with the hour-bank emails it causes, and returns what it did for the CLI to
//! print. Durations arrive parsed; nothing here prints.

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};

use super::bank::period_containing;
use super::bank_emails::{after_time_logged, BankAlertContext};
use super::entries::{delete_entry, entry, insert_entry, update_entry, EntryChange, EntryRow, NewTimeEntry};
use super::ledger::{bank_alert_recorded, client_period};
use super::{round_up_to_quarter_hour, EntryKind};
use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::storage::{begin_write, Tx};

/// An entry logged with `time add`, and the client mail it queued.
#[derive(Debug)]
pub struct Logged {
    pub id: i64,
    /// Rounded up to the quarter hour.
    pub minutes: u32,
    pub kind: EntryKind,
    pub work_date: NaiveDate,
    /// (kind, recipients, subject) of each mail queued, in order.
    pub queued: Vec<(String, String, String)>,
}

/// Logs `minutes_written` for `client` on no ticket (on `date`, default the agent's today),
/// and queues the 75%/100% emails it crosses.
pub async fn log_time(
    desk: &Desk,
    client: &ClientConfig,
    minutes_written: u32,
    task: &str,
    kind: EntryKind,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> anyhow::Result<Logged> {
    let work_date = date.unwrap_or_else(|| now.with_timezone(&desk.config.agent.timezone).date_naive());
    let period = period_containing(work_date, client.period_anchor_day);
    let mut tx = begin_write(&desk.db).await?;
    let before = client_period(&mut tx, &desk.config, client, period).await?;
    let minutes = round_up_to_quarter_hour(minutes_written);
    let entry = NewTimeEntry {
        ticket: None,
        client: Some(&client.name),
        work_date,
        minutes_written,
        minutes,
        kind,
        task,
        message_row: None,
    };
    let id = insert_entry(&mut tx, &entry, now).await?;
    let last_queued = crate::outbound::outbox::last_id(&mut tx).await?;
    after_time_logged(desk, &mut tx, client, &before, by_hand(task), now).await?;
    let queued = crate::outbound::outbox::queued_after(&mut tx, last_queued).await?;
    tx.commit().await?;
    Ok(Logged { id, minutes, kind, work_date, queued })
}

/// Time logged by hand answers no ticket and no request.
fn by_hand(task: &str) -> BankAlertContext<'_> {
    BankAlertContext { ticket: None, request: task, requester: None, estimate_minutes: None, request_resolved: false }
}

/// An entry removed, and the hour-bank emails (75, 100) already recorded for its client and
/// period: those stay sent.
#[derive(Debug)]
pub struct Removed {
    pub entry: EntryRow,
    pub alerts_sent: Vec<u8>,
}

/// An entry as it was and as it is, and the hour-bank emails (75, 100) recorded for its client
/// and period by now.
#[derive(Debug)]
pub struct Edited {
    pub before: EntryRow,
    pub after: EntryRow,
    pub alerts_sent: Vec<u8>,
}

/// `time remove ID`: deletes a mistaken entry.
pub async fn remove_time(desk: &Desk, id: i64) -> anyhow::Result<Removed> {
    let mut tx = begin_write(&desk.db).await?;
    let Some(removed) = entry(&mut tx, id).await? else {
        bail!("there is no time entry {id} (helpdesk time list shows them)");
    };
    delete_entry(&mut tx, id).await?;
    let alerts_sent = alerts_already_sent(desk, &mut tx, &removed).await?;
    tx.commit().await?;
    Ok(Removed { entry: removed, alerts_sent })
}

/// `time edit ID`: the entry's time (as written; logged rounded up), task or kind, each
/// `None` left as it is. More time can cross 75% or 100%: the client gets those emails now,
/// as for new time.
pub async fn edit_time(
    desk: &Desk,
    id: i64,
    minutes_written: Option<u32>,
    task: Option<&str>,
    kind: Option<EntryKind>,
    now: DateTime<Utc>,
) -> anyhow::Result<Edited> {
    let minutes = minutes_written.map(|written| (written, round_up_to_quarter_hour(written)));
    let mut tx = begin_write(&desk.db).await?;
    let Some(before) = entry(&mut tx, id).await? else {
        bail!("there is no time entry {id} (helpdesk time list shows them)");
    };
    let client = before.client.as_deref().and_then(|name| desk.config.client(name));
    let bank_before = match client {
        Some(client) => {
            let date = NaiveDate::parse_from_str(&before.work_date, "%Y-%m-%d")?;
            let period = period_containing(date, client.period_anchor_day);
            Some((client, client_period(&mut tx, &desk.config, client, period).await?))
        }
        None => None,
    };
    update_entry(&mut tx, id, &EntryChange { minutes, task, kind }).await?;
    let after = entry(&mut tx, id).await?.context("the entry just edited is gone")?;
    if let Some((client, bank_before)) = bank_before {
        after_time_logged(desk, &mut tx, client, &bank_before, by_hand(&after.task), now).await?;
    }
    let alerts_sent = alerts_already_sent(desk, &mut tx, &after).await?;
    tx.commit().await?;
    Ok(Edited { before, after, alerts_sent })
}

/// The hour-bank emails (75, 100) already recorded for the entry's client and period.
async fn alerts_already_sent(desk: &Desk, tx: &mut Tx<'_>, row: &EntryRow) -> anyhow::Result<Vec<u8>> {
    let Some(client) = row.client.as_deref().and_then(|name| desk.config.client(name)) else {
        return Ok(Vec::new());
    };
    let date = NaiveDate::parse_from_str(&row.work_date, "%Y-%m-%d")?;
    let period = period_containing(date, client.period_anchor_day);
    let mut sent = Vec::new();
    for percent in [75, 100] {
        if bank_alert_recorded(tx, &client.name, &period, percent).await? {
            sent.push(percent);
        }
    }
    Ok(sent)
}
