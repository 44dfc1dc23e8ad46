//! Client reports: a weekly draft reaches the agent; his `#send` reply sends it, with his
//! observations and the charts, to the client; a second `#send` sends nothing more.

use chrono::{Datelike, Utc};

use super::desk::{body, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

#[tokio::test(flavor = "multi_thread")]
async fn a_weekly_draft_answered_with_send_reaches_the_client() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.send(
        "li@globex.test",
        SUPPORT,
        "From: Li Chen <li@globex.test>\nTo: support@example.test\nSubject: AI agent not responding\nMessage-ID: <w1@globex.test>\n\nDown since 9.\n",
    )
    .await;
    lab.wait_for_support_mail(1).await;
    desk.run_once();
    let week = Utc::now().with_timezone(&chrono_tz::America::New_York).iso_week();
    let period = format!("{}-W{:02}", week.year(), week.week());
    let out = desk.helpdesk(&["report", "weekly", "--client", "Globex", "--period", &period, "--send"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("prepared and sent"));

    let agent_mail = lab.wait_for_mails(AGENT, 2).await;
    let draft = agent_mail
        .iter()
        .find(|m| header(m, "Subject").unwrap_or_default().starts_with("[Draft report] Globex - Week of"))
        .expect("the draft reaches the agent");
    let text = body(draft);
    assert!(text.contains("Tickets opened: 1 (P0 1"), "{text}");
    assert!(text.contains("AI agent not responding"), "the P0 is listed as an incident: {text}");
    assert!(lab.mails_received_by("li@globex.test").await.len() == 1, "only the acknowledgement so far");

    let reply = format!(
        "From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: Re: {}\nMessage-ID: <send1@example.test>\nIn-Reply-To: {}\n\nThe outage was an expired API key; I added expiry monitoring.\n#send\n\n> quoted draft\n",
        header(draft, "Subject").unwrap(),
        header(draft, "Message-ID").unwrap()
    );
    lab.send(AGENT, SUPPORT, &reply).await;
    lab.wait_for_support_mail(2).await;
    desk.run_once();
    let client_mail = lab.wait_for_mails("li@globex.test", 2).await;
    assert_eq!(client_mail.len(), 2);
    let report = &client_mail[1];
    assert!(header(report, "Subject").unwrap().starts_with("Globex - Week of"));
    let text = body(report).replace("\r\n", "\n");
    assert!(text.contains("Observations and next steps:\nThe outage was an expired API key"), "{text}");
    assert!(!text.contains("#send") && !text.contains("DRAFT"), "{text}");
    let raw = String::from_utf8_lossy(report);
    assert!(
        raw.contains("multipart/related") && raw.contains("image/png") && raw.contains("cid:tickets-chart"),
        "HTML with charts"
    );

    // Answering the draft again sends nothing more.
    lab.send(AGENT, SUPPORT, &reply.replace("send1@", "send2@")).await;
    lab.wait_for_support_mail(3).await;
    desk.run_once();
    assert_eq!(desk.unsent_mail().await, 0);
    lab.wait_for_empty_queue().await;
    assert_eq!(lab.mails_received_by("li@globex.test").await.len(), 2);
}
