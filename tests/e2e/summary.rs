//! The daily summary reaches the agent's mailbox once per day, even when `run --once` runs
//! again the same day.

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
    // The desk first ran the evening before: a new desk's first summary is the first
    // one due after it started.
    desk.helpdesk(&["run", "--once", "--now", "2030-01-06T23:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T15:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T22:00:00Z"]);
    desk.drain(&lab).await;
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
    desk.drain(&lab).await;
    let count = lab
        .mails_received_by(AGENT)
        .await
        .iter()
        .filter(|m| header(m, "Subject").unwrap_or_default().starts_with("Daily summary"))
        .count();
    assert_eq!(count, 2);

    // Monday 2030-01-07 was a weekly and monthly report day for Acme and Globex, and a
    // quarterly one for Initech: each draft reached the agent once, over four runs on two days.
    let mut drafts: Vec<String> = lab
        .mails_received_by(AGENT)
        .await
        .iter()
        .filter_map(|m| header(m, "Subject"))
        .filter(|subject| subject.starts_with("[Draft report]"))
        .collect();
    drafts.sort();
    assert_eq!(
        drafts,
        [
            "[Draft report] Acme - Monthly Report, December 2029",
            "[Draft report] Acme - Weekly Health Report",
            "[Draft report] Globex - Monthly Report, December 2029",
            "[Draft report] Globex - Week of Dec 31 Summary",
            "[Draft report] Initech - Quarterly Report, 2029 Q4",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answering_the_summary_with_take_opens_the_ticket_of_client_mail_held_as_automated() {
    let lab = MailLab::start();
    let desk = TestDesk::with_daily_summary(&lab);
    // Jane's monitoring tool writes in her name and marks its mail as automatic.
    lab.send(
        "jane@acme.test",
        SUPPORT,
        "From: Jane <jane@acme.test>\nTo: support@example.test\nSubject: Sync job failed 3 times\nMessage-ID: <h1@acme.test>\nAuto-Submitted: auto-generated\n\nJob 42 failed.\n",
    )
    .await;
    lab.wait_for_support_mail(1).await;
    // The desk first ran the evening before: a new desk's first summary is the first
    // one due after it started.
    desk.helpdesk(&["run", "--once", "--now", "2030-01-06T23:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:00:00Z"]);
    // The same run also drafts Acme's monthly report for Travis: pick the summary by subject.
    let summary = lab.wait_for_mail_with_subject(AGENT, "Daily summary").await;
    let subject = header(&summary, "Subject").unwrap();
    assert!(subject.starts_with("Daily summary"), "{subject}");
    let text =
        mail_parser::MessageParser::default().parse(summary.as_slice()).unwrap().body_text(0).unwrap().to_string();
    assert!(text.contains("Sync job failed 3 times") && text.contains("\"#take 1\""), "{text}");
    desk.drain(&lab).await;
    assert!(lab.mails_received_by("jane@acme.test").await.is_empty(), "held: no acknowledgement");

    // Travis answers from his mail client, above the quoted summary.
    let summary_id = header(&summary, "Message-ID").unwrap();
    let quoted: Vec<String> = text.lines().map(|line| format!("> {line}")).collect();
    lab.send(
        AGENT,
        SUPPORT,
        &format!(
            "From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: Re: {subject}\nMessage-ID: <r1@example.test>\nIn-Reply-To: {summary_id}\nReferences: {summary_id}\n\n#take 1\n\nOn Mon, Jan 7, 2030 at 8:00 AM Support <{SUPPORT}> wrote:\n{}\n",
            quoted.join("\n")
        ),
    )
    .await;
    lab.wait_for_support_mail(2).await;
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:10:00Z"]);
    desk.drain(&lab).await;

    let acknowledgements = lab.mails_received_by("jane@acme.test").await;
    assert_eq!(acknowledgements.len(), 1);
    assert!(header(&acknowledgements[0], "Subject").unwrap().contains("[#1]"));
    let feedback = lab.wait_for_mail_with_subject(AGENT, "Held mail taken in").await;
    assert!(String::from_utf8_lossy(&feedback).contains("message 1: opened ticket #1"));
    let feedback_count = lab
        .mails_received_by(AGENT)
        .await
        .iter()
        .filter(|m| header(m, "Subject").as_deref() == Some("Held mail taken in"))
        .count();
    assert_eq!(feedback_count, 1);
    let tickets = desk.tickets_json("open");
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["requester"], "jane@acme.test");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_desks_first_summary_is_the_first_due_after_it_started() {
    let lab = MailLab::start();
    let desk = TestDesk::with_daily_summary(&lab);
    // First started at 08:00 New York time, after the 07:30 summary: none for that morning.
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T20:00:00Z"]);
    desk.drain(&lab).await;
    let summaries = |mails: Vec<Vec<u8>>| {
        mails.iter().filter(|m| header(m, "Subject").unwrap_or_default().starts_with("Daily summary")).count()
    };
    assert_eq!(summaries(lab.mails_received_by(AGENT).await), 0, "no summary for a day before the desk existed");
    desk.helpdesk(&["run", "--once", "--now", "2030-01-08T13:00:00Z"]);
    desk.drain(&lab).await;
    assert_eq!(summaries(lab.mails_received_by(AGENT).await), 1, "the next morning's");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_out_of_office_on_a_ticket_is_named_in_the_summary_not_sent_to_the_agent() {
    let lab = MailLab::start();
    let desk = TestDesk::with_daily_summary(&lab);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-06T23:00:00Z"]);
    lab.send(
        "jane@acme.test",
        SUPPORT,
        "From: jane@acme.test\nTo: support@example.test\nSubject: Export empty\nMessage-ID: <o1@acme.test>\n\nThe export is empty.\n",
    )
    .await;
    lab.wait_for_support_mail(1).await;
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T02:00:00Z"]);
    desk.drain(&lab).await;
    let ack = lab.wait_for_mail_with_subject("jane@acme.test", "Re: Export empty").await;
    let out_of_office = format!(
        "From: jane@acme.test\nTo: {}\nSubject: Automatic reply: Re: Export empty [#1]\nMessage-ID: <o2@acme.test>\nIn-Reply-To: {}\nAuto-Submitted: auto-replied\n\nI am out of the office until Monday.\n",
        header(&ack, "Reply-To").unwrap(),
        header(&ack, "Message-ID").unwrap()
    );
    lab.send("jane@acme.test", SUPPORT, &out_of_office).await;
    lab.wait_for_support_mail(2).await;
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T03:00:00Z"]);
    desk.drain(&lab).await;
    // The same runs draft Monday's client reports for Travis: look for a follow-up only.
    let forwarded = lab
        .mails_received_by(AGENT)
        .await
        .iter()
        .filter(|m| header(m, "Subject").unwrap_or_default().starts_with("Re: [#1]"))
        .count();
    assert_eq!(forwarded, 0, "an out-of-office is not forwarded to the agent");
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:00:00Z"]);
    let summary = lab.wait_for_mail_with_subject(AGENT, "Daily summary").await;
    let text =
        mail_parser::MessageParser::default().parse(summary.as_slice()).unwrap().body_text(0).unwrap().to_string();
    assert!(text.contains("AUTOMATED REPLIES ON TICKETS"), "{text}");
    assert!(text.contains("#1 from jane@acme.test \"Automatic reply: Re: Export empty [#1]\""), "{text}");
}
