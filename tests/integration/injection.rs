//! Injection through client-controlled text (no network; the real intake on a SQLite file):
//!
//! - a subject, display name, body and attachment names carrying CR/LF followed by
//!   `Bcc: evil@x.test` or `Content-Type:` lines cannot add a header to any mail the desk
//!   composes: the acknowledgement to the client, the notification to the agent, the relay of
//!   the agent's reply, the resolved email and the feedback to the agent. Each outgoing mail
//!   is parsed back with mail-parser and its header block checked line by line;
//! - `<script>`, `</td>` and `{{` in a subject appear HTML-escaped (and not evaluated) in the
//!   HTML the desk makes: the daily summary and the client report;
//! - attachment names such as `../../etc/passwd`, `/abs/path`, `C:\x`, or with NUL and line
//!   breaks are metadata only: the desk writes no attachment to disk.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::NaiveDate;
use helpdesk::desk::Desk;
use helpdesk::intake::IntakeOutcome;
use helpdesk::reports::client::{parse_period, preview, ReportKind};
use mail_parser::{MessageParser, MimeHeaders};
use sqlx::Row;

use crate::common::{self, at, open_desk, sample_desk, write_config};

/// A client's hostile text: each ends a header line early if anything pastes it into one.
const INJECTED: &str = "\r\nBcc: evil@x.test\r\nContent-Type: text/html\r\n\r\n<b>owned</b>";
const HTML_HOSTILE: &str = "<script>alert(1)</script></td>{{agent_name}}";

async fn deliver(desk: &Desk, bytes: Vec<u8>, arrived: &str) -> IntakeOutcome {
    common::deliver(desk, bytes, at(arrived)).await
}

/// RFC 2047 Q-encoding of every byte that is not a letter or a digit.
fn q_encoded(text: &str) -> String {
    let encoded: String = text
        .bytes()
        .map(|byte| if byte.is_ascii_alphanumeric() { (byte as char).to_string() } else { format!("={byte:02X}") })
        .collect();
    format!("=?utf-8?Q?{encoded}?=")
}

/// A client mail whose decoded display name, subject and attachment names carry line breaks
/// and header lines, and whose body does too.
fn hostile_client_mail() -> Vec<u8> {
    let name = q_encoded(&format!("Jane{INJECTED}"));
    let subject = q_encoded(&format!("Integration down {HTML_HOSTILE}{INJECTED}"));
    let attachment = q_encoded(&format!("report.pdf{INJECTED}"));
    format!(
        "From: {name} <jane@acme.test>\r\nTo: support@example.test\r\nSubject: {subject}\r\nMessage-ID: <hostile@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe integration is down.{INJECTED}\r\n--outer\r\nContent-Type: application/pdf; name=\"{attachment}\"\r\nContent-Disposition: attachment; filename=\"{attachment}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--outer--\r\n"
    )
    .into_bytes()
}

/// The header fields the desk's mails may have, each at most once.
const ALLOWED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "message-id",
    "in-reply-to",
    "references",
    "date",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Checks one composed mail: its header block line by line, then mail-parser's view of it.
