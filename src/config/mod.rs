//! The one typed `Config`: read from a TOML file, overridden by `HELPDESK_SECTION__KEY`
//! environment variables, and validated at start with every problem reported at once, each
//! naming its key. Secrets are `SecretString` and never appear in `Debug` output or logs.
//!
//! Each section is a serde struct in the file named for it (a new key is one field there,
//! with its doc comment; its default is in that struct's one `Default` or `default = ..`);
//! `read` reads a section without stopping at its first mistake, `fields` reads one value,
//! `validate` holds the rules across sections. `examples/helpdesk.toml` is the documented
//! reference, and a test loads it.
//!
//! This module only reads and checks settings; it opens no connection and touches no file
//! other than the config file itself (and the certificate files it names).

mod agent;
mod clients;
mod database;
mod delivery;
mod env;
mod fields;
mod hours;
mod ha;
mod intake;
mod oauth2;
mod read;
mod reports;
mod sla;
mod sources;
#[cfg(test)]
mod tests;
mod triage;
mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use toml::Value;

pub use agent::{AgentConfig, BusinessHoursConfig};
pub use clients::{ClientConfig, Contract};
pub use database::DatabaseUrl;
pub use delivery::{DeliveryConfig, SmtpConfig};
pub use ha::HaConfig;
pub use hours::HoursConfig;
pub use intake::IntakeConfig;
pub use oauth2::{OAuth2Config, Provider, DEFAULT_TOKEN_KEY_ENV};
pub use reports::{ReportsConfig, SummaryConfig};
pub use sources::{ImapConfig, MailLogin, ProcessedAction, SourceConfig, TlsMode, TrustedCertificates};

use crate::domain::EmailAddress;
use crate::sla::SlaConfig;
use crate::triage::TriageConfig;
use read::{Reader, Secrets, Table};

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    /// How long a write waits for another process's lock before it fails (and is retried).
    pub database_busy_timeout: Duration,
    pub source: SourceConfig,
    pub delivery: DeliveryConfig,
    /// The OAuth2 client, when an edge logs in with `auth = "oauth2"`.
    pub oauth2: Option<OAuth2Config>,
    /// The desk's own From: header, for example `Support <support@example.test>`.
    pub support_mailbox: lettre::message::Mailbox,
    pub agent: AgentConfig,
    pub clients: Vec<ClientConfig>,
    pub intake: IntakeConfig,
    pub ha: HaConfig,
    pub business_hours: BusinessHoursConfig,
    pub triage: TriageConfig,
    pub sla: SlaConfig,
    pub hours: HoursConfig,
    pub summary: SummaryConfig,
    pub reports: ReportsConfig,
    pub templates_dir: Option<PathBuf>,
    /// Mailbox secrets (`password_env` variables) that were not set when the config was loaded
    /// for a command that does not connect (`Config::load_offline`); `require_secrets` fails
    /// with them before anything connects.
    pub missing_secrets: Vec<String>,
    /// Things that load but are probably mistakes (`helpdesk check` prints them; `run` logs
    /// them at start), each naming its key.
    pub warnings: Vec<String>,
}

/// Every problem found in a config, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("the config has {} problem(s):\n  - {}", .problems.len(), .problems.join("\n  - "))]
pub struct ConfigErrors {
    pub problems: Vec<String>,
}

impl Config {
    /// Whether marking a mail processed takes it out of the source's sight (an IMAP move, a
    /// Maildir file moved to `cur/`). Then a commit must be on disk before the mark, even
    /// against a power cut, or the mail could be lost; with IMAP flags the cursor in the
    /// database decides what is fetched, so a lost commit only means fetching again.
    pub fn marks_mail_irreversibly(&self) -> bool {
        match &self.source {
            SourceConfig::Imap(imap) => matches!(imap.processed, ProcessedAction::Move(_)),
            SourceConfig::Maildir { .. } => true,
        }
    }

