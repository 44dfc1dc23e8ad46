//! Raw bytes to `InboundMail`, the desk's own view of a message. Pure: no I/O, never panics;
//! a message mail-parser cannot read still becomes an `InboundMail` (with a `problem`), so it
//! is kept rather than dropped.

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{display_name_on_one_line, EmailAddress, MessageId};

#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    /// The decoded bytes (not stored in `attachments_json`; the raw mail keeps them).
    #[serde(skip)]
    pub contents: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct InboundMail {
    pub message_id: Option<MessageId>,
    pub in_reply_to: Vec<MessageId>,
    pub references: Vec<MessageId>,
    pub from: Option<EmailAddress>,
    pub from_name: Option<String>,
    pub reply_to: Option<EmailAddress>,
    /// To, Cc, Delivered-To and X-Original-To: where plus-addresses are looked for.
    pub recipients: Vec<EmailAddress>,
    /// The addresses in To and Cc only, in order, each once (at most `ADDRESSED_KEPT`).
    pub addressed: Vec<EmailAddress>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// The plain text; derived from HTML when the mail has no plain part.
    pub text: String,
    /// The HTML body, kept only when there is no plain-text part (quote stripping needs the
    /// HTML structure: Gmail's and Outlook's quote blocks are lost in plain text).
    pub html_only: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Every header as (lower-case name, raw value), for the automation checks.
    pub headers: Vec<(String, String)>,
    /// MIME types of all parts, lower-case (`multipart/report`, `message/delivery-status`).
    pub part_types: Vec<String>,
    /// Identifies the same mail delivered or fetched twice.
    pub dedupe_key: String,
    /// What went wrong while reading it, if anything (kept for the log and the agent).
    pub problem: Option<String>,
    /// `new_part()`, computed once (intake reads it for triage, tags and the agent's text).
    new_part_cache: std::sync::OnceLock<String>,
}

impl InboundMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Whether the body was left unread (over the size limit, or nested too deep): `text` is
    /// then a placeholder, not the author's words.
    pub fn body_unread(&self) -> bool {
        self.problem.as_deref().is_some_and(|problem| problem.ends_with("body not read"))
    }

    /// What the author wrote this time: quoted history and signature removed (from the HTML
    /// structure when the mail has no plain-text part).
    pub fn new_part(&self) -> String {
        self.new_part_cache
            .get_or_init(|| match &self.html_only {
                Some(html) => super::quotes::new_part_of_html(html),
                None => super::quotes::new_part(&self.text),
            })
            .clone()
    }

    /// The Message-IDs this mail points at, nearest first: In-Reply-To, then References from
    /// the newest backwards.
    pub fn referenced_ids(&self) -> Vec<MessageId> {
        let mut seen = std::collections::HashSet::new();
        self.in_reply_to.iter().chain(self.references.iter().rev()).filter(|id| seen.insert(*id)).cloned().collect()
    }
}

/// More nested messages than this, and only the headers are parsed (see `nesting_markers`).
const MAX_NESTED_MESSAGES: usize = 1_000;

/// Reads one message. Mails over `max_bytes`, and mails nesting more than
/// `MAX_NESTED_MESSAGES` messages, have only their headers parsed.
pub fn parse_mail(raw: &[u8], max_bytes: usize) -> InboundMail {
    let oversized = raw.len() > max_bytes;
    let too_deep = !oversized && nesting_markers(raw, 3) > MAX_NESTED_MESSAGES;
    let parser = MessageParser::default();
    let parsed = if oversized || too_deep { parser.parse_headers(raw) } else { parser.parse(raw) };
    let mut mail = match parsed {
        Some(message) => {
            let mail = from_message(&message);
            drop_iteratively(message);
            mail
        }
        None => unreadable(raw),
    };
    if oversized {
        mark_body_not_read(&mut mail, raw.len(), max_bytes);
    }
    if too_deep {
        mail.html_only = None;
        mail.problem = Some(format!("more than {MAX_NESTED_MESSAGES} nested messages: body not read"));
        mail.text = "[This mail nests more messages than the desk reads; read the stored original.]".into();
    }
    // The key first, from the text as decoded: escaping must not change the key of a mail
    // recorded before the escaping existed (a rescan would record it again).
    mail.dedupe_key = dedupe_key(&mail, raw);
    show_safely(&mut mail);
    mail
}

