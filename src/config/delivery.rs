//! Where mail goes: `[smtp]` or `[outbox_dir]` (one of the two), each with the desk's own
//! From (`from`).
//!
//! Nothing connects here; the sender does.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::fields;
use super::read::{Reader, Table};
use super::sources::{ca_file, AuthKind, Login, MailLogin, TlsMode, TrustedCertificates};

#[derive(Debug, Clone)]
pub enum DeliveryConfig {
    Smtp(SmtpConfig),
    OutboxDir { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Extra trusted certificates for the TLS handshake (`smtp.ca_file`).
    pub ca_file: Option<TrustedCertificates>,
    /// The login user and how it logs in; none for a relay that takes mail without AUTH.
    pub login: Option<(String, MailLogin)>,
    /// The EHLO name; defaults to the domain of the support address.
    pub helo_name: Option<String>,
}

/// `[smtp]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpSection {
    host: String,
    /// Default 465 with `tls = "tls"`, 587 with "starttls", else 25.
    #[serde(default, deserialize_with = "fields::some_int::<_, _, 1, 65535>")]
    port: Option<u16>,
    #[serde(default, deserialize_with = "fields::parsed")]
    tls: TlsMode,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    username: Option<String>,
    /// "password" (default) or "oauth2".
    #[serde(default, deserialize_with = "fields::parsed")]
    auth: AuthKind,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    password_env: Option<String>,
    from: String,
    #[serde(default)]
    helo_name: Option<String>,
}

/// `[outbox_dir]` as written: each outgoing mail becomes a file in `path`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxDirSection {
    path: String,
    from: String,
}

/// The one delivery and the desk's From.
pub(super) fn read(reader: &mut Reader, root: &Table) -> (Option<DeliveryConfig>, Option<lettre::message::Mailbox>) {
    let smtp = reader.section(root, "smtp");
    let outbox_dir = reader.section(root, "outbox_dir");
    let (delivery, from) = match (smtp, outbox_dir) {
        (Some(_), Some(_)) => {
            reader.problem("smtp", "give either [smtp] or [outbox_dir] for outgoing mail, not both");
            return (None, None);
        }
        (None, None) => {
            reader.problem("smtp", "outgoing mail needs an [smtp] section or an [outbox_dir] section");
            return (None, None);
        }
        (None, Some(value)) => match reader.read::<OutboxDirSection>("outbox_dir", value) {
            Some(section) => {
                let delivery = DeliveryConfig::OutboxDir { path: reader.path(&section.path) };
                (Some(delivery), mailbox(reader, "outbox_dir.from", &section.from))
            }
            None => (None, None),
        },
        (Some(value), None) => match reader.read::<SmtpSection>("smtp", value) {
            Some(section) => {
                let from = mailbox(reader, "smtp.from", &section.from);
                (Some(DeliveryConfig::Smtp(smtp_config(reader, section))), from)
            }
            None => (None, None),
        },
    };
    (delivery, from)
}

fn smtp_config(reader: &mut Reader, section: SmtpSection) -> SmtpConfig {
    let ca_file = ca_file(reader, "smtp", section.ca_file.as_deref(), section.tls);
    let default_port = match section.tls {
        TlsMode::Tls => 465,
        TlsMode::StartTls => 587,
        TlsMode::None => 25,
    };
    let login = Login { password: section.password, password_env: section.password_env };
    let login = login.for_auth(reader, "smtp", section.auth, false);
    let login = match (section.username, login) {
        (Some(username), Some(login)) => Some((username, login)),
        (None, None) => None,
        (None, Some(MailLogin::OAuth2)) => {
            reader.problem("smtp.username", "auth = \"oauth2\" needs the login user (username)");
            None
        }
        (_, _) => {
            reader.problem("smtp.username", "username and password go together");
            None
        }
    };
    SmtpConfig {
        host: section.host,
        port: section.port.unwrap_or(default_port),
        tls: section.tls,
        ca_file,
        login,
        helo_name: section.helo_name,
    }
}

fn mailbox(reader: &mut Reader, key: &str, raw: &str) -> Option<lettre::message::Mailbox> {
    raw.parse::<lettre::message::Mailbox>()
        .map_err(|err| {
            reader.problem(key, format!("{raw:?} is not a mailbox like \"Support <support@example.test>\": {err}"))
        })
        .ok()
}
