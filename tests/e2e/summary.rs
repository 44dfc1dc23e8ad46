//! The daily summary reaches the agent's mailbox once per day, even when `run --once` runs
//! again the same day.

use std::time::Duration;

use super::desk::{header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_summary_is_sent_once_a_day() {
    let lab = MailLab::start();
    let desk = TestDesk::with_daily_summary(&lab);
    lab.send(
        "jane@acme.test",
        SUPPORT,
        "From: jane@acme.test\nTo: support@example.test\nSubject: Webhook 401s\nMessage-ID: <d1@acme.test>\n\nHelp\n",
    )
    .await;
    lab.wait_for_support_mail(1).await;
    // 08:00 in New York, after the default 07:30.
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T15:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T22:00:00Z"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summaries: Vec<Vec<u8>> = lab
        .wait_for_mails(AGENT, 2)
        .await
        .into_iter()
        .filter(|m| header(m, "Subject").unwrap_or_default().starts_with("Daily summary"))
        .collect();
    assert_eq!(summaries.len(), 1, "one summary for the day");
    let raw = String::from_utf8_lossy(&summaries[0]).to_string();
    assert!(raw.contains("multipart/alternative") && raw.contains("text/html"), "text and HTML");
    let parsed = mail_parser::MessageParser::default().parse(summaries[0].as_slice()).unwrap();
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(text.contains("Webhook 401s") && text.contains("HOURS THIS PERIOD"), "{text}");

    // The next morning brings the next one.
    desk.helpdesk(&["run", "--once", "--now", "2030-01-08T13:00:00Z"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = lab
        .mails_received_by(AGENT)
        .await
        .iter()
        .filter(|m| header(m, "Subject").unwrap_or_default().starts_with("Daily summary"))
        .count();
    assert_eq!(count, 2);
}