/// Escapes every control character that came from outside (`crate::text`), so that nothing
/// downstream (templates, headers, the terminal) sees a CR, LF, ESC or bidi override it did
/// not write: the subject, the sender's name, attachment names and types on one line, the
/// body with its line breaks. A TAB in a header value is folding white space, not content: it
/// becomes a space. The raw bytes stay as they were.
fn show_safely(mail: &mut InboundMail) {
    let header_line = |value: &str| crate::text::one_line(&value.replace('\t', " "));
    mail.subject = header_line(&mail.subject);
    mail.from_name = mail
        .from_name
        .as_deref()
        .map(|name| display_name_on_one_line(&header_line(name)))
        .filter(|name| !name.is_empty());
    for attachment in &mut mail.attachments {
        attachment.name = header_line(&attachment.name);
        attachment.content_type = header_line(&attachment.content_type);
    }
    mail.text = crate::text::multi_line(&mail.text);
}

/// An upper bound of how deep mail-parser would nest messages in `raw`: the markers of the
/// types it parses as nested messages, also inside quoted-printable and base64 bodies, which
/// mail-parser decodes and parses again (`levels` deep). mail-parser builds each nested
/// `message/rfc822` part as a tree node and copies (`into_owned`) and drops that tree
/// recursively: 20,000 levels (1.4 MB, under the size limit) overflow the stack and abort the
/// process, on every restart again, since the mail is never recorded.
fn nesting_markers(raw: &[u8], levels: u8) -> usize {
    let normalized = without_quoted_printable_escapes(raw);
    let mut markers = count_markers(&normalized);
    if markers == 0 || levels == 0 {
        return markers;
    }
    // Runs of lines made only of base64 characters (mail-parser's decoder skips blanks), each
    // decoded and counted.
    let is_base64 = |line: &[u8]| {
        line.iter().any(|byte| byte.is_ascii_alphanumeric())
            && line.iter().all(|byte| byte.is_ascii_alphanumeric() || b"+/= \t".contains(byte))
    };
    let mut run: Vec<u8> = Vec::new();
    let lines = raw.split(|&byte| byte == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    for line in lines.chain([&b""[..]]) {
        if is_base64(line) {
            run.extend(line.iter().filter(|byte| !byte.is_ascii_whitespace()));
        } else if !run.is_empty() {
            if let Some(decoded) = mail_parser::decoders::base64::base64_decode(&run) {
                markers += nesting_markers(&decoded, levels - 1);
            }
            run.clear();
            if markers > MAX_NESTED_MESSAGES {
                break;
            }
        }
    }
    markers
}

/// How often a type that mail-parser parses as a nested message occurs: `message/rfc822`,
/// `message/global` and `multipart/digest` (whose parts are messages), in any case.
fn count_markers(bytes: &[u8]) -> usize {
    let mut count = 0;
    for (index, _) in bytes.iter().enumerate().filter(|(_, &byte)| byte == b'/') {
        let before = |word: &[u8]| index >= word.len() && bytes[index - word.len()..index].eq_ignore_ascii_case(word);
        let after =
            |word: &[u8]| bytes.get(index + 1..index + 1 + word.len()).is_some_and(|w| w.eq_ignore_ascii_case(word));
        let marker = (before(b"message") && (after(b"rfc822") || after(b"global")))
            || (before(b"multipart") && after(b"digest"));
        count += usize::from(marker);
    }
    count
}

/// The bytes with quoted-printable soft line breaks removed and `=2F` read as `/`, so that a
/// marker split or encoded by quoted-printable is still seen (mail-parser decodes both).
fn without_quoted_printable_escapes(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let escaped = raw.windows(2).any(|window| window == b"=\n" || window == b"=\r")
        || raw.windows(3).any(|window| window.eq_ignore_ascii_case(b"=2f"));
    if !escaped {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut joined = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        match &raw[index..] {
            [b'=', b'\n', ..] => index += 2,
            [b'=', b'\r', b'\n', ..] => index += 3,
            [b'=', b'2', b'f' | b'F', ..] => {
                joined.push(b'/');
                index += 3;
            }
            [byte, ..] => {
                joined.push(*byte);
                index += 1;
            }
            [] => break,
        }
    }
    std::borrow::Cow::Owned(joined)
}

/// Records that a mail of `size` bytes was over the limit, so only its headers were read (the
/// IMAP source then fetches only the headers; the original stays in the mailbox).
pub fn mark_body_not_read(mail: &mut InboundMail, size: usize, max_bytes: usize) {
    // Without a body, the key has only the headers: the full size tells apart two oversized
    // mails that share Message-ID, From, Date and Subject.
    let mut hasher = Sha256::new();
    hasher.update(mail.dedupe_key.as_bytes());
    hasher.update(format!("\0size {size}").as_bytes());
    mail.dedupe_key = hex_prefix(&hasher.finalize());
    mail.html_only = None;
    mail.new_part_cache = std::sync::OnceLock::new();
    mail.problem = Some(body_not_read_problem(size, max_bytes));
    mail.text = format!("[This mail is {size} bytes, over the desk's limit of {max_bytes}; its body was not read. The original is on the mail server.]");
}

/// The stored problem of a mail whose body was not read (it ends with "body not read").
pub fn body_not_read_problem(size: usize, max_bytes: usize) -> String {
    format!("{size} bytes is over the {max_bytes} byte limit: body not read")
}

/// The full size of a mail stored headers-only, read back from its stored problem.
pub fn unread_body_size(problem: &str) -> Option<usize> {
    let before = problem.strip_suffix(" byte limit: body not read")?;
    let (size_part, _limit) = before.rsplit_once(" bytes is over the ")?;
    size_part.rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Drops a parsed message without recursion. mail-parser keeps each attached
/// `message/rfc822` inside its parent's part, so a mail of 20,000 nested forwards (1.4 MB,
/// well under the size limit) is a tree that deep, and the default recursive drop overflows
/// the stack and aborts the whole process: on every restart again, as the mail is never
/// recorded. The nested messages are taken out onto a heap stack and dropped one by one.
fn drop_iteratively(message: Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut message) = pending.pop() {
        for part in &mut message.parts {
            if matches!(part.body, PartType::Message(_)) {
                if let PartType::Message(inner) = std::mem::take(&mut part.body) {
                    pending.push(inner);
                }
            }
        }
    }
}

/// How many To and Cc addresses a mail's `addressed` keeps (a mail to 5,000 people is read,
/// but only so many of them are shown or become participants).
pub const ADDRESSED_KEPT: usize = 50;

fn unreadable(raw: &[u8]) -> InboundMail {
    InboundMail {
        message_id: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        from: None,
        from_name: None,
        reply_to: None,
        recipients: Vec::new(),
        addressed: Vec::new(),
        subject: String::new(),
        date: None,
        text: String::from_utf8_lossy(&raw[..raw.len().min(64 * 1024)]).into_owned(),
        html_only: None,
        attachments: Vec::new(),
        headers: Vec::new(),
        part_types: Vec::new(),
        dedupe_key: String::new(),
        problem: Some("not a readable mail message".into()),
        new_part_cache: std::sync::OnceLock::new(),
    }
}

fn from_message(message: &Message<'_>) -> InboundMail {
    let first_address = |value: Option<&Address<'_>>| -> (Option<EmailAddress>, Option<String>) {
        let Some(addr) = value.and_then(|address| address.first()) else { return (None, None) };
        let address = addr.address().and_then(usable_address);
        // Escaped and put on one line in `show_safely`, after the dedupe key.
        let name = addr.name().map(str::to_string).filter(|name| !name.trim().is_empty());
        (address, name)
    };
    let (from, from_name) = first_address(message.from());
    let (reply_to, _) = first_address(message.reply_to());

    let mut recipients: Vec<EmailAddress> = Vec::new();
    for address in message.to().into_iter().chain(message.cc()) {
        recipients.extend(address.iter().filter_map(|addr| addr.address()).filter_map(usable_address));
    }
    let mut addressed: Vec<EmailAddress> = Vec::new();
    for address in &recipients {
        if addressed.len() < ADDRESSED_KEPT && !addressed.contains(address) {
            addressed.push(address.clone());
        }
    }
    let headers: Vec<(String, String)> =
        message.headers_raw().map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string())).collect();
    for (name, value) in &headers {
        if name == "delivered-to" || name == "x-original-to" {
            recipients.extend(usable_address(value));
        }
    }
    recipients.dedup();

    let text = body_text(message);
    let has_plain_part = message.text_bodies().any(|part| matches!(part.body, PartType::Text(_)));
    let html_only = if has_plain_part { None } else { message.body_html(0).map(|html| html.into_owned()) };
    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().unwrap_or("(unnamed)").to_string(),
            content_type: part
                .content_type()
                .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")))
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase(),
            size: part.len(),
            contents: part.contents().to_vec(),
        })
        .collect();
    let part_types = message
        .parts
        .iter()
        .filter_map(|part| part.content_type())
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
        .collect();
    let date = message.date().and_then(|date| Utc.timestamp_opt(date.to_timestamp(), 0).single());

    InboundMail {
        message_id: message.message_id().and_then(MessageId::parse),
        in_reply_to: thread_ids(message, HeaderName::InReplyTo, message.in_reply_to()),
        references: thread_ids(message, HeaderName::References, message.references()),
        from,
        from_name,
        reply_to,
        recipients,
        addressed,
        subject: message.subject().unwrap_or("").trim().to_string(),
        date,
        text,
        html_only,
        attachments,
        headers,
        part_types,
        dedupe_key: String::new(),
        problem: None,
        new_part_cache: std::sync::OnceLock::new(),
    }
}

