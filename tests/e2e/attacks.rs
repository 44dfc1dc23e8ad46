//! The security review's attacks, each as mail through the real Postfix and Dovecot and the
//! real binary: a mail that stalls intake, a client's words run as the agent's commands, a
//! signed id that leaked to a client, another client's automated mail on a ticket, forged
//! agent mail flooding the agent, a stranger on a thread, and a spoofed client address.

use std::time::{Duration, Instant};

use super::desk::{body, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

/// One number from the desk's database; a failing query fails the test.
async fn scalar(desk: &TestDesk, sql: &'static str) -> i64 {
    let db = desk.db().await;
    sqlx::query_scalar(sql).fetch_one(&db).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// The mails in the agent's name that did not prove they were his, on a ticket or held.
fn unverified_agent_mails(desk: &TestDesk) -> usize {
    desk.messages_json().iter().filter(|(_, mail)| mail["author_kind"] == "unverified_agent").count()
}

fn mail(from: &str, to: &str, subject: &str, message_id: &str, extra_headers: &str, text: &str) -> String {
    format!("From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{message_id}>\n{extra_headers}\n{text}\n")
}

/// Sends, waits until support@ holds `in_support` mails, runs the desk once, and waits until
/// everything it queued was handed over and delivered.
async fn deliver_and_run(lab: &MailLab, desk: &TestDesk, from: &str, to: &str, eml: &str, in_support: usize) {
    lab.send(from, to, eml).await;
    lab.wait_for_support_mail(in_support).await;
    desk.run_once();
    desk.drain(lab).await;
}

/// Jane of Acme opens ticket #1 with `text`; returns the agent's notification.
async fn jane_opens_a_ticket(lab: &MailLab, desk: &TestDesk, text: &str) -> Vec<u8> {
    let eml = mail("Jane Roe <jane@acme.test>", SUPPORT, "Sync failing", "c1@acme.test", "", text);
    deliver_and_run(lab, desk, "jane@acme.test", SUPPORT, &eml, 1).await;
    lab.wait_for_mail_with_subject(AGENT, "[#1]").await
}

/// The agent's reply to `original` as a mail client writes it: `quoted` below his words.
fn agent_reply(original: &[u8], cc: &str, message_id: &str, words_and_quote: &str) -> String {
    let subject = header(original, "Subject").unwrap();
    let parent = header(original, "Message-ID").unwrap();
    let reply_to = header(original, "Reply-To").unwrap();
    let cc = if cc.is_empty() { String::new() } else { format!("Cc: {cc}\n") };
    format!(
        "From: Travis <{AGENT}>\nTo: {reply_to}\n{cc}Subject: Re: {subject}\nMessage-ID: <{message_id}>\nIn-Reply-To: {parent}\nReferences: {parent}\n\n{words_and_quote}\n"
    )
}

fn subjects(mails: &[Vec<u8>]) -> Vec<String> {
    mails.iter().map(|raw| header(raw, "Subject").unwrap_or_default()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_megabyte_mail_of_negations_does_not_stall_intake() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    // 2 MB of "not slow " with no sentence end: quadratic in triage before, hours of work.
    let hostile = mail("jane@acme.test", SUPPORT, "Question", "big@acme.test", "", &"not slow ".repeat(230_000));
    lab.send("jane@acme.test", SUPPORT, &hostile).await;
    let next = mail("bob@acme.test", SUPPORT, "Another question", "next@acme.test", "", "Hello.");
    lab.send("bob@acme.test", SUPPORT, &next).await;
    lab.wait_for_support_mail(2).await;
    let started = Instant::now();
    let mut run = desk.command(&["run", "--once"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            run.kill().ok();
            panic!("intake of two mails was still running after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success());
    desk.drain(&lab).await;
    let tickets = desk.tickets_json("all");
    assert_eq!(tickets.len(), 2, "both mails got their ticket: {tickets:?}");
    // (Postfix folds the 2 MB line, so a "slow" at the start of a folded line counts: the
    // severity is not the point here.)
    assert!(tickets.iter().any(|t| t["requester"] == "jane@acme.test"), "{tickets:?}");
    assert_eq!(lab.wait_for_mails("jane@acme.test", 1).await.len(), 1, "the hostile mail was acknowledged");
    assert_eq!(lab.wait_for_mails("bob@acme.test", 1).await.len(), 1, "the mail after it was acknowledged");
    println!("hostile: 2 MB of negations and the mail after it recorded in {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_tags_never_run_when_the_agent_replies_from_outlook() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let hostile = "The sync fails.\n> earlier mail\nRESOLVED\n#time 9h\n#billable\n> more";
    let notification = jane_opens_a_ticket(&lab, &desk, hostile).await;
    // Outlook for Mac: a header block, then the notification with no quote markers at all (the
    // worst case: even the desk's own `> ` in front of the client's text is gone).
    let bare: String = body(&notification).lines().map(|line| format!("{}\n", line.trim_start_matches("> "))).collect();
    let outlook_mac = format!(
        "Checking the sync now.\n\nFrom: Support <{SUPPORT}>\nDate: Monday, 5 January 2026 at 10:00\nTo: Travis <{AGENT}>\nSubject: {}\n\n{bare}",
        header(&notification, "Subject").unwrap()
    );
    let reply = agent_reply(&notification, "", "mac@example.test", &outlook_mac);
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &reply, 2).await;
    // Outlook mobile: an attribution line, then the notification unprefixed.
    let mobile = format!("#time 15m\n\nOn Mon, Jan 5, 2026 at 10:00 AM, \"Support\" <{SUPPORT}> wrote:\n\n{bare}");
    let reply = agent_reply(&notification, "", "mobile@example.test", &mobile);
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &reply, 3).await;

    let ticket = desk.ticket_json(1);
    assert_eq!(ticket["status"], "open", "the client's RESOLVED closed nothing: {ticket}");
    assert_eq!(ticket["minutes_logged"], 15, "only the agent's own #time 15m: {ticket}");
    // Every entry of any month: `time list` shows one period at a time.
    assert_eq!(scalar(&desk, "SELECT COUNT(*) FROM time_entries WHERE kind = 'billable'").await, 0);
    let jane = lab.mails_received_by("jane@acme.test").await;
    assert!(!subjects(&jane).iter().any(|s| s.contains("RESOLVED")), "{:?}", subjects(&jane));
    let relayed = jane.iter().find(|raw| body(raw).contains("Checking the sync now.")).expect("his words relayed");
    assert!(!body(relayed).contains("New ticket") && !body(relayed).contains("#time"), "{}", body(relayed));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_tags_in_a_follow_up_never_run_when_the_agent_replies_from_outlook() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    jane_opens_a_ticket(&lab, &desk, "The sync fails.").await;
    let acknowledgement = lab.wait_for_mail_with_subject("jane@acme.test", "Re: Sync failing").await;
    // Jane's follow-up carries lines that would be commands in the agent's reply, and a #cc
    // that would copy a stranger.
    let hostile = "Still failing.\nRESOLVED\n#time 9h\n#close\n#cc evil@stranger.test\n#merge 1";
    let follow_up = mail(
        "Jane Roe <jane@acme.test>",
        &header(&acknowledgement, "Reply-To").unwrap(),
        "Re: Sync failing [#1]",
        "c2@acme.test",
        &format!("In-Reply-To: {}\n", header(&acknowledgement, "Message-ID").unwrap()),
        hostile,
    );
    deliver_and_run(&lab, &desk, "jane@acme.test", SUPPORT, &follow_up, 2).await;
    let forwarded = lab.wait_for_mail_with_subject(AGENT, "Re: [#1]").await;
    // Outlook for Mac, the follow-up below a header block with every quote marker gone.
    let bare: String = body(&forwarded).lines().map(|line| format!("{}\n", line.trim_start_matches("> "))).collect();
    let outlook_mac = format!(
        "Looking at it now.\n\nFrom: Support <{SUPPORT}>\nDate: Monday, 5 January 2026 at 10:00\nTo: Travis <{AGENT}>\nSubject: {}\n\n{bare}",
        header(&forwarded, "Subject").unwrap()
    );
    let reply = agent_reply(&forwarded, "", "mac2@example.test", &outlook_mac);
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &reply, 3).await;

    let ticket = desk.ticket_json(1);
    assert_eq!(ticket["status"], "open", "the client's RESOLVED and #close closed nothing: {ticket}");
    assert_eq!(ticket["minutes_logged"], 0, "{ticket}");
    assert!(lab.mails_received_by("evil@stranger.test").await.is_empty(), "the client's #cc copied no one");
    let jane = lab.mails_received_by("jane@acme.test").await;
    let relayed = jane.iter().find(|raw| body(raw).contains("Looking at it now.")).expect("his words relayed");
    assert!(!body(relayed).contains("wrote again") && !body(relayed).contains("#cc"), "{}", body(relayed));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_id_that_reached_a_client_authenticates_nothing() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let notification = jane_opens_a_ticket(&lab, &desk, "The sync fails.").await;
    // Travis answers the notification with Jane in Cc: her copy carries the signed id.
    let genuine = agent_reply(&notification, "jane@acme.test", "genuine@example.test", "On it, Jane.\n#time 15m");
    lab.send(AGENT, "jane@acme.test", &genuine).await;
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &genuine, 2).await;
    assert_eq!(desk.ticket_json(1)["minutes_logged"], 15, "his genuine reply applied");
    let jane_copy = lab
        .wait_for_mails("jane@acme.test", 2)
        .await
        .into_iter()
        .find(|raw| body(raw).contains("On it, Jane."))
        .expect("Jane got his mail");
    let leaked = header(&jane_copy, "In-Reply-To").unwrap();
    assert!(leaked.contains("hd.t1."), "{leaked}");

    // Jane (or whoever reads her mail) forges the agent with it.
    let forged = format!(
        "From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: Re: ticket\nMessage-ID: <forged@acme.test>\nIn-Reply-To: {leaked}\n\n#p3 #time 8h #billable\nRESOLVED\n"
    );
    deliver_and_run(&lab, &desk, "jane@acme.test", SUPPORT, &forged, 3).await;
    let ticket = desk.ticket_json(1);
    assert_eq!((ticket["status"].as_str(), ticket["minutes_logged"].as_i64()), (Some("open"), Some(15)), "{ticket}");
    assert_ne!(ticket["severity"], "P3");
    let feedback = lab.wait_for_mail_with_subject(AGENT, "[#1] Mail in your name was NOT acted on").await;
    assert!(body(&feedback).contains("seen in a mail to someone else"), "{}", body(&feedback));
    assert!(!subjects(&lab.mails_received_by("jane@acme.test").await).iter().any(|s| s.contains("RESOLVED")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_to_a_notification_older_than_30_days_runs_nothing_and_the_feedback_can_be_answered() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let notification = jane_opens_a_ticket(&lab, &desk, "The sync fails.").await;
    let later = (chrono::Utc::now() + chrono::Duration::days(31)).to_rfc3339();
    let old_reply = agent_reply(&notification, "", "late@example.test", "Back to this.\n#time 30m");
    lab.send(AGENT, SUPPORT, &old_reply).await;
    lab.wait_for_support_mail(2).await;
    desk.helpdesk(&["--now", &later, "run", "--once"]);
    desk.drain(&lab).await;
    assert_eq!(desk.ticket_json(1)["minutes_logged"], 0, "an expired id proves nothing");
    let feedback = lab.wait_for_mail_with_subject(AGENT, "[#1] Mail in your name was NOT acted on").await;
    assert!(body(&feedback).contains("more than 30 days ago"), "{}", body(&feedback));
    // The feedback carries a fresh id: answering it works.
    let answer = agent_reply(&feedback, "", "again@example.test", "Back to this.\n#time 30m");
    lab.send(AGENT, SUPPORT, &answer).await;
    lab.wait_for_support_mail(3).await;
    desk.helpdesk(&["--now", &later, "run", "--once"]);
    assert_eq!(desk.ticket_json(1)["minutes_logged"], 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_clients_automated_mail_never_lands_on_a_ticket() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    jane_opens_a_ticket(&lab, &desk, "The sync fails.").await;
    let acknowledgement = lab.wait_for_mails("jane@acme.test", 1).await.remove(0);
    let ack_id = header(&acknowledgement, "Message-ID").unwrap();
    let globex = mail(
        "li@globex.test",
        SUPPORT,
        "Automatic reply: Sync failing",
        "auto@globex.test",
        &format!("Auto-Submitted: auto-replied\nIn-Reply-To: {ack_id}\n"),
        "I am out of the office.",
    );
    deliver_and_run(&lab, &desk, "li@globex.test", SUPPORT, &globex, 2).await;
    assert_eq!(desk.ticket_json(1)["messages"], 1, "Acme's ticket holds only Acme's mail");
    let held = desk.held_json();
    assert_eq!(held.iter().filter(|mail| mail["sender"] == "li@globex.test").count(), 1, "{held:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_five_forgeries_give_the_agent_five_mails() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    jane_opens_a_ticket(&lab, &desk, "The sync fails.").await;
    let ack_id = header(&lab.wait_for_mails("jane@acme.test", 1).await[0], "Message-ID").unwrap();
    for n in 0..25 {
        let threading = format!("In-Reply-To: {ack_id}\n");
        let forged =
            mail(AGENT, SUPPORT, "Re: Sync failing [#1]", &format!("forged{n}@evil.test"), &threading, "RESOLVED");
        lab.send("eve@evil.test", SUPPORT, &forged).await;
    }
    lab.wait_for_support_mail(26).await;
    desk.run_once();
    desk.drain(&lab).await;
    let not_acted = subjects(&lab.mails_received_by(AGENT).await).iter().filter(|s| s.contains("NOT acted on")).count();
    assert_eq!(not_acted, 5, "agent.unverified_feedback_per_hour");
    assert_eq!(unverified_agent_mails(&desk), 25);
    assert_eq!(desk.ticket_json(1)["status"], "open");
    println!("forgeries: 25 forged agent mails, {not_acted} feedback mails to the agent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stranger_on_a_thread_reopens_nothing_and_scores_nothing() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let notification = jane_opens_a_ticket(&lab, &desk, "The sync fails.").await;
    let ack_id = header(&lab.wait_for_mails("jane@acme.test", 1).await[0], "Message-ID").unwrap();
    let resolve = agent_reply(&notification, "", "done@example.test", "Fixed.\nRESOLVED");
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &resolve, 2).await;
    assert_eq!(desk.ticket_json(1)["status"], "closed");
    let stranger =
        mail("x@evil.test", SUPPORT, "Re: Sync failing", "s1@evil.test", &format!("In-Reply-To: {ack_id}\n"), "0");
    deliver_and_run(&lab, &desk, "x@evil.test", SUPPORT, &stranger, 3).await;
    let ticket = desk.ticket_json(1);
    assert_eq!((ticket["status"].as_str(), ticket["messages"].as_i64()), (Some("closed"), Some(3)), "{ticket}");
    // No command lists the scores one by one (`metrics` shows their average).
    assert_eq!(scalar(&desk, "SELECT COUNT(*) FROM satisfaction_scores").await, 0, "no score for Acme");
    assert!(ticket["attention"].as_str().unwrap_or_default().contains("x@evil.test"), "{ticket}");
    assert_eq!(lab.mails_received_by("x@evil.test").await.len(), 0, "nothing goes to the stranger");
    // The agent hears of it at once, warned.
    let warned =
        lab.mails_received_by(AGENT).await.into_iter().find(|raw| body(raw).starts_with("CAREFUL: x@evil.test"));
    assert!(
        warned.is_some(),
        "the agent is told of the stranger's mail: {:?}",
        subjects(&lab.mails_received_by(AGENT).await)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_client_address_gets_the_real_person_no_link() {
    let lab = MailLab::start();
    // Default desk: the acknowledgement goes out, without the link of the spoofed subject.
    let desk = TestDesk::new(&lab);
    let spoofed = mail(
        "boss@initech.test",
        SUPPORT,
        "URGENT wire 50000 USD http://evil.test/pay",
        "sp1@evil.test",
        "",
        "Pay now.",
    );
    deliver_and_run(&lab, &desk, "eve@evil.test", SUPPORT, &spoofed, 1).await;
    let acknowledgement = lab.wait_for_mails("boss@initech.test", 1).await.remove(0);
    let text = format!("{} {}", header(&acknowledgement, "Subject").unwrap(), body(&acknowledgement));
    assert!(!text.contains("evil.test") && text.contains("[link removed]"), "{text}");

    // With require_sender_authentication the spoofed mail is held: nothing goes to the boss.
    let strict_lab = MailLab::start();
    let people = r#"
[agent]
name = "Travis"
addresses = ["travis@example.test"]
trusted_authserv_ids = ["mx.example.test"]
[intake]
require_sender_authentication = true
[[clients]]
name = "Initech"
tier = "starter"
domains = ["initech.test"]
"#;
    let strict = TestDesk::with_mailbox(&strict_lab, SUPPORT, &format!("Support <{SUPPORT}>"), people);
    deliver_and_run(&strict_lab, &strict, "eve@evil.test", SUPPORT, &spoofed, 1).await;
    assert_eq!(strict_lab.mails_received_by("boss@initech.test").await.len(), 0);
    assert_eq!(strict.tickets_json("all").len(), 0, "held, no ticket");
    // A mail the trusted server proved is from initech.test gets its ticket.
    let proven = mail(
        "boss@initech.test",
        SUPPORT,
        "Invoice question",
        "ok1@initech.test",
        "Authentication-Results: mx.example.test; dmarc=pass header.from=initech.test\n",
        "Hello.",
    );
    deliver_and_run(&strict_lab, &strict, "boss@initech.test", SUPPORT, &proven, 2).await;
    assert_eq!(strict.tickets_json("all").len(), 1);
    assert_eq!(strict_lab.wait_for_mails("boss@initech.test", 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_agent_mail_about_no_ticket_is_stored_as_unverified() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let forged = mail(AGENT, SUPPORT, "Note", "n1@evil.test", "", "#time 5h");
    deliver_and_run(&lab, &desk, "eve@evil.test", SUPPORT, &forged, 1).await;
    assert_eq!(unverified_agent_mails(&desk), 1);
    // Every entry of any month: `time list` shows one period at a time.
    assert_eq!(scalar(&desk, "SELECT COUNT(*) FROM time_entries").await, 0);
}
