//! The provider's token endpoint (RFC 6749 section 4.1.3 and 6, RFC 8628): the only HTTP the
//! desk speaks. Each call is one form POST with the client's id (and secret, in the body);
//! the answer is a token or an OAuth error, told apart so that callers can branch: a refused
//! grant needs a new login, a pending device code waits, anything else is tried again later.
//!
//! Written on reqwest rather than the `oauth2` crate: four form POSTs, and the desk needs what
//! that crate's typed client hides or makes awkward (the id_token's account, `expires_in` as a
//! string, error codes beyond the standard ones, a bounded answer, no URL in an error).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::{OAuth2Config, Provider};
use crate::text::one_line;

/// How long one request to the provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A token answer larger than this is not a token answer.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What the token endpoint granted.
#[derive(Debug)]
pub struct Granted {
    pub access_token: SecretString,
    pub expires_in: Option<i64>,
    /// A new refresh token: at a login, or a rotated one at a refresh.
    pub refresh_token: Option<SecretString>,
    /// The scopes granted, when the provider says (else those asked for).
    pub scope: Option<String>,
    /// Who signed in, read from the OpenID id_token when there is one (not verified: it is
    /// only shown, never trusted for access).
    pub account: Option<String>,
}

/// The device authorization answer (RFC 8628 section 3.2).
#[derive(Debug, Deserialize)]
pub struct DeviceStart {
    pub device_code: SecretString,
    pub user_code: String,
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    #[serde(default = "device_expiry")]
    pub expires_in: u64,
    #[serde(default = "device_interval")]
    pub interval: u64,
}

fn device_expiry() -> u64 {
    900
}

fn device_interval() -> u64 {
    5
}

/// Why the token endpoint gave no token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `invalid_grant`: the refresh token (or code) is revoked, expired or used. Only a new
    /// login helps.
    #[error("the provider refused the grant (invalid_grant{})", describe(.0))]
    InvalidGrant(String),
    /// Device flow: the user has not finished yet.
    #[error("authorization pending")]
    Pending,
    /// Device flow: polling too often; wait 5 s longer between polls.
    #[error("slow down")]
    SlowDown,
    /// Any other OAuth error (`invalid_client`, `access_denied`, `expired_token`, ...).
    #[error("the provider answered {error}{}", describe(.description))]
    Refused { error: String, description: String },
    /// No answer, or not one of OAuth's: worth trying again later.
    #[error("cannot reach the token endpoint: {0}")]
    Unreachable(String),
}

impl TokenError {
    /// The provider's words: `invalid_grant: why` (or the error as a sentence).
    pub fn reason(&self) -> String {
        match self {
            TokenError::InvalidGrant(description) => format!("invalid_grant{}", describe(description)),
            TokenError::Refused { error, description } => format!("{error}{}", describe(description)),
            other => other.to_string(),
        }
    }

    /// Whether the provider answered with this OAuth error code.
    pub fn is_error(&self, code: &str) -> bool {
        matches!(self, TokenError::Refused { error, .. } if error == code)
    }
}

fn describe(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(": {description}")
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    id_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A client of one provider's endpoints.
pub struct TokenEndpoint {
    http: reqwest::Client,
    config: OAuth2Config,
}

impl TokenEndpoint {
    pub fn new(config: &OAuth2Config) -> anyhow::Result<TokenEndpoint> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("helpdesk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TokenEndpoint { http, config: config.clone() })
    }

    /// Exchanges the code the browser brought back (with the PKCE verifier).
    pub async fn exchange_code(&self, code: &str, verifier: &SecretString) -> Result<Granted, TokenError> {
        let redirect_uri = self.config.redirect_uri();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", verifier.expose_secret()),
        ];
        self.token_request(&form).await
    }

    /// A new access token for the refresh token (and, with rotation, a new refresh token).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Granted, TokenError> {
        let scope = self.config.scopes.join(" ");
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())];
        // Microsoft's v2 endpoint wants the scopes again on a refresh.
        if self.config.provider == Provider::Microsoft {
            form.push(("scope", &scope));
        }
        self.token_request(&form).await
    }

    /// Starts the device flow: the code the user types in at the verification URL.
    pub async fn start_device(&self) -> Result<DeviceStart, TokenError> {
        let Some(url) = &self.config.device_auth_url else {
            return Err(TokenError::Refused {
                error: "no device authorization endpoint".into(),
                description: "set oauth2.device_auth_url".into(),
            });
        };
        let scope = self.config.scopes.join(" ");
        let form = self.with_client(&[("scope", &scope)]);
        let answer = self.post(url.as_str(), &form).await?;
        serde_json::from_slice(&answer).map_err(|err| TokenError::Unreachable(format!("not a device answer: {err}")))
    }

    /// One poll of the device flow.
    pub async fn poll_device(&self, device_code: &SecretString) -> Result<Granted, TokenError> {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.expose_secret()),
        ];
        self.token_request(&form).await
    }

    fn with_client<'a>(&'a self, form: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut full = vec![("client_id", self.config.client_id.as_str())];
        if let Some(secret) = &self.config.client_secret {
            full.push(("client_secret", secret.expose_secret()));
        }
        full.extend_from_slice(form);
        full
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<Granted, TokenError> {
        let form = self.with_client(form);
        let answer = self.post(self.config.token_url.as_str(), &form).await?;
        let token: TokenAnswer = serde_json::from_slice(&answer)
            .map_err(|err| TokenError::Unreachable(format!("the answer holds no access_token: {err}")))?;
        Ok(Granted {
            access_token: token.access_token,
            expires_in: token.expires_in.as_ref().and_then(seconds),
            refresh_token: token.refresh_token.filter(|token| !token.expose_secret().is_empty()),
            scope: token.scope.map(|scope| one_line(&scope).chars().take(1000).collect()),
            account: token.id_token.as_ref().and_then(account_in_id_token),
        })
    }

    /// POSTs the form; the body of a 2xx answer, or the OAuth error of any other.
    async fn post(&self, url: &str, form: &[(&str, &str)]) -> Result<Vec<u8>, TokenError> {
        let response = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .form(form)
            .send()
            .await
            .map_err(|err| TokenError::Unreachable(without_url(err)))?;
        let status = response.status();
        let body = read_bounded(response).await?;
        if status.is_success() {
            return Ok(body);
        }
        match serde_json::from_slice::<ErrorAnswer>(&body) {
            Ok(answer) => Err(oauth_error(answer)),
            Err(_) => Err(TokenError::Unreachable(format!("HTTP {status} without an OAuth error"))),
        }
    }
}

