//! Property tests over the pure path a mail takes: raw bytes -> `parse_mail` ->
//! `decide_thread` -> the agent's tags (`read_tags` on the new part) -> quote stripping.
//!
//! Two kinds of input: arbitrary bytes, and structured mails (random headers, CRLF and LF
//! line ends mixed, bare CR too in the text, encoded words, MIME multiparts with random
//! boundaries and transfer encodings, plain or HTML-only bodies whose new part and quoted
//! history carry tags such as `#time 1h`, `#p0`, `RESOLVED`).
//!
//! Properties: nothing panics; the dedupe key is deterministic (and, for well-formed mails,
//! blind to transport headers); a tag that appears only in quoted history (`>` lines, or an
//! HTML `<blockquote>`) is never read, in every case; tags in the new part of a well-formed
//! mail are read; the threading decision is the one the generated references and subject token
//! call for. Each property fails unless every case ran.
//!
//! And over the real intake (a SQLite file): text with control characters (CR, LF, ESC, BEL,
//! NUL, DEL, C1, bidi overrides, U+2028) in the subject, the display name, attachment names and
//! the body reaches no composed mail's body or subject and no CLI text output, except LF (and
//! TAB in bodies), and a line break in a one-line field never starts a line of its own.
//!
//! Cases per property: 2,000, or `PROPTEST_CASES` (a tenth of that through the real intake). Failures are saved (and replayed first)
//! in `tests/integration/properties.proptest-regressions`.

use std::sync::atomic::{AtomicU32, Ordering};

use helpdesk::agent::tags::{read_tags, AgentCommands};
use helpdesk::domain::{Severity, TicketId};
use helpdesk::inbound::automated::automated_reason;
use helpdesk::inbound::parse::{parse_mail, InboundMail};
use helpdesk::inbound::quotes;
use helpdesk::tickets::threading::{
    base_subject, decide_thread, subject_token, KnownReference, ThreadDecision, ThreadEvidence,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

use crate::common;

/// `PROPTEST_CASES`, at least 1 (0 would run nothing and pass); a value that does not parse
/// fails the test rather than falling back.
fn cases() -> u32 {
    match std::env::var("PROPTEST_CASES") {
        Err(_) => 2_000,
        Ok(value) => match value.parse::<u32>() {
            Ok(cases) if cases >= 1 => cases,
            _ => panic!("PROPTEST_CASES={value:?} must be a whole number of at least 1"),
        },
    }
}

/// Fails unless a property ran at least the `expected` cases it was configured for (the saved
/// failures are replayed on top): a generator or a check that skipped cases would pass
/// without testing anything.
fn assert_every_case_ran(property: &str, runs: u32, expected: u32) {
    assert!(runs >= expected, "{property}: only {runs} of {expected} cases ran");
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    })
}

/// What the pure path made of one mail.
struct Path {
    mail: InboundMail,
    decision: ThreadDecision,
    commands: AgentCommands,
}

/// The whole pure path, as intake and the agent's reply handling run it.
fn pipeline(raw: &[u8], max_bytes: usize) -> Path {
    let mail = parse_mail(raw, max_bytes);
    // Pretend the store knew every referenced id; every other one is the desk's own.
    let references = mail
        .referenced_ids()
        .into_iter()
        .enumerate()
        .map(|(index, message_id)| KnownReference {
            message_id,
            ticket: TicketId(index as i64 + 1),
            ours: index % 2 == 1,
        })
        .collect();
    let evidence = ThreadEvidence {
        references,
        signed_reply_address: None,
        subject_token: subject_token(&mail.subject).map(|ticket| (ticket, Some("Acme".to_string()))),
    };
    let sender_client = mail.from.as_ref().filter(|from| from.domain() == "acme.test").map(|_| "Acme");
    let decision = decide_thread(&evidence, sender_client);
    let new_part = mail.new_part();
    let commands = read_tags(&mail.subject, "Leads stuck", &new_part);
    // The rest of what intake reads from a mail.
    let _ = quotes::without_quotes(&mail.text);
    let _ = automated_reason(&mail);
    let _ = base_subject(&mail.subject);
    let _ = helpdesk::tickets::courtesy::closing_courtesy(&new_part, &["Bill"]);
    Path { mail, decision, commands }
}

