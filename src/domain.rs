//! Domain values parsed once at the edge: addresses, Message-IDs, ticket ids, tiers and
//! severities. Code past the edge takes these types and never re-checks a string.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A mail address, lower-cased, with exactly one `@` and non-empty local part and domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// A display name on one line. An encoded word can carry CR, LF, NUL and other control
/// characters (`=?utf-8?Q?Jane=0D=0ABcc:_x?=`); names go into the To header of the
/// acknowledgement and of every relay, and lettre cannot write CR or LF in a name (it panics),
/// so each control character (and bidi override) becomes a space. `inbound::parse` escapes a
/// name's control characters (`text::one_line`) before; this is the header edge's own guard.
pub fn display_name_on_one_line(name: &str) -> String {
    let spaced: String =
        name.chars().map(|c| if c.is_control() || crate::text::is_escaped(c) { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Option<EmailAddress> {
        let trimmed = raw.trim().trim_start_matches('<').trim_end_matches('>').trim();
        let (local, domain) = trimmed.rsplit_once('@')?;
        let valid_domain = !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '[' || c == ']' || c == ':');
        // No control character either: an address is printed and written into headers as it is.
        let valid_local = !local.is_empty()
            && !local.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || crate::text::is_escaped(c));
        (valid_domain && valid_local).then(|| EmailAddress(trimmed.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(local, _)| local).unwrap_or("")
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, domain)| domain).unwrap_or("")
    }

    /// The mailbox behind the address, what the flood brakes count: lower-cased (as every
    /// `EmailAddress` is) and without the `+detail` of the local part, so that
    /// `Client2+x@Globex.TEST` and `client2+y@globex.test` are both `client2@globex.test`.
    /// A local part that starts with `+` has no mailbox before it and is kept whole.
    /// `migrations/sqlite/0004_flood_keys.sql` backfills old rows with the same rule.
    pub fn mailbox_key(&self) -> String {
        let local = self.local_part();
        let mailbox = match local.split_once('+') {
            Some((mailbox, _detail)) if !mailbox.is_empty() => mailbox,
            _ => local,
        };
        format!("{mailbox}@{}", self.domain())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Message-ID without its angle brackets, as stored and compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    pub fn parse(raw: &str) -> Option<MessageId> {
        let inner = raw.trim().trim_start_matches('<').trim_end_matches('>').trim();
        (!inner.is_empty() && !inner.contains(char::is_whitespace)).then(|| MessageId(inner.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used in headers: `<id>`.
    pub fn bracketed(&self) -> String {
        format!("<{}>", self.0)
    }
}

/// The alphabet of the desk's own Message-IDs: RFC 4648 base32 in lower case (letters and
/// the digits 2-7, no padding), which packs 5 bits in a character that is safe in any
/// Message-ID and survives a client that changes the case of nothing.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `bytes` in lower-case base32 without padding (8 bytes take 13 characters, 10 take 16).
pub fn base32(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        text.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    text
}

/// The bytes of `text` written by `base32`; `None` for any other text (another character, an
/// upper-case one, a length or last character `base32` never writes): one text per value.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = BASE32.iter().position(|&letter| letter == c)?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    (bits < 5 && buffer == 0).then_some(bytes)
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of a ticket, shown to people as `#42` and in subjects as `[#42]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The support tier a client pays for (SOP "Support Tiers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Starter,
    Growth,
    Enterprise,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Starter => "starter",
            Tier::Growth => "growth",
            Tier::Enterprise => "enterprise",
        }
    }

    /// The SOP's monthly price ("STARTER - $500/month" and so on).
    pub fn monthly_price_cents(self) -> i64 {
        match self {
            Tier::Starter => 500 * 100,
            Tier::Growth => 1_200 * 100,
            Tier::Enterprise => 2_500 * 100,
        }
    }

    /// The tier an upgrade moves to; none above ENTERPRISE.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::Starter => Some(Tier::Growth),
            Tier::Growth => Some(Tier::Enterprise),
            Tier::Enterprise => None,
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(raw: &str) -> Result<Tier, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "starter" => Ok(Tier::Starter),
            "growth" => Ok(Tier::Growth),
            "enterprise" => Ok(Tier::Enterprise),
            other => Err(format!("unknown tier {other:?} (expected starter, growth or enterprise)")),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SOP severity levels: P0 critical down to P3 low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Severity {
    P0,
    P1,
    P2,
    P3,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
    }

    /// The severity stored as `text`, exactly (`P0`..`P3`).
    pub fn parse(text: &str) -> Option<Severity> {
        [Severity::P0, Severity::P1, Severity::P2, Severity::P3].into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::P0 => "Critical",
            Severity::P1 => "High",
            Severity::P2 => "Medium",
            Severity::P3 => "Low",
        }
    }

    /// One level more urgent (P0 stays P0).
    pub fn escalated(self) -> Severity {
        match self {
            Severity::P0 | Severity::P1 => Severity::P0,
            Severity::P2 => Severity::P1,
            Severity::P3 => Severity::P2,
        }
    }
}

crate::stored_as_text!(Severity);

impl FromStr for Severity {
    type Err = String;
    fn from_str(raw: &str) -> Result<Severity, String> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "P0" => Ok(Severity::P0),
            "P1" => Ok(Severity::P1),
            "P2" => Ok(Severity::P2),
            "P3" => Ok(Severity::P3),
            other => Err(format!("unknown severity {other:?} (expected P0, P1, P2 or P3)")),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(EmailAddress::parse(" <Ops@Acme.TEST> ").unwrap().as_str(), "ops@acme.test");
        assert_eq!(EmailAddress::parse("a@b").unwrap().domain(), "b");
        for bad in ["", "no-at", "@acme.test", "ops@", "two words@acme.test", "ops@.acme", "\u{1b}]0;x\u{7}@acme.test"]
        {
            assert!(EmailAddress::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_mailbox_key_drops_the_detail_and_the_case() {
        let key = |raw: &str| EmailAddress::parse(raw).unwrap().mailbox_key();
        assert_eq!(key("Client2+x@Globex.TEST"), "client2@globex.test");
        assert_eq!(key("client2@globex.test"), "client2@globex.test");
        assert_eq!(key("a+b+c@x.test"), "a@x.test");
        assert_eq!(key("+only@x.test"), "+only@x.test");
        assert_eq!(key("\"a@b\"+t@x.test"), "\"a@b\"@x.test");
        assert_eq!(EmailAddress::parse("A+1@Globex.TEST").unwrap().domain(), "globex.test");
    }

    #[test]
    fn message_ids_lose_brackets() {
        assert_eq!(MessageId::parse("<abc@x>").unwrap().as_str(), "abc@x");
        assert_eq!(MessageId::parse("abc@x").unwrap().bracketed(), "<abc@x>");
        assert!(MessageId::parse("<>").is_none());
    }

    #[test]
    fn base32_reads_back_only_what_it_writes() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi", "RFC 4648's test vector, lower case, unpadded");
        assert_eq!(base32(&[0xff; 10]), "7".repeat(16));
        assert_eq!(base32(&[0; 8]).len(), 13);
        for bytes in [&b"foobar"[..], &[0xff; 10], &[0x80; 8], &[1, 2, 3]] {
            assert_eq!(from_base32(&base32(bytes)).as_deref(), Some(bytes));
        }
        // A character outside the alphabet, upper case, a last character with bits set that
        // `base32` leaves clear, or a length it never writes (one character is 5 bits).
        for bad in ["mzxw6ytbo1", "MZXW6YTBOI", "mz", "m"] {
            assert_eq!(from_base32(bad), None, "{bad}");
        }
        assert_eq!(from_base32("my"), Some(b"f".to_vec()));
    }

    #[test]
    fn severity_escalates_but_not_past_p0() {
        assert_eq!(Severity::P3.escalated(), Severity::P2);
        assert_eq!(Severity::P0.escalated(), Severity::P0);
        assert_eq!("p1".parse::<Severity>().unwrap(), Severity::P1);
    }
}
