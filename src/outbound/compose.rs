//! Renders outgoing mail: handlebars templates (the built-in ones from `templates/`, each
//! replaceable by a file of the same name in the configured directory) into complete RFC 5322
//! messages with the desk's threading headers. Pure apart from reading the override files once
//! at start.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use chrono::{DateTime, Utc};
use handlebars::Handlebars;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::outbox::OutboxKind;
use crate::domain::{display_name_on_one_line, EmailAddress, MessageId, TicketId};

/// The built-in templates, compiled into the binary so it runs from any directory.
const BUILT_IN: &[(&str, &str)] = &[
    ("acknowledgement.subject", include_str!("../../templates/acknowledgement.subject.hbs")),
    ("acknowledgement.txt", include_str!("../../templates/acknowledgement.txt.hbs")),
    ("agent_new_ticket.subject", include_str!("../../templates/agent_new_ticket.subject.hbs")),
    ("agent_new_ticket.txt", include_str!("../../templates/agent_new_ticket.txt.hbs")),
    ("agent_follow_up.subject", include_str!("../../templates/agent_follow_up.subject.hbs")),
    ("agent_follow_up.txt", include_str!("../../templates/agent_follow_up.txt.hbs")),
    ("agent_ignored.subject", include_str!("../../templates/agent_ignored.subject.hbs")),
    ("agent_ignored.txt", include_str!("../../templates/agent_ignored.txt.hbs")),
    ("proactive_opened.subject", include_str!("../../templates/proactive_opened.subject.hbs")),
    ("proactive_opened.txt", include_str!("../../templates/proactive_opened.txt.hbs")),
    ("sla_alert.subject", include_str!("../../templates/sla_alert.subject.hbs")),
    ("sla_alert.txt", include_str!("../../templates/sla_alert.txt.hbs")),
    ("delivery_failure.subject", include_str!("../../templates/delivery_failure.subject.hbs")),
    ("delivery_failure.txt", include_str!("../../templates/delivery_failure.txt.hbs")),
    ("flood_notice.subject", include_str!("../../templates/flood_notice.subject.hbs")),
    ("flood_notice.txt", include_str!("../../templates/flood_notice.txt.hbs")),
    ("held_taken_in.subject", include_str!("../../templates/held_taken_in.subject.hbs")),
    ("held_taken_in.txt", include_str!("../../templates/held_taken_in.txt.hbs")),
    ("unprocessable.subject", include_str!("../../templates/unprocessable.subject.hbs")),
    ("unprocessable.txt", include_str!("../../templates/unprocessable.txt.hbs")),
    ("resolved.subject", include_str!("../../templates/resolved.subject.hbs")),
    ("resolved.txt", include_str!("../../templates/resolved.txt.hbs")),
    ("agent_reply.subject", include_str!("../../templates/agent_reply.subject.hbs")),
    ("agent_reply.txt", include_str!("../../templates/agent_reply.txt.hbs")),
    ("agent_feedback.subject", include_str!("../../templates/agent_feedback.subject.hbs")),
    ("agent_feedback.txt", include_str!("../../templates/agent_feedback.txt.hbs")),
    ("hours_75.subject", include_str!("../../templates/hours_75.subject.hbs")),
    ("hours_75.txt", include_str!("../../templates/hours_75.txt.hbs")),
    ("hours_100.subject", include_str!("../../templates/hours_100.subject.hbs")),
    ("hours_100.txt", include_str!("../../templates/hours_100.txt.hbs")),
    ("daily_summary.subject", include_str!("../../templates/daily_summary.subject.hbs")),
    ("daily_summary.txt", include_str!("../../templates/daily_summary.txt.hbs")),
    ("daily_summary.html", include_str!("../../templates/daily_summary.html.hbs")),
    ("client_report.txt", include_str!("../../templates/client_report.txt.hbs")),
    ("client_report.html", include_str!("../../templates/client_report.html.hbs")),
];

#[derive(Debug)]
pub struct Templates {
    /// Plain-text templates (bodies and subjects): every value goes through
    /// `text::multi_line`, so a value cannot bring a CR, ESC or bidi override into a mail.
    /// It keeps its line breaks; `render_line` puts a subject on one line.
    text: Handlebars<'static>,
    /// `*.html` templates: every value is HTML-escaped, after the same `multi_line`.
    html: Handlebars<'static>,
}

