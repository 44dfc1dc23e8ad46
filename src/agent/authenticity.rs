//! Whether a mail in the agent's name really is his. Anyone can write `From: travis@...`, so
//! commands from such a mail run only when one of these holds (documented in
//! docs/agent-replies.md, "Nobody can forge the agent"):
//!
//! 1. It replies to a mail the desk sent to that agent about that ticket: its In-Reply-To or
//!    References carries a Message-ID of the form `hd.t<ticket>.<nonce>.<signature>@`, where
//!    the signature is an HMAC (the desk's secret key) over ticket, nonce and agent address.
//!    Only the agent ever received such an id; it cannot be made without the key. The nonce
//!    (64 bits: the issue time in Unix seconds, then 32 random bits) and the signature (80
//!    bits) are lower-case base32, so that `In-Reply-To: <id>` stays on one 78-column line
//!    with a 20-character domain even for ticket 999999. Ids of the older, longer form
//!    `helpdesk.t<ticket>.a<hex nonce>.<20 hex>@` still verify (agents' mailboxes hold them);
//!    only the short form is written.
//! 2. Its topmost `Authentication-Results` header was added by a server the config trusts
//!    (`agent.trusted_authserv_ids`) and says `dmarc=pass`, or `dkim=pass` for the agent's
//!    domain.
//!
//! Pure apart from the key it is given.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{base32, from_base32, EmailAddress, MessageId, TicketId};
use crate::inbound::parse::InboundMail;

/// The signature is the first 80 bits of the HMAC, in both forms.
const SIGNATURE_BYTES: usize = 10;
/// The older form wrote it as 20 hex digits; the short one writes 16 base32 characters.
const LEGACY_SIGNATURE_HEX_CHARS: usize = 20;
const SIGNATURE_BASE32_CHARS: usize = 16;
/// The short form's nonce: 8 bytes (4 of seconds, 4 random) in 13 base32 characters.
const NONCE_BASE32_CHARS: usize = 13;
/// The older form's nonce: 8 hex digits of seconds and 16 of random (before that, 32 random).
const LEGACY_TIMED_NONCE_HEX_CHARS: usize = 24;

/// Daily summaries sign "ticket 0": no ticket has that number, and reports sign negatives.
const SUMMARY_SCOPE: TicketId = TicketId(0);

#[derive(Clone)]
pub struct AgentMessageIds {
    key: Vec<u8>,
}

impl std::fmt::Debug for AgentMessageIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentMessageIds { .. }")
    }
}

impl AgentMessageIds {
    pub fn new(key: &[u8]) -> AgentMessageIds {
        AgentMessageIds { key: key.to_vec() }
    }

    /// The HMAC over an id's fields; each form signs under its own label, so that no field
    /// of one form can be read as the other's.
    fn mac(&self, form: SignedIdForm, ticket: TicketId, nonce: &str, agent: &EmailAddress) -> Hmac<Sha256> {
        let label = match form {
            SignedIdForm::Legacy => "agent-mail",
            SignedIdForm::Short => "agent-mail-2",
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{label}:{}:{nonce}:{}", ticket.0, agent.as_str()).as_bytes());
        mac
    }

    /// A Message-ID for mail the desk sends to `agent` about `ticket`. Its nonce begins with
    /// the time it was made (32 bits of Unix seconds, then 32 random bits), under the
    /// signature, so that its age can be told without the database. `issued` is now.
    pub fn signed_message_id(
        &self,
        ticket: TicketId,
        agent: &EmailAddress,
        domain: &str,
        issued: chrono::DateTime<chrono::Utc>,
    ) -> MessageId {
        let seconds = u32::try_from(issued.timestamp().clamp(0, u32::MAX.into())).expect("clamped to u32");
        let mut nonce_bytes = [0u8; 8];
        nonce_bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        nonce_bytes[4..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..4]);
        let nonce = base32(&nonce_bytes);
        let tag = self.mac(SignedIdForm::Short, ticket, &nonce, agent).finalize().into_bytes();
        let signature = base32(&tag[..SIGNATURE_BYTES]);
        MessageId::parse(&format!("hd.t{}.{nonce}.{signature}@{domain}", ticket.0))
            .expect("a generated Message-ID is valid")
    }

