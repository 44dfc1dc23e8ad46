//! Client reports: a weekly draft reaches the agent; his `#send` reply sends it, with his
//! observations and the charts, to the client; a second `#send` sends nothing more.

use super::desk::{body, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

/// A moment of the fixed calendar the test runs on, not this week's: ISO week 2025-W02 (Monday
/// 6 to Sunday 12 January 2025, New York time), for `--now` of every command and the arrival
/// time of every mail (in the past: see `MailLab::append_arrived_at`).
fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    rfc3339.parse().unwrap()
}

const WEEK: &str = "2025-W02";

#[tokio::test(flavor = "multi_thread")]
async fn a_weekly_draft_answered_with_send_reaches_the_client() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.append_arrived_at(
        SUPPORT,
        "From: Li Chen <li@globex.test>\nTo: support@example.test\nSubject: AI agent not responding\nMessage-ID: <w1@globex.test>\n\nDown since 9.\n",
        at("2025-01-07T14:00:00Z"),
    )
    .await;
    desk.helpdesk(&["run", "--once", "--now", "2025-01-07T14:05:00Z"]);
    let out = desk.helpdesk(&[
        "report",
        "weekly",
        "--client",
        "Globex",
        "--period",
        WEEK,
        "--send",
        "--now",
        "2025-01-10T15:00:00Z",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("prepared and sent"));

    let agent_mail = lab.wait_for_mails(AGENT, 2).await;
    let draft = agent_mail
        .iter()
        .find(|m| header(m, "Subject").unwrap_or_default().starts_with("[Draft report]"))
        .expect("the draft reaches the agent");
    assert_eq!(
        header(draft, "Subject").unwrap(),
        "[Draft report] Globex - Week of Jan 6 Summary",
        "the fixed week's draft"
    );
    let text = body(draft);
    assert!(text.contains("Tickets opened: 1 (P0 1"), "{text}");
    assert!(text.contains("AI agent not responding"), "the P0 is listed as an incident: {text}");
    desk.drain(&lab).await;
    assert_eq!(lab.mails_received_by("li@globex.test").await.len(), 1, "only the acknowledgement so far");

    let reply = format!(
        "From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: Re: {}\nMessage-ID: <send1@example.test>\nIn-Reply-To: {}\n\nThe outage was an expired API key; I added expiry monitoring.\n#send\n\n> quoted draft\n",
        header(draft, "Subject").unwrap(),
        header(draft, "Message-ID").unwrap()
    );
    lab.append_arrived_at(SUPPORT, &reply, at("2025-01-10T16:00:00Z")).await;
    desk.helpdesk(&["run", "--once", "--now", "2025-01-10T16:05:00Z"]);
    let report = lab.wait_for_mail_with_subject("li@globex.test", "Globex - Week of").await;
    assert_eq!(header(&report, "Subject").unwrap(), "Globex - Week of Jan 6 Summary");
    let text = body(&report).replace("\r\n", "\n");
    assert!(text.contains("Observations and next steps:\nThe outage was an expired API key"), "{text}");
    assert!(!text.contains("#send") && !text.contains("DRAFT"), "{text}");
    let raw = String::from_utf8_lossy(&report);
    assert!(
        raw.contains("multipart/related") && raw.contains("image/png") && raw.contains("cid:tickets-chart"),
        "HTML with charts"
    );

    // Answering the draft again sends nothing more.
    lab.append_arrived_at(SUPPORT, &reply.replace("send1@", "send2@"), at("2025-01-10T16:10:00Z")).await;
    desk.helpdesk(&["run", "--once", "--now", "2025-01-10T16:15:00Z"]);
    desk.drain(&lab).await;
    assert_eq!(lab.mails_received_by("li@globex.test").await.len(), 2, "the acknowledgement and one report");
}
