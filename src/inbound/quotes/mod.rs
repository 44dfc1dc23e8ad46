//! The new part of a mail: what its author wrote this time, without the quoted history below
//! (or interleaved `>` lines) and without the signature. Triage reads only this part, and the
//! agent's tags are read only from it, so nothing in an older, quoted mail can act again.
//!
//! Pure and line-based. Each line is one of: blank, quoted (`>`, or supercite `Name>`), a
//! signature start (`-- `, a separator line, "Sent from my iPhone" and its translations, after
//! which nothing is new, not even unquoted history), the start of quoted history ("On ...
//! wrote:" in many languages and line wrappings, or "wrote" without the colon where a paragraph
//! ends; a date, a time and `Name <address>:` without any verb; "-----Original Message-----", a
//! forwarded-message marker, an Outlook `From:/Sent:/To:/Subject:` block), or text.
//!
//! A cut too late lets quoted history act (an old `#time` in it would run again); a cut too
//! early loses the client's words. Each rule asks for several signs at once (a date and a
//! time and an address closing the line; "sent from" and "my" or a device), so that a sentence
//! with a time and a colon stays text.
//!
//! - `new_part`: cut at the signature; drop every `>` line; at the first history start that
//!   follows some text, stop, unless the history is an inline reply (quotes interleaved with
//!   new text, or a long answer below the quote), in which case only the marker goes. A history
//!   start before any text (a bare forward, a bottom-posted reply) is skipped and what follows
//!   it is the new part. Tested against discourse/email_reply_trimmer's corpus
//!   and crisp-oss/email-reply-parser's (`tests/integration/quote_corpus.rs`); unlike those projects, `>`
//!   lines never stay.
//! - `without_quotes`: the same without the signature cut (mailgun/talon's `extract_from_plain`).
//! - `new_part_of_html`: drops the quoted blocks of an HTML-only mail at the HTML level first
//!   (`blockquote`, Gmail, Outlook, Thunderbird, Hotmail...), converts to text, then `new_part`.

mod html;
mod patterns;
#[cfg(test)]
mod tests;

use mail_parser::decoders::html::html_to_text;

use html::*;
use patterns::*;

/// The new part of `text` (a plain-text mail body): quoted history and signature removed.
pub fn new_part(text: &str) -> String {
    extract(text, Mode::NewPart)
}

/// `text` without its quoted history; the signature stays ("Hello\n\nSent from my iPhone").
pub fn without_quotes(text: &str) -> String {
    extract(text, Mode::WithoutQuotes)
}

/// The new part of an HTML-only mail: quoted blocks removed from the HTML, the rest turned
/// into text, then `new_part`. Never panics.
pub fn new_part_of_html(html: &str) -> String {
    let mut html = html.to_string();
    if let Some(found) = HTML_HISTORY_START.find(&html) {
        html.truncate(found.start());
    }
    let html = replace_quoted_elements(&html);
    let text = html_to_text(&break_lines_at_blocks(&html));
    let new = new_part(&text);
    let mut lines: Vec<&str> = Vec::new();
    for line in new.lines().map(str::trim) {
        if line.trim().is_empty() && lines.last().is_none_or(|last| last.trim().is_empty()) {
            continue;
        }
        lines.push(line);
    }
    lines.join("\n").trim().to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Quotes and signature go (email_reply_trimmer).
    NewPart,
    /// Only quotes go (talon's `extract_from_plain`).
    WithoutQuotes,
}

/// What the walk needs to know about one line.
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// Quoted line (`>` or supercite).
    quoted: Vec<bool>,
    /// Number of lines of the history start (marker or header block) that begins here.
    history: Vec<Option<usize>>,
}

fn extract(text: &str, mode: Mode) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let all: Vec<&str> = normalized.split('\n').collect();
    let code = fenced_code(&all);
    let end = match mode {
        Mode::NewPart => (0..all.len())
            .find(|&index| !code[index] && !is_quote(all[index]) && is_signature_start(all[index]))
            .unwrap_or(all.len()),
        Mode::WithoutQuotes => all.len(),
    };
    let lines = classify(&all[..end], &code[..end], mode);

    let mut kept: Vec<&str> = Vec::new();
    // Anything (text or a quote) above a history start: only a bare marker at the very top
    // (a forward without comment, a bottom-posted reply) is skipped to read what follows.
    let mut has_content = false;
    let mut index = 0;
    while index < lines.lines.len() {
        let line = lines.lines[index];
        if lines.quoted[index] {
            has_content = true;
            index += 1;
            continue;
        }
        if let Some(span) = lines.history[index] {
            if has_content && !is_inline_reply(&lines, index + span) {
                break;
            }
            index += span;
            continue;
        }
        has_content |= !line.trim().is_empty();
        kept.push(line);
        index += 1;
    }
    while kept.last().is_some_and(|line| line.trim().is_empty()) {
        kept.pop();
    }
    let first = kept.iter().position(|line| !line.trim().is_empty()).unwrap_or(kept.len());
    kept[first..].join("\n").trim_end().to_string()
}