impl Templates {
    /// The built-in templates, with `NAME.hbs` files from `override_dir` taking their place.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Templates> {
        let mut text_registry = Handlebars::new();
        text_registry.set_strict_mode(true);
        text_registry.register_escape_fn(crate::text::multi_line);
        let mut html_registry = Handlebars::new();
        html_registry.set_strict_mode(true);
        html_registry.register_escape_fn(|value| handlebars::html_escape(&crate::text::multi_line(value)));
        for (name, text) in BUILT_IN {
            let registry = if name.ends_with(".html") { &mut html_registry } else { &mut text_registry };
            let override_file = override_dir.map(|dir| dir.join(format!("{name}.hbs")));
            let text = match override_file.filter(|file| file.is_file()) {
                Some(file) => std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read template {}", file.display()))?,
                None => text.to_string(),
            };
            registry
                .register_template_string(name, text)
                .with_context(|| format!("template {name} does not compile"))?;
        }
        Ok(Templates { text: text_registry, html: html_registry })
    }

    /// Renders a one-line template (a subject): whitespace and line breaks collapse to spaces.
    pub fn render_line(&self, name: &str, data: &impl serde::Serialize) -> anyhow::Result<String> {
        Ok(self.render(name, data)?.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    pub fn render(&self, name: &str, data: &impl serde::Serialize) -> anyhow::Result<String> {
        let registry = if name.ends_with(".html") { &self.html } else { &self.text };
        registry.render(name, data).with_context(|| format!("cannot render template {name}"))
    }
}

/// One mail ready for the outbox.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub kind: OutboxKind,
    pub ticket: Option<TicketId>,
    pub envelope_from: EmailAddress,
    pub recipients: Vec<EmailAddress>,
    pub message_id: MessageId,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// What an outgoing mail says and where it goes.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: OutboxKind,
    pub ticket: Option<TicketId>,
    pub to: Vec<Mailbox>,
    /// Copied (the agent, on mail to clients he must know about).
    pub cc: Vec<Mailbox>,
    pub subject: String,
    pub body: String,
    pub in_reply_to: Option<MessageId>,
    pub references: Vec<MessageId>,
    pub reply_to: Option<String>,
    /// RFC 3834 `Auto-Submitted` value for mail the desk writes by itself.
    pub auto_submitted: Option<&'static str>,
    /// A ready Message-ID (the signed ids of mail to the agent); else a new random one.
    pub message_id: Option<MessageId>,
    /// An HTML alternative to `body` (multipart/alternative).
    pub html: Option<String>,
    /// Images the HTML shows by `cid:` (multipart/related).
    pub images: Vec<InlineImage>,
    /// Files attached to the mail (multipart/mixed).
    pub attachments: Vec<FileAttachment>,
}

/// A file that travels with a mail, as its sender attached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAttachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A PNG shown inside the HTML as `<img src="cid:CONTENT_ID">`.
#[derive(Debug, Clone)]
pub struct InlineImage {
    pub content_id: String,
    pub png: Vec<u8>,
}

impl Draft {
    /// An empty draft of `kind`; fill in the rest with struct update syntax.
    pub fn new(kind: OutboxKind) -> Draft {
        Draft {
            kind,
            ticket: None,
            to: Vec::new(),
            cc: Vec::new(),
            subject: String::new(),
            body: String::new(),
            in_reply_to: None,
            references: Vec::new(),
            reply_to: None,
            auto_submitted: None,
            message_id: None,
            html: None,
            images: Vec::new(),
            attachments: Vec::new(),
        }
    }
}

/// A Message-ID the desk will recognise as its own when it comes back in a reply (by its
/// outbox row): `hd.t<ticket>.<128 random bits in base32>@domain`, short enough that
/// `In-Reply-To: <id>` fits in 78 columns with a 20-character domain (see
/// `agent::authenticity`, whose signed ids have four dot-separated fields, never three).
pub fn new_message_id(ticket: Option<TicketId>, domain: &str) -> MessageId {
    let ticket_part = ticket.map(|ticket| format!("t{}.", ticket.0)).unwrap_or_default();
    let random = crate::domain::base32(uuid::Uuid::new_v4().as_bytes());
    MessageId::parse(&format!("hd.{ticket_part}{random}@{domain}")).expect("a generated Message-ID is valid")
}

