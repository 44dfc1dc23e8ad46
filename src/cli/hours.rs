//! `helpdesk hours` (the SOP's hour-tracking sheet and period statement per client, as tables,
//! JSON or CSV) and `helpdesk clients` (each client's tier and this period's use).

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::format::{client_named, clipped, csv_field, print_json, table};
use crate::config::{ClientConfig, Config};
use crate::desk::Desk;
use crate::hours::bank::{dollars, hours_text};
use crate::hours::ledger::ClientPeriod;
use crate::hours::sheets::{client_sheet, clients_use};
use crate::text::one_line;

/// `hours [--client NAME] [--period YYYY-MM] [--json | --csv]`.
pub async fn hours(
    desk: &Desk,
    client: Option<&str>,
    period: Option<&str>,
    json: bool,
    csv: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let clients: Vec<&ClientConfig> = match client {
        None => desk.config.clients.iter().collect(),
        Some(name) => vec![client_named(&desk.config, name)?],
    };
    let mut banks = Vec::new();
    for client in clients {
        banks.push(client_sheet(desk, client, period, now).await?);
    }
    if json {
        print_json(&banks)?;
    } else if csv {
        print_csv(&banks);
    } else {
        for bank in &banks {
            print_sheet(&desk.config, bank);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The sheets as one CSV (for a spreadsheet or an invoice), hours with two decimals.
fn print_csv(banks: &[ClientPeriod]) {
    println!("Client,Period,Date,Ticket,Task,Time (h),Running Total (h),Kind,Notes");
    for bank in banks {
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
}

/// One client's period: its sheet as a table, then the statement below it.
fn print_sheet(config: &Config, bank: &ClientPeriod) {
    let s = &bank.statement;
    println!(
        "{} ({}) - period {} ({} to {})",
        one_line(&bank.client),
        one_line(&bank.tier.to_uppercase()),
        one_line(&bank.period),
        bank.period_start,
        bank.period_end.pred_opt().unwrap_or(bank.period_end)
    );
    let mut table = table(["Date", "Task", "Time", "Running Total", "Notes"]);
    for line in &bank.sheet {
        table.add_row([
            line.date.format("%-m/%-d").to_string(),
            clipped(&line.task, 60),
            hours_text(line.minutes),
            hours_text(line.running_total_minutes),
            one_line(&line.notes),
        ]);
    }
    println!("{table}");
    let rates = &config.hours.rates;
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

/// `clients [--json]`.
pub async fn clients(desk: &Desk, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let rows = clients_use(desk, now).await?;
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = table(["Client", "Tier", "Period", "Bank", "Used", "Remaining", "Overage"]);
    for row in &rows {
        table.add_row([
            one_line(&row.name),
            row.tier.as_str().to_uppercase(),
            one_line(&row.period),
            hours_text(row.available_minutes),
            hours_text(row.used_minutes),
            hours_text(row.remaining_minutes),
            hours_text(row.overage_minutes),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}