    /// Reads FILE, applies `HELPDESK_*` overrides from the process environment, validates.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        Config::load_with(path, Secrets::Required)
    }

    /// For commands that never connect (`tickets`, `ticket show`, `hours`, `metrics`,
    /// `report` without `--send` ...): a `password_env` that is not set is no problem.
    pub fn load_offline(path: &Path) -> anyhow::Result<Config> {
        Config::load_with(path, Secrets::Optional)
    }

    fn load_with(path: &Path, secrets: Secrets) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("cannot read config file {}: {err}", path.display()))?;
        tracing::debug!(config = %path.display(), "reading the config");
        let env: HashMap<String, String> = std::env::vars().collect();
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Ok(Config::from_toml_with(&text, &env, base_dir, secrets)?)
    }

    /// Fails, naming each variable, when the config was loaded without its mailbox secrets.
    pub fn require_secrets(&self) -> anyhow::Result<()> {
        if self.missing_secrets.is_empty() {
            return Ok(());
        }
        anyhow::bail!("this command connects to the mailbox: {}", self.missing_secrets.join("; "))
    }

    /// Parses and validates config text; `env` supplies overrides and `password_env` values.
    pub fn from_toml(text: &str, env: &HashMap<String, String>, base_dir: &Path) -> Result<Config, ConfigErrors> {
        Config::from_toml_with(text, env, base_dir, Secrets::Required)
    }

    fn from_toml_with(
        text: &str,
        env: &HashMap<String, String>,
        base_dir: &Path,
        secrets: Secrets,
    ) -> Result<Config, ConfigErrors> {
        let mut root: Value = match text.parse::<toml::Table>() {
            Ok(table) => Value::Table(table),
            Err(err) => return Err(ConfigErrors { problems: vec![format!("not valid TOML: {err}")] }),
        };
        let mut problems = Vec::new();
        env::apply_env_overrides(&mut root, env, &mut problems);
        let mut reader = Reader { problems, env, base_dir, secrets, missing_secrets: Vec::new(), warnings: Vec::new() };
        let config = read_config(&mut reader, root.as_table().expect("the root is a table"));
        match config {
            Some(mut config) if reader.problems.is_empty() => {
                config.missing_secrets = reader.missing_secrets;
                config.warnings = reader.warnings;
                Ok(config)
            }
            _ => {
                debug_assert!(!reader.problems.is_empty(), "a config that cannot be built has problems");
                Err(ConfigErrors { problems: reader.problems })
            }
        }
    }

    pub fn client(&self, name: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|client| client.name == name)
    }

    /// The client a person named, in any case (`check` refuses names that differ only in case).
    pub fn client_named(&self, name: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|client| client.name.eq_ignore_ascii_case(name))
    }

    pub fn support_address(&self) -> EmailAddress {
        EmailAddress::parse(self.support_mailbox.email.as_ref()).expect("validated at load")
    }

    /// The agent as a recipient: his name and first address (where notifications go).
    pub fn agent_mailbox(&self) -> lettre::message::Mailbox {
        let address = self.agent.addresses[0].as_str().parse().expect("validated at load");
        lettre::message::Mailbox::new(Some(self.agent.name.clone()), address)
    }

    /// A time as the agent reads it: in his timezone, with the zone's name.
    pub fn agent_local_time(&self, time: DateTime<Utc>) -> String {
        time.with_timezone(&self.agent.timezone).format("%a %b %-d, %-I:%M %p %Z").to_string()
    }

    /// The From of mail written in the agent's words: his name on the support address.
    pub fn agent_via_support(&self) -> lettre::message::Mailbox {
        lettre::message::Mailbox::new(Some(self.agent.name.clone()), self.support_mailbox.email.clone())
    }

    pub fn is_agent(&self, address: &EmailAddress) -> bool {
        self.agent.addresses.contains(address)
    }

    /// Whether `address` is the desk's own mailbox, with any `+detail` (its reply addresses).
    pub fn is_desk_address(&self, address: &EmailAddress) -> bool {
        address.mailbox_key() == self.support_address().mailbox_key()
    }
}

/// Every section, then the rules across them; a config only when every required part read.
fn read_config(reader: &mut Reader, root: &Table) -> Option<Config> {
    unknown_sections(reader, root);
    let (database_url, database_busy_timeout) = database::read(reader, root);
    let source = sources::read(reader, root);
    let (delivery, support_mailbox) = delivery::read(reader, root);
    let oauth2 = read_oauth2(reader, root, source.as_ref(), delivery.as_ref());
    let agent = agent::read(reader, root);
    let clients = clients::read(reader, root);
    let clients = validate::clients(reader, clients, agent.as_ref());
    let intake: IntakeConfig = reader.section_or_default(root, "intake");
    let ha: HaConfig = reader.section_or_default(root, "ha");
    validate::sender_authentication(reader, &intake, agent.as_ref());
    let business_hours = agent::read_business_hours(reader, root, agent.as_ref());
    let triage = triage::read(reader, root);
    let sla = sla::read(reader, root);
    let hours = hours::read(reader, root);
    let summary = reader.section_or_default(root, "summary");
    let reports = reader.section_or_default(root, "reports");
    let templates_dir = database::read_templates(reader, root);
    Some(Config {
        database_url,
        database_busy_timeout,
        source: source?,
        delivery: delivery?,
        oauth2,
        support_mailbox: support_mailbox?,
        agent: agent?,
        clients,
        intake,
        ha,
        business_hours,
        triage,
        sla,
        hours,
        summary,
        reports,
        templates_dir,
        missing_secrets: Vec::new(),
        warnings: Vec::new(),
    })
}

/// `[oauth2]`, when present or needed by the edges that log in with it.
fn read_oauth2(
    reader: &mut Reader,
    root: &Table,
    source: Option<&SourceConfig>,
    delivery: Option<&DeliveryConfig>,
) -> Option<OAuth2Config> {
    let mut used_by = Vec::new();
    if let Some(SourceConfig::Imap(ImapConfig { login: MailLogin::OAuth2, .. })) = source {
        used_by.push("imap");
    }
    if let Some(DeliveryConfig::Smtp(SmtpConfig { login: Some((_, MailLogin::OAuth2)), .. })) = delivery {
        used_by.push("smtp");
    }
    if used_by.is_empty() && !root.contains_key("oauth2") {
        return None;
    }
    oauth2::read(reader, root, &used_by)
}

const SECTIONS: [&str; 17] = [
    "database",
    "oauth2",
    "imap",
    "maildir",
    "smtp",
    "outbox_dir",
    "agent",
    "clients",
    "intake",
    "business_hours",
    "templates",
    "triage",
    "sla",
    "hours",
    "summary",
    "reports",
    "ha",
];

fn unknown_sections(reader: &mut Reader, root: &Table) {
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            reader.problem(key, format!("unknown section (known: {})", SECTIONS.join(", ")));
        }
    }
}