pub fn build_mail(from: &Mailbox, draft: Draft, now: DateTime<Utc>) -> anyhow::Result<OutgoingMail> {
    let envelope_from = EmailAddress::parse(from.email.as_ref()).context("the From address is not valid")?;
    let message_id = draft.message_id.clone().unwrap_or_else(|| new_message_id(draft.ticket, envelope_from.domain()));
    // The last edge: whatever a caller put together, the subject is one line and the text body
    // has no control character but LF and TAB (`crate::text`).
    let subject = crate::text::one_line(&draft.subject);
    // CRLF line ends already: lettre's own LF-to-CRLF pass inserts one CR at a time, which is
    // quadratic in the body (a 4 MB body of short lines took 3 s, 10 MB minutes).
    let body = crate::text::multi_line(&draft.body).replace('\n', "\r\n");
    let mut builder = Message::builder()
        .from(writable(from))
        .subject(subject.clone())
        .message_id(Some(message_id.bracketed()))
        .date(SystemTime::from(now))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "All".into()));
    for recipient in &draft.to {
        builder = builder.to(writable(recipient));
    }
    for recipient in &draft.cc {
        builder = builder.cc(writable(recipient));
    }
    if let Some(reply_to) = &draft.reply_to {
        builder = builder.reply_to(reply_to.parse().with_context(|| format!("bad Reply-To {reply_to}"))?);
    }
    if let Some(parent) = &draft.in_reply_to {
        builder = builder.in_reply_to(parent.bracketed());
    }
    if !draft.references.is_empty() {
        let joined = draft.references.iter().map(MessageId::bracketed).collect::<Vec<_>>().join(" ");
        builder = builder.references(joined);
    }
    if let Some(value) = draft.auto_submitted {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), value.into()));
    }
    let text_part = text_content(body, draft.html, &draft.images);
    let message = finish_message(builder, text_part, &draft.attachments)
        .with_context(|| format!("cannot build the {} mail", draft.kind))?;
    // Everyone in To and Cc is an envelope recipient, each once.
    let mut recipients: Vec<EmailAddress> = Vec::new();
    for mailbox in draft.to.iter().chain(&draft.cc) {
        if let Some(address) = EmailAddress::parse(mailbox.email.as_ref()).filter(|a| !recipients.contains(a)) {
            recipients.push(address);
        }
    }
    Ok(OutgoingMail {
        kind: draft.kind,
        ticket: draft.ticket,
        envelope_from,
        recipients,
        message_id,
        subject,
        raw: message.formatted(),
    })
}

/// The text (and HTML with its inline images) of a mail, before its attachments.
fn text_content(body: String, html: Option<String>, images: &[InlineImage]) -> Content {
    match html {
        Some(html) if images.is_empty() => Content::Multi(MultiPart::alternative_plain_html(body, html)),
        Some(html) => {
            let mut related = MultiPart::related().singlepart(SinglePart::html(html));
            for image in images {
                let png = ContentType::parse("image/png").expect("valid content type");
                related =
                    related.singlepart(Attachment::new_inline(image.content_id.clone()).body(image.png.clone(), png));
            }
            Content::Multi(MultiPart::alternative().singlepart(SinglePart::plain(body)).multipart(related))
        }
        None => Content::Plain(body),
    }
}

