//! Signed reply addresses such as `support+t42-3f9a0c1b2d4e@example.test`. Outgoing mail
//! carries one in Reply-To, so a reply still finds its ticket when a relay rewrites
//! Message-IDs; the HMAC signature means nobody can aim mail at a ticket by guessing numbers.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{EmailAddress, TicketId};

const SIGNATURE_HEX_CHARS: usize = 12;

#[derive(Clone)]
pub struct ReplyAddressSigner {
    key: Vec<u8>,
    support: EmailAddress,
}

impl std::fmt::Debug for ReplyAddressSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyAddressSigner").field("support", &self.support).finish_non_exhaustive()
    }
}

impl ReplyAddressSigner {
    pub fn new(key: &[u8], support: EmailAddress) -> ReplyAddressSigner {
        ReplyAddressSigner { key: key.to_vec(), support }
    }

    fn mac(&self, ticket: TicketId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("ticket:{}", ticket.0).as_bytes());
        mac
    }

    pub fn address_for(&self, ticket: TicketId) -> String {
        let tag = self.mac(ticket).finalize().into_bytes();
        let signature: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
        format!(
            "{}+t{}-{}@{}",
            self.support.local_part(),
            ticket.0,
            &signature[..SIGNATURE_HEX_CHARS],
            self.support.domain()
        )
    }

    /// The ticket an address names, when it is one of ours and its signature is right.
    pub fn verify(&self, address: &EmailAddress) -> Option<TicketId> {
        if address.domain() != self.support.domain() {
            return None;
        }
        let (base, tag) = address.local_part().split_once('+')?;
        if base != self.support.local_part() {
            return None;
        }
        let (number, signature) = tag.strip_prefix('t')?.split_once('-')?;
        let ticket = TicketId(number.parse().ok()?);
        if signature.len() != SIGNATURE_HEX_CHARS {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..signature.len()).step_by(2).map(|i| u8::from_str_radix(signature.get(i..i + 2)?, 16).ok()).collect();
        self.mac(ticket).verify_truncated_left(&bytes?).ok()?;
        Some(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_addresses_round_trip_and_forgeries_fail() {
        let signer = ReplyAddressSigner::new(b"secret", EmailAddress::parse("support@example.test").unwrap());
        let address = signer.address_for(TicketId(42));
        assert!(address.starts_with("support+t42-"));
        assert_eq!(signer.verify(&EmailAddress::parse(&address).unwrap()), Some(TicketId(42)));
        let forged = address.replace("+t42-", "+t43-");
        assert_eq!(signer.verify(&EmailAddress::parse(&forged).unwrap()), None);
        let other_key = ReplyAddressSigner::new(b"other", EmailAddress::parse("support@example.test").unwrap());
        assert_eq!(other_key.verify(&EmailAddress::parse(&address).unwrap()), None);
        assert_eq!(signer.verify(&EmailAddress::parse("support@example.test").unwrap()), None);
    }
}