/// An address the desk can write back to. Bytes that were not valid UTF-8 arrive as U+FFFD
/// (mail-parser decodes them lossily): such an address is not the one the sender typed, so it
/// is not used (a From without a usable address makes the mail automated: kept, never answered).
fn usable_address(raw: &str) -> Option<EmailAddress> {
    EmailAddress::parse(raw).filter(|address| !address.as_str().contains(char::REPLACEMENT_CHARACTER))
}

/// At most this many Message-IDs are kept from one In-Reply-To or References header: the
/// first (the thread's root) and the newest, as RFC 5322 3.6.4 suggests trimming; threading
/// reads the nearest ones, and a header of thousands costs nothing more than one of a hundred.
const MAX_REFERENCED_IDS: usize = 100;

/// The Message-IDs of an In-Reply-To or References header (`parsed` is mail-parser's reading
/// of it). Some senders write the header as RFC 2047 encoded words: Python's `email` package
/// folds a Message-ID too long for one line into `=?utf-8?q?=3Cid=40host=3E?=` words (and
/// PHPMailer and old K-9 did the like), which mail-parser's id reader leaves encoded or drops.
/// Such a header is decoded first (mail-parser's own decoder, adjacent words joined without the
/// space between them), then its `<id>`s are read.
fn thread_ids(message: &Message<'_>, name: HeaderName<'_>, parsed: &HeaderValue<'_>) -> Vec<MessageId> {
    match message.header_raw(name).filter(|raw| raw.contains("=?")) {
        Some(raw) => keep_first_and_newest(ids_in_text(&decode_encoded_words(raw))),
        None => message_ids(parsed),
    }
}

