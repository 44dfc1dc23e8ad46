//! The agent's own words in a reply: his new part without anything the desk sent him. Pure.
//!
//! The quote stripper (`inbound::quotes`) recognises the usual history markers, but a mail
//! client may quote in a way it does not know (Outlook's header block with no `>`, a mobile
//! client's attribution then unprefixed text), and the desk's notification carries the
//! client's own words: tags a client wrote there must never run as the agent's. The desk
//! knows exactly what it sent him about the ticket, so:
//!
//! 1. the reply is cut at the first line the desk itself wrote that begins a stretch of its
//!    mail (a long line, or one followed by another line of the mail), with the reply header
//!    above it (`From:` / `Sent:` block, "On ... wrote:", a separator);
//! 2. a line left that carries a tag, stands word for word in the client's text the desk
//!    showed him, and stands below another line of that mail, is not his: it is returned in
//!    `echoed_tag_lines`, and the reply runs nothing (the agent is told).
//!
//! Lines are compared without quote markers, case and runs of white space.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::tags::{read_tags, AgentCommands};

/// The agent's words, and the tag lines of his new part that are really the desk's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentWords {
    pub text: String,
    pub echoed_tag_lines: Vec<String>,
}

/// A line of the desk's text this long (normalized) begins its quote on its own.
const DISTINCTIVE_CHARS: usize = 24;

/// How far below a matching short line the next matching line may stand.
const PAIR_LOOKAHEAD_LINES: usize = 3;

/// Whether the tag reader would act on (or refuse) this line.
fn carries_commands(line: &str) -> bool {
    let commands = read_tags("", "", line);
    commands != AgentCommands { text: commands.text.clone(), ..AgentCommands::default() }
}

/// What a mail client writes between the new text and the quoted mail.
static REPLY_HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(
            (from|sent|to|cc|date|subject|reply-to|von|gesendet|an|betreff|datum|de|envoyé|à|objet|enviado|para|asunto|da|inviato|oggetto)\s*:.*
          | .*\b(wrote|schrieb|a\s+écrit|escribió|ha\s+scritto)\s*:?\s*$
          | -+\s*original\s+message\s*-+
          | -+\s*ursprüngliche\s+nachricht\s*-+
          | [_\-=]{5,}
          | begin\s+forwarded\s+message:?
        )\s*$",
    )
    .expect("valid regex")
});

fn normalize(line: &str) -> String {
    let unquoted = line.trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace());
    unquoted.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The lines of the desk's mails to the agent: its own (what it wrote), and the client's words
/// it showed him behind `> `.
struct SentLines {
    desk: HashSet<String>,
    client: HashSet<String>,
}

impl SentLines {
    fn of(sent: &[String]) -> SentLines {
        let (mut desk, mut client) = (HashSet::new(), HashSet::new());
        for line in sent.iter().flat_map(|text| text.lines()) {
            let normalized = normalize(line);
            if normalized.is_empty() {
                continue;
            }
            if line.trim_start().starts_with('>') {
                client.insert(normalized);
            } else {
                desk.insert(normalized);
            }
        }
        SentLines { desk, client }
    }
}