fn check_composed(kind: &str, raw: &[u8], envelope: &str, expected_to: &[&str]) -> usize {
    let text = String::from_utf8_lossy(raw);
    let header_end = text.find("\r\n\r\n").unwrap_or_else(|| panic!("{kind}: no header block"));
    let mut names = Vec::new();
    for line in text[..header_end].split("\r\n") {
        assert!(!line.contains('\r') && !line.contains('\n'), "{kind}: bare CR or LF in a header line: {line:?}");
        if line.starts_with([' ', '\t']) {
            continue; // a folded continuation
        }
        let (name, _) = line.split_once(':').unwrap_or_else(|| panic!("{kind}: not a header line: {line:?}"));
        names.push(name.to_ascii_lowercase());
    }
    for name in &names {
        assert!(ALLOWED_HEADERS.contains(&name.as_str()), "{kind}: unexpected header {name:?}:\n{text}");
    }
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "{kind}: a header appears twice: {names:?}");
    assert_eq!(names.first().map(String::as_str), Some("from"), "{kind}: From comes first: {names:?}");

    let message = MessageParser::default().parse(raw).unwrap();
    assert!(message.bcc().is_none(), "{kind}: a Bcc header");
    assert!(message.header("Bcc").is_none());
    assert_eq!(message.headers().len(), names.len(), "{kind}: mail-parser sees other headers than the lines");
    let to: Vec<&str> = message.to().unwrap().iter().filter_map(|addr| addr.address()).collect();
    assert_eq!(to, expected_to, "{kind}: To");
    assert!(message.cc().is_none(), "{kind}: Cc");
    assert_eq!(envelope, expected_to.join(","), "{kind}: envelope recipients");
    let content_type = message.content_type().unwrap();
    match (content_type.ctype(), content_type.subtype()) {
        ("text", Some("plain")) => assert_eq!(message.parts.len(), 1, "{kind}: one part"),
        // A notification carrying the client's files: the text, then one part per file, each
        // with only MIME headers and a file name on one line.
        ("multipart", Some("mixed")) => check_attachment_parts(kind, &message),
        other => panic!("{kind}: Content-Type {other:?}"),
    }
    names.len()
}

fn check_attachment_parts(kind: &str, message: &mail_parser::Message<'_>) {
    use mail_parser::MimeHeaders;
    let text = message.text_bodies().next().unwrap_or_else(|| panic!("{kind}: no text part"));
    let text_type = text.content_type().unwrap();
    assert_eq!((text_type.ctype(), text_type.subtype()), ("text", Some("plain")), "{kind}: the text part");
    for part in message.attachments() {
        for header in part.headers() {
            let name = header.name().to_ascii_lowercase();
            let allowed = ["content-type", "content-disposition", "content-transfer-encoding"];
            assert!(allowed.contains(&name.as_str()), "{kind}: an attachment part has header {name:?}");
        }
        let file_name = part.attachment_name().unwrap_or_else(|| panic!("{kind}: an attachment with no name"));
        assert!(!file_name.contains(['\r', '\n', '\0']), "{kind}: a file name with a line break: {file_name:?}");
    }
}

async fn outbox(desk: &Desk) -> Vec<(String, String, String, Vec<u8>)> {
    sqlx::query("SELECT kind, recipients, message_id, raw FROM outbox ORDER BY id")
        .fetch_all(&desk.db)
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get("kind"), row.get("recipients"), row.get("message_id"), row.get("raw")))
        .collect()
}

