//! The daily back-and-forth, driven as the people would through the real servers: a client
//! writes with a colleague in Cc and a screenshot attached, the agent answers from his phone
//! with a PDF, the client follows up, the agent resolves, the client says thanks with a
//! score, then writes that it is still broken.

use serde_json::json;

use super::agent::{deliver_and_run, reply_to};
use super::desk::{body, count, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

const JANE: &str = "jane@acme.test";
const BOB: &str = "bob@acme.test";
/// A contractor of Acme's, on another domain: invited by Jane's Cc.
const SAM: &str = "sam@stranger.test";

/// Travis's answer to `original` from his mail client (`agent::reply_to`), to `reply_address`.
fn from_travis(original: &[u8], reply_address: &str, text: &str, message_id: &str) -> String {
    reply_to(original, "Travis <travis@example.test>", reply_address, "", text, message_id)
}

/// Standard base64 with padding, wrapped at 76 columns (RFC 2045).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            let symbol = if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' };
            out.push(symbol);
        }
    }
    out.as_bytes().chunks(76).map(|line| String::from_utf8_lossy(line).into_owned()).collect::<Vec<_>>().join("\n")
}

/// `eml` (headers, blank line, text) as multipart/mixed with `bytes` attached as `name`.
fn with_attachment(eml: &str, name: &str, content_type: &str, bytes: &[u8]) -> String {
    let (headers, text) = eml.split_once("\n\n").expect("headers and a body");
    format!(
        "{headers}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n{text}\n--b1\nContent-Type: {content_type}; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{}\n--b1--\n",
        base64(bytes)
    )
}

/// The attachments of a raw mail: (file name, decoded bytes).
fn attachments(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    use mail_parser::MimeHeaders;
    message
        .attachments()
        .map(|part| (part.attachment_name().unwrap_or("").to_string(), part.contents().to_vec()))
        .collect()
}

/// Waits for the first mail to `user` whose text contains `text` (mail queued in one run
/// arrives in any order: picked by content, never by position).
async fn wait_for_mail_saying(lab: &MailLab, user: &str, text: &str) -> Vec<u8> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(mail) = lab.mails_received_by(user).await.into_iter().find(|raw| body(raw).contains(text)) {
            return mail;
        }
        if std::time::Instant::now() > deadline {
            let subjects: Vec<String> = lab.mails_received_by(user).await.iter().map(|raw| subject(raw)).collect();
            panic!("no mail to {user} says {text:?}, only {subjects:?}: {}", lab.logs());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn subject(raw: &[u8]) -> String {
    header(raw, "Subject").unwrap_or_default()
}

/// Bytes that look like the start of a PNG, then a pattern (not valid image data; the desk
/// never looks inside).
fn screenshot() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
    bytes
}

/// A text attachment: mail-parser hands text parts over as UTF-8 text, so a text file is
/// saved as UTF-8 (its bytes, when it was UTF-8 already).
fn export_csv() -> String {
    "date,leads,dollars\n2026-11-30,0,0.00\n".repeat(50)
}

