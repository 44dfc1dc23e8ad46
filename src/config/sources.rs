//! Where mail comes from: `[imap]` or `[maildir]` (one of the two), and what the IMAP and
//! SMTP sections share: the TLS mode, extra trusted certificates and a password given
//! directly or through an environment variable.
//!
//! Reading a certificate file is the only I/O here; nothing connects.

use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
use serde::Deserialize;

use super::fields::{self, Parse};
use super::read::{Reader, Secrets, Table};

#[derive(Debug, Clone)]
pub enum SourceConfig {
    Imap(ImapConfig),
    Maildir { path: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    #[default]
    None,
    StartTls,
    Tls,
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(raw: &str) -> Result<TlsMode, String> {
        match raw {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "tls" => Ok(TlsMode::Tls),
            other => Err(format!("expected none, starttls or tls, found {other:?}")),
        }
    }
}

impl Parse for TlsMode {
    fn parse(raw: &str) -> Result<TlsMode, String> {
        raw.parse()
    }
}

/// Certificates to trust besides the public roots: the CA of a private mail server (or a
/// server's self-signed certificate, if it is not marked as a CA: rustls refuses a CA
/// certificate as a server's own). Read and checked when the config is loaded.
#[derive(Debug, Clone)]
pub struct TrustedCertificates {
    pub path: PathBuf,
    /// PEM text holding at least one `CERTIFICATE` block.
    pub pem: Vec<u8>,
}

impl TrustedCertificates {
    pub fn certificates(&self) -> Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>> {
        use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
        CertificateDer::pem_slice_iter(&self.pem).filter_map(Result::ok).collect()
    }
}

/// What the desk does to a mailbox message once its ticket change has committed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProcessedAction {
    /// Set `\Seen` and the `$HelpdeskProcessed` keyword.
    #[default]
    Flag,
    /// Move the message to this mailbox (created if missing).
    Move(String),
}

impl Parse for ProcessedAction {
    fn parse(raw: &str) -> Result<ProcessedAction, String> {
        match raw.strip_prefix("move:").map(str::trim) {
            _ if raw == "flag" => Ok(ProcessedAction::Flag),
            Some(target) if !target.is_empty() => Ok(ProcessedAction::Move(target.to_string())),
            _ => Err(format!("expected \"flag\" or \"move:MAILBOX\", found {raw:?}")),
        }
    }
}

/// How the desk proves who it is to a mail server.
#[derive(Debug, Clone)]
pub enum MailLogin {
    /// LOGIN/PLAIN with a password (an app password where the provider still allows them).
    Password(SecretString),
    /// SASL XOAUTH2 (or OAUTHBEARER) with an access token from the `[oauth2]` grant.
    OAuth2,
}

/// `auth` in `[imap]` and `[smtp]`, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum AuthKind {
    #[default]
    Password,
    OAuth2,
}

impl Parse for AuthKind {
    fn parse(raw: &str) -> Result<AuthKind, String> {
        match raw {
            "password" => Ok(AuthKind::Password),
            "oauth2" => Ok(AuthKind::OAuth2),
            other => Err(format!("expected \"password\" or \"oauth2\", found {other:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Extra trusted certificates for the TLS handshake (`imap.ca_file`).
    pub ca_file: Option<TrustedCertificates>,
    pub username: String,
    pub login: MailLogin,
    pub mailbox: String,
    pub processed: ProcessedAction,
    /// Polling interval when the server has no IDLE (and the longest IDLE wait).
    pub poll_interval_secs: u64,
    /// Use IDLE when the server offers it.
    pub idle: bool,
}

/// `[imap]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImapSection {
    host: String,
    /// Default 993 with `tls = "tls"`, else 143.
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 1, 65535>")]
    port: Option<u16>,
    #[serde(default, deserialize_with = "fields::parsed")]
    tls: TlsMode,
    #[serde(default)]
    ca_file: Option<String>,
    username: String,
    /// "password" (default) or "oauth2".
    #[serde(default, deserialize_with = "fields::parsed")]
    auth: AuthKind,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default = "inbox")]
    mailbox: String,
    /// "flag" (default) or "move:MAILBOX".
    #[serde(default, deserialize_with = "fields::parsed")]
    processed: ProcessedAction,
    #[serde(default = "sixty", deserialize_with = "fields::int::<_, _, 1, 86_400>")]
    poll_interval_secs: u64,
    #[serde(default = "yes")]
    idle: bool,
}

fn inbox() -> String {
    "INBOX".to_string()
}

fn sixty() -> u64 {
    60
}

fn yes() -> bool {
    true
}

/// `[maildir]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaildirSection {
    path: String,
}

/// A server's password: given in the file (`password`), or the name of the variable holding
/// it (`password_env`).
pub(super) struct Login {
    pub password: Option<SecretString>,
    pub password_env: Option<String>,
}

