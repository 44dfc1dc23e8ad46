//! The hour commands: `hours` (tracking sheet and statement, as a table, JSON or CSV),
//! `clients` (this period's use per client), `time add` (time on no ticket) and `time list`,
//! `time remove`, `time edit` (correcting entries).

use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::json;

use super::alerts::{after_time_logged, BankAlertContext};
use super::bank::{dollars, hours_text, period_containing, period_named};
use super::entries::{
    delete_entry, entry, insert_entry, list_entries, update_entry, EntryChange, EntryRow, NewTimeEntry,
};
use super::ledger::{bank_alert_recorded, client_period, rules_for, ClientPeriod};
use super::{round_up_to_quarter_hour, EntryKind};
use crate::agent::tags::parse_duration;
use crate::config::ClientConfig;
use crate::desk::Desk;
use crate::storage::begin_write;
use crate::text::one_line;

fn selected_clients<'c>(desk: &'c Desk, name: Option<&str>) -> anyhow::Result<Vec<&'c ClientConfig>> {
    match name {
        None => Ok(desk.config.clients.iter().collect()),
        Some(name) => match desk.config.client_named(name) {
            Some(client) => Ok(vec![client]),
            None => bail!("no client named {name:?} in the config"),
        },
    }
}

async fn bank_of(
    desk: &Desk,
    client: &ClientConfig,
    period: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<ClientPeriod> {
    let today = now.with_timezone(&desk.config.agent.timezone).date_naive();
    let period = match period {
        Some(name) => period_named(name, client.period_anchor_day)
            .with_context(|| format!("{name:?} is not a period like 2026-11"))?,
        None => period_containing(today, client.period_anchor_day),
    };
    let mut conn = desk.db.acquire().await?;
    client_period(&mut conn, &desk.config, client, period).await
}

pub async fn print_hours(
    desk: &Desk,
    client: Option<&str>,
    period: Option<&str>,
    json: bool,
    csv: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let mut banks = Vec::new();
    for client in selected_clients(desk, client)? {
        banks.push(bank_of(desk, client, period, now).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&banks)?);
    } else if csv {
        println!("Client,Period,Date,Ticket,Task,Time (h),Running Total (h),Kind,Notes");
        for bank in &banks {
            for line in &bank.sheet {
                // Text from the database on one line (`crate::text`): a CSV read in a terminal.
                let fields = [
                    one_line(&bank.client),
                    one_line(&bank.period),
                    line.date.to_string(),
                    line.ticket.map(|t| t.to_string()).unwrap_or_default(),
                    one_line(&line.task),
                    format!("{:.2}", line.minutes as f64 / 60.0),
                    format!("{:.2}", line.running_total_minutes as f64 / 60.0),
                    line.kind.as_str().to_string(),
                    one_line(&line.notes),
                ];
                println!("{}", fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            }
        }
    } else {
        for bank in &banks {
            print_sheet(bank, desk);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn print_sheet(bank: &ClientPeriod, desk: &Desk) {
    let s = &bank.statement;
    println!(
        "{} ({}) - period {} ({} to {})",
        one_line(&bank.client),
        one_line(&bank.tier.to_uppercase()),
        one_line(&bank.period),
        bank.period_start,
        bank.period_end.pred_opt().unwrap_or(bank.period_end)
    );
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["Date", "Task", "Time", "Running Total", "Notes"]);
    for line in &bank.sheet {
        table.add_row([
            line.date.format("%-m/%-d").to_string(),
            one_line(&line.task).chars().take(60).collect::<String>(),
            hours_text(line.minutes),
            hours_text(line.running_total_minutes),
            one_line(&line.notes),
        ]);
    }
    println!("{table}");
    let rates = &desk.config.hours.rates;
    println!(
        "Included: {} ({} + {} rollover)   used {}   remaining {}",
        hours_text(s.available_minutes),
        hours_text(bank.included_minutes),
        hours_text(bank.rollover_minutes),
        hours_text(s.included_used_minutes),
        hours_text(s.remaining_minutes)
    );
    println!(
        "Overage: {} = {} (at {}/h)   Billable: {} = {}   Emergency: {} = {} (at {}/h)",
        hours_text(s.overage_minutes),
        dollars(s.overage_cents),
        dollars(rates.overage_cents_per_hour),
        hours_text(s.billable_minutes),
        dollars(s.billable_cents),
        hours_text(s.emergency_minutes),
        dollars(s.emergency_cents),
        dollars(rates.emergency_cents_per_hour)
    );
    println!("Total beyond the subscription: {}\n", dollars(s.total_beyond_subscription_cents));
}

pub async fn print_clients(desk: &Desk, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for client in &desk.config.clients {
        let bank = bank_of(desk, client, None, now).await?;
        let rules = rules_for(&desk.config, client);
        rows.push(json!({
            "name": client.name,
            "tier": client.tier.as_str(),
            "domains": client.domains,
            "contacts": client.contacts,
            "period": bank.period,
            "included_minutes": rules.included_minutes,
            "available_minutes": bank.statement.available_minutes,
            "used_minutes": bank.statement.included_used_minutes,
            "remaining_minutes": bank.statement.remaining_minutes,
            "overage_minutes": bank.statement.overage_minutes,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["Client", "Tier", "Period", "Bank", "Used", "Remaining", "Overage"]);
        for row in &rows {
            let minutes = |key: &str| hours_text(row[key].as_i64().unwrap_or(0));
            table.add_row([
                one_line(row["name"].as_str().unwrap_or("")),
                row["tier"].as_str().unwrap_or("").to_uppercase(),
                one_line(row["period"].as_str().unwrap_or("")),
                minutes("available_minutes"),
                minutes("used_minutes"),
                minutes("remaining_minutes"),
                minutes("overage_minutes"),
            ]);
        }
        println!("{table}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn add_time(
    desk: &Desk,
    client: &str,
    duration: &str,
    task: &str,
    billable: bool,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let client = selected_clients(desk, Some(client))?[0];
    let Some(written) = parse_duration(duration) else {
        bail!("{duration:?} is not a duration like 45m, 1h30m or 1.5h");
    };
    let work_date = date.unwrap_or_else(|| now.with_timezone(&desk.config.agent.timezone).date_naive());
    let period = period_containing(work_date, client.period_anchor_day);
    let mut tx = begin_write(&desk.db).await?;
    let before = client_period(&mut tx, &desk.config, client, period).await?;
    let minutes = round_up_to_quarter_hour(written);
    let kind = if billable { EntryKind::Billable } else { EntryKind::Included };
    let entry = NewTimeEntry {
        ticket: None,
        client: Some(&client.name),
        work_date,
        minutes_written: written,
        minutes,
        kind,
        task,
        message_row: None,
    };
    let id = insert_entry(&mut tx, &entry, now).await?;
    let last_queued = crate::outbound::outbox::last_id(&mut tx).await?;
    let context = BankAlertContext {
        ticket: None,
        request: task,
        requester: None,
        estimate_minutes: None,
        request_resolved: false,
    };
    after_time_logged(desk, &mut tx, client, &before, context, now).await?;
    let queued = crate::outbound::outbox::queued_after(&mut tx, last_queued).await?;
    tx.commit().await?;
    println!(
        "Logged entry {id}: {} ({}) for {} on {work_date}: {}",
        hours_text(minutes as i64),
        kind.as_str(),
        one_line(&client.name),
        one_line(task)
    );
    for (kind, recipients, subject) in queued {
        println!("Queued {kind} to {}: {}", one_line(&recipients), one_line(&subject));
    }
    Ok(ExitCode::SUCCESS)
}

/// `time list [--client NAME] [--period YYYY-MM] [--json]`: the entries with their ids. A
/// client's period is its billing period; without a client, the calendar month (default: the
/// current one).
pub async fn list_time(
    desk: &Desk,
    client: Option<&str>,
    period: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let today = now.with_timezone(&desk.config.agent.timezone).date_naive();
    let client = match client {
        Some(name) => Some(selected_clients(desk, Some(name))?[0]),
        None => None,
    };
    let anchor = client.map_or(1, |client| client.period_anchor_day);
    let period = match period {
        Some(name) => period_named(name, anchor).with_context(|| format!("{name:?} is not a period like 2026-11"))?,
        None => period_containing(today, anchor),
    };
    let entries = list_entries(&desk.db, client.map(|c| c.name.as_str()), period.start, period.end).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("No time logged from {} to {}.", period.start, period.end);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(["Id", "Date", "Client", "Ticket", "Time", "Kind", "Task"]);
    for row in &entries {
        table.add_row([
            row.id.to_string(),
            row.work_date.clone(),
            one_line(row.client.as_deref().unwrap_or("-")),
            row.ticket_id.map_or("-".into(), |ticket| format!("#{ticket}")),
            hours_text(row.minutes),
            row.kind.to_string(),
            one_line(&row.task),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

/// `time remove ID`: deletes a mistaken entry. An hour-bank email already sent for its period
/// stays sent; the command says so.
pub async fn remove_time(desk: &Desk, id: i64, _now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let mut tx = begin_write(&desk.db).await?;
    let Some(row) = entry(&mut tx, id).await? else {
        bail!("there is no time entry {id} (helpdesk time list shows them)");
    };
    delete_entry(&mut tx, id).await?;
    let sent = alerts_already_sent(desk, &mut tx, &row).await?;
    tx.commit().await?;
    println!("Removed entry {id}: {}", describe_entry(&row));
    print_sent_alerts(&sent);
    Ok(ExitCode::SUCCESS)
}

/// `time edit ID [--minutes D] [--task T] [--billable | --included]`.
pub async fn edit_time(
    desk: &Desk,
    id: i64,
    duration: Option<&str>,
    task: Option<&str>,
    kind: Option<EntryKind>,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let minutes = match duration {
        Some(text) => match parse_duration(text) {
            Some(written) => Some((written, round_up_to_quarter_hour(written))),
            None => bail!("{text:?} is not a duration like 45m, 1h30m or 1.5h"),
        },
        None => None,
    };
    if minutes.is_none() && task.is_none() && kind.is_none() {
        bail!("nothing to change: give --minutes, --task, --billable or --included");
    }
    let mut tx = begin_write(&desk.db).await?;
    let Some(before) = entry(&mut tx, id).await? else {
        bail!("there is no time entry {id} (helpdesk time list shows them)");
    };
    // More time can cross 75% or 100%: the client gets those emails now, as for new time.
    let client = before.client.as_deref().and_then(|name| desk.config.client(name));
    let period = match client {
        Some(client) => {
            let date = NaiveDate::parse_from_str(&before.work_date, "%Y-%m-%d")?;
            Some(period_containing(date, client.period_anchor_day))
        }
        None => None,
    };
    let bank_before = match (client, period) {
        (Some(client), Some(period)) => Some(client_period(&mut tx, &desk.config, client, period).await?),
        _ => None,
    };
    update_entry(&mut tx, id, &EntryChange { minutes, task, kind }).await?;
    let after = entry(&mut tx, id).await?.context("the entry just edited is gone")?;
    if let (Some(client), Some(bank_before)) = (client, bank_before) {
        let context = BankAlertContext {
            ticket: None,
            request: &after.task,
            requester: None,
            estimate_minutes: None,
            request_resolved: false,
        };
        after_time_logged(desk, &mut tx, client, &bank_before, context, now).await?;
    }
    let sent = alerts_already_sent(desk, &mut tx, &after).await?;
    tx.commit().await?;
    println!("Entry {id} was: {}", describe_entry(&before));
    println!("Entry {id} is:  {}", describe_entry(&after));
    if after.minutes < before.minutes {
        print_sent_alerts(&sent);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_entry(row: &EntryRow) -> String {
    format!(
        "{} {} {} ({}) on {}: {}",
        row.work_date,
        one_line(row.client.as_deref().unwrap_or("(no client)")),
        hours_text(row.minutes),
        row.kind,
        row.ticket_id.map_or("no ticket".into(), |ticket| format!("ticket #{ticket}")),
        one_line(&row.task)
    )
}

/// The hour-bank emails (75, 100) already recorded for the entry's client and period.
async fn alerts_already_sent(desk: &Desk, tx: &mut crate::storage::Tx<'_>, row: &EntryRow) -> anyhow::Result<Vec<u8>> {
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

fn print_sent_alerts(sent: &[u8]) {
    for percent in sent {
        println!("Note: the {percent}% hour-bank email for this period was already sent; it stays sent.");
    }
}
