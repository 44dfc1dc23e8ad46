//! `helpdesk demo`: a self-contained run of the whole pipeline with no server. It writes a
//! config, a Maildir of realistic client mail (three clients on three tiers, a partner
//! contact, an unknown sender, an out-of-office reply and a bounce), runs the desk on it with
//! SQLite and lettre's file transport, then delivers a second round of replies (to the
//! acknowledgements, with an edited subject, by subject token, and a stranger quoting a
//! token), runs again, and prints the tickets.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use chrono::Utc;

use crate::clock::Clock;
use crate::config::Config;
use crate::desk::Desk;
use crate::domain::TicketId;
use crate::outbound::outbox::{self, OutboxKind};
use crate::service;
use crate::tickets::store::{self, StatusFilter};

/// The sample desk (`crate::testing`) as a user would write it: files beside the config, and
/// the agency's own addresses.
fn demo_config() -> String {
    let desk = crate::testing::SampleDesk::new()
        .database(Some("sqlite://helpdesk.db"))
        .folders("maildir", "outbox")
        .from("Support <support@agency.test>")
        .agent_address("travis@agency.test");
    format!("# Written by `helpdesk demo`. Paths are relative to this file.\n{}", desk.toml())
}

fn first_round() -> Vec<(&'static str, String)> {
    vec![
        ("acme-crm-sync", "From: Jane Roe <jane@acme.test>\r\nTo: support@agency.test\r\nSubject: Leads not syncing to the CRM since this morning\r\nMessage-ID: <crm-1@acme.test>\r\nDate: Mon, 30 Nov 2026 08:12:00 -0500\r\n\r\nHi Travis,\r\n\r\nSince about 7am none of the new web leads show up in HubSpot. The form\r\nsubmissions are there, the sync just seems to stop.\r\n\r\nThanks,\r\nJane\r\n".into()),
        ("globex-agent-down", "From: \"Chen, Li\" <li.chen@globex.test>\r\nTo: support@agency.test\r\nSubject: URGENT: AI agent not responding, all leads unprocessed\r\nMessage-ID: <agent-down@globex.test>\r\nDate: Mon, 30 Nov 2026 14:02:00 +0100\r\n\r\nTravis,\r\n\r\nThe qualification agent stopped answering around 13:30. Nothing is being\r\nprocessed and sales is waiting. Please call me.\r\n\r\nLi\r\n".into()),
        ("initech-csv", "From: Peter Gibbons <peter@initech.test>\r\nTo: support@agency.test\r\nSubject: Feature request: export the weekly numbers as CSV\r\nMessage-ID: <csv-1@initech.test>\r\nDate: Mon, 30 Nov 2026 09:30:00 -0500\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi, would it be possible to get the weekly numbers as a CSV file?\r\nNot urgent at all. Mock-up attached.\r\n\r\nPeter\r\n--b1\r\nContent-Type: text/csv; name=\"mockup.csv\"\r\nContent-Disposition: attachment; filename=\"mockup.csv\"\r\n\r\nweek,leads,qualified\r\n47,120,33\r\n--b1--\r\n".into()),
        ("partner-report", "From: Partner Ops <ops@partner.test>\r\nTo: support@agency.test\r\nSubject: Acme weekly report formatting is off\r\nMessage-ID: <fmt-1@partner.test>\r\nDate: Mon, 30 Nov 2026 10:05:00 -0500\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello,</p><p>the <b>totals column</b> in the Acme weekly report is shifted by one row.</p><p>Regards,<br>Partner Ops</p></body></html>\r\n".into()),
        ("unknown-sender", "From: Sam Prospect <sam@example.org>\r\nTo: support@agency.test\r\nSubject: Do you build chatbots?\r\nMessage-ID: <q-1@example.org>\r\nDate: Mon, 30 Nov 2026 11:00:00 -0500\r\n\r\nHi, a friend recommended you. Do you build chatbots for dentists?\r\n".into()),
        ("out-of-office", "From: Bob Builder <bob@globex.test>\r\nTo: support@agency.test\r\nSubject: Automatic reply: Globex weekly check-in\r\nAuto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\nMessage-ID: <ooo-1@globex.test>\r\nDate: Mon, 30 Nov 2026 11:10:00 +0100\r\n\r\nI am out of the office until Monday with limited access to email.\r\n".into()),
        ("bounce", "From: Mail Delivery System <MAILER-DAEMON@mx.agency.test>\r\nTo: support@agency.test\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.agency.test>\r\nDate: Mon, 30 Nov 2026 11:20:00 -0500\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n--r1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n--r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.agency.test\r\n\r\nFinal-Recipient: rfc822; gone@initech.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--r1--\r\n".into()),
        ("acme-follow-up", "From: Jane Roe <jane@acme.test>\r\nTo: support@agency.test\r\nSubject: Re: Leads not syncing to the CRM since this morning\r\nMessage-ID: <crm-2@acme.test>\r\nIn-Reply-To: <crm-1@acme.test>\r\nReferences: <crm-1@acme.test>\r\nDate: Mon, 30 Nov 2026 08:40:00 -0500\r\n\r\nOne more thing: the webhook log shows 401 errors since 6:58.\r\n\r\n> Since about 7am none of the new web leads show up in HubSpot.\r\n".into()),
    ]
}

