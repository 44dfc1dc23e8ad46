//! `[oauth2]`: the OAuth2 client the desk signs in with when `[imap]` or `[smtp]` has
//! `auth = "oauth2"` (Gmail / Google Workspace, Microsoft 365, or any OAuth2 server), and the
//! key that seals the stored tokens. Provider defaults fill the endpoints and scopes.
//!
//! Nothing connects here; `crate::oauth2` does.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::fields::{self, Parse};
use super::read::{Reader, Table};
use super::sources::read_secret;

/// Who runs the authorization server: it decides the default endpoints and scopes, and
/// Google's extra authorization parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
    Generic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Generic => "generic",
        }
    }
}

impl Parse for Provider {
    fn parse(raw: &str) -> Result<Provider, String> {
        match raw {
            "google" => Ok(Provider::Google),
            "microsoft" => Ok(Provider::Microsoft),
            "generic" => Ok(Provider::Generic),
            other => Err(format!("expected google, microsoft or generic, found {other:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuth2Config {
    pub provider: Provider,
    pub client_id: String,
    /// None for a public client (a desktop app registration without a secret).
    pub client_secret: Option<SecretString>,
    pub auth_url: Url,
    pub token_url: Url,
    /// The device authorization endpoint (RFC 8628), when the provider has one.
    pub device_auth_url: Option<Url>,
    pub scopes: Vec<String>,
    /// `auth login` listens for the browser's redirect on http://127.0.0.1:PORT/.
    pub redirect_port: u16,
    /// The secret the stored tokens are sealed with (at least 32 characters).
    pub token_key: SecretString,
}

impl OAuth2Config {
    /// The redirect URI registered with the provider.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/", self.redirect_port)
    }
}

/// The shortest token key accepted: a random 32-byte value in base64 is 44 characters.
pub const MIN_TOKEN_KEY_CHARS: usize = 32;

/// The variable `token_key_env` names unless the config says otherwise.
pub const DEFAULT_TOKEN_KEY_ENV: &str = "HELPDESK_OAUTH2_KEY";

/// `[oauth2]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuth2Section {
    #[serde(deserialize_with = "fields::parsed")]
    provider: Provider,
    client_id: String,
    #[serde(default)]
    client_secret: Option<SecretString>,
    #[serde(default)]
    client_secret_env: Option<String>,
    /// Microsoft only: "common" (default), "organizations", a tenant id or domain.
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    auth_url: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    device_auth_url: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default = "default_redirect_port", deserialize_with = "fields::int::<_, _, 1024, 65535>")]
    redirect_port: u16,
    #[serde(default)]
    token_key: Option<SecretString>,
    #[serde(default)]
    token_key_env: Option<String>,
}

fn default_redirect_port() -> u16 {
    8765
}

/// The endpoints and scopes a provider has unless the config names others.
struct ProviderDefaults {
    auth_url: Option<String>,
    token_url: Option<String>,
    device_auth_url: Option<String>,
    scopes: Vec<&'static str>,
}

fn provider_defaults(provider: Provider, tenant: &str) -> ProviderDefaults {
    match provider {
        Provider::Google => ProviderDefaults {
            auth_url: Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
            token_url: Some("https://oauth2.googleapis.com/token".into()),
            device_auth_url: Some("https://oauth2.googleapis.com/device/code".into()),
            // openid and email: the id_token says who signed in (shown by `auth login`).
            scopes: vec!["https://mail.google.com/", "openid", "email"],
        },
        Provider::Microsoft => {
            let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
            ProviderDefaults {
                auth_url: Some(format!("{base}/authorize")),
                token_url: Some(format!("{base}/token")),
                device_auth_url: Some(format!("{base}/devicecode")),
                scopes: vec![
                    "https://outlook.office.com/IMAP.AccessAsUser.All",
                    "https://outlook.office.com/SMTP.Send",
                    "offline_access",
                    "openid",
                    "email",
                ],
            }
        }
        Provider::Generic => {
            ProviderDefaults { auth_url: None, token_url: None, device_auth_url: None, scopes: vec![] }
        }
    }
}