fn is_key(key: &str) -> bool {
    key.len() == 32 && key.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[test]
fn arbitrary_bytes_never_panic_and_have_a_deterministic_key() {
    let runs = AtomicU32::new(0);
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2_048),
        // Printable, with the characters mail syntax turns on made frequent (mapped from
        // plain bytes: a union strategy per byte is slow to generate).
        proptest::collection::vec(any::<u8>(), 0..2_048).prop_map(|bytes| {
            const SYNTAX: &[u8] = b"\r\n\r\n:-=?<>#@ ";
            bytes
                .into_iter()
                .map(|byte| match byte {
                    0..=95 => SYNTAX[byte as usize % SYNTAX.len()],
                    _ => 32 + (byte - 96) % 95,
                })
                .collect::<Vec<u8>>()
        }),
    ];
    runner()
        .run(&(bytes, 16usize..4_096), |(raw, max_bytes)| {
            runs.fetch_add(1, Ordering::Relaxed);
            let first = pipeline(&raw, max_bytes);
            let again = parse_mail(&raw, max_bytes);
            prop_assert!(is_key(&first.mail.dedupe_key), "{}", first.mail.dedupe_key);
            prop_assert_eq!(&first.mail.dedupe_key, &again.dedupe_key);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let runs = runs.into_inner();
    assert_every_case_ran("arbitrary bytes", runs, cases());
    println!("properties: arbitrary bytes: {runs} cases, 0 panics, dedupe key deterministic");
}

/// Tags that stand only in quoted history: each must never be read.
const QUOTED_TAGS: &[&str] = &["#time 7h", "#p0", "RESOLVED", "#note", "#waiting", "#billable"];

/// A generated mail, and what its new part says.
#[derive(Debug, Clone)]
struct Generated {
    raw: Vec<u8>,
    /// The new part has `#time 1h`.
    new_time: bool,
    /// The new part has `#p1`.
    new_p1: bool,
    /// CRLF or LF throughout and a MIME structure a client would write: the new part's
    /// tags must be read and transport headers must not change the dedupe key.
    well_formed: bool,
    /// Has an HTML part (its history in a `<blockquote>`).
    has_html: bool,
    line_end: &'static str,
    /// The ids in References, oldest first (the last one is also In-Reply-To).
    references: Vec<String>,
    /// The `[#N]` in the subject.
    subject_token: Option<u32>,
    from_domain: &'static str,
}

impl Generated {
    /// The ticket the threading decision must pick, worked out from what was generated (not
    /// from the parsed mail): `pipeline` gives the referenced ids, nearest first (In-Reply-To,
    /// then References newest first, each once), tickets 1, 2, ... and marks the second one the
    /// desk's own. So: the desk's own reference (ticket 2) when there are two ids or more, else
    /// the one stored reference (ticket 1), else the subject token when the sender is of the
    /// token's client (Acme), else a new ticket.
    fn expected_ticket(&self) -> Option<i64> {
        let mut nearest_first: Vec<&String> = Vec::new();
        for id in self.references.last().into_iter().chain(self.references.iter().rev()) {
            if !nearest_first.contains(&id) {
                nearest_first.push(id);
            }
        }
        match nearest_first.len() {
            0 => self.subject_token.filter(|_| self.from_domain == "acme.test").map(i64::from),
            1 => Some(1),
            _ => Some(2),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Ends {
    Crlf,
    Lf,
    /// CRLF and LF, line by line.
    Mixed,
    /// CRLF, LF and bare CR, line by line in the text; CRLF and LF in header blocks and
    /// boundary lines. (A bare CR ends no line in a header block for any reader, RFC 5322 having
    /// none: it joins two header fields into one, so a Content-Transfer-Encoding after it is
    /// lost and the mail is no longer the one generated. Arbitrary bytes cover that case.)
    Wild,
}

/// What a generated line is, for its line end (see `Ends::Wild`).
#[derive(Debug, Clone, Copy)]
enum Line {
    Text,
    Structure,
}

#[derive(Debug, Clone, Copy)]
enum Body {
    Plain,
    /// multipart/alternative with a plain and an HTML part.
    Alternative,
    /// HTML only, the history in a `<blockquote>`.
    HtmlOnly,
    /// multipart/mixed: the plain text and an attachment.
    Mixed,
}

#[derive(Debug, Clone, Copy)]
enum Transfer {
    SevenBit,
    QuotedPrintable,
    Base64,
}

fn words() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z]{1,9}", 1..7).prop_map(|words| words.join(" "))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Quoted-printable as a client writes it: `=` and non-ASCII escaped, long lines wrapped.
fn quoted_printable(text: &str, line_end: &str) -> String {
    let mut out = String::new();
    for line in text.split(line_end) {
        let mut width = 0;
        for byte in line.bytes() {
            let piece =
                if byte == b'=' || !byte.is_ascii() { format!("={byte:02X}") } else { (byte as char).to_string() };
            if width + piece.len() > 72 {
                out.push('=');
                out.push_str(line_end);
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str(line_end);
    }
    out
}

fn encoded_word(text: &str, b_encoding: bool) -> String {
    if b_encoding {
        format!("=?utf-8?B?{}?=", base64(text.as_bytes()))
    } else {
        format!("=?utf-8?Q?{}?=", text.replace(' ', "_"))
    }
}

prop_compose! {
    fn generated_mail()(
        (ends, line_picks, body_kind, transfer, boundary) in (
            prop_oneof![Just(Ends::Crlf), Just(Ends::Lf), Just(Ends::Mixed), Just(Ends::Wild)],
            proptest::collection::vec(0usize..3, 80),
            prop_oneof![Just(Body::Plain), Just(Body::Alternative), Just(Body::HtmlOnly), Just(Body::Mixed)],
            prop_oneof![Just(Transfer::SevenBit), Just(Transfer::QuotedPrintable), Just(Transfer::Base64)],
            "[A-Za-z0-9'()+_,./:=?-]{1,40}",
        ),
        (from_local, from_domain, subject_words, subject_encoded, subject_token) in (
            "[a-z]{1,8}",
            prop_oneof![Just("acme.test"), Just("example.org"), Just("globex.test")],
            words(),
            prop_oneof![Just(None), Just(Some(false)), Just(Some(true))],
            proptest::option::of(1u32..100),
        ),
        (message_id, references, extra_headers) in (
            proptest::option::of("[a-z0-9.]{1,12}@[a-z]{1,8}\\.test"),
            proptest::collection::vec("[a-z0-9.]{1,12}@[a-z]{1,8}\\.test", 0..4),
            proptest::collection::vec(("X-[A-Z][a-z]{0,8}", words()), 0..4),
        ),
        (new_lines, new_time, new_p1) in (proptest::collection::vec(words(), 0..5), any::<bool>(), any::<bool>()),
        (quoted_lines, quoted_tags, attribution, quote_prefix, text_after_quote) in (
            proptest::collection::vec(words(), 1..5),
            proptest::sample::subsequence(QUOTED_TAGS.to_vec(), 1..=QUOTED_TAGS.len()),
            any::<bool>(),
            prop_oneof![Just("> "), Just(">"), Just(">> "), Just("  > ")],
            proptest::option::of(words()),
        ),
    ) -> Generated {
        let mut pick = line_picks.into_iter().cycle();
        // The end of a line of text; `end(Line::Structure)` ends a header, the blank line after
        // a header block, or a boundary line.
        let mut end = |line: Line| -> &'static str {
            let choice = pick.next().unwrap_or(0);
            match (ends, line) {
                (Ends::Crlf, _) => "\r\n",
                (Ends::Lf, _) => "\n",
                (Ends::Mixed, _) | (Ends::Wild, Line::Structure) => ["\r\n", "\n", "\r\n"][choice],
                (Ends::Wild, Line::Text) => ["\r\n", "\n", "\r"][choice],
            }
        };
        let line_end = match ends { Ends::Lf => "\n", _ => "\r\n" };

        // The new part: words, then the tags, each on a line or at a line's end.
        let mut new_part: Vec<String> = new_lines.clone();
        if new_time {
            new_part.push("#time 1h".into());
        }
        if new_p1 {
            match new_part.first_mut() {
                Some(line) => line.push_str(" #p1"),
                None => new_part.push("#p1".into()),
            }
        }
        // The history: short lines (no quoted-printable wrapping), tags among them.
        let mut history: Vec<String> = Vec::new();
        if attribution {
            history.push(format!("On Mon, 30 Nov 2026 at 09:{:02}, Jane Roe <jane@acme.test> wrote:", quoted_lines.len()));
        }
        for (index, line) in quoted_lines.iter().enumerate() {
            history.push(format!("{quote_prefix}{line}"));
            if let Some(tag) = quoted_tags.get(index) {
                history.push(format!("{quote_prefix}{tag}"));
            }
        }
        for tag in quoted_tags.iter().skip(quoted_lines.len()) {
            history.push(format!("{quote_prefix}{tag}"));
        }

        let mut plain: Vec<String> = new_part.clone();
        plain.push(String::new());
        plain.extend(history.iter().cloned());
        if let Some(after) = &text_after_quote {
            plain.push(String::new());
            plain.push(after.clone());
        }
        let plain_text = plain.iter().map(|line| format!("{line}{}", end(Line::Text))).collect::<String>();
        // HTML on one line: if its MIME headers are lost, no tag stands at a line's start.
        let html = format!(
            "<html><body><div>{}</div><blockquote type=\"cite\">{}</blockquote>{}</body></html>",
            new_part.join("<br>"),
            quoted_tags.iter().copied().chain(quoted_lines.iter().map(String::as_str)).map(|line| format!("<div>{line}</div>")).collect::<String>(),
            text_after_quote.as_deref().map(|after| format!("<div>{after}</div>")).unwrap_or_default(),
        );

        let encode = |text: &str| -> (String, &'static str) {
            match transfer {
                Transfer::SevenBit => (text.to_string(), "7bit"),
                Transfer::QuotedPrintable => (quoted_printable(&text.replace("\r\n", "\n").replace('\r', "\n").replace('\n', line_end), line_end), "quoted-printable"),
                Transfer::Base64 => {
                    let encoded = base64(text.as_bytes());
                    let lines: Vec<String> = encoded.as_bytes().chunks(76).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect();
                    (lines.join(line_end) + line_end, "base64")
                }
            }
        };

        let mut headers: Vec<String> = vec![
            format!("From: {} <{from_local}@{from_domain}>", encoded_word(&from_local, subject_encoded == Some(true))),
            "To: support@example.test".into(),
        ];
        let token = subject_token.map(|ticket| format!(" [#{ticket}]")).unwrap_or_default();
        headers.push(match subject_encoded {
            None => format!("Subject: Re: {subject_words}{token}"),
            Some(b) => format!("Subject: Re: {}{token}", encoded_word(&subject_words, b)),
        });
        if let Some(id) = &message_id {
            headers.push(format!("Message-ID: <{id}>"));
        }
        if let Some(parent) = references.last() {
            headers.push(format!("In-Reply-To: <{parent}>"));
            headers.push(format!("References: {}", references.iter().map(|id| format!("<{id}>")).collect::<Vec<_>>().join(" ")));
        }
        headers.push("Date: Mon, 30 Nov 2026 09:00:00 -0500".into());
        for (name, value) in &extra_headers {
            headers.push(format!("{name}: {value}"));
        }
        headers.push("MIME-Version: 1.0".into());

        let mut body = String::new();
        match body_kind {
            Body::Plain => {
                let (text, cte) = encode(&plain_text);
                headers.push("Content-Type: text/plain; charset=utf-8".into());
                headers.push(format!("Content-Transfer-Encoding: {cte}"));
                body.push_str(&text);
            }
            Body::HtmlOnly => {
                let (text, cte) = encode(&html);
                headers.push("Content-Type: text/html; charset=utf-8".into());
                headers.push(format!("Content-Transfer-Encoding: {cte}"));
                body.push_str(&text);
            }
            Body::Alternative | Body::Mixed => {
                let subtype = if matches!(body_kind, Body::Alternative) { "alternative" } else { "mixed" };
                headers.push(format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\""));
                let (text, cte) = encode(&plain_text);
                body.push_str(&format!("--{boundary}{}Content-Type: text/plain; charset=utf-8{}Content-Transfer-Encoding: {cte}{}{}", end(Line::Structure), end(Line::Structure), end(Line::Structure), end(Line::Structure)));
                // A boundary line starts a line: the text before it ends with a line end that
                // belongs to the boundary.
                body.push_str(&text);
                if !text.ends_with('\n') {
                    body.push_str(end(Line::Structure));
                }
                if matches!(body_kind, Body::Alternative) {
                    let (html_text, cte) = encode(&html);
                    body.push_str(&format!("--{boundary}{}Content-Type: text/html; charset=utf-8{}Content-Transfer-Encoding: {cte}{}{}", end(Line::Structure), end(Line::Structure), end(Line::Structure), end(Line::Structure)));
                    body.push_str(&html_text);
                    if !html_text.ends_with('\n') {
                        body.push_str(end(Line::Structure));
                    }
                } else {
                    body.push_str(&format!("--{boundary}{}Content-Type: application/pdf; name=\"a.pdf\"{}Content-Disposition: attachment; filename=\"a.pdf\"{}Content-Transfer-Encoding: base64{}{}JVBERi0={}", end(Line::Structure), end(Line::Structure), end(Line::Structure), end(Line::Structure), end(Line::Structure), end(Line::Structure)));
                }
                body.push_str(&format!("--{boundary}--{}", end(Line::Structure)));
            }
        }
        let mut raw = String::new();
        for header in &headers {
            raw.push_str(header);
            raw.push_str(end(Line::Structure));
        }
        raw.push_str(end(Line::Structure));
        raw.push_str(&body);
        Generated {
            raw: raw.into_bytes(),
            new_time,
            new_p1,
            well_formed: matches!(ends, Ends::Crlf | Ends::Lf),
            has_html: matches!(body_kind, Body::Alternative | Body::HtmlOnly),
            line_end,
            references,
            subject_token,
            from_domain,
        }
    }
}

/// What a quoted-only tag would have done.
fn read_from_quotes(commands: &AgentCommands) -> Vec<&'static str> {
    let mut read = Vec::new();
    if commands.time_entries.iter().any(|entry| entry.minutes == 420) {
        read.push("#time 7h");
    }
    if commands.severity == Some(Severity::P0) {
        read.push("#p0");
    }
    if commands.resolved {
        read.push("RESOLVED");
    }
    if commands.note {
        read.push("#note");
    }
    if commands.waiting {
        read.push("#waiting");
    }
    if commands.billable {
        read.push("#billable");
    }
    read
}

#[test]
fn structured_mails_tags_come_only_from_the_new_part() {
    let runs = AtomicU32::new(0);
    let well_formed = AtomicU32::new(0);
    let quoted_checked = AtomicU32::new(0);
    let mixed_with_html = AtomicU32::new(0);
    runner()
        .run(&generated_mail(), |generated| {
            runs.fetch_add(1, Ordering::Relaxed);
            let path = pipeline(&generated.raw, 1 << 20);
            let text = String::from_utf8_lossy(&generated.raw);
            // Every case, whatever its line ends: `>` history and HTML `<blockquote>` history.
            let quoted = read_from_quotes(&path.commands);
            prop_assert!(quoted.is_empty(), "tags read from quoted history: {:?}\n{:?}\n{}", quoted, path.commands, text);
            quoted_checked.fetch_add(1, Ordering::Relaxed);
            if !generated.well_formed && generated.has_html {
                mixed_with_html.fetch_add(1, Ordering::Relaxed);
            }
            prop_assert!(is_key(&path.mail.dedupe_key));
            prop_assert_eq!(&path.mail.dedupe_key, &parse_mail(&generated.raw, 1 << 20).dedupe_key);
            let decided = match &path.decision {
                ThreadDecision::Existing { ticket, .. } => Some(ticket.0),
                ThreadDecision::New { .. } => None,
            };
            prop_assert_eq!(decided, generated.expected_ticket(), "threading decision {:?}\n{}", path.decision, text);
            if generated.well_formed {
                well_formed.fetch_add(1, Ordering::Relaxed);
                if generated.new_time {
                    prop_assert!(path.commands.time_entries.iter().any(|entry| entry.minutes == 60), "#time 1h not read: {:?}\n{}", path.commands, text);
                }
                if generated.new_p1 {
                    prop_assert_eq!(path.commands.severity, Some(Severity::P1), "#p1 not read\n{}", text);
                }
                // A second delivery: other transport headers, the same key.
                let end = generated.line_end;
                let redelivered = format!("Received: from mx2.example.test by mx.example.test{end}Delivered-To: support@example.test{end}Return-Path: <x@y.test>{end}{text}");
                let key = parse_mail(redelivered.as_bytes(), 1 << 20).dedupe_key;
                prop_assert_eq!(key, path.mail.dedupe_key.clone(), "transport headers changed the key\n{}", text);
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let (runs, quoted_checked) = (runs.into_inner(), quoted_checked.into_inner());
    // Every case ran and had its quoted history checked.
    assert_every_case_ran("structured mails", runs, cases());
    assert_eq!(quoted_checked, runs, "every case's quoted history was checked");
    println!(
        "properties: structured mails: {runs} cases ({} with CRLF or LF throughout), 0 panics, no tag read from quoted history in {quoted_checked} of {runs} cases ({} of them with mixed line ends and HTML), new-part tags read, dedupe key deterministic",
        well_formed.into_inner(),
        mixed_with_html.into_inner()
    );
}

#[test]
fn quote_stripping_never_keeps_a_quoted_line() {
    let runs = AtomicU32::new(0);
    let line = prop_oneof![
        words(),
        words().prop_map(|words| format!("> {words}")),
        words().prop_map(|words| format!(">> #p0 {words}")),
        Just("On Mon, 30 Nov 2026 at 09:00, Jane <jane@acme.test> wrote:".to_string()),
        Just("-----Original Message-----".to_string()),
        Just("From: Jane".to_string()),
        Just("-- ".to_string()),
        Just(String::new()),
        // Printable ASCII without the backtick (a ``` fence shields `>` lines on purpose).
        "[ -_a-~]{0,60}",
    ];
    let text = (proptest::collection::vec(line, 0..30), proptest::collection::vec(0usize..3, 30));
    runner()
        .run(&text, |(lines, ends)| {
            runs.fetch_add(1, Ordering::Relaxed);
            let joined: String = lines
                .iter()
                .zip(ends.iter().cycle())
                .map(|(line, end)| format!("{line}{}", ["\r\n", "\n", "\r"][*end]))
                .collect();
            for stripped in [quotes::new_part(&joined), quotes::without_quotes(&joined)] {
                for kept in stripped.lines() {
                    prop_assert!(!kept.trim_start().starts_with('>'), "quoted line kept: {:?} from {:?}", kept, joined);
                }
                let commands = read_tags("", "Leads stuck", &stripped);
                let normalized = joined.replace("\r\n", "\n").replace('\r', "\n");
                let unquoted_p0 =
                    normalized.lines().any(|line| !line.trim_start().starts_with('>') && line.contains("#p0"));
                prop_assert!(
                    commands.severity != Some(Severity::P0) || unquoted_p0,
                    "#p0 read from a quote: {:?}",
                    joined
                );
            }
            let html = format!("<p>{}</p><blockquote>{}</blockquote>", lines.join("<br>"), "#p0 RESOLVED");
            let new = quotes::new_part_of_html(&html);
            prop_assert!(!new.contains("RESOLVED") || lines.iter().any(|line| line.contains("RESOLVED")));
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let runs = runs.into_inner();
    assert_every_case_ran("quote stripping", runs, cases());
    println!("properties: quote stripping: {runs} cases, 0 panics, no `>` line ever kept");
}

#[test]
fn tags_are_read_only_where_written() {
    // A fixed check that the generator's quoted tags would be read if they were not quoted,
    // so the properties above do not pass vacuously.
    for tag in QUOTED_TAGS {
        let commands = read_tags("Re: x", "Leads stuck", &format!("Done.\n{tag}\n"));
        assert!(!read_from_quotes(&commands).is_empty(), "{tag} is not a tag");
        let quoted = read_tags("Re: x", "Leads stuck", &quotes::new_part(&format!("Done.\n\n> {tag}\n")));
        assert!(read_from_quotes(&quoted).is_empty(), "{tag} read from a quote");
    }
    println!("properties: {} quoted-only tags each read when unquoted, ignored when quoted", QUOTED_TAGS.len());
}

/// Pieces of text a hostile sender decodes into a header or a body.
const CONTROL_PIECES: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "\t",
    "\u{1b}]0;owned\u{7}",
    "\u{1b}[2J",
    "\0",
    "\u{7f}",
    "\u{85}",
    "\u{9b}",
    "\u{202e}",
    "\u{2067}",
    "\u{2028}",
    "\u{2029}",
    "\u{8}",
];

/// Marker lines put after a line break in each one-line field: none may start a line.
const MARKERS: &[&str] = &["#take 9137", "X-Injected-7: yes", "--BB7"];

fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9 .:#-]{1,6}",
        2 => proptest::sample::select(CONTROL_PIECES).prop_map(str::to_string),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
}

/// An RFC 2047 encoded word that decodes to `text`, whatever it holds: base64, or every byte
/// but letters and digits Q-encoded.
fn hostile_word(text: &str, b_encoding: bool) -> String {
    if b_encoding {
        return encoded_word(text, true);
    }
    let encoded: String = text
        .bytes()
        .map(|byte| if byte.is_ascii_alphanumeric() { (byte as char).to_string() } else { format!("={byte:02X}") })
        .collect();
    format!("=?utf-8?Q?{encoded}?=")
}

/// `text` with a line break and each marker in it.
fn with_markers(text: &str, line_break: &str) -> String {
    let mut out = text.to_string();
    for marker in MARKERS {
        out.push_str(line_break);
        out.push_str(marker);
    }
    out
}

/// What must not reach a body or a terminal: control characters other than LF and TAB, and a
/// marker at the start of a line.
fn unsafe_text(what: &str, text: &str) -> Option<String> {
    let controls: Vec<char> =
        text.chars().filter(|&c| helpdesk::text::is_escaped(c) && c != '\n' && c != '\t').collect();
    let injected: Vec<&str> =
        text.lines().filter(|line| MARKERS.iter().any(|marker| line.trim_start().starts_with(marker))).collect();
    (!controls.is_empty() || !injected.is_empty())
        .then(|| format!("{what}: control characters {controls:?}, injected lines {injected:?} in\n{text}"))
}

#[test]
fn control_characters_reach_no_composed_mail_and_no_terminal() {
    let runs = AtomicU32::new(0);
    let dir = tempfile::tempdir().unwrap();
    let config = common::sample_desk(dir.path()).section(
        "[intake]\nacknowledgements_per_sender_per_hour = 10000\nacknowledgements_per_domain_per_hour = 10000\nagent_notifications_per_sender_per_hour = 10000\nagent_notifications_per_domain_per_hour = 10000\n",
    );
    common::write_config(dir.path(), &config);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let desk = runtime.block_on(common::open_desk(dir.path(), &config));
    let line_break = proptest::sample::select(&["\r\n", "\n", "\r", "\u{2028}", "\u{85}"][..]);
    let fields = (hostile_text(), hostile_text(), hostile_text(), hostile_text(), line_break, any::<bool>());
    let mut runner = TestRunner::new(Config { cases: (cases() / 10).max(1), ..runner().config().clone() });
    runner
        .run(&fields, |(subject, name, attachment, body, line_break, b_encoding)| {
            let run = runs.fetch_add(1, Ordering::Relaxed);
            let raw = format!(
                "From: {name} <p{run}@acme.test>\r\nTo: support@example.test\r\nSubject: {subject}\r\nMessage-ID: <p{run}@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB7\"\r\n\r\n--BB7\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n--BB7\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{attachment}\"\r\n\r\nxyz\r\n--BB7--\r\n",
                name = hostile_word(&with_markers(&name, line_break), b_encoding),
                subject = hostile_word(&with_markers(&subject, line_break), !b_encoding),
                attachment = hostile_word(&with_markers(&attachment, line_break), true),
                body = base64(body.as_bytes()),
            );
            let arrived = common::at("2026-12-01T14:00:00Z") + chrono::Duration::seconds(run.into());
            let mails: Vec<(String, Vec<u8>)> = runtime.block_on(async {
                let outcome = common::deliver(&desk, raw.into_bytes(), arrived).await;
                assert!(matches!(outcome, helpdesk::intake::IntakeOutcome::NewTicket { .. }), "{outcome:?}");
                sqlx::query_as("SELECT kind, raw FROM outbox WHERE ticket_id = (SELECT MAX(id) FROM tickets)")
                    .fetch_all(&desk.db)
                    .await
                    .unwrap()
            });
            prop_assert!(mails.len() >= 2, "an acknowledgement and a notification: {}", mails.len());
            for (kind, raw) in &mails {
                let message = mail_parser::MessageParser::default().parse(raw.as_slice()).unwrap();
                let body = message.body_text(0).map(|text| text.replace("\r\n", "\n")).unwrap_or_default();
                let subject = message.subject().unwrap_or("").to_string();
                prop_assert!(unsafe_text(kind, &body).is_none(), "{}", unsafe_text(kind, &body).unwrap());
                prop_assert!(!subject.chars().any(helpdesk::text::is_escaped), "{kind} subject {subject:?}");
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));

    let runs = runs.into_inner();
    assert_every_case_ran("control characters", runs, (cases() / 10).max(1));
    let cli = |args: &[&str]| -> String {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"))
            .arg("--config")
            .arg(dir.path().join("helpdesk.toml"))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let mut outputs = vec![("tickets".to_string(), cli(&["tickets", "--status", "all"]))];
    for ticket in (1..=runs).step_by((runs as usize / 20).max(1)) {
        outputs.push((format!("ticket show {ticket}"), cli(&["ticket", "show", &ticket.to_string()])));
    }
    for (what, output) in &outputs {
        let problem = unsafe_text(what, output);
        assert!(problem.is_none(), "{}", problem.unwrap());
    }
    println!(
        "properties: control characters in subject, name, attachment name and body: {runs} mails through the real intake, their acknowledgements and notifications parsed back and {} CLI outputs: 0 control characters but LF and TAB, 0 injected lines",
        outputs.len()
    );
}

/// A client line for the notification: words, or a tag line the agent must never run.
fn client_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => words(),
        1 => Just("RESOLVED".to_string()),
        1 => Just("#time 9h".to_string()),
        1 => Just("#billable #p0".to_string()),
        1 => words().prop_map(|words| format!("{words} #time 8h")),
        1 => words().prop_map(|words| format!("> {words}")),
    ]
}

/// How the agent's mail client puts the desk's mail below his words.
fn quoting() -> impl Strategy<Value = usize> {
    0..5usize
}

#[test]
fn tags_are_never_read_from_text_the_desk_sent_the_agent() {
    use helpdesk::agent::echo::agent_words;
    let runs = AtomicU32::new(0);
    let case = (proptest::collection::vec(client_line(), 1..12), proptest::collection::vec(words(), 1..4), quoting());
    runner()
        .run(&case, |(client_lines, agent_lines, style)| {
            runs.fetch_add(1, Ordering::Relaxed);
            let client_text: String = client_lines.iter().map(|line| format!("> {line}\n")).collect();
            let notification = format!(
                "New ticket #1 from jane@acme.test (Acme, GROWTH).\nSeverity: P2 (no rule matched)\n\nReply to this email to answer the client.\n\n----- jane@acme.test wrote -----\n{client_text}"
            );
            // The worst case: the mail client dropped every quote marker of the desk's text.
            let bare: String = notification.lines().map(|line| format!("{}\n", line.trim_start_matches("> "))).collect();
            let quoted: String = notification.lines().map(|line| format!("> {line}\n")).collect();
            let words = agent_lines.join("\n");
            let reply = match style {
                0 => format!("{words}\n\nFrom: Support <support@example.test>\nSent: Monday\nTo: Travis\nSubject: New ticket\n\n{bare}"),
                1 => format!("{words}\n\nOn Mon, Jan 5, 2026 at 10:00 AM, \"Support\" <support@example.test> wrote:\n\n{bare}"),
                2 => format!("{words}\n\n{bare}"),
                3 => format!("{words}\n\nOn Mon, Jan 5, 2026 at 10:00 AM Support <support@example.test> wrote:\n{quoted}"),
                _ => format!("{words}\n\n-----Original Message-----\n{bare}"),
            };
            let own = agent_words(&quotes::new_part(&reply), std::slice::from_ref(&notification));
            let commands = read_tags("Re: New ticket", "Sync", &own.text);
            prop_assert_eq!(
                AgentCommands { text: String::new(), ..commands.clone() },
                AgentCommands::default(),
                "a tag was read from the desk's text:\n{}",
                reply
            );
            prop_assert!(!own.text.contains("New ticket"), "the desk's text is not his: {:?}", own.text);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let runs = runs.into_inner();
    assert_every_case_ran("tags from the desk's text", runs, cases());
    println!(
        "properties: {runs} replies in 5 quoting styles over client text with tags: no tag read from the desk's text"
    );
}
