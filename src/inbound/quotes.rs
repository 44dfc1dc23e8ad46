//! The new part of a mail: what its author wrote this time, without the quoted history below
//! (or interleaved `>` lines) and without the signature. Triage reads only this part, and the
//! agent's tags are read only from it, so nothing in an older, quoted mail can act again.
//! Pure and line-based.

use std::sync::LazyLock;

use regex::Regex;

/// Lines that introduce quoted history, in the languages and clients seen in the field.
static QUOTE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(
            -{2,}\s*(original\ message|forwarded\ message|mensaje\ original|message\ d'origine|ursprüngliche\ nachricht|oorspronkelijk\ bericht|messaggio\ originale)\s*-{2,}
          | _{10,}
          | (on|am|le|el|il|op|em|på|den|w\ dniu)\s.{0,200}(wrote|schrieb|a\ écrit|escribió|ha\ scritto|schreef|escreveu|skrev|napisał)\s*:?
          | .{0,200}\s(wrote|schrieb|a\ écrit|escribió|ha\ scritto|schreef|escreveu|skrev|napisał)\s*:\s*$
          | (from|von|de|van|da|od)\s*:\s.+
          | begin\ forwarded\ message\s*:
        )\s*$",
    )
    .expect("valid regex")
});

/// A `From:` line starts history only when header lines follow it (Outlook's reply header).
static HEADER_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(sent|date|to|cc|subject|gesendet|an|betreff|envoyé|objet|enviado|asunto|para)\s*\*?\s*:")
        .expect("valid regex")
});

/// Signature openers: the standard `-- ` line and the phone/mailer footers.
static SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(--\s*|—|sent from my \w+.*|sent from (outlook|mail|yahoo mail|gmail).*|get outlook for \w+.*|von meinem \w+ gesendet.*)$")
        .expect("valid regex")
});

/// The new part of `text` (a plain-text mail body).
pub fn new_part(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if starts_history(&lines, index) || SIGNATURE.is_match(line) {
            break;
        }
        if !line.trim_start().starts_with('>') {
            kept.push(line);
        }
        index += 1;
    }
    while kept.last().is_some_and(|line| line.trim().is_empty()) {
        kept.pop();
    }
    while kept.first().is_some_and(|line| line.trim().is_empty()) {
        kept.remove(0);
    }
    kept.join("\n")
}

fn starts_history(lines: &[&str], index: usize) -> bool {
    let line = lines[index];
    if !QUOTE_HEADER.is_match(line) {
        // "On Mon, 30 Nov 2026 at 10:00, Jane Roe <jane@acme.test>" + "wrote:" on the next line.
        let joined = lines.get(index + 1).map(|next| format!("{line} {next}"));
        return joined.is_some_and(|joined| {
            line.trim_start().to_ascii_lowercase().starts_with("on ")
                && QUOTE_HEADER.is_match(&joined)
                && !joined.contains('\n')
        });
    }
    let lower = line.trim_start().to_ascii_lowercase();
    let is_from_line = ["from", "von", "de", "van", "da", "od"]
        .iter()
        .any(|word| lower.strip_prefix(word).is_some_and(|rest| rest.trim_start().starts_with(':')));
    if is_from_line {
        // Outlook: From:/Sent:/To:/Subject: block. Require another header field within 3 lines.
        return lines.iter().skip(index + 1).take(3).any(|next| HEADER_FIELD.is_match(next));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        assert_eq!(new_part(text), expected, "input:\n{text}");
    }

    #[test]
    fn gmail_style_quotes_are_cut() {
        check(
            "Thanks, fixed!\n\nOn Mon, Nov 30, 2026 at 9:00 AM Jane <jane@acme.test> wrote:\n> It is down\n",
            "Thanks, fixed!",
        );
        check("Thanks\n\nOn Mon, Nov 30, 2026 at 9:00 AM Jane Roe <jane@acme.test>\nwrote:\n> down\n", "Thanks");
    }

    #[test]
    fn outlook_headers_and_original_message_are_cut() {
        check("Done.\n\n-----Original Message-----\nFrom: Jane\nSent: Monday\nurgent", "Done.");
        check(
            "Done.\n\nFrom: Jane Roe <jane@acme.test>\nSent: Monday, November 30, 2026 9:00 AM\nTo: support\n\nurgent",
            "Done.",
        );
        check("From: the logs I see a 401\nThat is all.", "From: the logs I see a 401\nThat is all.");
    }

    #[test]
    fn interleaved_quotes_and_signatures_go() {
        check("> old line\nmy answer\n> another old\nsecond answer\n-- \nJane\nCEO", "my answer\nsecond answer");
        check("Fine now\n\nSent from my iPhone", "Fine now");
    }
}