    /// A Message-ID for a report draft sent to `agent` (the `#send` reply must carry it).
    pub fn signed_report_id(
        &self,
        report: i64,
        agent: &EmailAddress,
        domain: &str,
        issued: DateTime<Utc>,
    ) -> MessageId {
        // Reports and tickets never share a signature: reports sign the negative number.
        self.signed_message_id(TicketId(-report), agent, domain, issued)
    }

    /// The report draft a reply answers, when it carries a correctly signed draft id.
    pub fn report_answered(&self, mail: &InboundMail, agent: &EmailAddress, unusable: &[MessageId]) -> Option<i64> {
        mail.referenced_ids().iter().filter(|id| !unusable.contains(id)).find_map(|id| {
            let number: i64 = SignedIdParts::of(id)?.ticket.strip_prefix('-')?.parse().ok()?;
            self.verify(id, TicketId(-number), agent).then_some(number)
        })
    }

    /// A Message-ID for the daily summary sent to `agent` (a reply carrying it is his).
    pub fn signed_summary_id(&self, agent: &EmailAddress, domain: &str, issued: DateTime<Utc>) -> MessageId {
        self.signed_message_id(SUMMARY_SCOPE, agent, domain, issued)
    }

    /// Whether the mail replies to a daily summary the desk sent to `agent`.
    pub fn summary_answered(&self, mail: &InboundMail, agent: &EmailAddress, unusable: &[MessageId]) -> bool {
        mail.referenced_ids().iter().filter(|id| !unusable.contains(id)).any(|id| self.verify(id, SUMMARY_SCOPE, agent))
    }

    /// When a signed id was made, read from its nonce; `None` for ids made before nonces
    /// carried the time (a 32-digit nonce), and for anything else.
    pub fn issued_at(id: &MessageId) -> Option<chrono::DateTime<chrono::Utc>> {
        let parts = SignedIdParts::of(id)?;
        let seconds = match parts.form {
            SignedIdForm::Short => {
                let bytes = from_base32(parts.nonce)?;
                i64::from(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
            }
            SignedIdForm::Legacy if parts.nonce.len() == LEGACY_TIMED_NONCE_HEX_CHARS => {
                i64::from_str_radix(parts.nonce.get(..8)?, 16).ok()?
            }
            SignedIdForm::Legacy => return None,
        };
        chrono::DateTime::from_timestamp(seconds, 0)
    }

    /// Whether `id` looks like one of the desk's signed ids (signed or not: what to burn).
    pub fn looks_signed(id: &MessageId) -> bool {
        SignedIdParts::of(id).is_some()
    }

    /// Whether `id` is a signed id of a mail to `agent` about `ticket`.
    pub fn verify(&self, id: &MessageId, ticket: TicketId, agent: &EmailAddress) -> bool {
        let Some(parts) = SignedIdParts::of(id) else { return false };
        if parts.ticket != ticket.0.to_string() {
            return false;
        }
        let signature = parts.signature;
        let bytes: Option<Vec<u8>> = match parts.form {
            SignedIdForm::Short => from_base32(signature),
            SignedIdForm::Legacy => {
                (0..signature.len()).step_by(2).map(|i| u8::from_str_radix(signature.get(i..i + 2)?, 16).ok()).collect()
            }
        };
        bytes
            .filter(|bytes| bytes.len() == SIGNATURE_BYTES)
            .is_some_and(|bytes| self.mac(parts.form, ticket, parts.nonce, agent).verify_truncated_left(&bytes).is_ok())
    }
}

/// The two forms of a signed id: the one written today, and the older one still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignedIdForm {
    /// `hd.t<ticket>.<13 base32 nonce>.<16 base32 signature>@domain`
    Short,
    /// `helpdesk.t<ticket>.a<hex nonce>.<20 hex signature>@domain`
    Legacy,
}