fn invoice_pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..5000u32).map(|i| (i * 13 % 253) as u8));
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn a_week_of_conversation_reaches_both_sides_with_files_cc_follow_ups_and_thanks() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    let first = with_attachment(
        &format!("From: Jane Roe <{JANE}>\nTo: {SUPPORT}\nCc: Bob <{BOB}>, {SAM}, travis@example.test\nSubject: HubSpot sync timing out\nMessage-ID: <c1@acme.test>\nDate: Mon, 30 Nov 2026 10:00:00 -0500\n\nThe sync times out since this morning, screenshot attached.\n"),
        "sync-timeout.png",
        "image/png",
        &screenshot(),
    );
    deliver_and_run(&lab, &desk, JANE, SUPPORT, &first, 1).await;

    // The agent's notification carries the screenshot and names the colleague in Cc.
    let notification = lab.wait_for_mail_with_subject(AGENT, "[#1]").await;
    let text = body(&notification);
    let cc_line = text.lines().find(|line| line.starts_with("Cc: ")).unwrap_or_default();
    assert_eq!(cc_line.trim_end(), format!("Cc: {BOB}, {SAM}"), "the agent's own address is no participant: {text}");
    let acknowledgement = lab.wait_for_mail_with_subject(BOB, "Re: HubSpot sync timing out").await;
    assert!(header(&acknowledgement, "Cc").is_some_and(|cc| cc.contains(BOB) && cc.contains(SAM)));
    assert_eq!(header(&acknowledgement, "To").as_deref(), Some("\"Jane Roe\" <jane@acme.test>"), "To the requester");
    assert_eq!(attachments(&notification), vec![("sync-timeout.png".to_string(), screenshot())]);
    let reply_address = header(&notification, "Reply-To").unwrap();

    // Travis answers from his phone with a PDF and a #time line that names the task.
    let answer = from_travis(&notification, &reply_address, "Hi Jane,\n#time 45m Investigated HubSpot paging\nHubSpot changed its paging; I adapted the sync. The run log is attached.", "t1@example.test");
    let answer = with_attachment(&answer, "run-log.pdf", "application/pdf", &invoice_pdf());
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &answer, 2).await;
    let relayed = wait_for_mail_saying(&lab, JANE, "I adapted the sync").await;
    let relayed_text = body(&relayed);
    assert!(relayed_text.contains("I adapted the sync"), "{relayed_text}");
    assert!(!relayed_text.contains("Investigated HubSpot paging") && !relayed_text.contains("#time"), "{relayed_text}");
    assert_eq!(attachments(&relayed), vec![("run-log.pdf".to_string(), invoice_pdf())], "the PDF reaches the client");
    for colleague in [BOB, SAM] {
        let copy = wait_for_mail_saying(&lab, colleague, "I adapted the sync").await;
        assert_eq!(attachments(&copy).len(), 1, "{colleague} got the PDF too");
    }
    let entries = desk.time_entries_json();
    assert_eq!(entries[0]["task"], "Investigated HubSpot paging", "{entries:?}");

    // Jane follows up on the relayed mail: Travis gets it, threaded under the ticket's mail.
    let relayed_id = header(&relayed, "Message-ID").unwrap();
    let follow_up = format!(
        "From: Jane Roe <{JANE}>\nTo: {reply_address}\nSubject: Re: HubSpot sync timing out [#1]\nMessage-ID: <c2@acme.test>\nIn-Reply-To: {relayed_id}\nReferences: <c1@acme.test> {relayed_id}\n\nAs of 5 minutes ago the sync has completely failed.\n\nOn Mon, Travis wrote:\n> HubSpot changed its paging\n"
    );
    deliver_and_run(&lab, &desk, JANE, &reply_address, &follow_up, 3).await;
    let forwarded = wait_for_mail_saying(&lab, AGENT, "wrote again on ticket #1").await;
    let forwarded_text = body(&forwarded);
    assert!(forwarded_text.contains("> As of 5 minutes ago the sync has completely failed."), "{forwarded_text}");
    assert!(!forwarded_text.contains("HubSpot changed its paging"), "only the new part: {forwarded_text}");
    let notification_id = header(&notification, "Message-ID").unwrap();
    assert!(header(&forwarded, "References").unwrap().contains(&notification_id), "threaded under the first mail");
    assert_eq!(header(&forwarded, "Reply-To").as_deref(), Some(reply_address.as_str()));

    // Sam, invited by Jane's Cc from another domain, writes on the ticket as the client.
    let from_sam = format!(
        "From: {SAM}\nTo: {reply_address}\nSubject: Re: HubSpot sync timing out [#1]\nMessage-ID: <s1@stranger.test>\nIn-Reply-To: {relayed_id}\n\nI can give you API access on our side if that helps.\n"
    );
    deliver_and_run(&lab, &desk, SAM, &reply_address, &from_sam, 4).await;
    let from_sam = wait_for_mail_saying(&lab, AGENT, "I can give you API access").await;
    assert!(body(&from_sam).contains(&format!("{SAM} wrote again on ticket #1")), "{}", body(&from_sam));
    assert!(desk.ticket_json(1)["attention"].is_null(), "an invited participant is no stranger");

    // He resolves it by answering the follow-up; the client's thanks with a score leaves the
    // ticket closed, records the score and restarts no clock.
    let resolve = from_travis(&forwarded, &reply_address, "Fixed for good.\nRESOLVED", "t2@example.test");
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &resolve, 5).await;
    let resolved = wait_for_mail_saying(&lab, JANE, "Fixed for good.").await;
    assert!(subject(&resolved).contains("RESOLVED"), "{}", subject(&resolved));
    wait_for_mail_saying(&lab, SAM, "Fixed for good.").await;
    let thanks = format!(
        "From: Jane Roe <{JANE}>\nTo: {reply_address}\nSubject: Re: {}\nMessage-ID: <c3@acme.test>\nIn-Reply-To: {}\n\nThanks! 9\n\nJane\n",
        subject(&resolved),
        header(&resolved, "Message-ID").unwrap()
    );
    deliver_and_run(&lab, &desk, JANE, &reply_address, &thanks, 6).await;
    assert_eq!(desk.tickets_json("all")[0]["status"], "closed", "thanks reopen nothing");
    let db = desk.db().await;
    // No command lists the scores one by one (`metrics` shows their average).
    assert_eq!(count(&db, "SELECT COUNT(*) FROM satisfaction_scores WHERE score = 9").await, 1);
    let courtesy = wait_for_mail_saying(&lab, AGENT, "replied to closed ticket #1").await;
    assert!(body(&courtesy).contains("score of 9/10"), "{}", body(&courtesy));
    desk.helpdesk(&["run", "--once", "--now", "2026-12-10T15:00:00Z"]);
    // The outbox: no command lists the mail queued for the agent.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox WHERE kind IN ('sla_warning', 'sla_breach')").await,
        0,
        "no SLA mail about a ticket that stayed closed"
    );

    // "Still broken" has substance: it reopens the ticket and the agent is told so.
    let still = format!(
        "From: Jane Roe <{JANE}>\nTo: {reply_address}\nSubject: Re: {}\nMessage-ID: <c4@acme.test>\nIn-Reply-To: {}\n\nSorry, it is still broken.\n",
        subject(&resolved),
        header(&resolved, "Message-ID").unwrap()
    );
    deliver_and_run(&lab, &desk, JANE, &reply_address, &still, 7).await;
    assert_eq!(desk.tickets_json("all")[0]["status"], "open");
    let reopened = wait_for_mail_saying(&lab, AGENT, "REOPENED").await;
    assert!(body(&reopened).contains("> Sorry, it is still broken."), "{}", body(&reopened));

    // `ticket show` tells the story: files, time, participants, what the client received,
    // in the agent's timezone.
    let show = String::from_utf8_lossy(&desk.helpdesk(&["ticket", "show", "1"]).stdout).to_string();
    for expected in [
        &format!("Cc:        {BOB}, {SAM}"),
        "Time:      0.75h logged",
        "Attachment 1: sync-timeout.png (image/png, 3008 bytes): helpdesk ticket attachment 1 ",
        "(from the client's side) at ",
        "=== sent to jane@acme.test,bob@acme.test,sam@stranger.test (agent_reply) at ",
        "(resolved) at ",
    ] {
        assert!(show.contains(expected), "{expected:?} missing:\n{show}");
    }
    assert!(show.contains(" EST") && !show.contains("Z\n"), "times in the agent's zone:\n{show}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_mail_that_runs_nothing_is_explained_and_cc_tags_change_who_is_copied() {
    let lab = MailLab::start();
    let desk = TestDesk::with_extra_config(&lab, "[intake]\nforward_attachments_max_bytes = 1000\n");
    let first = with_attachment(
        &format!("From: Jane Roe <{JANE}>\nTo: {SUPPORT}\nSubject: Export is empty\nMessage-ID: <e1@acme.test>\n\nThe nightly export file is empty.\n"),
        "export.csv",
        "text/csv",
        export_csv().as_bytes(),
    );
    deliver_and_run(&lab, &desk, JANE, SUPPORT, &first, 1).await;
    let notification = lab.wait_for_mail_with_subject(AGENT, "[#1]").await;
    let text = body(&notification);
    assert!(attachments(&notification).is_empty(), "2,000 bytes are over the 1,000-byte limit");
    let command = text.lines().find(|line| line.starts_with("Not attached")).expect("the file is named").to_string();
    assert!(command.contains("export.csv") && command.contains("helpdesk ticket attachment 1 "), "{command}");
    // The command the mail names saves the file as the client sent it.
    let words: Vec<&str> = command.split("helpdesk ").nth(1).unwrap().split_whitespace().collect();
    let out = desk.dir.path().join("saved.csv");
    let saved = desk.helpdesk(&[words[0], words[1], words[2], words[3], words[4], "--out", out.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), export_csv());

    // A fresh mail from Travis with [#1] in the subject proves nothing: it is explained; so is
    // one about a ticket that does not exist.
    let fresh = format!("From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: [#1] Export is empty\nMessage-ID: <f1@example.test>\n\n#time 1h\nRESOLVED\n");
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &fresh, 2).await;
    wait_for_mail_saying(&lab, AGENT, "(\"[#1] Export is empty\") belongs to no ticket the desk can").await;
    assert_eq!(desk.tickets_json("all")[0]["status"], "open", "nothing ran");
    assert_eq!(desk.tickets_json("all")[0]["minutes_logged"], 0);
    let nowhere = format!(
        "From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: [#99] Export\nMessage-ID: <f2@example.test>\n\n#time 1h\n"
    );
    deliver_and_run(&lab, &desk, AGENT, SUPPORT, &nowhere, 3).await;
    wait_for_mail_saying(&lab, AGENT, "(\"[#99] Export\") belongs to no ticket the desk can").await;

    let reply_address = header(&notification, "Reply-To").unwrap();
    // #cc copies Bob on this very reply; #uncc takes him off again.
    let cc = from_travis(
        &notification,
        &reply_address,
        &format!("#cc {BOB}\nLooping in Bob, who owns the export."),
        "t1@example.test",
    );
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &cc, 4).await;
    let copy = wait_for_mail_saying(&lab, BOB, "Looping in Bob").await;
    assert!(!body(&copy).contains("#cc"), "{}", body(&copy));
    let uncc =
        from_travis(&notification, &reply_address, &format!("#uncc {BOB}\nJust between us now."), "t2@example.test");
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &uncc, 5).await;
    wait_for_mail_saying(&lab, JANE, "Just between us now.").await;
    // His reply from an address the config does not list is explained too (and, as a
    // reply from someone else, burns the notification's signed id: see docs/security.md).
    let other = reply_to(
        &notification,
        "Travis <travis@stranger.test>",
        &reply_address,
        "",
        "On it. #time 30m",
        "o1@stranger.test",
    );
    deliver_and_run(&lab, &desk, "travis@stranger.test", &reply_address, &other, 6).await;
    wait_for_mail_saying(&lab, AGENT, "not in agent.addresses").await;
    assert_eq!(desk.tickets_json("all")[0]["minutes_logged"], 0, "a stranger's #time runs nothing");

    desk.run_once();
    desk.drain(&lab).await;
    let to_bob = lab.mails_received_by(BOB).await;
    assert!(to_bob.iter().all(|raw| !body(raw).contains("Just between us")), "Bob was taken off");
    let explanations = lab
        .mails_received_by(AGENT)
        .await
        .iter()
        .filter(|raw| body(raw).contains("is never answered by the desk"))
        .count();
    assert_eq!(explanations, 3, "one explanation per ignored mail");
}

