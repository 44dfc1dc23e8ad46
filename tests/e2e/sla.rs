//! SLA clocks end to end: the acknowledgement names the due time, and a breach notice
//! reaches the agent once when the desk runs past it (`--now`), never twice. The mail arrives
//! at a fixed time (its IMAP arrival time) and every command runs with `--now`, so the due
//! time and the words the client reads are known in advance.

use super::desk::{body, header, TestDesk, AGENT};
use super::lab::MailLab;

/// `helpdesk tickets --json` as the desk sees them at `now`.
fn tickets_at(desk: &TestDesk, now: &str) -> serde_json::Value {
    serde_json::from_slice(&desk.helpdesk(&["tickets", "--status", "all", "--json", "--now", now]).stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_growth_p0_is_acknowledged_with_its_due_time_and_its_breach_is_announced_once() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    // Tuesday 7 January 2025, 09:00 in New York (the agent's time zone).
    let arrived = "2025-01-07T14:00:00Z".parse().unwrap();
    lab.append_arrived_at(
        "support@example.test",
        "From: Jane Roe <jane@acme.test>\nTo: support@example.test\nSubject: AI agent not responding\nMessage-ID: <p0@acme.test>\n\nThe qualification bot stopped answering an hour ago.\n",
        arrived,
    )
    .await;
    desk.helpdesk(&["run", "--once", "--now", "2025-01-07T14:01:00Z"]);
    desk.drain(&lab).await;

    let tickets = tickets_at(&desk, "2025-01-07T14:01:00Z");
    let ticket = &tickets[0];
    assert_eq!(ticket["severity"], "P0", "{ticket}");
    assert!(ticket["severity_reason"].as_str().unwrap().contains("agent not responding"), "{ticket}");
    assert_eq!(ticket["opened_at"], "2025-01-07T14:00:00.000Z", "opened at its arrival: {ticket}");
    assert_eq!(ticket["first_response_due"], "2025-01-07T16:00:00.000Z", "GROWTH P0: 2 calendar hours: {ticket}");
    assert_eq!(ticket["sla"], "ok");

    let acknowledgements = lab.mails_received_by("jane@acme.test").await;
    assert_eq!(acknowledgements.len(), 1);
    let text = body(&acknowledgements[0]);
    assert!(text.contains("I'll have an update for you by Tuesday, January 7 at 11:00 AM EST"), "{text}");

    // Three hours later nobody has answered: the response clock is breached.
    let later = "2025-01-07T17:00:00Z";
    desk.helpdesk(&["run", "--once", "--now", later]);
    desk.drain(&lab).await;
    let agent_mail = lab.mails_received_by(AGENT).await;
    let breaches: Vec<String> = agent_mail
        .iter()
        .filter_map(|raw| header(raw, "Subject"))
        .filter(|subject| subject.contains("SLA BREACHED"))
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert!(breaches[0].contains("first response"), "{breaches:?}");
    // The notice files under the ticket's thread in his mail client.
    let notification = agent_mail.iter().find(|raw| !header(raw, "Subject").unwrap().contains("SLA")).unwrap();
    let notice = agent_mail.iter().find(|raw| header(raw, "Subject").unwrap().contains("SLA BREACHED")).unwrap();
    assert_eq!(header(notice, "In-Reply-To"), header(notification, "Message-ID"), "threaded under the notification");
    assert_eq!(tickets_at(&desk, later)[0]["sla"], "breached");

    // The next run, at the same moment or later, announces nothing again.
    desk.helpdesk(&["run", "--once", "--now", later]);
    desk.helpdesk(&["run", "--once", "--now", "2025-01-07T18:00:00Z"]);
    desk.drain(&lab).await;
    let agent_mail = lab.mails_received_by(AGENT).await;
    assert_eq!(agent_mail.len(), 2, "the new-ticket notification and one breach notice, nothing more");
}