/// The fields of a signed id, in either form, unchecked: the one place that reads the format.
struct SignedIdParts<'a> {
    form: SignedIdForm,
    ticket: &'a str,
    nonce: &'a str,
    signature: &'a str,
}

impl<'a> SignedIdParts<'a> {
    fn of(id: &'a MessageId) -> Option<SignedIdParts<'a>> {
        let (local, _domain) = id.as_str().rsplit_once('@')?;
        let parts: Vec<&str> = local.split('.').collect();
        let (form, ticket, nonce, signature) = match parts.as_slice() {
            ["hd", ticket, nonce, signature]
                if nonce.len() == NONCE_BASE32_CHARS && signature.len() == SIGNATURE_BASE32_CHARS =>
            {
                (SignedIdForm::Short, ticket, *nonce, signature)
            }
            ["helpdesk", ticket, nonce, signature] if signature.len() == LEGACY_SIGNATURE_HEX_CHARS => {
                (SignedIdForm::Legacy, ticket, nonce.strip_prefix('a')?, signature)
            }
            _ => return None,
        };
        Some(SignedIdParts { form, ticket: ticket.strip_prefix('t')?, nonce, signature })
    }
}

/// How an agent mail was authenticated, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticity {
    SignedReference,
    TrustedAuthenticationResults(String),
    Unverified,
}

/// `agent` is the mail's From (one of the agent's addresses); `signed_for` is the address the
/// desk's mail goes to (the first of them), for which its Message-IDs are signed: the agent
/// may answer from any of his addresses. `unusable` ids (expired, or seen in a mail to someone
/// else: see `signed_ids`) prove nothing.
pub fn authenticate_agent_mail(
    mail: &InboundMail,
    ticket: TicketId,
    agent: &EmailAddress,
    signed_for: &EmailAddress,
    ids: &AgentMessageIds,
    trusted_authserv_ids: &[String],
    unusable: &[MessageId],
) -> Authenticity {
    if mail.referenced_ids().iter().filter(|id| !unusable.contains(id)).any(|id| ids.verify(id, ticket, signed_for)) {
        return Authenticity::SignedReference;
    }
    // Only the topmost header counts: it was added by the server that received the mail;
    // anything below it could have been written by the sender.
    if let Some(results) = mail.header("authentication-results") {
        if let Some(authserv_id) = passing_authentication_results(results, trusted_authserv_ids, agent.domain()) {
            return Authenticity::TrustedAuthenticationResults(authserv_id);
        }
    }
    Authenticity::Unverified
}

/// Whether the mail's topmost `Authentication-Results` header comes from a trusted server and
/// holds a DMARC pass for `domain` (or a DKIM pass signed by it): the mail is from `domain`.
pub fn trusted_results_pass(mail: &InboundMail, trusted_authserv_ids: &[String], domain: &str) -> bool {
    mail.header("authentication-results")
        .is_some_and(|results| passing_authentication_results(results, trusted_authserv_ids, domain).is_some())
}

/// Whether a client's mail is proven to come from its From domain by a trusted server: a DMARC
/// or DKIM pass as for the agent, or an SPF pass whose `smtp.mailfrom` is of that domain
/// (aligned). `intake.require_sender_authentication` holds client mail without one.
pub fn sender_authenticated(mail: &InboundMail, trusted_authserv_ids: &[String], domain: &str) -> bool {
    if trusted_results_pass(mail, trusted_authserv_ids, domain) {
        return true;
    }
    let Some(header) = mail.header("authentication-results") else { return false };
    let (authserv_id, results) = parse_authentication_results(header);
    let domain = domain.to_ascii_lowercase();
    trusted_authserv_ids.iter().any(|trusted| trusted.eq_ignore_ascii_case(&authserv_id))
        && results.iter().any(|result| {
            result.method == "spf"
                && result.result == "pass"
                && result.properties.iter().any(|(name, value)| {
                    name == "smtp.mailfrom" && value.rsplit('@').next().is_some_and(|mail_domain| mail_domain == domain)
                })
        })
}

