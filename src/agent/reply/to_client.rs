//! His words to the client: relayed, or as the SOP's resolved email, with his files.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::feedback::queue_partly_applied;
use crate::agent::tags::is_greeting;
use crate::desk::Desk;
use crate::domain::EmailAddress;
use crate::outbound::compose::{build_mail, first_name, Draft};
use crate::outbound::outbox;
use crate::outbound::outbox::OutboxKind;
use crate::storage::Tx;
use crate::tickets::store::{self, TicketRecord};

/// The data of `templates/agent_reply.*` and `templates/resolved.*`: the agent's words to
/// the client.
#[derive(Debug, Serialize)]
pub(crate) struct AgentReplyData<'a> {
    pub(crate) ticket: i64,
    pub(crate) subject: &'a str,
    /// The ticket's subject, as the resolved email names the issue.
    pub(crate) issue: &'a str,
    pub(crate) first_name: String,
    pub(crate) text: String,
    /// The resolved email's P.S. (how to prevent it next time), when the agent wrote one.
    pub(crate) prevention: Option<String>,
    pub(crate) agent_name: &'a str,
}

/// The agent's words to the client: relayed as they are (`agent_reply`) or inside the SOP's
/// resolved email (`resolved`), threaded onto the client's conversation. Returns whether it
/// was queued: a requester address that cannot be written in a header (lettre refuses some
/// that mail servers accept, such as `taro..yamada@docomo.ne.jp`) gets the agent a notice
/// instead, and the rest of his reply still applies.
pub(super) async fn queue_to_client(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    kind: OutboxKind,
    text: &str,
    files: &[crate::inbound::parse::Attachment],
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let config = &desk.config;
    let writable = EmailAddress::parse(&ticket.requester).and_then(|address| address.as_str().parse().ok());
    let Some(requester) = writable else {
        tracing::warn!(ticket = ticket.id.0, requester = %ticket.requester, "the client's address cannot be written in a mail header: nothing relayed");
        let error = format!(
            "nothing was sent to the client: the address {:?} cannot be written in a mail header; write to them from your own mail client",
            ticket.requester
        );
        queue_partly_applied(desk, tx, ticket, error, now).await?;
        return Ok(false);
    };
    let (last_client_mail, references) = store::client_thread_ids(tx, ticket.id).await?;
    let participants = store::participants(tx, ticket.id).await?;
    let (text, prevention) = if kind == OutboxKind::Resolved {
        resolved_sections(&without_sign_off(text, &config.agent.name))
    } else {
        (text.to_string(), None)
    };
    let data = AgentReplyData {
        ticket: ticket.id.0,
        subject: &ticket.subject,
        issue: &ticket.subject,
        first_name: first_name(ticket.requester_name.as_deref()),
        text,
        prevention,
        agent_name: &config.agent.name,
    };
    let template = if kind == OutboxKind::Resolved { "resolved" } else { "agent_reply" };
    let from = config.agent_via_support();
    let draft = Draft {
        kind,
        ticket: Some(ticket.id),
        to: vec![lettre::message::Mailbox::new(ticket.requester_name.clone(), requester)],
        cc: participants.iter().filter_map(|address| address.as_str().parse().ok()).collect(),
        subject: desk.templates.render_line(&format!("{template}.subject"), &data)?,
        body: desk.templates.render(&format!("{template}.txt"), &data)?,
        in_reply_to: last_client_mail,
        references,
        reply_to: Some(desk.reply_addresses.address_for(ticket.id)),
        auto_submitted: None,
        message_id: None,
        html: None,
        images: Vec::new(),
        // His files (and the images of his signature) travel as he attached them.
        attachments: files.iter().map(crate::agent::notify::as_file).collect(),
    };
    outbox::enqueue(tx, &build_mail(&from, draft, now)?, now).await?;
    Ok(true)
}

/// The SOP's resolved email with no words of the agent's (`helpdesk ticket close N`).
pub async fn send_resolved_email(
    desk: &Desk,
    tx: &mut Tx<'_>,
    ticket: &TicketRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    queue_to_client(desk, tx, ticket, OutboxKind::Resolved, "", &[], now).await
}