/// The ticket and the `thread_reason` of the mail with `message_id`, as `ticket show` shows them.
async fn thread_reason(desk: &TestDesk, message_id: &str) -> (i64, String) {
    let messages = desk.messages_json();
    let (ticket, mail) =
        messages.iter().find(|(_, mail)| mail["message_id"] == message_id).expect("the mail is recorded");
    (ticket.expect("the mail is on a ticket"), mail["thread_reason"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_moves_merges_closes_and_reopens_tickets_by_mail_and_from_the_cli() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    const PAT: &str = "pat@stranger.test";
    let unknown = format!("From: Pat <{PAT}>\nTo: {SUPPORT}\nSubject: Zap stopped\nMessage-ID: <p1@stranger.test>\n\nOur Zapier zap stopped running.\n");
    deliver_and_run(&lab, &desk, PAT, SUPPORT, &unknown, 1).await;
    let notification = lab.wait_for_mail_with_subject(AGENT, "[#1] UNKNOWN SENDER").await;
    assert!(desk.ticket_json(1)["resolution_due"].is_null(), "no client, no SLA");

    // Pat is Initech's new admin: #client gives the ticket to Initech, and this reply's time
    // counts against Initech's hours.
    let reply_address = header(&notification, "Reply-To").unwrap();
    let answer = from_travis(
        &notification,
        &reply_address,
        "#client initech\n#time 30m Looked into the zap\nHi Pat, I restarted the zap.",
        "m1@example.test",
    );
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &answer, 2).await;
    let ticket = desk.ticket_json(1);
    assert_eq!(ticket["client"], "Initech", "{ticket}");
    assert!(ticket["resolution_due"].is_string() && ticket["attention"].is_null(), "{ticket}");
    wait_for_mail_saying(&lab, PAT, "I restarted the zap.").await;
    let entries = desk.time_entries_json();
    assert_eq!(
        (&entries[0]["client"], &entries[0]["task"]),
        (&json!("Initech"), &json!("Looked into the zap")),
        "{entries:?}"
    );
    let note = from_travis(&notification, &reply_address, "#note Pat is Initech's new admin.", "m0@example.test");
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &note, 3).await;
    let show = String::from_utf8_lossy(&desk.helpdesk(&["ticket", "show", "1"]).stdout).to_string();
    assert!(show.contains("(agent, internal note)") && show.contains("(agent) at "), "{show}");

    // Jane writes the same request twice; Travis merges the second into the first.
    for (id, subject) in [("j1", "Export broken"), ("j2", "Export broken again")] {
        let mail = format!("From: Jane Roe <{JANE}>\nTo: {SUPPORT}\nSubject: {subject}\nMessage-ID: <{id}@acme.test>\n\nThe nightly export is empty.\n");
        lab.send(JANE, SUPPORT, &mail).await;
    }
    lab.wait_for_support_mail(5).await;
    desk.run_once();
    desk.drain(&lab).await;
    let second = lab.wait_for_mail_with_subject(AGENT, "[#3]").await;
    let to_jane_before = lab.mails_received_by(JANE).await.len();
    let second_reply = header(&second, "Reply-To").unwrap();
    let merge = from_travis(&second, &second_reply, "#merge 2\nSame as #2.", "m2@example.test");
    deliver_and_run(&lab, &desk, AGENT, &second_reply, &merge, 6).await;
    let merged = desk.ticket_json(3);
    assert_eq!((merged["status"].as_str(), merged["merged_into"].as_i64()), (Some("closed"), Some(2)), "{merged}");
    assert!(merged["sla"].is_null(), "a merged ticket has no SLA of its own (not a breach): {merged}");
    let show = String::from_utf8_lossy(&desk.helpdesk(&["ticket", "show", "3"]).stdout).to_string();
    assert!(show.contains("Merged:    into #2"), "{show}");
    assert_eq!(thread_reason(&desk, "j2@acme.test").await.0, 2, "#3's messages moved to #2");
    assert_eq!(lab.mails_received_by(JANE).await.len(), to_jane_before, "the client is told nothing of a merge");

    // Jane writes to #3's reply address (her mail client dropped the threading headers): her
    // mail lands on #2, and Travis hears of it there. (A reply with In-Reply-To threads to #2
    // directly: the desk's mail of #3 moved with the merge.)
    let ack = lab.wait_for_mail_with_subject(JANE, "Re: Export broken again").await;
    let follow_up = format!(
        "From: Jane Roe <{JANE}>\nTo: {}\nSubject: Export\nMessage-ID: <j3@acme.test>\n\nAny news?\n",
        header(&ack, "Reply-To").unwrap(),
    );
    deliver_and_run(&lab, &desk, JANE, SUPPORT, &follow_up, 7).await;
    let (ticket, reason) = thread_reason(&desk, "j3@acme.test").await;
    assert_eq!(ticket, 2, "{reason}");
    assert!(reason.contains("#3 was merged into #2"), "{reason}");
    wait_for_mail_saying(&lab, AGENT, "wrote again on ticket #2").await;
    assert_eq!(desk.ticket_json(3)["status"], "closed", "the merged ticket stays closed");

    // From the command line: move (Pat's ticket never had an acknowledgement: the command
    // says how to reach Pat), close without a word to the client, reopen, filter by client.
    let moved = desk.helpdesk(&["ticket", "move", "1", "--client", "Globex"]);
    let printed = String::from_utf8_lossy(&moved.stdout);
    assert!(printed.contains("Ticket #1 now belongs to Globex (ENTERPRISE)"), "{printed}");
    assert!(printed.contains("The requester got no acknowledgement"), "{printed}");
    assert_eq!(desk.ticket_json(1)["client"], "Globex");
    let closed = desk.helpdesk(&["ticket", "close", "2", "--silent"]);
    assert!(closed.status.success(), "{}", String::from_utf8_lossy(&closed.stderr));
    assert_eq!(desk.ticket_json(2)["status"], "closed");
    let again = desk.command(&["ticket", "close", "2"]).output().unwrap();
    assert!(!again.status.success(), "a closed ticket is not closed twice");
    let reopened = desk.helpdesk(&["ticket", "reopen", "2"]);
    assert!(reopened.status.success(), "{}", String::from_utf8_lossy(&reopened.stderr));
    assert_eq!(desk.ticket_json(2)["status"], "open");
    let refused = desk.command(&["ticket", "reopen", "3"]).output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("merged into #2"));
    let acme = desk.helpdesk(&["tickets", "--status", "all", "--client", "acme", "--json"]);
    let acme: serde_json::Value = serde_json::from_slice(&acme.stdout).unwrap();
    let ids: Vec<i64> = acme.as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![2, 3]);
    desk.run_once();
    desk.drain(&lab).await;
    assert_eq!(lab.mails_received_by(JANE).await.len(), to_jane_before, "close --silent sent nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_heads_up_in_the_agents_name_opens_a_proactive_ticket_he_hears_of_and_can_close() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    // The SOP's "Heads up" email: to the client, support@ in copy.
    let heads_up = format!(
        "From: Travis <{AGENT}>\nTo: Jane Roe <{JANE}>\nCc: {SUPPORT}\nSubject: Heads up - HubSpot API change on Friday\nMessage-ID: <h1@example.test>\n\nHi Jane, HubSpot changes its API on Friday; I will adapt the sync before then.\n"
    );
    lab.send(AGENT, JANE, &heads_up).await;
    lab.send(AGENT, SUPPORT, &heads_up).await;
    lab.wait_for_support_mail(1).await;
    desk.run_once();
    desk.drain(&lab).await;
    let ticket = desk.ticket_json(1);
    assert_eq!((ticket["client"].as_str(), ticket["status"].as_str()), (Some("Acme"), Some("open")), "{ticket}");
    let notice = wait_for_mail_saying(&lab, AGENT, "opened proactive ticket #1").await;
    // Nothing in the lab proves the sender: the notice says how to undo a forgery.
    let words = body(&notice).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("If you did not write it, reply to this mail with #close."), "{words}");
    let reply_address = header(&notice, "Reply-To").unwrap();
    let close = from_travis(&notice, &reply_address, "#close", "c1@example.test");
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &close, 2).await;
    assert_eq!(desk.ticket_json(1)["status"], "closed", "his #close on the notice closed it");
    assert!(
        lab.mails_received_by(JANE).await.iter().all(|raw| !body(raw).contains("resolved")),
        "#close sends the client nothing"
    );
}