/// One result of an Authentication-Results header (RFC 8601): `dkim=pass header.d=example.test`.
#[derive(Debug, PartialEq, Eq)]
struct AuthenticationResult {
    method: String,
    result: String,
    /// `(ptype.property, value)`, lowercased, e.g. `("header.d", "example.test")`.
    properties: Vec<(String, String)>,
}

/// The header's authserv-id and its results, with comments removed. Words are compared
/// whole: `smtp.mailfrom=dmarc=pass@evil.test` is a property of an `spf` result, never a DMARC
/// pass, and `header.d=example.test.evil.net` is not `example.test`.
fn parse_authentication_results(header: &str) -> (String, Vec<AuthenticationResult>) {
    let mut clauses = split_outside_quotes(&without_comments(header), ';').into_iter();
    let authserv_id = clauses.next().unwrap_or_default().split_whitespace().next().unwrap_or("").to_string();
    let results = clauses
        .filter_map(|clause| {
            let mut words = clause.split_whitespace();
            let (method, result) = words.next()?.split_once('=')?;
            let method = method.split('/').next().unwrap_or(method).to_ascii_lowercase();
            let properties = words
                .filter_map(|word| word.split_once('='))
                .filter(|(name, _)| name.contains('.'))
                .map(|(name, value)| (name.to_ascii_lowercase(), value.trim_matches('"').to_ascii_lowercase()))
                .collect();
            Some(AuthenticationResult { method, result: result.to_ascii_lowercase(), properties })
        })
        .collect();
    (authserv_id, results)
}