fn oauth_error(answer: ErrorAnswer) -> TokenError {
    // Text from outside: one line, control characters escaped, bounded.
    let description: String = one_line(&answer.error_description.unwrap_or_default()).chars().take(300).collect();
    match answer.error.as_str() {
        "invalid_grant" => TokenError::InvalidGrant(description),
        "authorization_pending" => TokenError::Pending,
        "slow_down" => TokenError::SlowDown,
        _ => TokenError::Refused { error: one_line(&answer.error).chars().take(100).collect(), description },
    }
}

/// `expires_in` as a number or a numeric string (some providers send "3599").
fn seconds(value: &serde_json::Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str()?.trim().parse().ok())
}

/// The answer's body, refused past `MAX_ANSWER_BYTES`.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, TokenError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| TokenError::Unreachable(without_url(err)))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(TokenError::Unreachable(format!("the answer is over {MAX_ANSWER_BYTES} bytes")));
        }
    }
    Ok(body)
}

/// reqwest's error text without the URL (a URL may carry a code in its query).
fn without_url(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The `email` (or `preferred_username`, `upn`) claim of an id_token, unverified.
pub fn account_in_id_token(id_token: &SecretString) -> Option<String> {
    use base64::Engine as _;
    let claims = id_token.expose_secret().split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    ["email", "preferred_username", "upn"]
        .iter()
        .find_map(|claim| claims.get(claim)?.as_str().map(str::to_string))
        .filter(|account| account.len() <= 320 && !account.chars().any(char::is_control))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn the_account_is_read_from_the_id_token_claims() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"sub":"1","preferred_username":"travis@agency.test","email":"support@agency.test"}"#);
        let token = SecretString::from(format!("eyJhbGciOiJub25lIn0.{claims}.sig"));
        assert_eq!(account_in_id_token(&token).as_deref(), Some("support@agency.test"));
        let hostile = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"email":"a@b\u001b[31m"}"#);
        assert_eq!(account_in_id_token(&SecretString::from(format!("x.{hostile}.y"))), None);
        assert_eq!(account_in_id_token(&SecretString::from("not-a-jwt".to_string())), None);
    }

    #[test]
    fn oauth_errors_are_told_apart() {
        let error = |error: &str| ErrorAnswer { error: error.into(), error_description: Some("why".into()) };
        assert!(matches!(oauth_error(error("invalid_grant")), TokenError::InvalidGrant(d) if d == "why"));
        assert!(matches!(oauth_error(error("authorization_pending")), TokenError::Pending));
        assert!(matches!(oauth_error(error("slow_down")), TokenError::SlowDown));
        let refused = oauth_error(error("invalid_client")).to_string();
        assert_eq!(refused, "the provider answered invalid_client: why");
    }

    #[test]
    fn expires_in_may_be_a_number_or_a_string() {
        assert_eq!(seconds(&serde_json::json!(3599)), Some(3599));
        assert_eq!(seconds(&serde_json::json!("3599")), Some(3599));
        assert_eq!(seconds(&serde_json::json!("soon")), None);
    }
}
