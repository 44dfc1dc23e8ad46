//! Quoted blocks of an HTML mail, dropped at the HTML level before it becomes text.

use std::sync::LazyLock;

use regex::Regex;

/// Where quoted history starts in an HTML reply; everything from there on is dropped.
/// Outlook's reply header (`#divRplyFwdMsg`, `#appendonsend`, the `border-top:solid #B5C4DF`
/// or `#E1E1E1` div), Hotmail's `hr#stopSpelling`, Thunderbird's `moz-cite-prefix`, Yahoo's
/// `yahoo_quoted`, Outlook for Mac's `OLK_SRC_BODY_SECTION`, Windows Mail's grey rule.
pub(super) static HTML_HISTORY_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)
        <[a-z][^>]*\bid\s*=\s*["']?(?:x_)?(?:divRplyFwdMsg|appendonsend|stopSpelling|OLK_SRC_BODY_SECTION)\b
      | <[a-z][^>]*\bclass\s*=\s*["']?[^"'>]*\b(?:moz-cite-prefix|yahoo_quoted)\b
      | <div[^>]*border-top\s*:\s*solid\s+\#(?:B5C4DF|E1E1E1)
      | <div[^>]*border-top-color\s*:\s*rgb\(\s*229\s*,\s*229\s*,\s*229\s*\)
    "#,
    )
    .expect("valid regex")
});

/// A quoted element that is removed whole (new text may follow it): any `blockquote`, and
/// Gmail's `div.gmail_quote`.
pub(super) static QUOTED_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)<blockquote\b[^>]*>|<div\b[^>]*\bclass\s*=\s*["']?[^"'>]*\bgmail_quote\b[^>]*>"#)
        .expect("valid regex")
});

pub(super) static BLOCKQUOTE_OR_DIV_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<(/?)(blockquote|div)\b[^>]*>").expect("valid regex"));

/// A run of block-level tags, which ends a line of text (the converter only breaks lines at
/// `br` and `/p`): one line break per run, so `</div><div>` is not an empty line.
pub(super) static BLOCK_TAGS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)(?:\s*</?(?:div|p|tr|li|ul|ol|table|tbody|h[1-6]|hr|pre|center|address|dl|dd|dt|section|article
            |header|footer)\b[^>]*>)+",
    )
    .expect("valid regex")
});

/// Ends each run of block tags with a line break, unless the run already has a `</p>`.
pub(super) fn break_lines_at_blocks(html: &str) -> String {
    BLOCK_TAGS
        .replace_all(html, |run: &regex::Captures<'_>| {
            let run = &run[0];
            if run.to_ascii_lowercase().contains("</p") {
                run.to_string()
            } else {
                format!("<br>{run}")
            }
        })
        .into_owned()
}

/// Replaces each quoted element by a `>` line, so that the text walk sees a quote there.
pub(super) fn replace_quoted_elements(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(found) = QUOTED_ELEMENT.find(rest) {
        out.push_str(&rest[..found.start()]);
        out.push_str("<br>&gt;<br>");
        let name = if found.as_str().get(1..11).is_some_and(|tag| tag.eq_ignore_ascii_case("blockquote")) {
            "blockquote"
        } else {
            "div"
        };
        let after = &rest[found.end()..];
        let mut depth = 1usize;
        let mut close = after.len();
        for tag in BLOCKQUOTE_OR_DIV_TAG.captures_iter(after) {
            if !tag[2].eq_ignore_ascii_case(name) {
                continue;
            }
            if tag[1].is_empty() {
                depth += 1;
            } else {
                depth -= 1;
                if depth == 0 {
                    close = tag.get(0).map_or(after.len(), |whole| whole.end());
                    break;
                }
            }
        }
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}