#[tokio::test]
async fn client_text_cannot_add_headers_to_any_mail_the_desk_composes() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path(), &sample_desk(dir.path())).await;
    let outcome = deliver(&desk, hostile_client_mail(), "2026-12-01T14:00:00Z").await;
    assert!(matches!(outcome, IntakeOutcome::NewTicket { acknowledged: true, .. }), "{outcome:?}");
    let (stored_name, stored_subject): (Option<String>, String) =
        sqlx::query_as("SELECT sender_name, subject FROM messages").fetch_one(&desk.db).await.unwrap();
    // The display name and the subject are read onto one line, their line breaks shown
    // escaped (`helpdesk::text::one_line`).
    assert_eq!(
        stored_name.as_deref(),
        Some("Jane\\r\\nBcc: evil@x.test\\r\\nContent-Type: text/html\\r\\n\\r\\n<b>owned</b>")
    );
    assert!(stored_subject.contains("\\r\\nBcc:"), "the subject's line break is shown: {stored_subject:?}");
    assert!(!stored_subject.contains(['\r', '\n']), "{stored_subject:?}");

    let notification_id = outbox(&desk).await.iter().find(|row| row.0 == "agent_notification").unwrap().2.clone();
    let agent_subject = q_encoded(&format!("Re: Integration down {HTML_HOSTILE}{INJECTED} [#1]"));
    // The agent answers (a relay), logs a bad tag (feedback to him), then resolves.
    for (index, body) in
        ["We restarted the sync.\r\nBcc: evil@x.test\r\n#time 30m", "#tiem 1h", "All fixed.\r\nRESOLVED"]
            .iter()
            .enumerate()
    {
        let reply = format!(
            "From: Travis <travis@example.test>\r\nTo: support@example.test\r\nSubject: {agent_subject}\r\nMessage-ID: <agent{index}@example.test>\r\nIn-Reply-To: <{notification_id}>\r\n\r\n{body}\r\n"
        );
        let outcome = deliver(&desk, reply.into_bytes(), &format!("2026-12-01T15:0{index}:00Z")).await;
        assert!(matches!(outcome, IntakeOutcome::AddedToTicket { .. }), "{outcome:?}");
    }

    let mails = outbox(&desk).await;
    let mut kinds = Vec::new();
    for (kind, recipients, _, raw) in &mails {
        let expected: &[&str] = match kind.as_str() {
            "acknowledgement" | "agent_reply" | "resolved" => &["jane@acme.test"],
            "agent_notification" | "agent_feedback" => &["travis@example.test"],
            other => panic!("unexpected outgoing mail {other}"),
        };
        let headers = check_composed(kind, raw, recipients, expected);
        kinds.push(format!("{kind} ({headers} headers)"));
    }
    for kind in ["acknowledgement", "agent_notification", "agent_reply", "agent_feedback", "resolved"] {
        assert!(mails.iter().any(|mail| mail.0 == kind), "no {kind} mail was composed: {kinds:?}");
    }
    println!("injection: {} composed mails checked, no injected header in any: {}", mails.len(), kinds.join(", "));
}

