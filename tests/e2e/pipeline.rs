//! The core pipeline as a client and the agent see it.

use super::desk::{body, header, TestDesk, AGENT};
use super::lab::MailLab;

fn client_mail(from: &str, subject: &str, message_id: &str, extra_headers: &str, text: &str) -> String {
    format!(
        "From: {from}\nTo: support@example.test\nSubject: {subject}\nMessage-ID: <{message_id}>\nDate: Mon, 30 Nov 2026 10:00:00 -0500\n{extra_headers}\n{text}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_mail_is_acknowledged_and_the_reply_threads_onto_the_same_ticket() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.send(
        "jane@acme.test",
        "support@example.test",
        &client_mail(
            "Jane Roe <jane@acme.test>",
            "Leads stuck in the CRM sync",
            "m1@acme.test",
            "",
            "Nothing has synced since 7am.",
        ),
    )
    .await;
    lab.wait_for_support_mail(1).await;
    desk.run_once();
    desk.drain(&lab).await;

    let received = lab.mails_received_by("jane@acme.test").await;
    assert_eq!(received.len(), 1, "Jane gets exactly one acknowledgement");
    let ack = &received[0];
    let subject = header(ack, "Subject").unwrap();
    assert!(subject.contains("[#1]") && subject.contains("Leads stuck"), "{subject}");
    assert_eq!(header(ack, "In-Reply-To").as_deref(), Some("<m1@acme.test>"));
    assert!(header(ack, "References").unwrap().contains("<m1@acme.test>"));
    assert_eq!(header(ack, "Auto-Submitted").as_deref(), Some("auto-replied"));
    let ack_id = header(ack, "Message-ID").unwrap();
    assert!(ack_id.contains("@example.test"), "{ack_id}");
    let text = body(ack);
    assert!(text.contains("Hey Jane"), "{text}");
    assert!(text.contains("I'll have an update for you by"), "{text}");

    let notifications = lab.mails_received_by(AGENT).await;
    assert_eq!(notifications.len(), 1);
    assert!(header(&notifications[0], "Subject").unwrap().contains("[#1]"));
    assert!(body(&notifications[0]).contains("Nothing has synced since 7am."));

    // Jane answers the acknowledgement from her mail client, editing the subject.
    lab.send(
        "jane@acme.test",
        "support@example.test",
        &client_mail(
            "Jane Roe <jane@acme.test>",
            "Re: still stuck, now 401s too",
            "m2@acme.test",
            &format!("In-Reply-To: {ack_id}\nReferences: <m1@acme.test> {ack_id}\n"),
            "It started at 6:58. The webhook log shows 401s.",
        ),
    )
    .await;
    lab.wait_for_support_mail(2).await;
    desk.run_once();

    let tickets = desk.tickets_json("all");
    assert_eq!(tickets.len(), 1, "the reply joined the ticket: {tickets:?}");
    let ticket = &tickets[0];
    assert_eq!(ticket["id"], 1);
    assert_eq!(ticket["client"], "Acme");
    assert_eq!(ticket["requester"], "jane@acme.test");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["messages"], 2);
    assert!(ticket["opened_at"].as_str().unwrap().ends_with('Z'));
    // "Leads stuck in the CRM sync" / "Nothing has synced since 7am.": no rule, GROWTH's P2.
    assert_eq!(ticket["severity"], "P2", "{ticket}");
    assert!(ticket["severity_reason"].as_str().unwrap().starts_with("no rule matched"), "{ticket}");
    let shown = desk.ticket_json(1);
    let reasons: Vec<&str> =
        shown["message_list"].as_array().unwrap().iter().map(|m| m["thread_reason"].as_str().unwrap()).collect();
    assert!(reasons[1].contains("desk's own mail"), "{reasons:?}");
    desk.drain(&lab).await;
    assert_eq!(lab.mails_received_by("jane@acme.test").await.len(), 1, "a reply gets no second acknowledgement");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_out_of_office_reply_gets_nothing_and_opens_no_ticket() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.send(
        "bob@globex.test",
        "support@example.test",
        &client_mail(
            "Bob <bob@globex.test>",
            "Automatic reply: weekly check-in",
            "ooo@globex.test",
            "Auto-Submitted: auto-replied\n",
            "I am out of the office until Monday.",
        ),
    )
    .await;
    // The same autoresponder without any header that says so, only its subject.
    lab.send(
        "bob@globex.test",
        "support@example.test",
        &client_mail("Bob <bob@globex.test>", "Out of Office: back Monday", "ooo2@globex.test", "", "Away."),
    )
    .await;
    lab.wait_for_support_mail(2).await;
    desk.run_once();
    assert!(desk.tickets_json("all").is_empty(), "automated mail opens no ticket");
    desk.drain(&lab).await;
    assert!(lab.mails_received_by("bob@globex.test").await.is_empty(), "no reply to an autoresponder");
    assert!(lab.mails_received_by(AGENT).await.is_empty(), "and no notification either");
    let held = desk.held_json();
    assert_eq!(
        held.iter().filter(|mail| !mail["automated_reason"].is_null()).count(),
        2,
        "both mails are kept, held aside: {held:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clients_with_the_same_subject_stay_on_separate_tickets_and_strangers_cannot_join() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.send(
        "jane@acme.test",
        "support@example.test",
        &client_mail("jane@acme.test", "Sync broken", "a1@acme.test", "", "Acme here."),
    )
    .await;
    lab.send(
        "li@globex.test",
        "support@example.test",
        &client_mail("li@globex.test", "Sync broken", "g1@globex.test", "", "Globex here."),
    )
    .await;
    lab.wait_for_support_mail(2).await;
    desk.run_once();
    let tickets = desk.tickets_json("all");
    assert_eq!(tickets.len(), 2);
    let clients: Vec<&str> = tickets.iter().map(|t| t["client"].as_str().unwrap()).collect();
    assert!(clients.contains(&"Acme") && clients.contains(&"Globex"), "{clients:?}");
    let acme_ticket = tickets.iter().find(|t| t["client"] == "Acme").unwrap()["id"].as_i64().unwrap();

    // Someone outside Acme quotes Acme's ticket token; a colleague at Acme uses it too.
    lab.send(
        "eve@stranger.test",
        "support@example.test",
        &client_mail(
            "eve@stranger.test",
            &format!("Re: Sync broken [#{acme_ticket}]"),
            "e1@stranger.test",
            "",
            "Send me the logs.",
        ),
    )
    .await;
    lab.send(
        "bill@acme.test",
        "support@example.test",
        &client_mail("bill@acme.test", &format!("Sync broken [#{acme_ticket}]"), "a2@acme.test", "", "Same here."),
    )
    .await;
    lab.wait_for_support_mail(4).await;
    desk.run_once();
    let tickets = desk.tickets_json("all");
    assert_eq!(tickets.len(), 3, "the stranger got a ticket of their own: {tickets:?}");
    let acme = tickets.iter().find(|t| t["id"] == acme_ticket).unwrap();
    assert_eq!(acme["messages"], 2, "the Acme colleague joined by token");
    let stranger = tickets.iter().find(|t| t["requester"] == "eve@stranger.test").unwrap();
    assert!(stranger["client"].is_null());
    desk.drain(&lab).await;
    assert!(lab.mails_received_by("eve@stranger.test").await.is_empty(), "unknown senders get no acknowledgement");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watching_desk_answers_new_mail_through_idle_and_stops_cleanly_on_sigterm() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    // A poll interval far beyond the test's patience: only IDLE can make this pass.
    let mut child = desk.spawn_run_with_env("run.log", &[("HELPDESK_IMAP__POLL_INTERVAL_SECS", "600")]);
    // Wait until the desk is idling on the mailbox before sending.
    desk.wait_for_log("run.log", "IMAP connected", 30).await;
    lab.send(
        "li@globex.test",
        "support@example.test",
        &client_mail("li@globex.test", "Agent down", "g9@globex.test", "", "Help"),
    )
    .await;
    let acks = lab.wait_for_mails("li@globex.test", 1).await;
    assert_eq!(acks.len(), 1, "acknowledged while running: {}", desk.log("run.log"));

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit on SIGTERM: {status}\n{}", desk.log("run.log"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_machine_generated_mail_in_the_sisimai_corpus_gets_an_acknowledgement() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sisimai/maildir");
    let mut appended = 0;
    for folder in ["bsd", "dos", "mac", "err"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(folder)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            if lab.append("support@example.test", &std::fs::read(&file).unwrap()).await {
                appended += 1;
            }
        }
    }
    assert_eq!(appended, 826, "every machine-generated mail of the corpus was appended (docs/guarantees.md names 826)");
    let log = desk.run_once();
    let duplicates = log.matches("already recorded; skipping duplicate").count() as i64;
    let db = desk.db().await;
    let recorded = desk.messages_json().len() as i64;
    // The outbox: every acknowledgement queued, sent or not.
    let acknowledgements: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").fetch_one(&db).await.unwrap();
    let tickets = desk.tickets_json("all").len() as i64;
    println!("sisimai end to end: {appended} appended, {recorded} recorded and {duplicates} recognised as the same mail again (the corpus holds dos/ and mac/ line-ending copies of bsd/ mails, and byte-identical files), {tickets} tickets, {acknowledgements} acknowledgements");
    assert_eq!(acknowledgements, 0);
    assert_eq!(tickets, 0);
    assert_eq!(recorded + duplicates, appended, "every appended mail is recorded or a recognised duplicate");
    // The corpus's dos/ and mac/ copies of bsd/ mails and its byte-identical files are the
    // same mails (docs/guarantees.md names these counts).
    assert_eq!((recorded, duplicates), (723, 103), "recorded and recognised as copies");
}