/// `[oauth2]`, required when an edge has `auth = "oauth2"` (`used_by` names them).
pub(super) fn read(reader: &mut Reader, root: &Table, used_by: &[&str]) -> Option<OAuth2Config> {
    let Some(value) = reader.section(root, "oauth2") else {
        if let Some(edge) = used_by.first() {
            reader.problem(&format!("{edge}.auth"), "\"oauth2\" needs an [oauth2] section (provider, client_id)");
        }
        return None;
    };
    if used_by.is_empty() {
        reader.warnings.push("oauth2: no [imap] or [smtp] has auth = \"oauth2\": the grant is not used".into());
    }
    let section: OAuth2Section = reader.read("oauth2", value)?;
    let tenant = match (section.provider, section.tenant) {
        (Provider::Microsoft, tenant) => tenant.unwrap_or_else(|| "common".into()),
        (_, Some(_)) => {
            reader.problem("oauth2.tenant", "is for provider = \"microsoft\" only");
            String::new()
        }
        (_, None) => String::new(),
    };
    let defaults = provider_defaults(section.provider, &tenant);
    let auth_url = endpoint(reader, "oauth2.auth_url", section.auth_url.or(defaults.auth_url));
    let token_url = endpoint(reader, "oauth2.token_url", section.token_url.or(defaults.token_url));
    let device_auth_url = section
        .device_auth_url
        .or(defaults.device_auth_url)
        .and_then(|raw| endpoint(reader, "oauth2.device_auth_url", Some(raw)));
    let scopes = section.scopes.unwrap_or_else(|| defaults.scopes.iter().map(|s| s.to_string()).collect());
    if scopes.is_empty() || scopes.iter().any(|scope| scope.trim().is_empty() || scope.contains(' ')) {
        reader.problem("oauth2.scopes", "give at least one scope, each without spaces");
    }
    if section.client_id.trim().is_empty() {
        reader.problem("oauth2.client_id", "is empty");
    }
    let client_secret =
        read_secret(reader, "oauth2.client_secret", section.client_secret, section.client_secret_env, false);
    let token_key = token_key(reader, section.token_key, section.token_key_env, !used_by.is_empty());
    Some(OAuth2Config {
        provider: section.provider,
        client_id: section.client_id,
        client_secret,
        auth_url: auth_url?,
        token_url: token_url?,
        device_auth_url,
        scopes,
        redirect_port: section.redirect_port,
        token_key: token_key?,
    })
}

/// An endpoint URL: required, https unless on this machine's loopback (a token sent in the
/// clear to anywhere else could be read on the way).
fn endpoint(reader: &mut Reader, key: &str, raw: Option<String>) -> Option<Url> {
    let Some(raw) = raw else {
        reader.problem(key, "is required with provider = \"generic\"");
        return None;
    };
    let url = match Url::parse(&raw) {
        Ok(url) => url,
        Err(err) => {
            reader.problem(key, format!("{raw:?} is not a URL: {err}"));
            return None;
        }
    };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Some(url),
        "http" if loopback => Some(url),
        _ => {
            reader.problem(key, format!("{raw:?} must be https (plain http only on 127.0.0.1 or localhost)"));
            None
        }
    }
}

/// The sealing key's secret: `token_key`, or the variable `token_key_env` names (by default
/// HELPDESK_OAUTH2_KEY).
fn token_key(
    reader: &mut Reader,
    given: Option<SecretString>,
    variable: Option<String>,
    used: bool,
) -> Option<SecretString> {
    let variable = match (&given, variable) {
        (None, None) => Some(DEFAULT_TOKEN_KEY_ENV.to_string()),
        (_, variable) => variable,
    };
    if !used && given.is_none() && variable.as_ref().is_none_or(|name| !reader.env.contains_key(name)) {
        // An [oauth2] no edge uses (kept for later) needs no key.
        return Some(SecretString::from(String::new()));
    }
    let key = read_secret(reader, "oauth2.token_key", given, variable, true)?;
    let length = key.expose_secret().chars().count();
    // Loaded offline, an unset variable stands in as an empty key: no problem then.
    if length > 0 && length < MIN_TOKEN_KEY_CHARS {
        let message = format!("is {length} characters: give at least {MIN_TOKEN_KEY_CHARS} (openssl rand -base64 32)");
        reader.problem("oauth2.token_key", message);
        return None;
    }
    Some(key)
}
