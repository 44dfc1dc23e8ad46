//! The addresses and Message-IDs of a mail's headers, as threading reads them.

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderName, HeaderValue, Message};

use crate::domain::{EmailAddress, MessageId};

/// An address the desk can write back to. Bytes that were not valid UTF-8 arrive as U+FFFD
/// (mail-parser decodes them lossily): such an address is not the one the sender typed, so it
/// is not used (a From without a usable address makes the mail automated: kept, never answered).
pub(super) fn usable_address(raw: &str) -> Option<EmailAddress> {
    EmailAddress::parse(raw).filter(|address| !address.as_str().contains(char::REPLACEMENT_CHARACTER))
}

/// At most this many Message-IDs are kept from one In-Reply-To or References header: the
/// first (the thread's root) and the newest, as RFC 5322 3.6.4 suggests trimming; threading
/// reads the nearest ones, and a header of thousands costs nothing more than one of a hundred.
pub(super) const MAX_REFERENCED_IDS: usize = 100;

/// The Message-IDs of an In-Reply-To or References header (`parsed` is mail-parser's reading
/// of it). Some senders write the header as RFC 2047 encoded words: Python's `email` package
/// folds a Message-ID too long for one line into `=?utf-8?q?=3Cid=40host=3E?=` words (and
/// PHPMailer and old K-9 did the like), which mail-parser's id reader leaves encoded or drops.
/// Such a header is decoded first (mail-parser's own decoder, adjacent words joined without the
/// space between them), then its `<id>`s are read.
pub(super) fn thread_ids(message: &Message<'_>, name: HeaderName<'_>, parsed: &HeaderValue<'_>) -> Vec<MessageId> {
    match message.header_raw(name).filter(|raw| raw.contains("=?")) {
        Some(raw) => keep_first_and_newest(ids_in_text(&decode_encoded_words(raw))),
        None => message_ids(parsed),
    }
}

/// `raw` (a header value) with its RFC 2047 encoded words decoded and its folding unfolded.
pub(super) fn decode_encoded_words(raw: &str) -> String {
    // The reader stops at a line break not followed by white space, and reads nothing without one.
    let line = format!("{}\n", raw.trim_end());
    match MessageStream::new(line.as_bytes()).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    }
}

/// The ids of a decoded header: each `<...>`, or the words when there are no brackets.
pub(super) fn ids_in_text(text: &str) -> Vec<MessageId> {
    if !text.contains('<') {
        return text.split_whitespace().filter_map(MessageId::parse).collect();
    }
    text.split('<').skip(1).filter_map(|rest| rest.split_once('>')).filter_map(|(id, _)| MessageId::parse(id)).collect()
}

pub(super) fn message_ids(value: &HeaderValue<'_>) -> Vec<MessageId> {
    let ids: Vec<MessageId> = match value {
        HeaderValue::Text(text) => text.split_whitespace().filter_map(MessageId::parse).collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| MessageId::parse(id)).collect(),
        _ => Vec::new(),
    };
    keep_first_and_newest(ids)
}

pub(super) fn keep_first_and_newest(mut ids: Vec<MessageId>) -> Vec<MessageId> {
    if ids.len() > MAX_REFERENCED_IDS {
        let newest = ids.split_off(ids.len() - (MAX_REFERENCED_IDS - 1));
        ids.truncate(1);
        ids.extend(newest);
    }
    ids
}
