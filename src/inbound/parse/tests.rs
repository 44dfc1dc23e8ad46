use super::nesting::{count_markers, without_quoted_printable_escapes};
use super::thread_ids::MAX_REFERENCED_IDS;
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
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
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
