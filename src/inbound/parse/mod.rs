//! Raw bytes to `InboundMail`, the desk's own view of a message. Pure: no I/O, never panics;
//! a message mail-parser cannot read still becomes an `InboundMail` (with a `problem`), so it
//! is kept rather than dropped.

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, HeaderName, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{display_name_on_one_line, EmailAddress, MessageId};

mod nesting;
mod thread_ids;
#[cfg(test)]
mod tests;

use nesting::{drop_iteratively, nesting_markers};
use thread_ids::{thread_ids, usable_address};

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
pub(super) const MAX_NESTED_MESSAGES: usize = 1_000;

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