fn second_round(
    globex_ack: &str,
    globex_ticket: i64,
    initech_ticket: i64,
    acme_ticket: i64,
) -> Vec<(&'static str, String)> {
    vec![
        ("globex-reply-to-ack", format!("From: \"Chen, Li\" <li.chen@globex.test>\r\nTo: support@agency.test\r\nSubject: RE: agent down - now the API key page errors too\r\nMessage-ID: <agent-down-2@globex.test>\r\nIn-Reply-To: <{globex_ack}>\r\nReferences: <agent-down@globex.test> <{globex_ack}>\r\nDate: Mon, 30 Nov 2026 14:20:00 +0100\r\n\r\nIt started at 13:30 exactly. Also the API key page shows an error now.\r\n\r\nLi\r\n")),
        ("initech-token", format!("From: Peter Gibbons <peter@initech.test>\r\nTo: support@agency.test\r\nSubject: CSV export [#{initech_ticket}]\r\nMessage-ID: <csv-2@initech.test>\r\nDate: Mon, 30 Nov 2026 12:00:00 -0500\r\n\r\nSent from my phone: semicolons instead of commas would be even better.\r\n")),
        ("stranger-token", format!("From: Mallory <mallory@evil.test>\r\nTo: support@agency.test\r\nSubject: Re: Leads not syncing [#{acme_ticket}]\r\nMessage-ID: <m-1@evil.test>\r\nDate: Mon, 30 Nov 2026 12:30:00 -0500\r\n\r\nPlease send me the CRM credentials for ticket {acme_ticket}.\r\n")),
        ("globex-token-ignored-ok", format!("From: \"Chen, Li\" <li.chen@globex.test>\r\nTo: support@agency.test\r\nSubject: Thanks [#{globex_ticket}]\r\nMessage-ID: <agent-down-3@globex.test>\r\nDate: Mon, 30 Nov 2026 14:45:00 +0100\r\n\r\nThanks for the quick call!\r\n")),
    ]
}

fn write_maildir(root: &Path, round: &str, mails: &[(&str, String)]) -> anyhow::Result<()> {
    crate::inbound::maildir::ensure_maildir(root)?;
    for (index, (name, text)) in mails.iter().enumerate() {
        let file = root.join("new").join(format!("{}.{round}{index:02}.{name}", Utc::now().timestamp()));
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

pub async fn run_demo(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let config_path = dir.join("helpdesk.toml");
    let demo_config = demo_config();
    std::fs::write(&config_path, &demo_config)?;
    let config = Config::from_toml(&demo_config, &HashMap::new(), dir)?;
    let crate::config::SourceConfig::Maildir { path: maildir } = config.source.clone() else {
        unreachable!("the demo config uses a Maildir")
    };
    let desk = Desk::open(config).await?;
    let (_keep_open, never) = tokio::sync::watch::channel(false);

    write_maildir(&maildir, "a", &first_round())?;
    let first = service::run(&desk, true, Clock::System, never.clone()).await?;

    let opened = store::list_tickets(&desk.db, StatusFilter::All).await?;
    let ack_for = |requester: &'static str| {
        let ticket = opened.iter().find(|ticket| ticket.requester == requester).map(|ticket| TicketId(ticket.id));
        let db = &desk.db;
        async move {
            let ticket = ticket.with_context(|| format!("the demo opened no ticket for {requester}"))?;
            let ack = outbox::first_message_id_of_kind(db, ticket, OutboxKind::Acknowledgement)
                .await?
                .with_context(|| format!("the demo acknowledged no ticket of {requester}"))?;
            anyhow::Ok((ack.as_str().to_string(), ticket.0))
        }
    };
    let (globex_ack, globex_ticket) = ack_for("li.chen@globex.test").await?;
    let (_, initech_ticket) = ack_for("peter@initech.test").await?;
    let (_, acme_ticket) = ack_for("jane@acme.test").await?;
    write_maildir(&maildir, "b", &second_round(&globex_ack, globex_ticket, initech_ticket, acme_ticket))?;
    let second = service::run(&desk, true, Clock::System, never).await?;

    let now = Utc::now();
    let tickets: Vec<_> = store::list_tickets(&desk.db, StatusFilter::All)
        .await?
        .into_iter()
        .map(|ticket| ticket.with_sla_state(now, &desk.config.sla))
        .collect::<anyhow::Result<_>>()?;
    println!("{}", crate::cli::tickets_table(&desk.config, &tickets));
    let held = store::count_held_messages(&desk.db).await?;
    println!(
        "\n{} mails taken in, {} held aside as automated (no ticket, no reply); {} outgoing mails written to {}",
        first.mails + second.mails,
        held,
        first.sent + second.sent,
        dir.join("outbox").display()
    );
    println!("Look around: helpdesk --config {} ticket show {globex_ticket}", config_path.display());
    println!(
        "             helpdesk --config {} held    (the mail kept without a ticket, and why)",
        config_path.display()
    );
    Ok(())
}
