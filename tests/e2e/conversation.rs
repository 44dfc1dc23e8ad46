//! The daily back-and-forth, driven as the people would through the real servers: a client
//! writes with a colleague in Cc and a screenshot attached, the agent answers from his phone
//! with a PDF, the client follows up, the agent resolves, the client says thanks with a
//! score, then writes that it is still broken.

use super::agent::{deliver_and_run, reply_to};
use super::desk::{body, count, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

const JANE: &str = "jane@acme.test";
const BOB: &str = "bob@acme.test";

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
        assert!(std::time::Instant::now() < deadline, "no mail to {user} says {text:?}: {}", lab.logs());
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
        &format!("From: Jane Roe <{JANE}>\nTo: {SUPPORT}\nCc: Bob <{BOB}>\nSubject: HubSpot sync timing out\nMessage-ID: <c1@acme.test>\nDate: Mon, 30 Nov 2026 10:00:00 -0500\n\nThe sync times out since this morning, screenshot attached.\n"),
        "sync-timeout.png",
        "image/png",
        &screenshot(),
    );
    deliver_and_run(&lab, &desk, JANE, SUPPORT, &first, 1).await;

    // The agent's notification carries the screenshot and names the colleague in Cc.
    let notification = lab.wait_for_mail_with_subject(AGENT, "[#1]").await;
    let text = body(&notification);
    assert!(text.contains(&format!("Cc: {BOB}")), "{text}");
    assert_eq!(attachments(&notification), vec![("sync-timeout.png".to_string(), screenshot())]);
    let reply_address = header(&notification, "Reply-To").unwrap();

    // Travis answers from his phone with a PDF and a #time line that names the task.
    let answer = reply_to(
        &notification,
        "Travis <travis@example.test>",
        &reply_address,
        "",
        "Hi Jane,\n#time 45m Investigated HubSpot paging\nHubSpot changed its paging; I adapted the sync. The run log is attached.",
        "t1@example.test",
    );
    let answer = with_attachment(&answer, "run-log.pdf", "application/pdf", &invoice_pdf());
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &answer, 2).await;
    let relayed = wait_for_mail_saying(&lab, JANE, "I adapted the sync").await;
    let relayed_text = body(&relayed);
    assert!(relayed_text.contains("I adapted the sync"), "{relayed_text}");
    assert!(!relayed_text.contains("Investigated HubSpot paging") && !relayed_text.contains("#time"), "{relayed_text}");
    assert_eq!(attachments(&relayed), vec![("run-log.pdf".to_string(), invoice_pdf())], "the PDF reaches the client");
    let db = desk.db().await;
    let task: String = sqlx::query_scalar("SELECT task FROM time_entries").fetch_one(&db).await.unwrap();
    assert_eq!(task, "Investigated HubSpot paging");

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

    // He resolves it by answering the follow-up; the client's thanks with a score leaves the
    // ticket closed, records the score and restarts no clock.
    let resolve = reply_to(
        &forwarded,
        "Travis <travis@example.test>",
        &reply_address,
        "",
        "Fixed for good.\nRESOLVED",
        "t2@example.test",
    );
    deliver_and_run(&lab, &desk, AGENT, &reply_address, &resolve, 4).await;
    let resolved = wait_for_mail_saying(&lab, JANE, "Fixed for good.").await;
    assert!(subject(&resolved).contains("RESOLVED"), "{}", subject(&resolved));
    let thanks = format!(
        "From: Jane Roe <{JANE}>\nTo: {reply_address}\nSubject: Re: {}\nMessage-ID: <c3@acme.test>\nIn-Reply-To: {}\n\nThanks! 9\n\nJane\n",
        subject(&resolved),
        header(&resolved, "Message-ID").unwrap()
    );
    deliver_and_run(&lab, &desk, JANE, &reply_address, &thanks, 5).await;
    assert_eq!(desk.tickets_json("all")[0]["status"], "closed", "thanks reopen nothing");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM satisfaction_scores WHERE score = 9").await, 1);
    let courtesy = wait_for_mail_saying(&lab, AGENT, "replied to closed ticket #1").await;
    assert!(body(&courtesy).contains("score of 9/10"), "{}", body(&courtesy));
    desk.helpdesk(&["run", "--once", "--now", "2026-12-10T15:00:00Z"]);
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
    deliver_and_run(&lab, &desk, JANE, &reply_address, &still, 6).await;
    assert_eq!(desk.tickets_json("all")[0]["status"], "open");
    let reopened = wait_for_mail_saying(&lab, AGENT, "REOPENED").await;
    assert!(body(&reopened).contains("> Sorry, it is still broken."), "{}", body(&reopened));
}