/// Whether `text` begins with a verb in the past tense ("added", "set up", "wrote").
fn starts_with_past_tense(text: &str) -> bool {
    const IRREGULAR: &[&str] = &[
        "set", "put", "made", "built", "wrote", "sent", "ran", "took", "gave", "left", "kept", "found", "got", "did",
        "rewrote", "rebuilt", "split", "cut", "shut",
    ];
    let first = text.split_whitespace().next().unwrap_or("").to_lowercase();
    (first.len() > 3 && first.ends_with("ed")) || IRREGULAR.contains(&first.as_str())
}

/// The first line without a greeting that opens it: "Hi Li, sorry for the wait." reads "Sorry
/// for the wait." (the template greets the client already).
fn without_leading_greeting(line: &str) -> String {
    static OPENING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(hi|hello|hey|dear|bonjour|hallo|hola|ciao)\s+[^,.!?\s][^,.!?]{0,29}[,!]\s*(\S)")
            .expect("valid regex")
    });
    match OPENING.captures(line) {
        Some(captures) => {
            let start = captures.get(2).map_or(0, |rest| rest.start());
            let rest = &line[start..];
            let mut chars = rest.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
        None => line.to_string(),
    }
}

/// His text without the sign-off his mail client added (the resolved email signs with his
/// name already): from a closing line ("Thanks,", "Best,", "Cheers,", his name) to the end,
/// when that is at most four lines.
fn without_sign_off(text: &str, agent_name: &str) -> String {
    static CLOSING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)^\s*(-\s*)?(thanks|thank you|best|best regards|regards|cheers|kind regards)\s*[,!.]?\s*$",
        )
        .expect("valid regex")
    });
    let first_name = agent_name.split_whitespace().next().unwrap_or(agent_name).to_lowercase();
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let closes = |line: &&str| {
        let bare = line.trim().trim_start_matches(['-', '–', '—', ' ']).to_lowercase();
        CLOSING.is_match(line) || (!first_name.is_empty() && (bare == first_name || bare == agent_name.to_lowercase()))
    };
    let start = lines.len().saturating_sub(4);
    match lines.iter().enumerate().skip(start.max(1)).find(|(_, line)| closes(line)) {
        Some((index, _)) => lines[..index].join("\n"),
        None => text.to_string(),
    }
}

/// The agent's words shaped into the SOP's "Issue Resolved" email: his "What was wrong:",
/// "What I fixed:" and "Testing:" lines get the SOP's check marks, and his prevention line
/// becomes the P.S.: "Prevention: added an alert" reads "To prevent this in the future, I
/// added an alert."; a line he wrote as a sentence ("To prevent this from happening again,
/// I ...", "Prevention: We've ...") is kept word for word. Anything else stays as written.
pub fn resolved_sections(text: &str) -> (String, Option<String>) {
    static SECTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(?:✅\s*)?(what was wrong|what i fixed|testing)\s*:").expect("valid regex")
    });
    static PREVENTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(?:p\.?s\.?\s*-?\s*)?(prevention\s*:|to prevent this\b)\s*(.*?)\s*$")
            .expect("valid regex")
    });
    let mut prevention = None;
    let mut lines = Vec::new();
    // The template greets the client: his own "Hi Bill," at the top would greet twice.
    let mut text_lines = text.lines().skip_while(|line| line.trim().is_empty()).peekable();
    if text_lines.peek().is_some_and(|first| is_greeting(first)) {
        text_lines.next();
    }
    // "Hi Li, sorry for the wait." keeps its sentence, not its greeting.
    let first = text_lines.next().map(without_leading_greeting);
    for line in first.iter().map(String::as_str).chain(text_lines) {
        let found = PREVENTION.captures(line).filter(|c| prevention.is_none() && !c[2].is_empty());
        if let Some(captures) = found {
            let rest = captures[2].trim_end_matches('.');
            let sentence = if captures[1].to_ascii_lowercase().starts_with("prevention") {
                match rest.strip_prefix("I ") {
                    Some(action) => format!("To prevent this in the future, I {action}."),
                    // "added an alert": what he did. "the footer now takes the year": what is so.
                    None if starts_with_past_tense(rest) => format!("To prevent this in the future, I {rest}."),
                    None if rest.starts_with(|c: char| c.is_lowercase()) => {
                        format!("To prevent this in the future, {rest}.")
                    }
                    None => format!("{rest}."),
                }
            } else {
                let from_keyword = captures.get(1).map_or(0, |keyword| keyword.start());
                format!("{}.", line[from_keyword..].trim().trim_end_matches('.'))
            };
            prevention = Some(sentence);
        } else if SECTION.is_match(line) && !line.trim_start().starts_with('✅') {
            lines.push(format!("✅ {}", line.trim_start()));
        } else {
            lines.push(line.to_string());
        }
    }
    (lines.join("\n").trim().to_string(), prevention)
}