fn classify<'a>(lines: &[&'a str], code: &[bool], mode: Mode) -> Lines<'a> {
    let quoted: Vec<bool> = lines.iter().zip(code).map(|(line, &code)| !code && is_quote(line)).collect();
    let fields: Vec<Option<&str>> = lines.iter().map(|line| header_field(line)).collect();
    let mut history: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    for index in 0..lines.len() {
        let found = if code[index] || quoted[index] || lines[index].trim().is_empty() {
            None
        } else {
            history_start(lines, code, &fields, index)
        };
        history.push(found);
    }
    if mode == Mode::WithoutQuotes {
        // A separator line ("________", " -----") right above a history start, or above a
        // bare "From:" field, starts the history.
        for index in (0..lines.len()).rev() {
            if history[index].is_some() || code[index] || quoted[index] || !is_delimiter(lines[index]) {
                continue;
            }
            let Some(next) = (index + 1..lines.len().min(index + 4)).find(|&next| !lines[next].trim().is_empty())
            else {
                continue;
            };
            let from_field = fields[next] == Some("from");
            history[index] = match history[next] {
                Some(span) => Some(next + span - index),
                None if from_field && !code[next] => Some(next + 1 - index),
                None => None,
            };
        }
    }
    Lines { lines: lines.to_vec(), quoted, history }
}

/// The number of lines of the marker or header block that starts at `index`, if one does.
fn history_start(lines: &[&str], code: &[bool], fields: &[Option<&str>], index: usize) -> Option<usize> {
    let line = lines[index].trim();
    if ORIGINAL_MESSAGE.is_match(line) {
        return Some(1);
    }
    attribution_at(lines, code, index)
        .or_else(|| dated_address_attribution_at(lines, code, index))
        .or_else(|| header_block_at(lines, code, fields, index))
}

/// "On ... wrote:" and its relatives, possibly wrapped over a few lines.
fn attribution_at(lines: &[&str], code: &[bool], index: usize) -> Option<usize> {
    let first = lines[index].trim();
    let dated = ATTRIBUTION_OPENER.is_match(first);
    let opener = dated || ANGLE_ADDRESS.is_match(first);
    let iso = ISO_DATE_FIRST.is_match(first);
    if !opener && !iso {
        return None;
    }
    // Opened by a name and address only: wrapped over two lines at most.
    let max_lines = if dated || iso { MAX_ATTRIBUTION_LINES } else { 2 };
    let mut joined = String::new();
    for span in 1..=max_lines.min(lines.len() - index) {
        let last = index + span - 1;
        let line = lines[last].trim();
        if span > 1 {
            if code[last] {
                return None;
            }
            // A quoted or sentence-ending line can only close the attribution (the "> wrote:"
            // and ">:" of clients that wrap inside the address), never sit in its middle.
            let previous = lines[last - 1].trim();
            if span > 2 && (previous.starts_with('>') || SENTENCE_END.is_match(previous)) {
                return None;
            }
            if line.starts_with('>') && line.chars().count() > 20 {
                return None;
            }
            joined.push(' ');
        }
        joined.push_str(line);
        if joined.chars().count() > MAX_ATTRIBUTION_CHARS {
            return None;
        }
        if joined.matches('<').count() > joined.matches('>').count() {
            continue;
        }
        if is_attribution(&joined, opener, iso) {
            return Some(span);
        }
        // "On ... Jane Roe <jane@acme.test> wrote", without the colon: only with the address
        // (or a quoted name) right before the verb, and where a paragraph ends (a blank or
        // quoted line, or the end, follows), so that "At 10:30, the job failed and wrote" and
        // a wrapped sentence "On 5 May, Jane <jane@acme.test> wrote / that ..." stay text.
        if dated && is_attribution_without_colon(&joined) && ends_paragraph(lines, index + span) {
            return Some(span);
        }
    }
    None
}

fn is_attribution_without_colon(joined: &str) -> bool {
    DATE_OR_ADDRESS.is_match(joined)
        && joined.contains([',', '@', '"', '<'])
        && ADDRESS_THEN_VERB_ENDS_LINE.is_match(joined)
}

/// Whether the line at `index` starts no new text: blank, quoted, or past the end.
fn ends_paragraph(lines: &[&str], index: usize) -> bool {
    lines.get(index).is_none_or(|line| line.trim().is_empty() || is_quote(line))
}

