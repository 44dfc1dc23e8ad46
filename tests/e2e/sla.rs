//! SLA clocks end to end: the acknowledgement names the due time, and a breach notice
//! reaches the agent once when the desk runs past it (`--now`), never twice.

use chrono::{DateTime, Utc};

use super::desk::{body, header, TestDesk, AGENT};
use super::lab::MailLab;

#[tokio::test(flavor = "multi_thread")]
async fn a_growth_p0_is_acknowledged_with_its_due_time_and_its_breach_is_announced_once() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.send(
        "jane@acme.test",
        "support@example.test",
        "From: Jane Roe <jane@acme.test>\nTo: support@example.test\nSubject: AI agent not responding\nMessage-ID: <p0@acme.test>\n\nThe qualification bot stopped answering an hour ago.\n",
    )
    .await;
    lab.wait_for_support_mail(1).await;
    desk.run_once();

    let ticket = &desk.tickets_json("all")[0];
    assert_eq!(ticket["severity"], "P0", "{ticket}");
    assert!(ticket["severity_reason"].as_str().unwrap().contains("agent not responding"), "{ticket}");
    let opened: DateTime<Utc> = ticket["opened_at"].as_str().unwrap().parse().unwrap();
    let due: DateTime<Utc> = ticket["first_response_due"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - opened, chrono::Duration::hours(2), "GROWTH P0: 2 calendar hours");
    assert_eq!(ticket["sla"], "ok");

    let ack = &lab.wait_for_mails("jane@acme.test", 1).await[0];
    let expected = due.with_timezone(&chrono_tz::America::New_York).format("%A, %B %-d at %-I:%M %p %Z").to_string();
    let text = body(ack);
    assert!(text.contains(&format!("I'll have an update for you by {expected}")), "{expected} not in:\n{text}");

    // Three hours later nobody has answered: the response clock is breached.
    let later = (opened + chrono::Duration::hours(3)).to_rfc3339();
    desk.helpdesk(&["run", "--once", "--now", &later]);
    desk.drain(&lab).await;
    let agent_mail = lab.mails_received_by(AGENT).await;
    let breaches: Vec<String> = agent_mail
        .iter()
        .filter_map(|raw| header(raw, "Subject"))
        .filter(|subject| subject.contains("SLA BREACHED"))
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert!(breaches[0].contains("first response"), "{breaches:?}");
    let listed = &desk.command(&["tickets", "--json", "--now", &later]).output().unwrap().stdout;
    let listed: serde_json::Value = serde_json::from_slice(listed).unwrap();
    assert_eq!(listed[0]["sla"], "breached");

    // The next run, at the same moment or later, announces nothing again.
    desk.helpdesk(&["run", "--once", "--now", &later]);
    let a_bit_later = (opened + chrono::Duration::hours(4)).to_rfc3339();
    desk.helpdesk(&["run", "--once", "--now", &a_bit_later]);
    desk.drain(&lab).await;
    let agent_mail = lab.mails_received_by(AGENT).await;
    assert_eq!(agent_mail.len(), 2, "the new-ticket notification and one breach notice, nothing more");
}