/// `raw` (a header value) with its RFC 2047 encoded words decoded and its folding unfolded.
fn decode_encoded_words(raw: &str) -> String {
    // The reader stops at a line break not followed by white space, and reads nothing without one.
    let line = format!("{}\n", raw.trim_end());
    match MessageStream::new(line.as_bytes()).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    }
}

/// The ids of a decoded header: each `<...>`, or the words when there are no brackets.
fn ids_in_text(text: &str) -> Vec<MessageId> {
    if !text.contains('<') {
        return text.split_whitespace().filter_map(MessageId::parse).collect();
    }
    text.split('<').skip(1).filter_map(|rest| rest.split_once('>')).filter_map(|(id, _)| MessageId::parse(id)).collect()
}

fn message_ids(value: &HeaderValue<'_>) -> Vec<MessageId> {
    let ids: Vec<MessageId> = match value {
        HeaderValue::Text(text) => text.split_whitespace().filter_map(MessageId::parse).collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| MessageId::parse(id)).collect(),
        _ => Vec::new(),
    };
    keep_first_and_newest(ids)
}

fn keep_first_and_newest(mut ids: Vec<MessageId>) -> Vec<MessageId> {
    if ids.len() > MAX_REFERENCED_IDS {
        let newest = ids.split_off(ids.len() - (MAX_REFERENCED_IDS - 1));
        ids.truncate(1);
        ids.extend(newest);
    }
    ids
}

/// The first plain-text body; the first HTML body converted to text when there is none.
fn body_text(message: &Message<'_>) -> String {
    let text_part = message.text_bodies().find(|part| matches!(part.body, PartType::Text(_)));
    if let Some(part) = text_part {
        if let PartType::Text(text) = &part.body {
            return text.to_string();
        }
    }
    message.body_text(0).map(|text| text.into_owned()).unwrap_or_default()
}

