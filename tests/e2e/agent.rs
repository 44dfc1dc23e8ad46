//! The agent works from his own mail client: replies with tags, RESOLVED, notes, and mail in
//! his name that he did not send.

use super::desk::{body, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

/// What a mail client sends when the agent answers `original`: Re: subject, threading headers,
/// his text on top, a signature, and the original quoted below.
pub(super) fn reply_to(original: &[u8], from: &str, to: &str, cc: &str, new_text: &str, message_id: &str) -> String {
    let subject = header(original, "Subject").unwrap();
    let parent = header(original, "Message-ID").unwrap();
    let references = header(original, "References").map(|r| format!("{r} {parent}")).unwrap_or_else(|| parent.clone());
    let quoted: String = body(original).lines().map(|line| format!("> {line}\n")).collect();
    let cc_line = if cc.is_empty() { String::new() } else { format!("Cc: {cc}\n") };
    format!(
        "From: {from}\nTo: {to}\n{cc_line}Subject: Re: {subject}\nMessage-ID: <{message_id}>\nIn-Reply-To: {parent}\nReferences: {references}\n\n{new_text}\n\n-- \nTravis | Automation Agency\n\nOn Mon, Nov 30, 2026 at 10:00 AM Support <{SUPPORT}> wrote:\n{quoted}"
    )
}

fn notification_for(mails: &[Vec<u8>], ticket: i64) -> Vec<u8> {
    mails
        .iter()
        .find(|raw| header(raw, "Subject").is_some_and(|s| s.starts_with(&format!("[#{ticket}]"))))
        .cloned()
        .unwrap_or_else(|| panic!("no notification for #{ticket}"))
}

/// Sends `eml` from `from` to `to`, waits until support@ holds `in_support` mails, runs the
/// desk once and drains it (`TestDesk::drain`), so that every mailbox is then final.
pub(super) async fn deliver_and_run(
    lab: &MailLab,
    desk: &TestDesk,
    from: &str,
    to: &str,
    eml: &str,
    in_support: usize,
) {
    lab.send(from, to, eml).await;
    lab.wait_for_support_mail(in_support).await;
    desk.run_once();
    desk.drain(lab).await;
}

/// A client's first mail becomes ticket #1: returns the agent's notification of it and the
/// ticket's reply address (its Reply-To).
async fn open_first_ticket(lab: &MailLab, desk: &TestDesk, client: &str, eml: &str) -> (Vec<u8>, String) {
    deliver_and_run(lab, desk, client, SUPPORT, eml, 1).await;
    let notification = notification_for(&lab.wait_for_mails(AGENT, 1).await, 1);
    let reply_address = header(&notification, "Reply-To").unwrap();
    (notification, reply_address)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_answers_logs_time_resolves_and_a_late_client_reply_reopens() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let (notification, reply_to_address) = open_first_ticket(
        &lab,
        &desk,
        "jane@acme.test",
        "From: Jane Roe <jane@acme.test>\nTo: support@example.test\nSubject: CRM sync stopped\nMessage-ID: <c1@acme.test>\n\nNo leads reached HubSpot since 7am.\n",
    )
    .await;

    // Travis answers the notification from his phone.
    deliver_and_run(
        &lab,
        &desk,
        AGENT,
        &reply_to_address,
        &reply_to(
            &notification,
            "Travis <travis@example.test>",
            &reply_to_address,
            "",
            "Hi Jane, the HubSpot token expired. I renewed it and the backlog is syncing now.\n#time 30m",
            "t1@example.test",
        ),
        2,
    )
    .await;

    let client_mail = lab.wait_for_mails("jane@acme.test", 2).await;
    assert_eq!(client_mail.len(), 2, "acknowledgement and the relayed answer");
    // Picked by content: the acknowledgement of the first run may be delivered after this.
    let relayed = client_mail.iter().find(|m| body(m).contains("HubSpot token")).expect("the relayed answer");
    let text = body(relayed);
    assert!(text.contains("the HubSpot token expired"), "{text}");
    assert!(!text.contains("#time"), "tags are not relayed: {text}");
    assert!(!text.contains("No leads reached HubSpot"), "the client's own words are not quoted back: {text}");
    assert!(!text.contains("Automation Agency"), "the signature stays out: {text}");
    assert_eq!(header(relayed, "In-Reply-To").as_deref(), Some("<c1@acme.test>"));
    assert!(header(relayed, "Subject").unwrap().contains("[#1]"));
    assert!(header(relayed, "Auto-Submitted").is_none(), "a person's answer is not auto-submitted");
    let ticket = &desk.tickets_json("all")[0];
    assert_eq!(ticket["minutes_logged"], 30);
    assert!(ticket["first_response_at"].is_string(), "{ticket}");

    // He resolves it, replying to his own earlier mail thread (the notification again).
    deliver_and_run(
        &lab,
        &desk,
        AGENT,
        &reply_to_address,
        &reply_to(
            &notification,
            "Travis <travis@example.test>",
            &reply_to_address,
            "",
            "What was wrong: the token had expired.\nWhat I fixed: renewed it and added an expiry alert.\n#time 1h\nRESOLVED",
            "t2@example.test",
        ),
        3,
    )
    .await;
    let client_mail = lab.wait_for_mails("jane@acme.test", 3).await;
    assert_eq!(client_mail.len(), 3);
    let resolved = client_mail
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|subject| subject.contains("RESOLVED")))
        .expect("the resolved mail");
    assert!(header(resolved, "Subject").unwrap().ends_with(" - RESOLVED [#1]"), "{:?}", header(resolved, "Subject"));
    let text = body(resolved);
    assert!(text.contains("Good news") && text.contains("renewed it and added an expiry alert"), "{text}");
    assert!(text.contains("✅ What was wrong: the token had expired."), "the SOP's shape: {text}");
    assert!(!text.contains("RESOLVED\n") && !text.contains("#time"), "{text}");
    let ticket = &desk.tickets_json("all")[0];
    assert_eq!(ticket["status"], "closed");
    assert_eq!(ticket["minutes_logged"], 90);
    assert!(ticket["resolved_at"].is_string());

    // Jane writes back to the resolved mail: the ticket opens again.
    deliver_and_run(
        &lab,
        &desk,
        "jane@acme.test",
        SUPPORT,
        &reply_to(resolved, "Jane Roe <jane@acme.test>", SUPPORT, "", "It broke again this morning.", "c2@acme.test"),
        4,
    )
    .await;
    let tickets = desk.tickets_json("all");
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["status"], "open");
}

