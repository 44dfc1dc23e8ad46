//! `helpdesk status`: which desk holds the mailbox and since when, and every desk's last
//! heartbeat (several desks on one database: `crate::lease`).

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::format::{print_json, table};
use crate::desk::Desk;
use crate::lease::{self, Heartbeat, Lease};
use crate::service::mailbox_lease_name;

#[derive(serde::Serialize)]
struct Status {
    mailbox: String,
    holder: Option<String>,
    held_since: Option<DateTime<Utc>>,
    renewed_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    /// Whether the lease had expired at the time of the command: no desk is active.
    expired: bool,
    desks: Vec<DeskSeen>,
}

#[derive(serde::Serialize)]
struct DeskSeen {
    #[serde(flatten)]
    heartbeat: Heartbeat,
    /// No heartbeat for longer than `[ha] takeover_secs`: the desk was killed, its machine is
    /// down or cut off (a desk that stops cleanly leaves the list).
    silent: bool,
}

pub async fn status(desk: &Desk, json: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let mailbox = mailbox_lease_name(&desk.config.source);
    let (leases, desks) = lease::status(&desk.db).await?;
    let lease = leases.into_iter().find(|lease| lease.name == mailbox);
    let status = Status {
        expired: lease.as_ref().is_none_or(|lease| lease.expires_at <= now),
        holder: lease.as_ref().map(|lease| lease.holder.clone()),
        held_since: lease.as_ref().map(|lease| lease.held_since),
        renewed_at: lease.as_ref().map(|lease| lease.renewed_at),
        expires_at: lease.as_ref().map(|lease| lease.expires_at),
        mailbox,
        desks: desks
            .into_iter()
            .map(|heartbeat| DeskSeen {
                silent: (now - heartbeat.heartbeat_at).num_seconds() > desk.config.ha.takeover_secs as i64,
                heartbeat,
            })
            .collect(),
    };
    if json {
        print_json(&status)?;
    } else {
        print_text(desk, &status, lease.as_ref(), now);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(desk: &Desk, status: &Status, lease: Option<&Lease>, now: DateTime<Utc>) {
    let shown = |time: DateTime<Utc>| desk.config.agent_local_time(time);
    println!("Mailbox {}", status.mailbox);
    match lease {
        None => println!("  no desk has held it yet"),
        Some(lease) if status.expired => {
            println!(
                "  no desk holds it: {} held it since {} until {}",
                lease.holder,
                shown(lease.held_since),
                shown(lease.expires_at)
            )
        }
        Some(lease) => println!(
            "  held by {} since {} (renewed {} s ago)",
            lease.holder,
            shown(lease.held_since),
            (now - lease.renewed_at).num_seconds().max(0)
        ),
    }
    let mut desks = table(vec!["Desk", "Host", "PID", "Role", "Started", "Last heartbeat"]);
    for seen in &status.desks {
        let heartbeat = &seen.heartbeat;
        let role = if seen.silent { format!("{} (silent: gone?)", heartbeat.role) } else { heartbeat.role.clone() };
        desks.add_row(vec![
            heartbeat.desk.clone(),
            heartbeat.host.clone(),
            heartbeat.pid.to_string(),
            role,
            shown(heartbeat.started_at),
            format!("{} s ago", (now - heartbeat.heartbeat_at).num_seconds().max(0)),
        ]);
    }
    println!("{desks}");
}
