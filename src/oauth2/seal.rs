//! Tokens at rest: every stored token is sealed with ChaCha20-Poly1305 (ring) under a key
//! derived from `[oauth2] token_key` with SHA-256, with a fresh random nonce, and bound to
//! what it is (`context`: the grant and the field), so that a sealed value cannot be moved to
//! another field or grant. The key itself is never stored.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// The prefix of a sealed value of this format.
const VERSION: &str = "v1.";

/// The key the stored tokens are sealed with.
pub struct TokenKey {
    key: LessSafeKey,
}

/// A sealed value that does not open: another key, or changed.
#[derive(Debug, thiserror::Error)]
#[error("a stored token cannot be opened with this token key")]
pub struct WrongKey;

impl TokenKey {
    pub fn from_secret(secret: &SecretString) -> TokenKey {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.expose_secret().as_bytes());
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, digest.as_ref()).expect("a SHA-256 digest is 32 bytes");
        TokenKey { key: LessSafeKey::new(unbound) }
    }

    /// `plain` sealed for `context`, as text for a TEXT column.
    pub fn seal(&self, context: &str, plain: &SecretString) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| anyhow::anyhow!("the system has no random numbers"))?;
        let mut data = plain.expose_secret().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| anyhow::anyhow!("sealing a token failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend(data);
        Ok(format!("{VERSION}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// The value `seal` sealed for the same `context` with the same key.
    pub fn open(&self, context: &str, sealed: &str) -> Result<SecretString, WrongKey> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(WrongKey)?;
        let mut data = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).map_err(|_| WrongKey)?;
        if data.len() < NONCE_LEN {
            return Err(WrongKey);
        }
        let nonce = Nonce::try_assume_unique_for_key(&data[..NONCE_LEN]).map_err(|_| WrongKey)?;
        let mut body = data.split_off(NONCE_LEN);
        let plain = self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut body).map_err(|_| WrongKey)?;
        String::from_utf8(plain.to_vec()).map(SecretString::from).map_err(|_| WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> TokenKey {
        TokenKey::from_secret(&SecretString::from(text.to_string()))
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    #[test]
    fn a_sealed_token_opens_with_the_same_key_and_context_and_hides_the_token() {
        let key = key("a key of at least thirty-two characters");
        let sealed = key.seal("mailbox refresh_token", &secret("1//refresh-token-value")).unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("refresh-token-value"), "{sealed}");
        assert_eq!(key.open("mailbox refresh_token", &sealed).unwrap().expose_secret(), "1//refresh-token-value");
        let again = key.seal("mailbox refresh_token", &secret("1//refresh-token-value")).unwrap();
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[test]
    fn another_key_another_context_or_a_changed_byte_does_not_open() {
        let key_a = key("a key of at least thirty-two characters");
        let sealed = key_a.seal("mailbox access_token", &secret("token")).unwrap();
        assert!(key("another key of thirty-two characters!").open("mailbox access_token", &sealed).is_err());
        assert!(key_a.open("mailbox refresh_token", &sealed).is_err(), "moved to another field");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(key_a.open("mailbox access_token", &String::from_utf8(tampered).unwrap()).is_err());
        for junk in ["", "v1.", "v1.AAAA", "v2.abc", "plain-token"] {
            assert!(key_a.open("mailbox access_token", junk).is_err(), "{junk:?}");
        }
    }
}
