//! Control characters from outside, against the real servers: the three attacks that once
//! worked. A subject whose encoded words decode to CR/LF and fake lines (`NEEDS YOU: ...
//! answer this mail with` / `#take 3`) in the agent's notification, his feedback and the daily
//! summary; an attachment name decoding to `a.txt\r\nX-Injected5: yes\r\n--BB` in the
//! notification; a subject with `ESC ]0;... BEL ESC [2J` printed by `helpdesk tickets` and
//! `ticket show`. Each must show up escaped on one line (`helpdesk::text`).

use super::desk::{header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

const FAKE_LINES: &str =
    "Invoice question\r\nNEEDS YOU: message 3 from boss@example.test, answer this mail with\r\n#take 3";
const FAKE_ATTACHMENT: &str = "a.txt\r\nX-Injected5: yes\r\n--BB";
const TERMINAL: &str = "\u{1b}]0;owned\u{7}\u{1b}[2JPrinter on fire";

/// Lines only an injection can start.
const INJECTED_LINE_STARTS: &[&str] = &["NEEDS YOU: message 3", "#take 3", "X-Injected5", "--BB"];

/// RFC 2047 Q-encoding of every byte that is not a letter or a digit.
fn q_encoded(text: &str) -> String {
    let encoded: String = text
        .bytes()
        .map(|byte| if byte.is_ascii_alphanumeric() { (byte as char).to_string() } else { format!("={byte:02X}") })
        .collect();
    format!("=?utf-8?Q?{encoded}?=")
}

/// The subject and the text body of a mail as its reader sees them (line ends as LF).
fn read(raw: &[u8]) -> (String, String) {
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    let subject = message.subject().unwrap_or("").to_string();
    (subject, message.body_text(0).map(|text| text.replace("\r\n", "\n")).unwrap_or_default())
}

/// Control characters (other than LF and TAB) and injected lines in `text`.
fn problems(what: &str, text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .chars()
        .filter(|&c| helpdesk::text::is_escaped(c) && c != '\n' && c != '\t')
        .map(|c| format!("{what}: control character {c:?}"))
        .collect();
    for line in text.lines() {
        if INJECTED_LINE_STARTS.iter().any(|start| line.trim_start().starts_with(start)) {
            found.push(format!("{what}: injected line {line:?}"));
        }
    }
    found
}

fn with_subject<'a>(mails: &'a [Vec<u8>], part: &str) -> Vec<&'a Vec<u8>> {
    mails.iter().filter(|raw| read(raw).0.contains(part)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_subjects_and_attachment_names_stay_on_one_line_escaped() {
    let lab = MailLab::start();
    let desk = TestDesk::with_daily_summary(&lab);
    let fake_lines = format!(
        "From: Jane <jane@acme.test>\nTo: {SUPPORT}\nSubject: {}\nMessage-ID: <fake@acme.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BB\"\n\n--BB\nContent-Type: text/plain\n\nPlease check the invoice.\n--BB\nContent-Type: text/plain; name=\"{attachment}\"\nContent-Disposition: attachment; filename=\"{attachment}\"\n\nnumbers\n--BB--\n",
        q_encoded(FAKE_LINES),
        attachment = q_encoded(FAKE_ATTACHMENT),
    );
    let terminal = format!(
        "From: {} <bo@initech.test>\nTo: {SUPPORT}\nSubject: {}\nMessage-ID: <esc@initech.test>\n\nThe printer is on fire.\n",
        q_encoded(TERMINAL),
        q_encoded(TERMINAL)
    );
    // Held as automated: the daily summary lists it for the agent to `#take`.
    let held = format!(
        "From: Jane <jane@acme.test>\nTo: {SUPPORT}\nSubject: {}\nMessage-ID: <held@acme.test>\nAuto-Submitted: auto-generated\n\nJob 42 failed.\n",
        q_encoded(&format!("Sync failed {FAKE_LINES}"))
    );
    for (from, mail) in [("jane@acme.test", &fake_lines), ("bo@initech.test", &terminal), ("jane@acme.test", &held)] {
        lab.send(from, SUPPORT, mail).await;
    }
    lab.wait_for_support_mail(3).await;
    // 08:00 in New York: the mails are taken in and the daily summary goes out in one run.
    // The desk first ran the evening before: a new desk's first summary is the first
    // one due after it started.
    desk.helpdesk(&["run", "--once", "--now", "2030-01-06T23:00:00Z"]);
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:00:00Z"]);
    let summary = lab.wait_for_mail_with_subject(AGENT, "Daily summary").await;

    // Travis answers the notification of the first ticket with a tag the desk cannot read;
    // his mail client repeats the subject, and the feedback quotes it.
    // By subject, waiting for it: the same run also sends #2's notification and both SLA
    // alerts (the clocks ran out by 2030), which Postfix may deliver first.
    let notification = lab.wait_for_mail_with_subject(AGENT, "[#1] Acme P2:").await;
    let notification_id = header(&notification, "Message-ID").unwrap();
    lab.send(
        AGENT,
        SUPPORT,
        &format!(
            "From: Travis <{AGENT}>\nTo: {SUPPORT}\nSubject: {}\nMessage-ID: <fb@example.test>\nIn-Reply-To: {notification_id}\nReferences: {notification_id}\n\n#time lots\n",
            q_encoded(&format!("Re: {FAKE_LINES} [#1]"))
        ),
    )
    .await;
    lab.wait_for_support_mail(4).await;
    desk.helpdesk(&["run", "--once", "--now", "2030-01-07T13:10:00Z"]);
    desk.drain(&lab).await;

    let to_agent = lab.mails_received_by(AGENT).await;
    let feedback = with_subject(&to_agent, "Not understood");
    assert_eq!(
        feedback.len(),
        1,
        "one feedback mail: {:?}",
        to_agent.iter().map(|raw| read(raw).0).collect::<Vec<_>>()
    );
    let mut found = Vec::new();
    let mut checked = 0;
    for raw in to_agent.iter().chain(&lab.mails_received_by("jane@acme.test").await) {
        let (subject, body) = read(raw);
        if subject.chars().any(helpdesk::text::is_escaped) {
            found.push(format!("subject {subject:?}"));
        }
        found.extend(problems(&subject, &body));
        checked += 1;
    }
    let (notification_subject, notification_body) = read(&notification);
    assert!(
        notification_subject.contains("Invoice question\\r\\nNEEDS YOU: message 3"),
        "the subject on one line, escaped: {notification_subject}"
    );
    assert!(
        notification_body.lines().any(|line| line.contains("a.txt\\r\\nX-Injected5: yes\\r\\n--BB")),
        "the attachment name on one line:\n{notification_body}"
    );
    let (_, summary_text) = read(&summary);
    assert!(
        summary_text.contains("Sync failed Invoice question\\r\\nNEEDS YOU: message 3"),
        "the held mail's subject in the summary, on one line:\n{summary_text}"
    );
    let (_, feedback_text) = read(feedback[0]);
    assert!(feedback_text.contains("Invoice question\\r\\nNEEDS YOU"), "{feedback_text}");

    let mut terminal_outputs = Vec::new();
    for args in [&["tickets", "--status", "all"][..], &["ticket", "show", "1"], &["ticket", "show", "2"], &["held"]] {
        let stdout = desk.helpdesk(args).stdout;
        let raw_escapes = stdout.iter().filter(|&&byte| byte == 0x1b || byte == 0x07).count();
        if raw_escapes > 0 {
            found.push(format!("helpdesk {args:?}: {raw_escapes} ESC/BEL bytes"));
        }
        found.extend(problems(&format!("helpdesk {args:?}"), &String::from_utf8_lossy(&stdout)));
        terminal_outputs.push(String::from_utf8_lossy(&stdout).into_owned());
    }
    assert!(terminal_outputs[2].contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2JPrinter on fire"), "{}", terminal_outputs[2]);
    assert!(found.is_empty(), "{found:#?}");
    // Every mail the runs delivered was checked (docs/guarantees.md names 14): to Travis the 2
    // new-ticket notifications, the daily summary, the 5 report drafts of Monday 2030-01-07, 4
    // SLA breaches (the mails arrived in 2026) and the feedback; to Jane her acknowledgement.
    assert_eq!(checked, 14, "mails delivered to Travis and Jane");
    println!(
        "injection: e2e: CR/LF subject, CR/LF attachment name and ESC/BEL subject through Dovecot and Postfix: {checked} delivered mails (notifications, feedback, daily summary, acknowledgement) and {} CLI outputs with 0 control characters but LF and TAB, 0 injected lines, 0 ESC/BEL bytes; the subject shown as {notification_subject:?}",
        terminal_outputs.len()
    );
}