/// The attribution of clients that write no verb, only when and who: a date and a time (either
/// first), then the sender's name and address, then a colon:
/// `30.09.2017, 18.30, "John - Doe" <john@doe.test>:` (Yandex and Mail.ru style),
/// `11:00 AM, November 17, 2021, "John - Acme" <john@acme.test>:`, possibly wrapped once at the
/// address (`"John - Doe"` / `<john@doe.test>:`, or `... <` / `john@doe.test>:`). A line
/// that ends in anything but `<address>:` is text, whatever times and colons it holds.
fn dated_address_attribution_at(lines: &[&str], code: &[bool], index: usize) -> Option<usize> {
    let first = lines[index].trim();
    let date_first = DATE_FIRST.is_match(first);
    if !date_first && !TIME_FIRST.is_match(first) {
        return None;
    }
    let is_one = |joined: &str| {
        joined.chars().count() <= MAX_ATTRIBUTION_CHARS
            && TIME_OF_DAY.is_match(joined)
            && (date_first || YEAR.is_match(joined))
            && ENDS_WITH_ADDRESS_COLON.is_match(joined)
    };
    if is_one(first) {
        return Some(1);
    }
    let second = lines.get(index + 1).filter(|_| !code[index + 1])?.trim();
    let wrapped_at_address = first.ends_with('<') || second.starts_with('<') || ADDRESS_TAIL.is_match(second);
    (wrapped_at_address && is_one(&format!("{first} {second}"))).then_some(2)
}

fn is_attribution(joined: &str, opener: bool, iso: bool) -> bool {
    if iso && GMT_OR_ADDRESS_AT_END.is_match(joined) {
        return true;
    }
    // A date or an address, and the comma, quote or bracket around the sender's name: a
    // sentence such as "At 10:30 the app crashed and it wrote:" is not an attribution.
    if !opener || !DATE_OR_ADDRESS.is_match(joined) || !joined.contains([',', '@', '"', '<']) {
        return false;
    }
    if ATTRIBUTION_VERB_AT_END.is_match(joined) {
        return true;
    }
    // "Am 03.02.2016 3:35 nachm. schrieb Max <max@example.com>:"
    ATTRIBUTION_VERB.is_match(joined) && ENDS_LIKE_ATTRIBUTION.is_match(joined) && joined.contains('@')
}

/// A block of reply header fields with a sender and at least one more kind of field. Lines
/// that continue a field (a wrapped subject) may sit between two fields.
fn header_block_at(lines: &[&str], code: &[bool], fields: &[Option<&str>], index: usize) -> Option<usize> {
    fields[index]?;
    let mut kinds: Vec<&str> = Vec::new();
    let mut field_lines = 0;
    let mut from_has_address = false;
    let mut end = index;
    while end < lines.len().min(index + MAX_HEADER_BLOCK_LINES) && !code[end] {
        let line = lines[end];
        if let Some(kind) = fields[end] {
            if kind == "from" {
                from_has_address |= line.contains('@') || line.to_ascii_lowercase().contains("mailto");
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
            field_lines += 1;
            end += 1;
            continue;
        }
        let continues = end > index
            && !line.trim().is_empty()
            && !is_quote(line)
            && fields.get(end + 1).is_some_and(Option::is_some);
        if !continues {
            break;
        }
        end += 1;
    }
    let valid = kinds.contains(&"from") && kinds.len() >= 2 && (field_lines >= 3 || from_has_address);
    valid.then_some(end - index)
}

/// A history marker followed by new text below or between its quotes is an inline reply: only
/// the marker goes. Anything else (unquoted history, quotes then a short signature) is history.
fn is_inline_reply(lines: &Lines<'_>, from: usize) -> bool {
    let mut seen_quote = false;
    let mut text_since_quote = 0;
    let mut blank_after_quote = false;
    let mut separated_text = false;
    for index in from..lines.lines.len() {
        if lines.history[index].is_some() {
            break;
        }
        let blank = lines.lines[index].trim().is_empty();
        if lines.quoted[index] {
            if seen_quote && separated_text {
                return true;
            }
            seen_quote = true;
            text_since_quote = 0;
            blank_after_quote = false;
            separated_text = false;
        } else if blank {
            blank_after_quote |= seen_quote && text_since_quote == 0;
        } else if seen_quote {
            text_since_quote += 1;
            separated_text |= blank_after_quote;
        }
    }
    seen_quote && text_since_quote >= INLINE_ANSWER_LINES
}

fn is_quote(line: &str) -> bool {
    line.trim_start().starts_with('>') || SUPERCITE.is_match(line)
}

/// Where the signature starts (`new_part` only): `-- `, a separator line, a phone footer.
fn is_signature_start(line: &str) -> bool {
    is_delimiter(line) || FOOTER.is_match(line)
}

/// A line made only of separator characters: "--", "________", "=====", "ᐧ", "—".
fn is_delimiter(line: &str) -> bool {
    let trimmed = line.trim();
    let separator = |c: char| "-_=~*+#ᐧ—–•·".contains(c);
    let count = trimmed.chars().count();
    count > 0 && trimmed.chars().all(separator) && (count >= 2 || trimmed.chars().all(|c| "ᐧ—–".contains(c)))
}

/// Lines inside a closed ``` fence (the fence lines included). An unclosed fence counts for
/// nothing, so that it cannot shield quoted history.
fn fenced_code(lines: &[&str]) -> Vec<bool> {
    let mut code = vec![false; lines.len()];
    let mut open: Option<usize> = None;
    for (index, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with("```") {
            continue;
        }
        match open.take() {
            Some(start) => code[start..=index].iter_mut().for_each(|inside| *inside = true),
            None => open = Some(index),
        }
    }
    code
}