/// The message: its text alone, or in a multipart/mixed with the files.
fn finish_message(
    builder: lettre::message::MessageBuilder,
    text_part: Content,
    attachments: &[FileAttachment],
) -> Result<Message, lettre::error::Error> {
    if attachments.is_empty() {
        return match text_part {
            Content::Multi(multipart) => builder.multipart(multipart),
            Content::Plain(body) => builder.header(ContentType::TEXT_PLAIN).body(body),
        };
    }
    let mut mixed = match text_part {
        Content::Multi(multipart) => MultiPart::mixed().multipart(multipart),
        Content::Plain(body) => MultiPart::mixed().singlepart(SinglePart::plain(body)),
    };
    for file in attachments {
        let content_type = ContentType::parse(&file.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid content type"));
        let name = crate::text::one_line(&file.name);
        mixed = mixed.singlepart(Attachment::new(name).body(file.bytes.clone(), content_type));
    }
    builder.multipart(mixed)
}

/// The body of a mail before its attachments: one part or a multipart.
enum Content {
    Plain(String),
    Multi(MultiPart),
}

/// The mailbox with its display name on one line (names come from clients' mail, stored on
/// the ticket).
fn writable(mailbox: &Mailbox) -> Mailbox {
    let name = mailbox.name.as_deref().map(display_name_on_one_line);
    Mailbox::new(name.filter(|name| !name.is_empty()), mailbox.email.clone())
}

/// "Jane" from "Jane Roe", "there" when the sender gave no name.
pub fn first_name(display_name: Option<&str>) -> String {
    display_name
        .and_then(|name| {
            let name = name.trim().trim_matches('"');
            // "Roe, Jane" is written surname first.
            let given = match name.split_once(',') {
                Some((_, given)) => given.trim(),
                None => name,
            };
            given.split_whitespace().next().map(str::to_string)
        })
        .filter(|name| !name.contains('@'))
        .unwrap_or_else(|| "there".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_names_from_display_names() {
        assert_eq!(first_name(Some("Jane Roe")), "Jane");
        assert_eq!(first_name(Some("Roe, Jane")), "Jane");
        assert_eq!(first_name(Some("jane@acme.test")), "there");
        assert_eq!(first_name(None), "there");
    }

    #[test]
    fn built_mail_carries_threading_and_loop_headers() {
        let from: Mailbox = "Support <support@example.test>".parse().unwrap();
        let draft = Draft {
            kind: OutboxKind::Acknowledgement,
            ticket: Some(TicketId(7)),
            to: vec!["Jane <jane@acme.test>".parse().unwrap()],
            cc: Vec::new(),
            subject: "Re: Leads stuck [#7]".into(),
            body: "Hey Jane".into(),
            in_reply_to: MessageId::parse("<m1@acme.test>"),
            references: vec![MessageId::parse("<m0@acme.test>").unwrap(), MessageId::parse("<m1@acme.test>").unwrap()],
            reply_to: Some("support+t7-abc@example.test".into()),
            auto_submitted: Some("auto-replied"),
            message_id: None,
            html: None,
            images: Vec::new(),
            attachments: Vec::new(),
        };
        let mail = build_mail(&from, draft, Utc::now()).unwrap();
        let text = String::from_utf8(mail.raw).unwrap();
        for expected in [
            "In-Reply-To: <m1@acme.test>",
            "References: <m0@acme.test> <m1@acme.test>",
            "Auto-Submitted: auto-replied",
            "Reply-To: support+t7-abc@example.test",
            "Subject: Re: Leads stuck [#7]",
        ] {
            assert!(text.contains(expected), "{expected} missing in\n{text}");
        }
        assert!(mail.message_id.as_str().starts_with("hd.t7."));
        assert!(mail.message_id.as_str().ends_with("@example.test"));
    }

    #[test]
    fn line_breaks_in_names_and_subjects_add_no_header() {
        let from: Mailbox = "Support <support@example.test>".parse().unwrap();
        let hostile = "Jane\r\nBcc: evil@x.test\r\nContent-Type: text/html\0";
        let draft = Draft {
            to: vec![Mailbox::new(Some(hostile.into()), "jane@acme.test".parse().unwrap())],
            cc: vec![Mailbox::new(Some(hostile.into()), "ops@acme.test".parse().unwrap())],
            subject: hostile.into(),
            body: hostile.into(),
            ..Draft::new(OutboxKind::Acknowledgement)
        };
        let mail = build_mail(&from, draft, Utc::now()).unwrap();
        let text = String::from_utf8(mail.raw).unwrap();
        let headers = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(!headers.contains("\r\nBcc:") && !headers.contains("\r\nContent-Type: text/html"), "{headers}");
        let parsed = mail_parser::MessageParser::default().parse(text.as_bytes()).unwrap();
        assert!(parsed.bcc().is_none());
        let to = parsed.to().unwrap().first().unwrap();
        assert_eq!(to.name(), Some("Jane Bcc: evil@x.test Content-Type: text/html"));
        assert_eq!(to.address(), Some("jane@acme.test"));
    }

    #[test]
    fn templates_render_and_overrides_apply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent_reply.subject.hbs"), "Custom {{ticket}}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let data = crate::agent::reply::AgentReplyData {
            ticket: 3,
            subject: "x",
            issue: "x",
            first_name: "Jane".into(),
            text: String::new(),
            prevention: None,
            agent_name: "Travis",
        };
        assert_eq!(templates.render("agent_reply.subject", &data).unwrap(), "Custom 3");
        assert!(Templates::load(None).unwrap().render("agent_reply.subject", &data).unwrap().contains("[#3]"));
    }

    #[test]
    fn the_hour_emails_offer_an_upgrade_only_where_there_is_a_higher_tier() {
        use crate::hours::bank_emails::{HoursAlertData, UpgradeOffer};
        let templates = Templates::load(None).unwrap();
        let mut data = HoursAlertData {
            client: "Acme",
            first_name: "Jane".into(),
            used_hours: "8".into(),
            available_hours: "10".into(),
            remaining_hours: "2".into(),
            overage_rate: "$150".into(),
            month: "November".into(),
            refresh_date: "December 1".into(),
            request: "\"CSV export\"".into(),
            estimate: None,
            upgrade: Some(UpgradeOffer { tier: "ENTERPRISE".into(), price: "$2,500".into(), hours: "20".into() }),
            agent_name: "Travis",
        };
        for template in ["hours_75.txt", "hours_100.txt"] {
            assert!(templates.render(template, &data).unwrap().to_lowercase().contains("upgrade"), "{template}");
        }
        data.upgrade = None;
        for template in ["hours_75.txt", "hours_100.txt"] {
            let text = templates.render(template, &data).unwrap();
            assert!(!text.to_lowercase().contains("upgrade"), "{template}: {text}");
        }
    }
}