#[cfg(test)]
mod tests {
    use super::resolved_sections;

    #[test]
    fn the_resolved_email_reads_well_whatever_he_wrote() {
        use super::without_sign_off;
        let prevention = |line: &str| resolved_sections(&format!("Done.\n{line}")).1.unwrap();
        assert_eq!(
            prevention("Prevention: the footer now takes the year from the invoice date"),
            "To prevent this in the future, the footer now takes the year from the invoice date."
        );
        assert_eq!(
            prevention("Prevention: set up a daily check"),
            "To prevent this in the future, I set up a daily check."
        );
        let (text, _) = resolved_sections("Hi Li, sorry for the wait.\nThe import runs again.");
        assert_eq!(text, "Sorry for the wait.\nThe import runs again.");
        let (french, _) = resolved_sections("Bonjour Marie, tout marche.");
        assert_eq!(french, "Tout marche.");
        assert_eq!(
            without_sign_off("Replayed the three leads.\n\nTravis\nTravis Automation | +1 555 0100", "Travis"),
            "Replayed the three leads.\n"
        );
        assert_eq!(without_sign_off("Fixed it.\nThanks,\nTravis", "Travis"), "Fixed it.");
        let kept = "Travis here: fixed it.\nThe sync runs.";
        assert_eq!(without_sign_off(kept, "Travis"), kept, "a sentence is not a sign-off");
    }

    #[test]
    fn the_agents_own_greeting_is_not_repeated_under_the_templates() {
        let (text, _) = resolved_sections("Hi Bill,\n\nThe sync runs again.");
        assert_eq!(text, "The sync runs again.");
        let (kept, _) = resolved_sections("Hey, the sync runs again.");
        assert_eq!(kept, "Hey, the sync runs again.", "a sentence is not a greeting");
    }

    #[test]
    fn the_resolved_email_takes_the_sops_shape_from_the_agents_lines() {
        let (text, prevention) = resolved_sections(
            "What was wrong: the token had expired.\nWhat I fixed: renewed it.\ntesting: synced 20 leads.\nPrevention: added an expiry alert.",
        );
        assert_eq!(
            text,
            "✅ What was wrong: the token had expired.\n✅ What I fixed: renewed it.\n✅ testing: synced 20 leads."
        );
        assert_eq!(prevention.as_deref(), Some("To prevent this in the future, I added an expiry alert."));
        let written = |line: &str| resolved_sections(&format!("Done.\n{line}")).1;
        assert_eq!(
            written("To prevent this from happening again, I added monitoring.").as_deref(),
            Some("To prevent this from happening again, I added monitoring."),
            "his own sentence, word for word"
        );
        assert_eq!(
            written("Prevention: I set up monitoring").as_deref(),
            Some("To prevent this in the future, I set up monitoring.")
        );
        assert_eq!(written("Prevention: We've added an alert").as_deref(), Some("We've added an alert."));
        assert_eq!(
            written("P.S. To prevent this, clear your cache weekly").as_deref(),
            Some("To prevent this, clear your cache weekly.")
        );
        assert_eq!(resolved_sections("Done.\nPrevention: ").1, None, "an empty line is no P.S.");
        let plain = "Renewed the key; all good.";
        assert_eq!(resolved_sections(plain), (plain.to_string(), None), "free text stays as written");
    }
}
