//! The SASL strings that carry an OAuth2 access token to a mail server: XOAUTH2 (Google's
//! and Microsoft's) and OAUTHBEARER (RFC 7628), and the IMAP side of the exchange. Pure: no
//! I/O; the strings are raw (the IMAP client and lettre base64-encode them).

use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

/// A SASL mechanism that sends a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerMechanism {
    XOAuth2,
    OAuthBearer,
}

impl BearerMechanism {
    /// Its name in `AUTHENTICATE` and in the server's `AUTH=` capabilities.
    pub fn name(self) -> &'static str {
        match self {
            BearerMechanism::XOAuth2 => "XOAUTH2",
            BearerMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// XOAUTH2 where the server offers it, else OAUTHBEARER; XOAUTH2 when it names neither
    /// (some servers list no `AUTH=` before TLS, and XOAUTH2 is what Google and Microsoft take).
    pub fn choose(offers: impl Fn(&str) -> bool) -> BearerMechanism {
        if !offers("XOAUTH2") && offers("OAUTHBEARER") {
            BearerMechanism::OAuthBearer
        } else {
            BearerMechanism::XOAuth2
        }
    }

    /// The client's first message: who logs in and with which token.
    pub fn initial_response(self, user: &str, token: &SecretString) -> SecretString {
        let token = token.expose_secret();
        SecretString::from(match self {
            BearerMechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
            // gs2-header "n,a=USER," (no channel binding); a ',' or '=' in the name is escaped.
            BearerMechanism::OAuthBearer => {
                let user = user.replace('=', "=3D").replace(',', "=2C");
                format!("n,a={user},\x01auth=Bearer {token}\x01\x01")
            }
        })
    }

    /// What the client answers to the server's error challenge (a JSON status) so that the
    /// server can end the exchange with its NO: empty for XOAUTH2, a lone %x01 for
    /// OAUTHBEARER (RFC 7628 3.2.3).
    pub fn answer_to_error(self) -> &'static [u8] {
        match self {
            BearerMechanism::XOAuth2 => b"",
            BearerMechanism::OAuthBearer => b"\x01",
        }
    }
}

/// One IMAP `AUTHENTICATE` exchange: the initial response to the server's first (empty)
/// continuation, the error answer to any later one. The error challenge the server sent (a
/// JSON status, no secret in it) is kept in `error_challenge` for the log.
pub struct ImapBearer {
    mechanism: BearerMechanism,
    initial: Option<SecretString>,
    pub error_challenge: Arc<Mutex<Option<String>>>,
}

impl ImapBearer {
    pub fn new(mechanism: BearerMechanism, user: &str, token: &SecretString) -> ImapBearer {
        ImapBearer {
            mechanism,
            initial: Some(mechanism.initial_response(user, token)),
            error_challenge: Arc::new(Mutex::new(None)),
        }
    }
}

impl async_imap::Authenticator for ImapBearer {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.initial.take() {
            Some(initial) if challenge.is_empty() => initial.expose_secret().as_bytes().to_vec(),
            _ => {
                let text = String::from_utf8_lossy(challenge).chars().take(500).collect();
                *self.error_challenge.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(text);
                self.mechanism.answer_to_error().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_imap::Authenticator;

    use super::*;

    fn token(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    #[test]
    fn xoauth2_is_user_then_bearer_token_separated_by_ctrl_a() {
        let response = BearerMechanism::XOAuth2.initial_response("support@agency.test", &token("ya29.abc"));
        assert_eq!(response.expose_secret(), "user=support@agency.test\x01auth=Bearer ya29.abc\x01\x01");
    }

    #[test]
    fn oauthbearer_has_the_gs2_header_and_escapes_the_authzid() {
        let response = BearerMechanism::OAuthBearer.initial_response("a,b=c@agency.test", &token("t0k"));
        assert_eq!(response.expose_secret(), "n,a=a=2Cb=3Dc@agency.test,\x01auth=Bearer t0k\x01\x01");
    }

    #[test]
    fn xoauth2_is_preferred_and_oauthbearer_taken_only_when_it_is_all_there_is() {
        assert_eq!(BearerMechanism::choose(|m| m == "XOAUTH2" || m == "OAUTHBEARER"), BearerMechanism::XOAuth2);
        assert_eq!(BearerMechanism::choose(|m| m == "OAUTHBEARER"), BearerMechanism::OAuthBearer);
        assert_eq!(BearerMechanism::choose(|_| false), BearerMechanism::XOAuth2);
    }

    #[test]
    fn the_imap_exchange_sends_the_token_once_and_answers_an_error_challenge_empty() {
        let mut exchange = ImapBearer::new(BearerMechanism::XOAuth2, "u@x.test", &token("tok"));
        assert_eq!(exchange.process(b""), b"user=u@x.test\x01auth=Bearer tok\x01\x01".to_vec());
        let challenge = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(exchange.process(challenge), Vec::<u8>::new(), "the token is never sent twice");
        let kept = exchange.error_challenge.lock().unwrap().clone().unwrap();
        assert!(kept.contains("\"status\":\"401\""), "{kept}");

        let mut bearer = ImapBearer::new(BearerMechanism::OAuthBearer, "u@x.test", &token("tok"));
        bearer.process(b"");
        assert_eq!(bearer.process(br#"{"status":"invalid_token"}"#), b"\x01".to_vec());
    }

    #[test]
    fn a_server_that_sends_a_challenge_first_never_gets_the_token() {
        let mut exchange = ImapBearer::new(BearerMechanism::XOAuth2, "u@x.test", &token("secret-token"));
        let answer = exchange.process(b"unexpected");
        assert!(!String::from_utf8_lossy(&answer).contains("secret-token"));
    }
}