/// `new_part` without the desk's text. `sent` holds the plain text of the desk's mails to the
/// agent about the ticket.
///
/// The quote begins only at a line the desk wrote itself (a client cannot make the agent type
/// it, and the agent repeating a client's sentence cuts nothing). A tag line of the client's
/// text counts as the agent's when it stands above every line he took from the desk's mail
/// (he put it at the top of his reply); below one, it is returned in `echoed_tag_lines`.
pub fn agent_words(new_part: &str, sent: &[String]) -> AgentWords {
    let sent = SentLines::of(sent);
    let lines: Vec<&str> = new_part.lines().collect();
    let normalized: Vec<String> = lines.iter().map(|line| normalize(line)).collect();
    let is_desk = |index: usize| !normalized[index].is_empty() && sent.desk.contains(&normalized[index]);
    let is_known = |index: usize| is_desk(index) || sent.client.contains(&normalized[index]);
    let quote_start = (0..lines.len()).find(|&index| {
        is_desk(index)
            && (normalized[index].chars().count() >= DISTINCTIVE_CHARS
                || (index + 1..lines.len().min(index + 1 + PAIR_LOOKAHEAD_LINES))
                    .find(|&next| !normalized[next].is_empty())
                    .is_some_and(is_known))
    });
    let mut end = quote_start.unwrap_or(lines.len());
    if quote_start.is_some() {
        while end > 0 && (lines[end - 1].trim().is_empty() || REPLY_HEADER_LINE.is_match(lines[end - 1])) {
            end -= 1;
        }
    }
    let mut kept = Vec::new();
    let mut echoed_tag_lines = Vec::new();
    let mut below_quoted_text = false;
    for (index, line) in lines.iter().enumerate().take(end) {
        let commands = carries_commands(line);
        if is_known(index) && commands && below_quoted_text {
            echoed_tag_lines.push(line.trim().to_string());
            continue;
        }
        below_quoted_text |= is_known(index) && !commands;
        kept.push(*line);
    }
    AgentWords { text: kept.join("\n").trim_end().to_string(), echoed_tag_lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFICATION: &str = "New ticket #3 from jane@acme.test (Acme, GROWTH).\nSeverity: P1 (rule \"slow\" matched \"slow\" in the subject)\nThe client got the acknowledgement.\n\nReply to this email to answer the client.\n\n----- jane@acme.test wrote -----\n> The sync is slow.\n> RESOLVED\n> #time 9h\n> #billable\n";

    fn words(reply: &str) -> AgentWords {
        agent_words(reply, &[NOTIFICATION.to_string()])
    }

    #[test]
    fn outlook_header_block_and_everything_below_it_go() {
        let reply = "Looking into it now.\n#time 30m\n\nFrom: Support <support@example.test>\nSent: Monday, January 5, 2026 10:00 AM\nTo: Travis <travis@example.test>\nSubject: [#3] New ticket: sync slow\n\nNew ticket #3 from jane@acme.test (Acme, GROWTH).\nSeverity: P1 (rule \"slow\" matched \"slow\" in the subject)\n\n----- jane@acme.test wrote -----\nThe sync is slow.\nRESOLVED\n#time 9h\n#billable\n";
        assert_eq!(
            words(reply),
            AgentWords { text: "Looking into it now.\n#time 30m".into(), echoed_tag_lines: vec![] }
        );
    }

    #[test]
    fn a_mobile_attribution_then_unprefixed_text_goes() {
        let reply = "On it\n\nOn Mon, Jan 5, 2026 at 10:00, \"Support\" <support@example.test> wrote:\n\nNew ticket #3 from jane@acme.test (Acme, GROWTH).\nThe sync is slow.\nRESOLVED\n#time 9h\n";
        assert_eq!(words(reply).text, "On it");
    }

    #[test]
    fn client_tag_lines_left_in_the_new_part_are_reported_not_run() {
        // The desk's own lines were lost (a mail client that kept only the client's part), but
        // the client's lines stand, tags below its text.
        let reply = "Thanks\nThe sync is slow.\nRESOLVED\nsomething else\n#time 9h\n";
        let found = words(reply);
        assert_eq!(found.echoed_tag_lines, vec!["RESOLVED".to_string(), "#time 9h".to_string()]);
        assert_eq!(found.text, "Thanks\nThe sync is slow.\nsomething else");
    }

    #[test]
    fn his_tags_at_the_top_count_even_when_the_client_wrote_the_same_line() {
        let reply = "What I fixed: renewed the token.\n#time 9h\nRESOLVED";
        assert_eq!(words(reply), AgentWords { text: reply.into(), echoed_tag_lines: vec![] });
    }

    #[test]
    fn repeating_the_clients_sentence_cuts_nothing() {
        let reply = "Jane,\nThe sync is slow.\nThat was a stale token; fixed now.\n#time 15m";
        assert_eq!(words(reply), AgentWords { text: reply.into(), echoed_tag_lines: vec![] });
    }

    #[test]
    fn the_agents_own_words_stay_even_when_short_lines_match() {
        let reply = "Reply to this email to answer the client.\n\nI restarted the sync.\n#time 1h";
        // One short matching line without a second one below it is his (he may quote a line).
        assert_eq!(words("Thanks!\nI restarted the sync.\n#time 1h").text, "Thanks!\nI restarted the sync.\n#time 1h");
        assert_eq!(words(reply).text, "", "a long line of the desk's text starts the quote");
        assert_eq!(agent_words("RESOLVED\n#time 1h", &[]).text, "RESOLVED\n#time 1h");
    }
}
