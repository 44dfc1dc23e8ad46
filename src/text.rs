//! Text from outside made safe to show: in a mail body, a template, a header or a terminal.
//! Pure. A subject, a display name or an attachment name can decode (RFC 2047, RFC 2231) to CR
//! and LF, which would start fake lines in the agent's mail (`#take 3`) or fake headers; to
//! ESC and BEL, which a terminal obeys (`ESC ]0;title BEL`, `ESC [2J`); or to bidi overrides
//! that show text reversed. Such characters are not dropped but shown, escaped, so the agent
//! sees that they were there.
//!
//! The escapes: CR is `\r`, LF `\n`, TAB `\t`; every other character `is_escaped` names is
//! `\u{HEX}` in lower-case hex, as Rust writes it (ESC is `\u{1b}`, BEL `\u{7}`, RIGHT-TO-LEFT
//! OVERRIDE `\u{202e}`). A backslash already in the text stays as it is: the escapes are for
//! reading, not for decoding back.

/// C0 controls (U+0000-U+001F), DEL, C1 controls (U+0080-U+009F), the bidi embeddings,
/// overrides and isolates (U+202A-U+202E, U+2066-U+2069), and the line and paragraph
/// separators (U+2028, U+2029).
pub fn is_escaped(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// The text on one line: every character `is_escaped` names, line breaks and tabs included,
/// written as its escape. For subjects, names, addresses and anything printed in a column.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// Text for a body: keeps LF and TAB, turns CRLF and a lone CR (old Mac line ends, which the
/// quote stripper reads as line breaks too) into LF, and escapes the rest as `one_line` does.
pub fn multi_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => out.push('\n'),
            '\n' | '\t' => out.push(c),
            other => push_escaped(&mut out, other),
        }
    }
    out
}

/// Whether `text` is already as `multi_line` leaves it (nothing to escape but LF and TAB).
pub fn is_clean_multi_line(text: &str) -> bool {
    !text.chars().any(|c| is_escaped(c) && c != '\n' && c != '\t')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        c if is_escaped(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, line: &str, body: &str) {
        assert_eq!(one_line(input), line, "one_line({input:?})");
        assert_eq!(multi_line(input), body, "multi_line({input:?})");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        check("plain text, ünïcødé", "plain text, ünïcødé", "plain text, ünïcødé");
        check("a\r\nb", "a\\r\\nb", "a\nb");
        check("a\rb\nc\td", "a\\rb\\nc\\td", "a\nb\nc\td");
        check("\u{1b}]0;owned\u{7}\u{1b}[2J", "\\u{1b}]0;owned\\u{7}\\u{1b}[2J", "\\u{1b}]0;owned\\u{7}\\u{1b}[2J");
        check("\0\u{7f}\u{85}\u{9f}", "\\u{0}\\u{7f}\\u{85}\\u{9f}", "\\u{0}\\u{7f}\\u{85}\\u{9f}");
        check(
            "abc\u{202e}fed\u{2066}x\u{2069}",
            "abc\\u{202e}fed\\u{2066}x\\u{2069}",
            "abc\\u{202e}fed\\u{2066}x\\u{2069}",
        );
        check("one\u{2028}two\u{2029}", "one\\u{2028}two\\u{2029}", "one\\u{2028}two\\u{2029}");
        check("C:\\temp\\n", "C:\\temp\\n", "C:\\temp\\n");
    }

    #[test]
    fn the_output_is_clean() {
        let nasty: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!one_line(&nasty).chars().any(is_escaped));
        assert!(is_clean_multi_line(&multi_line(&nasty)));
        assert!(!is_clean_multi_line("a\rb") && is_clean_multi_line("a\n\tb"));
    }
}
