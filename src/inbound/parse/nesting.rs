//! Nested forwards, counted before mail-parser reads them and dropped without recursion: a
//! mail thousands of `message/rfc822` levels deep must not overflow the stack.

use mail_parser::{Message, PartType};

use super::MAX_NESTED_MESSAGES;

/// An upper bound of how deep mail-parser would nest messages in `raw`: the markers of the
/// types it parses as nested messages, also inside quoted-printable and base64 bodies, which
/// mail-parser decodes and parses again (`levels` deep). mail-parser builds each nested
/// `message/rfc822` part as a tree node and copies (`into_owned`) and drops that tree
/// recursively: 20,000 levels (1.4 MB, under the size limit) overflow the stack and abort the
/// process, on every restart again, since the mail is never recorded.
pub(super) fn nesting_markers(raw: &[u8], levels: u8) -> usize {
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
pub(super) fn count_markers(bytes: &[u8]) -> usize {
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
pub(super) fn without_quoted_printable_escapes(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
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

/// Drops a parsed message without recursion. mail-parser keeps each attached
/// `message/rfc822` inside its parent's part, so a mail of 20,000 nested forwards (1.4 MB,
/// well under the size limit) is a tree that deep, and the default recursive drop overflows
/// the stack and aborts the whole process: on every restart again, as the mail is never
/// recorded. The nested messages are taken out onto a heap stack and dropped one by one.
pub(super) fn drop_iteratively(message: Message<'_>) {
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