/// The one source: `[imap]` or `[maildir]`.
pub(super) fn read(reader: &mut Reader, root: &Table) -> Option<SourceConfig> {
    let imap = reader.section(root, "imap");
    let maildir = reader.section(root, "maildir");
    match (imap, maildir) {
        (Some(_), Some(_)) => {
            reader.problem("imap", "give either [imap] or [maildir] as the source, not both");
            None
        }
        (None, None) => {
            reader.problem("imap", "a source is required: an [imap] section or a [maildir] section");
            None
        }
        (None, Some(value)) => {
            let section: MaildirSection = reader.read("maildir", value)?;
            Some(SourceConfig::Maildir { path: reader.path(&section.path) })
        }
        (Some(value), None) => {
            let section: ImapSection = reader.read("imap", value)?;
            let ca_file = ca_file(reader, "imap", section.ca_file.as_deref(), section.tls);
            let login = Login { password: section.password, password_env: section.password_env };
            let login = login.for_auth(reader, "imap", section.auth, true);
            Some(SourceConfig::Imap(ImapConfig {
                host: section.host,
                port: section.port.unwrap_or(if section.tls == TlsMode::Tls { 993 } else { 143 }),
                tls: section.tls,
                ca_file,
                username: section.username,
                login: login?,
                mailbox: section.mailbox,
                processed: section.processed,
                poll_interval_secs: section.poll_interval_secs,
                idle: section.idle,
            }))
        }
    }
}

impl Login {
    /// The login for `auth`: a password (required when `required`), or OAuth2 with no
    /// password given. `None` when there is a problem, or no login at all (an SMTP relay).
    pub(super) fn for_auth(
        self,
        reader: &mut Reader,
        prefix: &str,
        auth: AuthKind,
        required: bool,
    ) -> Option<MailLogin> {
        match auth {
            AuthKind::Password => self.secret(reader, prefix, required).map(MailLogin::Password),
            AuthKind::OAuth2 if self.password.is_some() || self.password_env.is_some() => {
                let message = "auth = \"oauth2\" logs in with the [oauth2] grant: leave password and password_env out";
                reader.problem(&format!("{prefix}.password"), message);
                None
            }
            AuthKind::OAuth2 => Some(MailLogin::OAuth2),
        }
    }

    /// The password, from the file or its variable.
    pub(super) fn secret(self, reader: &mut Reader, prefix: &str, required: bool) -> Option<SecretString> {
        let key = format!("{prefix}.password");
        read_secret(reader, &key, self.password, self.password_env, required)
    }
}

/// A secret given in the file (`KEY`) or as the name of the variable holding it (`KEY_env`).
/// Loaded offline, a variable that is not set is noted in `missing_secrets` (and an empty
/// secret stands in).
pub(super) fn read_secret(
    reader: &mut Reader,
    key: &str,
    given: Option<SecretString>,
    variable: Option<String>,
    required: bool,
) -> Option<SecretString> {
    let name = key.rsplit('.').next().unwrap_or(key);
    match (given, variable) {
        (Some(_), Some(_)) => {
            reader.problem(key, format!("give {name} or {name}_env, not both"));
            None
        }
        (Some(secret), None) => Some(secret),
        (None, Some(variable)) => match reader.env.get(&variable) {
            Some(secret) => Some(SecretString::from(secret.clone())),
            None if reader.secrets == Secrets::Optional => {
                reader.missing_secrets.push(format!("{key}_env: environment variable {variable} is not set"));
                Some(SecretString::from(String::new()))
            }
            None => {
                reader.problem(&format!("{key}_env"), format!("environment variable {variable} is not set"));
                None
            }
        },
        (None, None) => {
            if required {
                reader.problem(key, format!("is required (or {name}_env)"));
            }
            None
        }
    }
}

/// `ca_file`, read and checked as rustls will be given it: every certificate a usable root.
pub(super) fn ca_file(
    reader: &mut Reader,
    prefix: &str,
    raw: Option<&str>,
    tls: TlsMode,
) -> Option<TrustedCertificates> {
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let raw = raw?;
    let key = format!("{prefix}.ca_file");
    if tls == TlsMode::None {
        reader.problem(&key, format!("is used only with {prefix}.tls = \"tls\" or \"starttls\""));
        return None;
    }
    let path = reader.path(raw);
    let pem = std::fs::read(&path)
        .map_err(|err| reader.problem(&key, format!("cannot read {}: {err}", path.display())))
        .ok()?;
    let certificates = match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
        Ok(certificates) if !certificates.is_empty() => certificates,
        Ok(_) => {
            let message = format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display());
            reader.problem(&key, message);
            return None;
        }
        Err(err) => {
            reader.problem(&key, format!("{} is not valid PEM: {err}", path.display()));
            return None;
        }
    };
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for (index, certificate) in certificates.into_iter().enumerate() {
        if let Err(err) = roots.add(certificate) {
            reader.problem(&key, format!("{}: certificate {}: {err}", path.display(), index + 1));
            return None;
        }
    }
    Some(TrustedCertificates { path, pem })
}