/// The header without its `(comments)` (nested, outside quoted strings; a backslash quotes
/// the next character, RFC 5322 quoted-pair).
fn without_comments(header: &str) -> String {
    let (mut depth, mut quoted, mut text) = (0usize, false, String::with_capacity(header.len()));
    let mut chars = header.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().unwrap_or(' ');
                if depth == 0 {
                    text.push(c);
                    text.push(escaped);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                text.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    text
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let (mut parts, mut current, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            current.push(c);
            current.extend(chars.next());
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        if c == separator && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// The authserv-id, when a trusted server says the mail passed DMARC for the agent's domain
/// (`dmarc=pass header.from=<domain>`) or carries a passing DKIM signature of that exact
/// domain (`dkim=pass header.d=<domain>`).
fn passing_authentication_results(header: &str, trusted_authserv_ids: &[String], domain: &str) -> Option<String> {
    let (authserv_id, results) = parse_authentication_results(header);
    if !trusted_authserv_ids.iter().any(|trusted| trusted.eq_ignore_ascii_case(&authserv_id)) {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    let passes = |method: &str, property: &str| {
        results.iter().any(|result| {
            result.method == method
                && result.result == "pass"
                && result.properties.iter().any(|(name, value)| name == property && *value == domain)
        })
    };
    (passes("dmarc", "header.from") || passes("dkim", "header.d")).then_some(authserv_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::parse::parse_mail;

    fn agent() -> EmailAddress {
        EmailAddress::parse("travis@example.test").unwrap()
    }

    #[test]
    fn signed_ids_verify_only_for_their_ticket_and_agent() {
        let ids = AgentMessageIds::new(b"key");
        let id = ids.signed_message_id(TicketId(7), &agent(), "example.test", chrono::Utc::now());
        assert!(ids.verify(&id, TicketId(7), &agent()));
        assert!(!ids.verify(&id, TicketId(8), &agent()));
        assert!(!ids.verify(&id, TicketId(7), &EmailAddress::parse("eve@example.test").unwrap()));
        assert!(!AgentMessageIds::new(b"other").verify(&id, TicketId(7), &agent()));
        // Any one character changed in the nonce or the signature breaks it.
        let (local, domain) = id.as_str().split_once('@').unwrap();
        for position in [6, 12, 18, 20, 27, local.len() - 1] {
            let mut forged: Vec<u8> = local.bytes().collect();
            forged[position] = if forged[position] == b'a' { b'b' } else { b'a' };
            let forged = MessageId::parse(&format!("{}@{domain}", String::from_utf8(forged).unwrap())).unwrap();
            assert!(AgentMessageIds::looks_signed(&forged), "{forged}");
            assert!(!ids.verify(&forged, TicketId(7), &agent()), "{forged}");
        }
    }

    #[test]
    fn in_reply_to_a_signed_id_fits_on_one_line() {
        let ids = AgentMessageIds::new(b"key");
        let domain = "support.example.test";
        assert_eq!(domain.len(), 20);
        let agent = EmailAddress::parse("travis.longname@agents.example.test").unwrap();
        for id in [
            ids.signed_message_id(TicketId(999_999), &agent, domain, chrono::Utc::now()),
            ids.signed_report_id(999_999, &agent, domain, chrono::Utc::now()),
            ids.signed_summary_id(&agent, domain, chrono::Utc::now()),
            crate::outbound::compose::new_message_id(Some(TicketId(999_999)), domain),
            crate::outbound::compose::new_message_id(None, domain),
        ] {
            let line = format!("In-Reply-To: {}", id.bracketed());
            assert!(line.len() <= 78, "{} columns: {line}", line.len());
        }
        let id = ids.signed_message_id(TicketId(999_999), &agent, domain, chrono::Utc::now());
        assert_eq!(id.as_str().split('@').next().unwrap().len(), 41, "{id}");
        assert!(ids.verify(&id, TicketId(999_999), &agent));
        assert_eq!(
            ids.report_answered(
                &reply_to(&ids.signed_report_id(999_999, &agent, domain, chrono::Utc::now())),
                &agent,
                &[]
            ),
            Some(999_999)
        );
    }

    fn reply_to(id: &MessageId) -> InboundMail {
        parse_mail(
            format!("From: travis@example.test\r\nIn-Reply-To: {}\r\n\r\nok\r\n", id.bracketed()).as_bytes(),
            1 << 20,
        )
    }

    #[test]
    fn ids_of_the_older_long_form_still_verify() {
        // Written by the desk before ids were shortened (HMAC-SHA256 with the key "key"): one
        // with the time in its nonce (2026-01-01), one from before nonces carried it (report 3).
        let ids = AgentMessageIds::new(b"key");
        let timed =
            MessageId::parse("helpdesk.t7.a6955b9000123456789abcdef.6e80382ff37bf5ff9563@example.test").unwrap();
        assert!(AgentMessageIds::looks_signed(&timed));
        assert!(ids.verify(&timed, TicketId(7), &agent()));
        assert!(!ids.verify(&timed, TicketId(8), &agent()));
        assert!(!AgentMessageIds::new(b"other").verify(&timed, TicketId(7), &agent()));
        assert_eq!(AgentMessageIds::issued_at(&timed), chrono::DateTime::from_timestamp(1_767_225_600, 0));
        assert_eq!(
            authenticate_agent_mail(&reply_to(&timed), TicketId(7), &agent(), &agent(), &ids, &[], &[]),
            Authenticity::SignedReference
        );
        let report =
            MessageId::parse("helpdesk.t-3.a0123456789abcdef0123456789abcdef.4469ff7bb2fa40d7a47c@example.test")
                .unwrap();
        assert_eq!(ids.report_answered(&reply_to(&report), &agent(), &[]), Some(3));
        assert_eq!(AgentMessageIds::issued_at(&report), None);
        // The old fields in the new form's frame (or the reverse) prove nothing.
        let reframed = MessageId::parse("hd.t7.6955b9000123456789abcdef.6e80382ff37bf5ff9563@example.test").unwrap();
        assert!(!ids.verify(&reframed, TicketId(7), &agent()));
        let short = ids.signed_message_id(TicketId(7), &agent(), "example.test", chrono::Utc::now());
        let [_, _, nonce, signature] = short.as_str().split('@').next().unwrap().split('.').collect::<Vec<_>>()[..]
        else {
            panic!("{short}")
        };
        let long = MessageId::parse(&format!("helpdesk.t7.a{nonce}.{signature}@example.test")).unwrap();
        assert!(!ids.verify(&long, TicketId(7), &agent()));
    }

    #[test]
    fn a_signed_id_carries_its_time_under_the_signature_and_an_unusable_one_proves_nothing() {
        let ids = AgentMessageIds::new(b"key");
        let issued = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let id = ids.signed_message_id(TicketId(7), &agent(), "example.test", issued);
        assert_eq!(AgentMessageIds::issued_at(&id), Some(issued));
        // A changed time breaks the signature.
        let nonce = id.as_str().split('.').nth(2).unwrap().to_string();
        let mut bytes = from_base32(&nonce).unwrap();
        bytes[..4].copy_from_slice(&(u32::try_from(issued.timestamp()).unwrap() + 86_400).to_be_bytes());
        let younger = MessageId::parse(&id.as_str().replacen(&nonce, &base32(&bytes), 1)).unwrap();
        assert_eq!(AgentMessageIds::issued_at(&younger), Some(issued + chrono::Duration::days(1)));
        assert!(!ids.verify(&younger, TicketId(7), &agent()));
        let legacy =
            MessageId::parse("helpdesk.t7.a0123456789abcdef0123456789abcdef.0123456789abcdef0123@x.test").unwrap();
        assert_eq!(AgentMessageIds::issued_at(&legacy), None);
        let reply = format!("From: travis@example.test\r\nIn-Reply-To: {}\r\n\r\nok\r\n", id.bracketed());
        let mail = parse_mail(reply.as_bytes(), 1 << 20);
        assert_eq!(
            authenticate_agent_mail(&mail, TicketId(7), &agent(), &agent(), &ids, &[], std::slice::from_ref(&id)),
            Authenticity::Unverified
        );
    }

    #[test]
    fn a_client_is_authenticated_by_trusted_dmarc_dkim_or_aligned_spf_only() {
        let trusted = vec!["mx.example.test".to_string()];
        let with = |results: &str| {
            parse_mail(
                format!("Authentication-Results: {results}\r\nFrom: boss@initech.test\r\n\r\nhi\r\n").as_bytes(),
                1 << 20,
            )
        };
        let pass = |results: &str| sender_authenticated(&with(results), &trusted, "initech.test");
        assert!(pass("mx.example.test; dmarc=pass header.from=initech.test"));
        assert!(pass("mx.example.test; spf=pass smtp.mailfrom=boss@initech.test"));
        assert!(pass("mx.example.test; spf=pass smtp.mailfrom=initech.test"));
        assert!(!pass("mx.example.test; spf=pass smtp.mailfrom=boss@evil.test"), "not aligned");
        assert!(!pass("mx.example.test; spf=fail smtp.mailfrom=boss@initech.test"));
        assert!(!pass("evil.test; dmarc=pass header.from=initech.test"), "not a trusted server");
        assert!(!sender_authenticated(
            &parse_mail(b"From: boss@initech.test\r\n\r\nhi\r\n", 1 << 20),
            &trusted,
            "initech.test"
        ));
    }

    #[test]
    fn replies_to_signed_mail_and_trusted_results_authenticate() {
        let ids = AgentMessageIds::new(b"key");
        let signed = ids.signed_message_id(TicketId(7), &agent(), "example.test", chrono::Utc::now());
        let reply =
            format!("From: travis@example.test\r\nIn-Reply-To: {}\r\nSubject: Re\r\n\r\nok\r\n", signed.bracketed());
        let mail = parse_mail(reply.as_bytes(), 1 << 20);
        assert_eq!(
            authenticate_agent_mail(&mail, TicketId(7), &agent(), &agent(), &ids, &[], &[]),
            Authenticity::SignedReference
        );
        // Answered from another of the agent's addresses: the id was signed for the first.
        let alias = EmailAddress::parse("travis@phone.example.test").unwrap();
        let from_alias = reply.replace("From: travis@example.test", "From: travis@phone.example.test");
        let mail_from_alias = parse_mail(from_alias.as_bytes(), 1 << 20);
        assert_eq!(
            authenticate_agent_mail(&mail_from_alias, TicketId(7), &alias, &agent(), &ids, &[], &[]),
            Authenticity::SignedReference
        );
        assert_eq!(
            authenticate_agent_mail(&mail_from_alias, TicketId(8), &alias, &agent(), &ids, &[], &[]),
            Authenticity::Unverified,
            "not for another ticket"
        );

        let with_results = "Authentication-Results: mx.example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test\r\nFrom: travis@example.test\r\nSubject: x\r\n\r\nok\r\n";
        let mail = parse_mail(with_results.as_bytes(), 1 << 20);
        let trusted = vec!["mx.example.test".to_string()];
        assert!(matches!(
            authenticate_agent_mail(&mail, TicketId(7), &agent(), &agent(), &ids, &trusted, &[]),
            Authenticity::TrustedAuthenticationResults(_)
        ));
        assert_eq!(
            authenticate_agent_mail(&mail, TicketId(7), &agent(), &agent(), &ids, &[], &[]),
            Authenticity::Unverified
        );

        let forged = "Authentication-Results: mx.example.test; dkim=fail; dmarc=fail\r\nFrom: travis@example.test\r\nSubject: x\r\n\r\nok\r\n";
        let mail = parse_mail(forged.as_bytes(), 1 << 20);
        assert_eq!(
            authenticate_agent_mail(&mail, TicketId(7), &agent(), &agent(), &ids, &trusted, &[]),
            Authenticity::Unverified
        );
    }

    #[test]
    fn authentication_results_count_only_whole_passing_results_for_the_agents_own_domain() {
        let trusted = ["mx.example.test".to_string()];
        let passes = |header: &str| passing_authentication_results(header, &trusted, "example.test").is_some();
        assert!(passes("mx.example.test; dmarc=pass (p=reject) header.from=example.test"));
        assert!(passes("mx.example.test 1; spf=pass smtp.mailfrom=x@example.test;\r\n dkim=pass (2048-bit key) header.d=Example.Test header.s=s1"));
        assert!(passes("MX.example.test; dmarc=pass header.from=\"example.test\""));
        // The words appear, but not as a passing result for the agent's domain.
        assert!(!passes(
            "mx.example.test; spf=pass smtp.mailfrom=dmarc=pass@evil.test; dmarc=fail header.from=example.test"
        ));
        assert!(!passes(
            "mx.example.test; dkim=pass header.d=example.test.evil.net; dmarc=none header.from=example.test"
        ));
        assert!(!passes(
            "mx.example.test; dkim=pass header.d=evil.test (example.test); dmarc=pass header.from=evil.test"
        ));
        assert!(!passes("mx.example.test; dkim=fail header.d=example.test reason=\"dkim=pass header.d=example.test\""));
        assert!(!passes("mx.example.test; dmarc=pass"), "a DMARC pass that names no domain");
        assert!(
            !passes("mx.example.test; spf=pass smtp.mailfrom=\"x\\\";dmarc=pass header.from=example.test;\\\"y\"@evil.test; dmarc=fail header.from=example.test"),
            "an escaped quote inside a quoted address does not end it"
        );
        assert!(!passes("other.test; dmarc=pass header.from=example.test"), "an untrusted server");
        assert!(!passes("mx.example.test.evil.net; dmarc=pass header.from=example.test"));
    }
}