#[tokio::test]
async fn client_text_is_escaped_in_the_html_the_desk_makes() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_desk(dir.path(), &sample_desk(dir.path())).await;
    deliver(&desk, hostile_client_mail(), "2026-12-01T14:00:00Z").await;
    // And one from a stranger (the summary's attention list shows the requester).
    let stranger = format!(
        "From: {} <x@evil.test>\r\nTo: support@example.test\r\nSubject: {}\r\nMessage-ID: <s@evil.test>\r\n\r\nhi\r\n",
        q_encoded(HTML_HOSTILE),
        q_encoded(HTML_HOSTILE)
    );
    deliver(&desk, stranger.into_bytes(), "2026-12-01T14:30:00Z").await;

    let now = at("2026-12-02T13:00:00Z");
    let date = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let summary = helpdesk::reports::daily::build_summary(&desk, date, at("2026-12-01T00:00:00Z"), now).await.unwrap();
    let acme = desk.config.clients.iter().find(|client| client.name == "Acme").unwrap();
    let period = parse_period(ReportKind::Monthly, "2026-12").unwrap();
    let report = preview(&desk, acme, ReportKind::Monthly, &period, at("2027-01-02T12:00:00Z")).await.unwrap();

    for (name, html) in [("daily summary", &summary.html), ("client report", &report.html)] {
        assert!(html.contains("Integration down"), "{name}: the hostile subject is not shown at all");
        assert!(!html.contains("<script>"), "{name}: <script> is not escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;/td&gt;"), "{name}: not escaped as expected");
        assert!(!html.contains("<b>owned</b>"), "{name}: the body's HTML is pasted raw");
        // Handlebars renders the data once: `{{agent_name}}` in a subject stays text.
        assert!(html.contains("{{agent_name}}"), "{name}: client text was evaluated as a template");
        let cells = |text: &str| text.matches("</td>").count();
        println!(
            "injection: {name} HTML ({} bytes, {} </td>): client <script>, </td> and {{{{ appear escaped",
            html.len(),
            cells(html)
        );
    }
    // The plain-text parts carry the text as written (nothing to escape there).
    assert!(summary.text.contains("<script>alert(1)</script>"));
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.insert(path.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn attachment_names_are_metadata_and_nothing_is_written_to_disk() {
    let root = tempfile::tempdir().unwrap();
    // The data directory sits two levels down, so `../../etc/passwd` would land inside `root`.
    let data = root.path().join("a/b");
    std::fs::create_dir_all(&data).unwrap();
    let desk = open_desk(&data, &sample_desk(&data)).await;
    // A first mail, so the database's -wal and -shm files exist before the count.
    deliver(
        &desk,
        b"From: jane@acme.test\r\nSubject: hi\r\nMessage-ID: <w@acme.test>\r\n\r\nhi\r\n".to_vec(),
        "2026-12-01T13:00:00Z",
    )
    .await;
    let before = files_in(root.path());
    let cwd_before = files_in(Path::new("."));

    let names = [
        "../../etc/passwd".to_string(),
        "/abs/path".into(),
        "C:\\x".into(),
        "nul\0byte.txt".into(),
        "line\r\nBcc: evil@x.test".into(),
        "..".into(),
        "a/../../../../tmp/owned.sh".into(),
    ];
    let mut raw = String::from(
        "From: Jane <jane@acme.test>\r\nTo: support@example.test\r\nSubject: Files\r\nMessage-ID: <files@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n",
    );
    for (index, name) in names.iter().enumerate() {
        let (plain, encoded) = (name.replace(['\0', '\r', '\n', '"'], "_"), q_encoded(name));
        // Names with control characters as an encoded word (which can carry NUL and CR/LF),
        // the others alternately encoded or as a quoted string.
        let filename = if plain != *name || index % 2 == 0 { encoded } else { plain };
        raw.push_str(&format!(
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0\r\n"
        ));
    }
    raw.push_str("--b--\r\n");
    let outcome = deliver(&desk, raw.into_bytes(), "2026-12-01T14:00:00Z").await;
    assert!(matches!(outcome, IntakeOutcome::NewTicket { .. }), "{outcome:?}");

    let stored: String =
        sqlx::query_scalar("SELECT attachments_json FROM messages WHERE message_id = 'files@acme.test'")
            .fetch_one(&desk.db)
            .await
            .unwrap();
    let attachments: Vec<serde_json::Value> = serde_json::from_str(&stored).unwrap();
    assert_eq!(attachments.len(), names.len(), "{stored}");
    let stored_names: Vec<&str> = attachments.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(stored_names.contains(&"../../etc/passwd") && stored_names.contains(&"C:\\x"), "{stored_names:?}");
    assert!(stored_names.contains(&"nul\\u{0}byte.txt"), "the name is kept, its NUL shown: {stored_names:?}");
    assert!(stored_names.contains(&"line\\r\\nBcc: evil@x.test"), "on one line: {stored_names:?}");

    let after = files_in(root.path());
    assert_eq!(before, after, "ingesting wrote files");
    assert_eq!(cwd_before, files_in(Path::new(".")), "ingesting wrote files in the working directory");
    // The notification carries the files under the stored names (each on one line); it still
    // has only the desk's own headers, and each file part only MIME headers.
    let mails = outbox(&desk).await;
    let notification = mails.iter().rev().find(|mail| mail.0 == "agent_notification").unwrap();
    check_composed("agent_notification", &notification.3, &notification.1, &["travis@example.test"]);
    let forwarded = MessageParser::default().parse(notification.3.as_slice()).unwrap();
    let forwarded_names: Vec<String> = {
        use mail_parser::MimeHeaders;
        forwarded.attachments().map(|part| part.attachment_name().unwrap_or("").to_string()).collect()
    };
    assert_eq!(forwarded_names, stored_names, "the files reach the agent under their stored names");
    println!(
        "injection: {} hostile attachment names stored as metadata only ({stored_names:?}); files under the data dir's grandparent {} before and after",
        names.len(),
        after.len()
    );
}

/// The three attacks reproduced against the real servers, in one mail each: a subject whose
/// encoded words decode to CR/LF and fake summary lines; an attachment name that decodes to a
/// line break, a header and a MIME boundary; a subject and a name with terminal escapes.
const FAKE_LINES: &str =
    "Invoice question\r\nNEEDS YOU: message 3 from boss@example.test, answer this mail with\r\n#take 3";
const FAKE_ATTACHMENT: &str = "a.txt\r\nX-Injected5: yes\r\n--BB";
const TERMINAL: &str = "\u{1b}]0;owned\u{7}\u{1b}[2JPrinter on fire\u{202e}txt.exe";

/// Lines that only an injection can start.
const INJECTED_LINE_STARTS: &[&str] = &["NEEDS YOU: message 3", "#take 3", "X-Injected5", "--BB"];

/// Every character that must not reach a body: all `text::is_escaped` but LF and TAB.
fn control_characters(text: &str) -> Vec<char> {
    text.chars().filter(|&c| helpdesk::text::is_escaped(c) && c != '\n' && c != '\t').collect()
}

/// What is wrong with a text meant for a body or a terminal: control characters, and lines
/// an injection started.
fn problems(what: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let controls = control_characters(text);
    if !controls.is_empty() {
        found.push(format!("{what}: control characters {controls:?}"));
    }
    for line in text.lines() {
        if INJECTED_LINE_STARTS.iter().any(|start| line.trim_start().starts_with(start)) {
            found.push(format!("{what}: injected line {line:?}"));
        }
    }
    found
}

/// A composed mail's text body as its recipient reads it (line ends as LF).
fn body_of(raw: &[u8]) -> String {
    let message = MessageParser::default().parse(raw).unwrap();
    message.body_text(0).map(|text| text.replace("\r\n", "\n")).unwrap_or_default()
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .arg("--config")
        .arg(dir.join("helpdesk.toml"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "helpdesk {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("the CLI prints UTF-8")
}

#[tokio::test]
async fn control_characters_from_outside_reach_no_body_template_or_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample_desk(dir.path());
    write_config(dir.path(), &config);
    let desk = open_desk(dir.path(), &config).await;
    let fake_lines = format!(
        "From: {} <jane@acme.test>\r\nTo: support@example.test\r\nSubject: {}\r\nMessage-ID: <fake@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease check the invoice.\r\n--BB\r\nContent-Type: text/plain; name=\"{attachment}\"\r\nContent-Disposition: attachment; filename=\"{attachment}\"\r\n\r\nnumbers\r\n--BB--\r\n",
        q_encoded(&format!("Jane{INJECTED}")),
        q_encoded(FAKE_LINES),
        attachment = q_encoded(FAKE_ATTACHMENT),
    );
    let terminal = format!(
        "From: {} <bo@initech.test>\r\nTo: support@example.test\r\nSubject: {}\r\nMessage-ID: <esc@initech.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        q_encoded(TERMINAL),
        q_encoded(TERMINAL),
        base64(&format!("The printer\r\nprints {TERMINAL}\rover this\tand\u{0}that.\r\n"))
    );
    let held = format!(
        "From: monitor@acme.test\r\nTo: support@example.test\r\nSubject: {}\r\nMessage-ID: <held@acme.test>\r\nAuto-Submitted: auto-generated\r\n\r\nJob failed.\r\n",
        q_encoded(&format!("{TERMINAL}{FAKE_LINES}"))
    );
    for (index, mail) in [fake_lines, terminal, held].into_iter().enumerate() {
        deliver(&desk, mail.into_bytes(), &format!("2026-12-01T14:0{index}:00Z")).await;
    }
    // The agent answers the first notification with an unreadable tag: the feedback to him
    // repeats the subject.
    let notification: String =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'agent_notification' AND ticket_id = 1")
            .fetch_one(&desk.db)
            .await
            .unwrap();
    let reply = format!(
        "From: Travis <travis@example.test>\r\nTo: support@example.test\r\nSubject: {}\r\nMessage-ID: <fb@example.test>\r\nIn-Reply-To: <{notification}>\r\n\r\n#time lots\r\n",
        q_encoded(&format!("Re: {FAKE_LINES} [#1]"))
    );
    deliver(&desk, reply.into_bytes(), "2026-12-01T15:00:00Z").await;

    let mut found = Vec::new();
    let mails = outbox(&desk).await;
    let mut kinds = BTreeSet::new();
    for (kind, _, _, raw) in &mails {
        found.extend(problems(kind, &body_of(raw)));
        let subject = MessageParser::default().parse(raw.as_slice()).unwrap().subject().unwrap_or("").to_string();
        if subject.chars().any(helpdesk::text::is_escaped) {
            found.push(format!("{kind}: subject {subject:?}"));
        }
        kinds.insert(kind.clone());
    }
    for kind in ["acknowledgement", "agent_notification", "agent_feedback"] {
        assert!(kinds.contains(kind), "no {kind} mail: {kinds:?}");
    }
    let notification_mail = &mails.iter().find(|mail| mail.0 == "agent_notification").unwrap().3;
    let notification_subject =
        MessageParser::default().parse(notification_mail.as_slice()).unwrap().subject().unwrap().to_string();
    assert!(
        notification_subject.contains("Invoice question\\r\\nNEEDS YOU: message 3"),
        "the subject is shown on one line with its escapes: {notification_subject}"
    );
    let notification = body_of(notification_mail);
    assert!(
        notification.contains("a.txt\\r\\nX-Injected5: yes\\r\\n--BB"),
        "the attachment name on one line:\n{notification}"
    );
    let feedback = body_of(&mails.iter().find(|mail| mail.0 == "agent_feedback").unwrap().3);
    assert!(feedback.contains("Invoice question\\r\\nNEEDS YOU"), "{feedback}");

    let now = at("2026-12-02T13:00:00Z");
    let date = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let summary = helpdesk::reports::daily::build_summary(&desk, date, at("2026-12-01T00:00:00Z"), now).await.unwrap();
    found.extend(problems("daily summary", &summary.text));
    found.extend(problems("daily summary html", &summary.html));
    assert!(
        summary.text.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J"),
        "the held mail's subject, escaped:\n{}",
        summary.text
    );

    let output = cli(dir.path(), &["time", "add", "Acme", "1h", &format!("Reset {TERMINAL}")]);
    found.extend(problems("time add", &output));
    let mut outputs = 1;
    for args in [
        &["tickets", "--status", "all"][..],
        &["ticket", "show", "1"],
        &["ticket", "show", "2"],
        &["held"],
        &["held", "show", "3"],
        &["hours", "--client", "Acme"],
        &["hours", "--client", "Acme", "--csv"],
        &["clients"],
        &["report", "daily", "--now", "2026-12-02T13:00:00Z"],
    ] {
        let output = cli(dir.path(), args);
        found.extend(problems(&args.join(" "), &output));
        outputs += 1;
    }
    let show = cli(dir.path(), &["ticket", "show", "2"]);
    assert!(show.contains("\\u{1b}]0;owned\\u{7}"), "the escape sequence is shown, escaped:\n{show}");
    assert!(
        show.contains("prints") && show.contains("\nover this\tand\\u{0}that."),
        "the body keeps its lines:\n{show}"
    );
    assert!(found.is_empty(), "{found:#?}");
    println!(
        "injection: control characters in subjects, names, attachment names and bodies: {} composed mails ({}), the daily summary and {outputs} CLI outputs checked: 0 control characters but LF and TAB, 0 injected lines",
        mails.len(),
        kinds.iter().cloned().collect::<Vec<_>>().join(", ")
    );
}

/// Base64 of `text`, as a mail body is transfer-encoded.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for index in 0..4 {
            out.push(if index <= chunk.len() { ALPHABET[(n >> (18 - 6 * index) & 63) as usize] as char } else { '=' });
        }
    }
    out
}