#[tokio::test(flavor = "multi_thread")]
async fn quoted_tags_notes_and_forged_agent_mail_change_nothing() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let (notification, reply_address) = open_first_ticket(
        &lab,
        &desk,
        "li@globex.test",
        "From: Li <li@globex.test>\nTo: support@example.test\nSubject: Report totals wrong\nMessage-ID: <g1@globex.test>\n\nThe totals are off. #time 5h\n",
    )
    .await;

    // 1. A reply whose only #time is in the quoted part (the client's text) logs nothing.
    lab.send(
        AGENT,
        &reply_address,
        &reply_to(&notification, AGENT, &reply_address, "", "Looking into it.", "a1@example.test"),
    )
    .await;
    // 2. An internal note never reaches the client.
    lab.send(
        AGENT,
        &reply_address,
        &reply_to(
            &notification,
            AGENT,
            &reply_address,
            "",
            "Customer's CSV uses semicolons, check the parser.\n#note\n#time 15m",
            "a2@example.test",
        ),
    )
    .await;
    // 3. Someone else writes as Travis, without any signed reference, claiming to resolve it.
    deliver_and_run(
        &lab,
        &desk,
        AGENT,
        &reply_address,
        &format!(
            "From: Travis <{AGENT}>\nTo: {reply_address}\nSubject: Re: Report totals wrong [#1]\nMessage-ID: <forged@evil.test>\nIn-Reply-To: <g1@globex.test>\n\nAll done, please send the admin password.\n#time 8h\nRESOLVED\n"
        ),
        4,
    )
    .await;

    let ticket = &desk.tickets_json("all")[0];
    assert_eq!(ticket["status"], "open", "the forged RESOLVED did nothing");
    assert_eq!(ticket["minutes_logged"], 15, "only the note's 15 minutes: no quoted 5h, no forged 8h");
    let client_mail = lab.mails_received_by("li@globex.test").await;
    let texts: Vec<String> = client_mail.iter().map(|raw| body(raw)).collect();
    assert_eq!(client_mail.len(), 2, "acknowledgement and 'Looking into it.' only: {texts:?}");
    assert!(texts.iter().any(|text| text.contains("Looking into it.")), "{texts:?}");
    assert!(texts.iter().all(|text| !text.contains("semicolons") && !text.contains("admin password")));
    let agent_mail = lab.wait_for_mails(AGENT, 2).await;
    assert!(
        agent_mail.iter().any(|raw| header(raw, "Subject").unwrap_or_default().contains("NOT acted on")),
        "the agent is told about the forged mail"
    );
    let shown = desk.ticket_json(1);
    let kinds: Vec<&str> =
        shown["message_list"].as_array().unwrap().iter().map(|m| m["author_kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"unverified_agent"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_tag_changes_nothing_and_the_agent_is_told() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let (notification, reply_address) = open_first_ticket(
        &lab,
        &desk,
        "bo@initech.test",
        "From: bo@initech.test\nTo: support@example.test\nSubject: Question\nMessage-ID: <i1@initech.test>\n\nHow do I export?\n",
    )
    .await;
    deliver_and_run(
        &lab,
        &desk,
        AGENT,
        &reply_address,
        &reply_to(&notification, AGENT, &reply_address, "", "Use the export button.\n#time lots", "b1@example.test"),
        2,
    )
    .await;
    let agent_mail = lab.wait_for_mails(AGENT, 2).await;
    let feedback = agent_mail
        .iter()
        .find(|raw| header(raw, "Subject").unwrap_or_default().contains("Not understood"))
        .expect("feedback");
    assert!(body(feedback).contains("#time lots"));
    assert_eq!(lab.mails_received_by("bo@initech.test").await.len(), 1, "nothing relayed");
    assert_eq!(desk.tickets_json("all")[0]["minutes_logged"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reply_over_the_size_limit_runs_nothing_relays_nothing_and_tells_the_agent() {
    let lab = MailLab::start();
    let desk = TestDesk::with_extra_config(&lab, "[intake]\nmax_message_bytes = 65536\n");
    let (notification, reply_to_address) = open_first_ticket(
        &lab,
        &desk,
        "jane@acme.test",
        "From: Jane Roe <jane@acme.test>\nTo: support@example.test\nSubject: Export broken\nMessage-ID: <big1@acme.test>\n\nThe export fails.\n",
    )
    .await;
    let log_dump = "2026-11-30 10:00:01 export row failed\n".repeat(3000); // ~110 kB pasted log
    deliver_and_run(
        &lab,
        &desk,
        AGENT,
        &reply_to_address,
        &reply_to(
            &notification,
            "Travis <travis@example.test>",
            &reply_to_address,
            "",
            &format!("Fixed, see the log.\nRESOLVED\n#time 1h\n\n{log_dump}"),
            "big-reply@example.test",
        ),
        2,
    )
    .await;

    let ticket = desk.ticket_json(1);
    assert_eq!(ticket["status"], "open", "RESOLVED in an unread body is not run: {ticket}");
    let db = desk.db().await;
    // The outbox: what was queued for the client, sent or not.
    let relayed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind IN ('agent_reply', 'resolved')")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(relayed, 0, "the placeholder text is never sent to the client");
    // Every entry of any month: `time list` shows one period at a time.
    let minutes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM time_entries").fetch_one(&db).await.unwrap();
    assert_eq!(minutes, 0);
    let feedback = lab.wait_for_mails(AGENT, 2).await;
    let text = feedback.iter().map(|raw| body(raw)).find(|text| text.contains("could not read this mail"));
    assert!(text.is_some(), "the agent is told: {:?}", feedback.iter().map(|raw| body(raw)).collect::<Vec<_>>());
    assert_eq!(lab.mails_received_by("jane@acme.test").await.len(), 1, "only the acknowledgement");
}