/// The same mail fetched twice (a UIDVALIDITY reset, a second delivery) gets the same key;
/// two different mails that reuse a Message-ID do not. Transport headers (Received,
/// Delivered-To, Return-Path) are left out on purpose: they differ between deliveries.
fn dedupe_key(mail: &InboundMail, raw: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for field in [
        mail.message_id.as_ref().map(|id| id.as_str()).unwrap_or(""),
        mail.from.as_ref().map(|from| from.as_str()).unwrap_or(""),
        mail.header("date").unwrap_or(""),
        &mail.subject,
    ] {
        hasher.update(field.as_bytes());
        hasher.update([0u8]);
    }
    hasher.update(body_bytes(raw));
    hex_prefix(&hasher.finalize())
}

/// The first 16 bytes of a digest in hex: the form of every dedupe key.
pub fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

/// The bytes after the header block (all of it when no blank line is found).
fn body_bytes(raw: &[u8]) -> &[u8] {
    for (separator, length) in [(&b"\r\n\r\n"[..], 4), (&b"\n\n"[..], 2)] {
        if let Some(position) = raw.windows(length).position(|window| window == separator) {
            return &raw[position + length..];
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unread_body_size_reads_back_from_its_problem() {
        assert_eq!(unread_body_size(&body_not_read_problem(40_000_000, 1024)), Some(40_000_000));
        assert_eq!(unread_body_size(&format!("internal error: boom; {}", body_not_read_problem(5, 4))), Some(5));
        assert_eq!(unread_body_size("internal error: boom"), None);
    }

    #[test]
    fn reads_threading_headers_and_addresses() {
        let raw = b"From: \"Jane Roe\" <Jane@Acme.test>\r\nTo: support@example.test\r\nCc: Ops <ops@acme.test>\r\nSubject: Re: Leads stuck\r\nMessage-ID: <b@acme.test>\r\nIn-Reply-To: <a@acme.test>\r\nReferences: <root@acme.test> <a@acme.test>\r\nDate: Mon, 30 Nov 2026 09:00:00 -0500\r\n\r\nHello\r\n";
        let mail = parse_mail(raw, 1 << 20);
        assert_eq!(mail.from.as_ref().unwrap().as_str(), "jane@acme.test");
        assert_eq!(mail.from_name.as_deref(), Some("Jane Roe"));
        assert_eq!(mail.message_id.as_ref().unwrap().as_str(), "b@acme.test");
        let referenced: Vec<String> = mail.referenced_ids().iter().map(|id| id.to_string()).collect();
        assert_eq!(referenced, ["a@acme.test", "root@acme.test"]);
        assert_eq!(mail.recipients.len(), 2);
        assert_eq!(mail.text.trim(), "Hello");
        assert_eq!(mail.date.unwrap().to_rfc3339(), "2026-11-30T14:00:00+00:00");
    }

    /// Written by CPython 3.11's `email` package (`policy.SMTP`), which folds a Message-ID
    /// longer than a line into `utf-8` Q encoded words (python/cpython#79986).
    const PYTHON_FOLDED_REPLY: &[u8] = b"From: Jane Roe <jane@acme.test>\r\nMessage-ID: <reply-1@acme.test>\r\nIn-Reply-To: =?utf-8?q?=3Chelpdesk=2Et42=2Ea6930a0c0f1e2d3c4b5a6978=2E012345?=\r\n =?utf-8?q?6789abcdef0123=40support=2Eexample-company=2Etest=3E?=\r\nReferences: <CAF=root+4711@mail.acme.test> =?utf-8?q?=3Chelpdesk=2Et42=2Ea69?=\r\n =?utf-8?q?30a0c0f1e2d3c4b5a6978=2E0123456789abcdef0123=40support=2Eexample-?=\r\n =?utf-8?q?company=2Etest=3E?=\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\n\r\nThanks, it works now.\r\n";

    fn ids(ids: &[MessageId]) -> Vec<&str> {
        ids.iter().map(MessageId::as_str).collect()
    }

    #[test]
    fn threading_headers_in_encoded_words_are_decoded() {
        let parent = "helpdesk.t42.a6930a0c0f1e2d3c4b5a6978.0123456789abcdef0123@support.example-company.test";
        let mail = parse_mail(PYTHON_FOLDED_REPLY, 1 << 20);
        assert_eq!(ids(&mail.in_reply_to), [parent]);
        assert_eq!(ids(&mail.references), ["CAF=root+4711@mail.acme.test", parent]);
        assert_eq!(ids(&mail.referenced_ids()), [parent, "CAF=root+4711@mail.acme.test"]);

        // PHPMailer's and old K-9's form: brackets and `@` left raw inside the words, `_` for
        // the space between ids (PHPMailer/PHPMailer#1876), and a B-encoded word.
        let raw = "From: a@acme.test\r\nReferences: =?us-ascii?Q?<001001d58d84$e6201780$b2604680$=3D=3Dx.com@mx.d?=\r\n =?us-ascii?Q?e>_<f3126fd9b@mx.de>?= <plain@mx.de>\r\nIn-Reply-To: =?utf-8?b?PGExYjJAbWFpbC5hY21lLnRlc3Q+?=\r\n\r\nhi\r\n";
        let mail = parse_mail(raw.as_bytes(), 1 << 20);
        assert_eq!(
            ids(&mail.references),
            ["001001d58d84$e6201780$b2604680$==x.com@mx.de", "f3126fd9b@mx.de", "plain@mx.de"]
        );
        assert_eq!(ids(&mail.in_reply_to), ["a1b2@mail.acme.test"]);

        // An id that merely contains "=?" is read as written.
        let raw = b"From: a@acme.test\r\nIn-Reply-To: <odd=?id@acme.test>\r\n\r\nhi\r\n";
        assert_eq!(ids(&parse_mail(raw, 1 << 20).in_reply_to), ["odd=?id@acme.test"]);
    }

    #[test]
    fn a_huge_encoded_references_header_keeps_the_first_and_newest_ids() {
        let words: Vec<String> = (0..150).map(|n| format!("=?utf-8?q?=3Cid{n}=40acme=2Etest=3E?=")).collect();
        let raw = format!("From: a@acme.test\r\nReferences: {}\r\n\r\nhi\r\n", words.join("\r\n "));
        let mail = parse_mail(raw.as_bytes(), 1 << 20);
        assert_eq!(mail.references.len(), MAX_REFERENCED_IDS);
        assert_eq!(mail.references[0].as_str(), "id0@acme.test");
        assert_eq!(mail.references[1].as_str(), "id51@acme.test");
        assert_eq!(mail.references.last().unwrap().as_str(), "id149@acme.test");
    }

    #[test]
    fn html_only_mail_gets_text() {
        let raw = b"From: a@acme.test\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Leads are <b>stuck</b></p></body></html>\r\n";
        let mail = parse_mail(raw, 1 << 20);
        assert!(mail.text.contains("Leads are stuck"), "{:?}", mail.text);
        assert!(mail.html_only.unwrap().contains("<b>stuck</b>"));
    }

    #[test]
    fn garbage_is_kept_with_a_problem() {
        let mail = parse_mail(b"", 1 << 20);
        assert!(mail.problem.is_some());
        assert!(!mail.dedupe_key.is_empty());
    }

    #[test]
    fn same_mail_with_other_transport_headers_has_same_key() {
        let body = "From: a@acme.test\r\nMessage-ID: <x@y>\r\nSubject: s\r\n\r\nbody\r\n";
        let first = parse_mail(format!("Received: from a\r\n{body}").as_bytes(), 1 << 20);
        let second = parse_mail(format!("Received: from b\r\nDelivered-To: s@x.test\r\n{body}").as_bytes(), 1 << 20);
        assert_eq!(first.dedupe_key, second.dedupe_key);
        let other = parse_mail(body.replace("body", "other body").as_bytes(), 1 << 20);
        assert_ne!(first.dedupe_key, other.dedupe_key);
    }

    /// `levels` forwarded messages, each inside the one before.
    fn nested_forwards(levels: usize) -> String {
        let mut inner = String::new();
        for level in 0..levels {
            inner.push_str(&format!("From: l{level}@x.test\r\nContent-Type: message/rfc822\r\n\r\n"));
        }
        inner.push_str("From: bottom@x.test\r\n\r\nbottom\r\n");
        inner
    }

    /// Parses on a thread with a small (256 KiB) stack, where deep recursion would abort.
    fn parse_on_small_stack(raw: String) -> InboundMail {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || parse_mail(raw.as_bytes(), usize::MAX))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deeply_nested_forwards_do_not_overflow_the_stack() {
        let raw = format!(
            "From: a@acme.test\r\nSubject: deep\r\nContent-Type: message/rfc822\r\n\r\n{}",
            nested_forwards(50_000)
        );
        // The recursive drop needed far more than the small stack.
        assert_eq!(parse_on_small_stack(raw).subject, "deep");
    }

    #[test]
    fn display_names_are_one_line() {
        let raw = b"From: =?utf-8?Q?Jane=0D=0ABcc:_evil@x.test=00?= <jane@acme.test>\r\nSubject: x\r\n\r\nbody\r\n";
        let mail = parse_mail(raw, 1 << 20);
        assert_eq!(mail.from_name.as_deref(), Some("Jane\\r\\nBcc: evil@x.test\\u{0}"));
    }

    #[test]
    fn too_many_nested_messages_are_not_parsed_even_in_base64() {
        let inner = nested_forwards(20_000);
        let plain = format!("From: a@acme.test\r\nSubject: deep\r\nContent-Type: message/rfc822\r\n\r\n{inner}");
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut encoded = String::new();
        for (index, chunk) in inner.as_bytes().chunks(3).enumerate() {
            let n = (chunk[0] as u32) << 16
                | (*chunk.get(1).unwrap_or(&0) as u32) << 8
                | *chunk.get(2).unwrap_or(&0) as u32;
            for k in 0..4 {
                encoded.push(if k <= chunk.len() { ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char } else { '=' });
            }
            if index % 19 == 18 {
                encoded.push_str("\r\n");
            }
        }
        let wrapped = format!("From: a@acme.test\r\nSubject: deep\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n");
        // mail-parser's base64 decoder skips blanks, and it also parses quoted-printable parts.
        let spaced = wrapped.replace("\r\n", " \r\n");
        let quoted = format!(
            "From: a@acme.test\r\nSubject: deep\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
            inner.replace('/', "=2F")
        );
        for raw in [plain, wrapped, spaced, quoted] {
            // mail-parser's own recursion needed megabytes of stack here; 256 KiB is enough now.
            let mail = parse_on_small_stack(raw);
            assert_eq!(mail.subject, "deep");
            assert!(mail.problem.unwrap().contains("nested messages"));
        }
        assert_eq!(
            count_markers(&without_quoted_printable_escapes(b"Content-Type: mess=\r\nage/rfc822; multipart=2FDigest")),
            2
        );
        // URLs and words are not nesting: a HAR file full of /message/ links is read as usual.
        assert_eq!(count_markers(b"https://x.test/message/1 digest sha256 /api/message/send"), 0);
        // A forward of a forward is read as usual.
        let normal = "From: a@acme.test\r\nSubject: fwd\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@x.test\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@x.test\r\n\r\nhi\r\n";
        assert_eq!(parse_mail(normal.as_bytes(), usize::MAX).problem, None);
    }

    #[test]
    fn an_address_with_unreadable_bytes_is_not_used() {
        let raw = b"From: \xff\xfe@acme.test\r\nTo: ok@acme.test, \xff@acme.test\r\nSubject: x\r\n\r\nbody\r\n";
        let mail = parse_mail(raw, 1 << 20);
        assert_eq!(mail.from, None);
        let recipients: Vec<&str> = mail.recipients.iter().map(|r| r.as_str()).collect();
        assert_eq!(recipients, ["ok@acme.test"]);
    }

    #[test]
    fn oversized_mail_keeps_headers() {
        let raw = format!("From: a@acme.test\r\nSubject: big\r\n\r\n{}", "x".repeat(5000));
        let mail = parse_mail(raw.as_bytes(), 1024);
        assert_eq!(mail.subject, "big");
        assert!(mail.problem.unwrap().contains("limit"));
    }

    #[test]
    fn oversized_mails_fetched_headers_only_are_told_apart_by_their_size() {
        let headers = b"From: a@acme.test\r\nSubject: Export\r\nMessage-ID: <same@acme.test>\r\nDate: Mon, 30 Nov 2026 10:00:00 -0500\r\n\r\n";
        let key = |size: usize| {
            let mut mail = parse_mail(headers, 1 << 20);
            mark_body_not_read(&mut mail, size, 1 << 20);
            mail.dedupe_key
        };
        assert_eq!(key(3_000_000), key(3_000_000), "the same mail fetched again");
        assert_ne!(key(3_000_000), key(4_000_000), "two mails with the same headers");
    }
}
