//! Which ticket a mail belongs to. The store gathers the evidence (`ThreadEvidence`); the
//! decision is this pure function, applied in a fixed, documented order:
//!
//! 1. one of the desk's own outgoing Message-IDs in In-Reply-To/References, or a signed
//!    reply address (`support+t42-<signature>@`) among the recipients;
//! 2. the Message-ID of any stored mail in In-Reply-To/References (nearest first);
//! 3. a ticket token `[#42]` in the subject, only when the sender belongs to the same client
//!    as that ticket (a stranger quoting a token does not join the ticket);
//! 4. otherwise a new ticket.
//!
//! Subjects are never compared: a client editing the subject does not split a thread.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{MessageId, TicketId};

/// A referenced Message-ID the store knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownReference {
    pub message_id: MessageId,
    pub ticket: TicketId,
    /// True when the id is one of the desk's own outgoing mails.
    pub ours: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ThreadEvidence {
    /// Known references, nearest first (In-Reply-To, then References newest first).
    pub references: Vec<KnownReference>,
    /// A ticket named by a correctly signed reply address among the recipients.
    pub signed_reply_address: Option<TicketId>,
    /// The ticket named by a `[#N]` token in the subject, with that ticket's client.
    pub subject_token: Option<(TicketId, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadDecision {
    Existing { ticket: TicketId, reason: String },
    New { reason: String },
}

pub fn decide_thread(evidence: &ThreadEvidence, sender_client: Option<&str>) -> ThreadDecision {
    if let Some(reference) = evidence.references.iter().find(|reference| reference.ours) {
        return ThreadDecision::Existing {
            ticket: reference.ticket,
            reason: format!("replies to the desk's own mail <{}>", reference.message_id),
        };
    }
    if let Some(ticket) = evidence.signed_reply_address {
        return ThreadDecision::Existing { ticket, reason: "sent to the ticket's signed reply address".into() };
    }
    if let Some(reference) = evidence.references.first() {
        return ThreadDecision::Existing {
            ticket: reference.ticket,
            reason: format!("references stored mail <{}>", reference.message_id),
        };
    }
    if let Some((ticket, ticket_client)) = &evidence.subject_token {
        match (sender_client, ticket_client) {
            (Some(sender), Some(owner)) if sender == owner => {
                return ThreadDecision::Existing {
                    ticket: *ticket,
                    reason: format!("subject token [#{ticket}] from the same client {owner}"),
                };
            }
            _ => {
                return ThreadDecision::New {
                    reason: format!("subject token [#{ticket}] ignored: the sender is not of the ticket's client"),
                };
            }
        }
    }
    ThreadDecision::New { reason: "no reference, reply address or subject token matched".into() }
}

static SUBJECT_TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[#(\d{1,18})\]").expect("valid regex"));

/// The ticket number in a `[#42]` subject token, if any.
pub fn subject_token(subject: &str) -> Option<TicketId> {
    SUBJECT_TOKEN.captures(subject).and_then(|captures| captures[1].parse().ok()).map(TicketId)
}

/// The subject with reply/forward prefixes and ticket tokens removed, for display.
pub fn base_subject(subject: &str) -> String {
    static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*((re|fwd?|aw|wg|sv|vs|antw)\s*(\[\d+\])?\s*:\s*|\[#\d+\]\s*)+").expect("valid regex")
    });
    let without_prefix = PREFIX.replace(subject, "");
    let without_token = SUBJECT_TOKEN.replace_all(&without_prefix, "");
    let cleaned = without_token.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() {
        "(no subject)".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(id: &str, ticket: i64, ours: bool) -> KnownReference {
        KnownReference { message_id: MessageId::parse(id).unwrap(), ticket: TicketId(ticket), ours }
    }

    #[test]
    fn our_own_message_ids_come_first() {
        let evidence = ThreadEvidence {
            references: vec![reference("client@acme", 1, false), reference("hd.2@desk", 2, true)],
            signed_reply_address: Some(TicketId(3)),
            subject_token: Some((TicketId(4), Some("Acme".into()))),
        };
        assert!(matches!(decide_thread(&evidence, Some("Acme")), ThreadDecision::Existing { ticket: TicketId(2), .. }));
    }

    #[test]
    fn signed_address_then_stored_references_then_token() {
        let mut evidence = ThreadEvidence {
            references: vec![reference("client@acme", 1, false)],
            signed_reply_address: Some(TicketId(3)),
            subject_token: Some((TicketId(4), Some("Acme".into()))),
        };
        assert!(matches!(decide_thread(&evidence, Some("Acme")), ThreadDecision::Existing { ticket: TicketId(3), .. }));
        evidence.signed_reply_address = None;
        assert!(matches!(decide_thread(&evidence, Some("Acme")), ThreadDecision::Existing { ticket: TicketId(1), .. }));
        evidence.references.clear();
        assert!(matches!(decide_thread(&evidence, Some("Acme")), ThreadDecision::Existing { ticket: TicketId(4), .. }));
    }

    #[test]
    fn a_stranger_quoting_a_token_gets_a_new_ticket() {
        let evidence = ThreadEvidence { subject_token: Some((TicketId(4), Some("Acme".into()))), ..Default::default() };
        assert!(matches!(decide_thread(&evidence, Some("Globex")), ThreadDecision::New { .. }));
        assert!(matches!(decide_thread(&evidence, None), ThreadDecision::New { .. }));
        let unknown_ticket = ThreadEvidence { subject_token: Some((TicketId(5), None)), ..Default::default() };
        assert!(matches!(decide_thread(&unknown_ticket, None), ThreadDecision::New { .. }));
    }

    #[test]
    fn subjects_are_cleaned_for_display() {
        assert_eq!(subject_token("Re: Leads stuck [#42]"), Some(TicketId(42)));
        assert_eq!(subject_token("Leads stuck #42"), None);
        assert_eq!(base_subject("RE: Fwd: [#42] Leads stuck"), "Leads stuck");
        assert_eq!(base_subject("Re: Leads stuck [#42]"), "Leads stuck");
        assert_eq!(base_subject("Re:"), "(no subject)");
    }
}
