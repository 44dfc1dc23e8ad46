//! The one typed `Config`: read from a TOML file, overridden by `HELPDESK_SECTION__KEY`
//! environment variables, and validated at start with every problem reported at once, each
//! naming its key. Secrets are `SecretString` and never appear in `Debug` output or logs.
//!
//! This module only reads and checks settings; it opens no connection and touches no file
//! other than the config file itself.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use secrecy::SecretString;
use toml::Value;

use crate::domain::{EmailAddress, Severity, Tier};
use crate::hours::bank::{BankRules, Rates};
use crate::sla::{MeetingSchedule, SlaConfig, Span};
use crate::triage::{TriageConfig, TriageRule};

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// How long a write waits for another process's lock before it fails (and is retried).
    pub database_busy_timeout: Duration,
    pub source: SourceConfig,
    pub delivery: DeliveryConfig,
    /// The desk's own From: header, for example `Support <support@example.test>`.
    pub support_mailbox: lettre::message::Mailbox,
    pub agent: AgentConfig,
    pub clients: Vec<ClientConfig>,
    pub intake: IntakeConfig,
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

/// Hour banks (SOP "Hour Bank Management", "Rollover Policy", "Billable").
#[derive(Debug, Clone, PartialEq)]
pub struct HoursConfig {
    pub tiers: BTreeMap<Tier, BankRules>,
    pub rates: Rates,
}

impl Default for HoursConfig {
    fn default() -> HoursConfig {
        HoursConfig {
            tiers: [Tier::Starter, Tier::Growth, Tier::Enterprise]
                .into_iter()
                .map(|t| (t, BankRules::for_tier(t)))
                .collect(),
            rates: Rates::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum SourceConfig {
    Imap(ImapConfig),
    Maildir { path: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessedAction {
    /// Set `\Seen` and the `$HelpdeskProcessed` keyword.
    Flag,
    /// Move the message to this mailbox (created if missing).
    Move(String),
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Extra trusted certificates for the TLS handshake (`imap.ca_file`).
    pub ca_file: Option<TrustedCertificates>,
    pub username: String,
    pub password: SecretString,
    pub mailbox: String,
    pub processed: ProcessedAction,
    /// Polling interval when the server has no IDLE (and the longest IDLE wait).
    pub poll_interval_secs: u64,
    /// Use IDLE when the server offers it.
    pub idle: bool,
}

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
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The EHLO name; defaults to the domain of the support address.
    pub helo_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub addresses: Vec<EmailAddress>,
    pub timezone: Tz,
    /// authserv-ids whose `Authentication-Results` (DMARC or DKIM pass) prove the agent's mail.
    pub trusted_authserv_ids: Vec<String>,
    /// A signed Message-ID of the desk's mail to the agent authenticates his replies for this
    /// many days after it was sent (default 30).
    pub signed_id_max_age_days: i64,
    /// At most this many "not acted on" mails an hour for mail in the agent's name that was not
    /// authenticated (default 5); past it, one notice, and the daily summary counts the rest.
    pub unverified_feedback_per_hour: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub name: String,
    pub tier: Tier,
    pub domains: Vec<String>,
    pub contacts: Vec<EmailAddress>,
    /// Where due times are shown to this client; the agent's timezone when absent.
    pub timezone: Option<Tz>,
    /// This client's own P3 meeting schedule (else the tier's).
    pub meeting: Option<MeetingSchedule>,
    /// Included hours per period, when not the tier's.
    pub included_minutes: Option<i64>,
    /// The day of the month a billing period starts (1..31; 31 = the last day). Default 1.
    pub period_anchor_day: u32,
    /// Who gets the hour-bank emails and reports (else the requester of the ticket at hand).
    pub report_to: Option<EmailAddress>,
    pub contact_name: Option<String>,
    pub contract: Option<Contract>,
    /// Send this client's reports without waiting for the agent's `#send`.
    pub auto_send_reports: bool,
}

/// The client's contract, for renewal signals and the renewal rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub start: NaiveDate,
    pub annual: bool,
    /// When the client cancelled (the contract then ends at the next renewal date).
    pub cancelled_on: Option<NaiveDate>,
}

/// The agent's daily summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryConfig {
    pub enabled: bool,
    /// Local time (agent's timezone) the summary is due each day.
    pub time: NaiveTime,
}

/// Client reports (SOP "Reporting").
#[derive(Debug, Clone)]
pub struct ReportsConfig {
    /// Prepare each client's tier reports on their schedule, after the daily summary's time
    /// (default true). Off, reports are made only with `helpdesk report`.
    pub scheduled: bool,
}

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Acknowledge mail from senders that belong to no client (default false).
    pub acknowledge_unknown_senders: bool,
    /// Send the agent a notification for each new ticket (default true).
    pub notify_agent: bool,
    /// At most this many acknowledgements to one mailbox per hour (default 5). A mailbox is an
    /// address without its `+detail`, in any case (`EmailAddress::mailbox_key`).
    pub acknowledgements_per_sender_per_hour: u32,
    /// At most this many acknowledgements to one domain per hour (default 20): a loop that
    /// answers from `a1@`, `a2@` ... of one domain.
    pub acknowledgements_per_domain_per_hour: u32,
    /// New tickets from one mailbox announced to the agent one by one per hour (default 20);
    /// past it, one notice says the rest are not announced (a broken script, a mail loop).
    pub agent_notifications_per_sender_per_hour: u32,
    /// The same for all the mailboxes of one domain (default 50).
    pub agent_notifications_per_domain_per_hour: u32,
    /// Mails larger than this are kept but only their headers are parsed (default 25 MB).
    pub max_message_bytes: usize,
    /// A client's attachments travel with the agent's notification up to this many bytes in
    /// all (default 10 MB); the rest are named, and `helpdesk ticket attachment` saves one.
    pub forward_attachments_max_bytes: usize,
    /// Reading one mail (parsing, quote stripping) may take this long (default 30 s); past it
    /// the mail is kept aside raw with its problem, the agent is told, and intake goes on.
    pub max_seconds_per_mail: u64,
    /// Hold client mail that carries no passing DMARC (or aligned SPF) result from a trusted
    /// `Authentication-Results` header (`agent.trusted_authserv_ids`) (default false).
    pub require_sender_authentication: bool,
}

#[derive(Debug, Clone)]
pub struct BusinessHoursConfig {
    pub timezone: Tz,
    pub days: Vec<Weekday>,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
    pub holidays: Vec<NaiveDate>,
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
        apply_env_overrides(&mut root, env, &mut problems);
        let mut reader = Reader { problems, env, base_dir, secrets, missing_secrets: Vec::new(), warnings: Vec::new() };
        let config = reader.read(&root);
        if reader.problems.is_empty() {
            let mut config = config.expect("a config is built whenever no problem was found");
            config.missing_secrets = std::mem::take(&mut reader.missing_secrets);
            config.warnings = std::mem::take(&mut reader.warnings);
            Ok(config)
        } else {
            Err(ConfigErrors { problems: reader.problems })
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

/// `HELPDESK_SECTION__KEY=value` sets `[section] key = value`. The value is read as a TOML
/// value when it parses as one (numbers, booleans, arrays), otherwise as a string.
fn apply_env_overrides(root: &mut Value, env: &HashMap<String, String>, problems: &mut Vec<String>) {
    let mut overrides: Vec<(&String, &String)> =
        env.iter().filter(|(name, _)| name.starts_with("HELPDESK_") && name.contains("__")).collect();
    overrides.sort();
    for (name, raw_value) in overrides {
        let path: Vec<String> = name["HELPDESK_".len()..].split("__").map(|part| part.to_ascii_lowercase()).collect();
        if path.iter().any(|part| part.is_empty()) {
            problems.push(format!("{name}: an override is HELPDESK_SECTION__KEY"));
            continue;
        }
        let value = format!("v = {raw_value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut table| table.remove("v"))
            .unwrap_or_else(|| Value::String(raw_value.clone()));
        if let Err(section) = set_path(root, &path, value) {
            problems.push(format!("{name}: {section} is not a section"));
        }
    }
}

fn set_path(node: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some(table) = node.as_table_mut() else {
        return Err(path.first().cloned().unwrap_or_default());
    };
    match path {
        [] => Ok(()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [section, rest @ ..] => {
            let entry = table.entry(section.clone()).or_insert_with(|| Value::Table(Default::default()));
            if !entry.is_table() {
                return Err(section.clone());
            }
            set_path(entry, rest, value)
        }
    }
}

struct Reader<'a> {
    problems: Vec<String>,
    env: &'a HashMap<String, String>,
    base_dir: &'a Path,
    secrets: Secrets,
    missing_secrets: Vec<String>,
    warnings: Vec<String>,
}

/// Whether a `password_env` that is not set is a problem of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secrets {
    Required,
    Optional,
}

type Table = toml::map::Map<String, Value>;

impl Reader<'_> {
    fn problem(&mut self, key: &str, message: impl std::fmt::Display) {
        self.problems.push(format!("{key}: {message}"));
    }

    fn section<'t>(&mut self, root: &'t Table, name: &str) -> Option<&'t Table> {
        match root.get(name) {
            None => None,
            Some(Value::Table(table)) => Some(table),
            Some(_) => {
                self.problem(name, "must be a [section]");
                None
            }
        }
    }

    fn unknown_keys(&mut self, table: &Table, prefix: &str, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                self.problem(&format!("{prefix}.{key}"), format!("unknown key (known: {})", known.join(", ")));
            }
        }
    }

    fn string(&mut self, table: &Table, prefix: &str, key: &str) -> Option<String> {
        match table.get(key) {
            None => None,
            Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
            Some(Value::String(_)) => {
                self.problem(&format!("{prefix}.{key}"), "must not be empty");
                None
            }
            Some(other) => {
                self.problem(&format!("{prefix}.{key}"), format!("expected a string, found {other}"));
                None
            }
        }
    }

    fn required_string(&mut self, table: &Table, prefix: &str, key: &str) -> Option<String> {
        let value = self.string(table, prefix, key);
        if value.is_none() && !table.contains_key(key) {
            self.problem(&format!("{prefix}.{key}"), "is required");
        }
        value
    }

    fn integer(&mut self, table: &Table, prefix: &str, key: &str, min: i64, max: i64) -> Option<i64> {
        match table.get(key) {
            None => None,
            Some(Value::Integer(number)) if (min..=max).contains(number) => Some(*number),
            Some(other) => {
                self.problem(
                    &format!("{prefix}.{key}"),
                    format!("expected an integer from {min} to {max}, found {other}"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, table: &Table, prefix: &str, key: &str) -> Option<bool> {
        match table.get(key) {
            None => None,
            Some(Value::Boolean(flag)) => Some(*flag),
            Some(other) => {
                self.problem(&format!("{prefix}.{key}"), format!("expected true or false, found {other}"));
                None
            }
        }
    }

    fn strings(&mut self, table: &Table, prefix: &str, key: &str) -> Vec<String> {
        match table.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(text) => out.push(text.to_string()),
                        None => self
                            .problem(&format!("{prefix}.{key}[{index}]"), format!("expected a string, found {item}")),
                    }
                }
                out
            }
            Some(other) => {
                self.problem(&format!("{prefix}.{key}"), format!("expected a list of strings, found {other}"));
                Vec::new()
            }
        }
    }

    fn addresses(&mut self, table: &Table, prefix: &str, key: &str) -> Vec<EmailAddress> {
        let mut out = Vec::new();
        for (index, raw) in self.strings(table, prefix, key).into_iter().enumerate() {
            match EmailAddress::parse(&raw) {
                Some(address) => out.push(address),
                None => self.problem(&format!("{prefix}.{key}[{index}]"), format!("{raw:?} is not a mail address")),
            }
        }
        out
    }

    fn timezone(&mut self, table: &Table, prefix: &str, key: &str) -> Option<Tz> {
        let raw = self.string(table, prefix, key)?;
        match raw.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.problem(
                    &format!("{prefix}.{key}"),
                    format!("{raw:?} is not an IANA time zone such as America/New_York"),
                );
                None
            }
        }
    }

    fn tls(&mut self, table: &Table, prefix: &str) -> TlsMode {
        match self.string(table, prefix, "tls") {
            None => TlsMode::None,
            Some(raw) => raw.parse().unwrap_or_else(|err: String| {
                self.problem(&format!("{prefix}.tls"), err);
                TlsMode::None
            }),
        }
    }

    fn ca_file(&mut self, table: &Table, prefix: &str, tls: TlsMode) -> Option<TrustedCertificates> {
        use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
        let raw = self.string(table, prefix, "ca_file")?;
        let key = format!("{prefix}.ca_file");
        if tls == TlsMode::None {
            self.problem(&key, format!("is used only with {prefix}.tls = \"tls\" or \"starttls\""));
            return None;
        }
        let path = self.path(&raw);
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(err) => {
                self.problem(&key, format!("cannot read {}: {err}", path.display()));
                return None;
            }
        };
        let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
        match parsed {
            Ok(certificates) if !certificates.is_empty() => {
                // What rustls will be given: every certificate must be usable as a root.
                let mut roots = tokio_rustls::rustls::RootCertStore::empty();
                for (index, certificate) in certificates.into_iter().enumerate() {
                    if let Err(err) = roots.add(certificate) {
                        self.problem(&key, format!("{}: certificate {}: {err}", path.display(), index + 1));
                        return None;
                    }
                }
                Some(TrustedCertificates { path, pem })
            }
            Ok(_) => {
                self.problem(
                    &key,
                    format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()),
                );
                None
            }
            Err(err) => {
                self.problem(&key, format!("{} is not valid PEM: {err}", path.display()));
                None
            }
        }
    }

    fn path(&self, raw: &str) -> PathBuf {
        let path = PathBuf::from(raw);
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }

    fn secret(&mut self, table: &Table, prefix: &str, required: bool) -> Option<SecretString> {
        let direct = self.string(table, prefix, "password");
        let from_env = self.string(table, prefix, "password_env");
        match (direct, from_env) {
            (Some(_), Some(_)) => {
                self.problem(&format!("{prefix}.password"), "give password or password_env, not both");
                None
            }
            (Some(password), None) => Some(SecretString::from(password)),
            (None, Some(variable)) => match self.env.get(&variable) {
                Some(password) => Some(SecretString::from(password.clone())),
                None if self.secrets == Secrets::Optional => {
                    self.missing_secrets
                        .push(format!("{prefix}.password_env: environment variable {variable} is not set"));
                    Some(SecretString::from(String::new()))
                }
                None => {
                    self.problem(
                        &format!("{prefix}.password_env"),
                        format!("environment variable {variable} is not set"),
                    );
                    None
                }
            },
            (None, None) => {
                if required {
                    self.problem(&format!("{prefix}.password"), "is required (or password_env)");
                }
                None
            }
        }
    }

    fn read(&mut self, root: &Value) -> Option<Config> {
        let root = root.as_table().expect("root is a table");
        let known_sections = [
            "database",
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
        ];
        for key in root.keys() {
            if !known_sections.contains(&key.as_str()) {
                self.problem(key, format!("unknown section (known: {})", known_sections.join(", ")));
            }
        }

        let (database_url, busy_timeout_secs) = match self.section(root, "database") {
            Some(table) => {
                self.unknown_keys(table, "database", &["url", "busy_timeout_secs"]);
                (
                    self.string(table, "database", "url"),
                    self.integer(table, "database", "busy_timeout_secs", 1, 3600).map(|secs| secs as u64),
                )
            }
            None => (None, None),
        };
        let database_url = database_url.unwrap_or_else(|| "sqlite://helpdesk.db".to_string());
        let database_busy_timeout = Duration::from_secs(busy_timeout_secs.unwrap_or(30));
        let database_url = self.database_url(database_url);

        let source = self.read_source(root);
        let (delivery, from) = self.read_delivery(root);
        let agent = self.read_agent(root);
        let clients = self.read_clients(root, agent.as_ref());
        let intake = self.read_intake(root);
        if intake.require_sender_authentication && agent.as_ref().is_some_and(|a| a.trusted_authserv_ids.is_empty()) {
            self.problem(
                "intake.require_sender_authentication",
                "needs agent.trusted_authserv_ids: the servers whose Authentication-Results prove a sender",
            );
        }
        let business_hours = self.read_business_hours(root, agent.as_ref());
        let triage = self.read_triage(root);
        let sla = self.read_sla(root);
        let hours = self.read_hours(root);
        let summary = self.read_summary(root);
        let reports = self.read_reports(root);
        let templates_dir = match self.section(root, "templates") {
            Some(table) => {
                self.unknown_keys(table, "templates", &["dir"]);
                self.string(table, "templates", "dir").map(|dir| self.path(&dir))
            }
            None => None,
        };
        if let Some(dir) = &templates_dir {
            if !dir.is_dir() {
                self.problem("templates.dir", format!("{} is not a directory", dir.display()));
            }
        }

        Some(Config {
            database_url,
            database_busy_timeout,
            source: source?,
            delivery: delivery?,
            support_mailbox: from?,
            agent: agent?,
            clients,
            intake,
            business_hours: business_hours?,
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

    /// Relative SQLite paths are taken relative to the config file, like every other path.
    fn database_url(&mut self, url: String) -> String {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let (path, query) = rest.split_once('?').map(|(p, q)| (p, Some(q))).unwrap_or((rest, None));
            if path.is_empty() || path == ":memory:" {
                return url;
            }
            let full = self.path(path);
            return match query {
                Some(query) => format!("sqlite://{}?{query}", full.display()),
                None => format!("sqlite://{}", full.display()),
            };
        }
        if !url.starts_with("sqlite:") {
            self.problem("database.url", format!("{url:?}: only sqlite:// URLs are supported in this version"));
        }
        url
    }

    fn read_source(&mut self, root: &Table) -> Option<SourceConfig> {
        let imap = self.section(root, "imap");
        let maildir = self.section(root, "maildir");
        match (imap, maildir) {
            (Some(_), Some(_)) => {
                self.problem("imap", "give either [imap] or [maildir] as the source, not both");
                None
            }
            (None, None) => {
                self.problem("imap", "a source is required: an [imap] section or a [maildir] section");
                None
            }
            (None, Some(table)) => {
                self.unknown_keys(table, "maildir", &["path"]);
                let path = self.required_string(table, "maildir", "path")?;
                Some(SourceConfig::Maildir { path: self.path(&path) })
            }
            (Some(table), None) => {
                self.unknown_keys(
                    table,
                    "imap",
                    &[
                        "host",
                        "port",
                        "tls",
                        "ca_file",
                        "username",
                        "password",
                        "password_env",
                        "mailbox",
                        "processed",
                        "poll_interval_secs",
                        "idle",
                    ],
                );
                let host = self.required_string(table, "imap", "host");
                let tls = self.tls(table, "imap");
                let ca_file = self.ca_file(table, "imap", tls);
                let default_port = if tls == TlsMode::Tls { 993 } else { 143 };
                let port = self.integer(table, "imap", "port", 1, 65535).map(|p| p as u16).unwrap_or(default_port);
                let username = self.required_string(table, "imap", "username");
                let password = self.secret(table, "imap", true);
                let mailbox = self.string(table, "imap", "mailbox").unwrap_or_else(|| "INBOX".into());
                let processed = match self.string(table, "imap", "processed").as_deref() {
                    None | Some("flag") => ProcessedAction::Flag,
                    Some(other) => match other.strip_prefix("move:") {
                        Some(target) if !target.trim().is_empty() => ProcessedAction::Move(target.trim().to_string()),
                        _ => {
                            self.problem(
                                "imap.processed",
                                format!("expected \"flag\" or \"move:MAILBOX\", found {other:?}"),
                            );
                            ProcessedAction::Flag
                        }
                    },
                };
                let poll_interval_secs =
                    self.integer(table, "imap", "poll_interval_secs", 1, 86_400).unwrap_or(60) as u64;
                let idle = self.boolean(table, "imap", "idle").unwrap_or(true);
                Some(SourceConfig::Imap(ImapConfig {
                    host: host?,
                    port,
                    tls,
                    ca_file,
                    username: username?,
                    password: password?,
                    mailbox,
                    processed,
                    poll_interval_secs,
                    idle,
                }))
            }
        }
    }

    fn read_delivery(&mut self, root: &Table) -> (Option<DeliveryConfig>, Option<lettre::message::Mailbox>) {
        let smtp = self.section(root, "smtp");
        let outbox_dir = self.section(root, "outbox_dir");
        let (delivery, from_key, from) = match (smtp, outbox_dir) {
            (Some(_), Some(_)) => {
                self.problem("smtp", "give either [smtp] or [outbox_dir] for outgoing mail, not both");
                return (None, None);
            }
            (None, None) => {
                self.problem("smtp", "outgoing mail needs an [smtp] section or an [outbox_dir] section");
                return (None, None);
            }
            (None, Some(table)) => {
                self.unknown_keys(table, "outbox_dir", &["path", "from"]);
                let path = self.required_string(table, "outbox_dir", "path");
                let from = self.required_string(table, "outbox_dir", "from");
                (path.map(|path| DeliveryConfig::OutboxDir { path: self.path(&path) }), "outbox_dir.from", from)
            }
            (Some(table), None) => {
                self.unknown_keys(
                    table,
                    "smtp",
                    &["host", "port", "tls", "ca_file", "username", "password", "password_env", "from", "helo_name"],
                );
                let host = self.required_string(table, "smtp", "host");
                let tls = self.tls(table, "smtp");
                let ca_file = self.ca_file(table, "smtp", tls);
                let default_port = match tls {
                    TlsMode::Tls => 465,
                    TlsMode::StartTls => 587,
                    TlsMode::None => 25,
                };
                let port = self.integer(table, "smtp", "port", 1, 65535).map(|p| p as u16).unwrap_or(default_port);
                let username = self.string(table, "smtp", "username");
                let password = self.secret(table, "smtp", false);
                if username.is_some() != password.is_some() {
                    self.problem("smtp.username", "username and password go together");
                }
                let helo_name = self.string(table, "smtp", "helo_name");
                let from = self.required_string(table, "smtp", "from");
                let delivery = host.map(|host| {
                    DeliveryConfig::Smtp(SmtpConfig { host, port, tls, ca_file, username, password, helo_name })
                });
                (delivery, "smtp.from", from)
            }
        };
        let from = from.and_then(|raw| match raw.parse::<lettre::message::Mailbox>() {
            Ok(mailbox) => Some(mailbox),
            Err(err) => {
                self.problem(
                    from_key,
                    format!("{raw:?} is not a mailbox like \"Support <support@example.test>\": {err}"),
                );
                None
            }
        });
        (delivery, from)
    }

    fn read_agent(&mut self, root: &Table) -> Option<AgentConfig> {
        let Some(table) = self.section(root, "agent") else {
            self.problem("agent", "an [agent] section with name and addresses is required");
            return None;
        };
        self.unknown_keys(
            table,
            "agent",
            &[
                "name",
                "addresses",
                "timezone",
                "trusted_authserv_ids",
                "signed_id_max_age_days",
                "unverified_feedback_per_hour",
            ],
        );
        let trusted_authserv_ids = self.strings(table, "agent", "trusted_authserv_ids");
        let name = self.required_string(table, "agent", "name");
        let addresses = self.addresses(table, "agent", "addresses");
        if addresses.is_empty() {
            self.problem("agent.addresses", "at least one address is required");
        }
        let timezone = self.timezone(table, "agent", "timezone").unwrap_or(Tz::UTC);
        let signed_id_max_age_days = self.integer(table, "agent", "signed_id_max_age_days", 1, 3650).unwrap_or(30);
        let unverified_feedback_per_hour =
            self.integer(table, "agent", "unverified_feedback_per_hour", 1, 1000).map(|n| n as u32).unwrap_or(5);
        Some(AgentConfig {
            name: name?,
            addresses,
            timezone,
            trusted_authserv_ids,
            signed_id_max_age_days,
            unverified_feedback_per_hour,
        })
    }

    fn read_clients(&mut self, root: &Table, agent: Option<&AgentConfig>) -> Vec<ClientConfig> {
        let items = match root.get("clients") {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.problem("clients", "must be a list of [[clients]] tables");
                return Vec::new();
            }
        };
        let mut clients = Vec::new();
        let mut owner_of_domain: BTreeMap<String, String> = BTreeMap::new();
        let mut owner_of_contact: BTreeMap<EmailAddress, String> = BTreeMap::new();
        for (index, item) in items.iter().enumerate() {
            let prefix = format!("clients[{index}]");
            let Some(table) = item.as_table() else {
                self.problem(&prefix, "must be a table");
                continue;
            };
            self.unknown_keys(
                table,
                &prefix,
                &[
                    "name",
                    "tier",
                    "domains",
                    "contacts",
                    "timezone",
                    "meeting",
                    "included_hours",
                    "period_anchor_day",
                    "report_to",
                    "contact_name",
                    "contract_start",
                    "contract_term",
                    "cancelled_on",
                    "auto_send_reports",
                ],
            );
            let auto_send_reports = self.boolean(table, &prefix, "auto_send_reports").unwrap_or(false);
            let date = |reader: &mut Self, key: &str| {
                reader.string(table, &prefix, key).and_then(|raw| {
                    NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                        .map_err(|_| {
                            reader.problem(&format!("{prefix}.{key}"), format!("{raw:?} is not a date like 2026-01-15"))
                        })
                        .ok()
                })
            };
            let contract_start = date(self, "contract_start");
            let cancelled_on = date(self, "cancelled_on");
            let annual = match self.string(table, &prefix, "contract_term").as_deref() {
                None | Some("monthly") => false,
                Some("annual") => true,
                Some(other) => {
                    self.problem(
                        &format!("{prefix}.contract_term"),
                        format!("expected monthly or annual, found {other:?}"),
                    );
                    false
                }
            };
            let contract = contract_start.map(|start| Contract { start, annual, cancelled_on });
            let included_minutes = self.integer(table, &prefix, "included_hours", 0, 10_000).map(|h| h * 60);
            let period_anchor_day = self.integer(table, &prefix, "period_anchor_day", 1, 31).unwrap_or(1) as u32;
            let report_to = self.string(table, &prefix, "report_to").and_then(|raw| {
                EmailAddress::parse(&raw).or_else(|| {
                    self.problem(&format!("{prefix}.report_to"), format!("{raw:?} is not a mail address"));
                    None
                })
            });
            let contact_name = self.string(table, &prefix, "contact_name");
            let meeting = match table.get("meeting") {
                Some(Value::Table(meeting)) => self.meeting(meeting, &format!("{prefix}.meeting")),
                Some(_) => {
                    self.problem(
                        &format!("{prefix}.meeting"),
                        "must be a table such as { every_days = 7, first = \"2026-01-06 10:00\" }",
                    );
                    None
                }
                None => None,
            };
            let name = self.required_string(table, &prefix, "name");
            let tier = self
                .required_string(table, &prefix, "tier")
                .and_then(|raw| raw.parse::<Tier>().map_err(|err| self.problem(&format!("{prefix}.tier"), err)).ok());
            let written_domains = self.strings(table, &prefix, "domains");
            for (position, domain) in written_domains.iter().enumerate() {
                if domain.trim().starts_with('@') {
                    self.warnings.push(format!(
                        "{prefix}.domains[{position}]: {domain:?} is read as {:?} (write a domain without @)",
                        domain.trim().trim_start_matches('@')
                    ));
                }
            }
            let domains: Vec<String> = written_domains
                .into_iter()
                .map(|domain| domain.trim().trim_start_matches('@').to_ascii_lowercase())
                .collect();
            let contacts = self.addresses(table, &prefix, "contacts");
            let timezone = self.timezone(table, &prefix, "timezone");
            if domains.is_empty() && contacts.is_empty() {
                self.problem(&prefix, "a client needs at least one of domains or contacts");
            }
            for (position, domain) in domains.iter().enumerate() {
                if EmailAddress::parse(&format!("x@{domain}")).is_none() {
                    self.problem(&format!("{prefix}.domains[{position}]"), format!("{domain:?} is not a domain"));
                }
                if let Some(other) = owner_of_domain.insert(domain.clone(), name.clone().unwrap_or_default()) {
                    self.problem(
                        &format!("{prefix}.domains[{position}]"),
                        format!("{domain} already belongs to client {other}"),
                    );
                }
            }
            for (position, contact) in contacts.iter().enumerate() {
                if agent.is_some_and(|agent| agent.addresses.contains(contact)) {
                    self.problem(
                        &format!("{prefix}.contacts[{position}]"),
                        format!("{contact} is the agent's own address"),
                    );
                }
                if let Some(other) = owner_of_contact.insert(contact.clone(), name.clone().unwrap_or_default()) {
                    self.problem(
                        &format!("{prefix}.contacts[{position}]"),
                        format!("{contact} already belongs to client {other}"),
                    );
                }
            }
            if let Some(name) = &name {
                if let Some(other) =
                    clients.iter().find(|client: &&ClientConfig| client.name.eq_ignore_ascii_case(name))
                {
                    let twice = if &other.name == name {
                        format!("client {name} is defined twice")
                    } else {
                        format!("client {name} and client {} differ only in case (commands find clients by name in any case)", other.name)
                    };
                    self.problem(&format!("{prefix}.name"), twice);
                }
            }
            if let (Some(name), Some(tier)) = (name, tier) {
                clients.push(ClientConfig {
                    name,
                    tier,
                    domains,
                    contacts,
                    timezone,
                    meeting,
                    included_minutes,
                    period_anchor_day,
                    report_to,
                    contact_name,
                    contract,
                    auto_send_reports,
                });
            }
        }
        clients
    }

    fn read_intake(&mut self, root: &Table) -> IntakeConfig {
        let defaults = IntakeConfig {
            acknowledge_unknown_senders: false,
            notify_agent: true,
            acknowledgements_per_sender_per_hour: 5,
            acknowledgements_per_domain_per_hour: 20,
            agent_notifications_per_sender_per_hour: 20,
            agent_notifications_per_domain_per_hour: 50,
            max_message_bytes: 25 * 1024 * 1024,
            forward_attachments_max_bytes: 10 * 1024 * 1024,
            max_seconds_per_mail: 30,
            require_sender_authentication: false,
        };
        let Some(table) = self.section(root, "intake") else {
            return defaults;
        };
        self.unknown_keys(
            table,
            "intake",
            &[
                "acknowledge_unknown_senders",
                "notify_agent",
                "acknowledgements_per_sender_per_hour",
                "acknowledgements_per_domain_per_hour",
                "agent_notifications_per_sender_per_hour",
                "agent_notifications_per_domain_per_hour",
                "max_message_bytes",
                "forward_attachments_max_bytes",
                "max_seconds_per_mail",
                "require_sender_authentication",
            ],
        );
        IntakeConfig {
            acknowledge_unknown_senders: self
                .boolean(table, "intake", "acknowledge_unknown_senders")
                .unwrap_or(defaults.acknowledge_unknown_senders),
            notify_agent: self.boolean(table, "intake", "notify_agent").unwrap_or(defaults.notify_agent),
            acknowledgements_per_sender_per_hour: self
                .integer(table, "intake", "acknowledgements_per_sender_per_hour", 1, 10_000)
                .map(|n| n as u32)
                .unwrap_or(defaults.acknowledgements_per_sender_per_hour),
            acknowledgements_per_domain_per_hour: self
                .integer(table, "intake", "acknowledgements_per_domain_per_hour", 1, 10_000)
                .map(|n| n as u32)
                .unwrap_or(defaults.acknowledgements_per_domain_per_hour),
            agent_notifications_per_sender_per_hour: self
                .integer(table, "intake", "agent_notifications_per_sender_per_hour", 1, 10_000)
                .map(|n| n as u32)
                .unwrap_or(defaults.agent_notifications_per_sender_per_hour),
            agent_notifications_per_domain_per_hour: self
                .integer(table, "intake", "agent_notifications_per_domain_per_hour", 1, 10_000)
                .map(|n| n as u32)
                .unwrap_or(defaults.agent_notifications_per_domain_per_hour),
            max_message_bytes: self
                .integer(table, "intake", "max_message_bytes", 1024, 1 << 40)
                .map(|n| n as usize)
                .unwrap_or(defaults.max_message_bytes),
            forward_attachments_max_bytes: self
                .integer(table, "intake", "forward_attachments_max_bytes", 0, 1 << 40)
                .map(|n| n as usize)
                .unwrap_or(defaults.forward_attachments_max_bytes),
            max_seconds_per_mail: self
                .integer(table, "intake", "max_seconds_per_mail", 1, 3600)
                .map(|n| n as u64)
                .unwrap_or(defaults.max_seconds_per_mail),
            require_sender_authentication: self
                .boolean(table, "intake", "require_sender_authentication")
                .unwrap_or(defaults.require_sender_authentication),
        }
    }

    fn read_triage(&mut self, root: &Table) -> TriageConfig {
        let mut config = TriageConfig::default();
        let Some(table) = self.section(root, "triage") else {
            return config;
        };
        self.unknown_keys(table, "triage", &["replace_default_rules", "rules", "unmatched"]);
        if self.boolean(table, "triage", "replace_default_rules").unwrap_or(false) {
            config.rules.clear();
        }
        let mut added = Vec::new();
        match table.get("rules") {
            None => {}
            Some(Value::Array(rules)) => {
                for (index, rule) in rules.iter().enumerate() {
                    let prefix = format!("triage.rules[{index}]");
                    let Some(rule) = rule.as_table() else {
                        self.problem(&prefix, "must be a table with name, pattern and severity");
                        continue;
                    };
                    self.unknown_keys(rule, &prefix, &["name", "pattern", "severity"]);
                    let name = self.required_string(rule, &prefix, "name");
                    let pattern = self.required_string(rule, &prefix, "pattern").and_then(|raw| {
                        regex::RegexBuilder::new(&raw)
                            .case_insensitive(true)
                            .build()
                            .map_err(|err| {
                                self.problem(&format!("{prefix}.pattern"), format!("not a valid regex: {err}"))
                            })
                            .ok()
                    });
                    let severity = self.severity(rule, &prefix, "severity");
                    if let (Some(name), Some(pattern), Some(severity)) = (name, pattern, severity) {
                        added.push(TriageRule { name, pattern, severity });
                    }
                }
            }
            Some(_) => self.problem("triage.rules", "must be a list of [[triage.rules]] tables"),
        }
        // Configured rules are tried before the built-in ones.
        added.append(&mut config.rules);
        config.rules = added;
        match table.get("unmatched") {
            None => {}
            Some(Value::Table(unmatched)) => {
                for (key, _) in unmatched.iter() {
                    let prefix = "triage.unmatched";
                    match key.parse::<Tier>() {
                        Ok(tier) => {
                            if let Some(severity) = self.severity(unmatched, prefix, key) {
                                config.unmatched.insert(tier, severity);
                            }
                        }
                        Err(err) => self.problem(&format!("{prefix}.{key}"), err),
                    }
                }
            }
            Some(_) => self.problem("triage.unmatched", "must be a table such as { starter = \"P2\" }"),
        }
        config
    }

    fn severity(&mut self, table: &Table, prefix: &str, key: &str) -> Option<Severity> {
        let raw = self.required_string(table, prefix, key)?;
        raw.parse::<Severity>().map_err(|err| self.problem(&format!("{prefix}.{key}"), err)).ok()
    }

    fn span(&mut self, table: &Table, prefix: &str, key: &str) -> Option<Span> {
        let raw = self.string(table, prefix, key)?;
        Span::parse(&raw).map_err(|err| self.problem(&format!("{prefix}.{key}"), err)).ok()
    }

    fn meeting(&mut self, table: &Table, prefix: &str) -> Option<MeetingSchedule> {
        self.unknown_keys(table, prefix, &["every_days", "first", "monthly_day", "time"]);
        let every_days = self.integer(table, prefix, "every_days", 1, 366);
        let monthly_day = self.integer(table, prefix, "monthly_day", 1, 31);
        match (every_days, monthly_day) {
            (Some(days), None) => {
                let raw = self.required_string(table, prefix, "first")?;
                match NaiveDateTime::parse_from_str(&raw, "%Y-%m-%d %H:%M") {
                    Ok(first) => Some(MeetingSchedule::EveryDays { days, first }),
                    Err(_) => {
                        self.problem(
                            &format!("{prefix}.first"),
                            format!("{raw:?} is not a local time like \"2026-01-06 10:00\""),
                        );
                        None
                    }
                }
            }
            (None, Some(day)) => {
                let raw = self.string(table, prefix, "time").unwrap_or_else(|| "10:00".into());
                match NaiveTime::parse_from_str(&raw, "%H:%M") {
                    Ok(time) => Some(MeetingSchedule::Monthly { day: day as u32, time }),
                    Err(_) => {
                        self.problem(&format!("{prefix}.time"), format!("{raw:?} is not a time like 10:00"));
                        None
                    }
                }
            }
            _ => {
                self.problem(prefix, "give either every_days (with first) or monthly_day (with time)");
                None
            }
        }
    }

    fn read_sla(&mut self, root: &Table) -> SlaConfig {
        let mut config = SlaConfig::default();
        let Some(table) = self.section(root, "sla") else {
            return config;
        };
        self.unknown_keys(
            table,
            "sla",
            &["warn_when_left", "reopen_window_days", "response", "resolution", "meetings"],
        );
        match table.get("warn_when_left") {
            None => {}
            Some(Value::Float(fraction)) if (0.0..1.0).contains(fraction) => config.warn_when_left = *fraction,
            Some(other) => {
                self.problem("sla.warn_when_left", format!("expected a fraction such as 0.25, found {other}"))
            }
        }
        if let Some(days) = self.integer(table, "sla", "reopen_window_days", 0, 3650) {
            config.reopen_window_days = days;
        }
        for (clock, is_response) in [("response", true), ("resolution", false)] {
            let Some(tiers) = self.section(table, clock) else { continue };
            for (tier_name, targets) in tiers.iter() {
                let prefix = format!("sla.{clock}.{tier_name}");
                let tier = match tier_name.parse::<Tier>() {
                    Ok(tier) => tier,
                    Err(err) => {
                        self.problem(&prefix, err);
                        continue;
                    }
                };
                let Some(targets) = targets.as_table() else {
                    self.problem(&prefix, "must be a table such as { P0 = \"2 hours\" }");
                    continue;
                };
                let mut known = vec!["P0", "P1", "P2", "P3"];
                if is_response {
                    known.extend(["P0_after_hours", "non_working_day"]);
                }
                self.unknown_keys(targets, &prefix, &known);
                let entry = config.tiers.get_mut(&tier).expect("every tier has defaults");
                for (index, severity) in ["P0", "P1", "P2", "P3"].iter().enumerate() {
                    if let Some(span) = self.span(targets, &prefix, severity) {
                        if is_response {
                            entry.response[index] = span
                        } else {
                            entry.resolution[index] = span
                        }
                    }
                }
                if is_response {
                    if let Some(span) = self.span(targets, &prefix, "P0_after_hours") {
                        entry.p0_response_after_hours = Some(span);
                    }
                    if let Some(span) = self.span(targets, &prefix, "non_working_day") {
                        entry.response_on_non_working_day = Some(span);
                    }
                }
            }
        }
        if let Some(meetings) = self.section(table, "meetings") {
            for (tier_name, schedule) in meetings.iter() {
                let prefix = format!("sla.meetings.{tier_name}");
                match (tier_name.parse::<Tier>(), schedule.as_table()) {
                    (Ok(tier), Some(schedule)) => {
                        if let Some(meeting) = self.meeting(schedule, &prefix) {
                            config.meetings.insert(tier, meeting);
                        }
                    }
                    (Err(err), _) => self.problem(&prefix, err),
                    (_, None) => self.problem(&prefix, "must be a table"),
                }
            }
        }
        config
    }

    fn read_hours(&mut self, root: &Table) -> HoursConfig {
        let mut config = HoursConfig::default();
        let Some(table) = self.section(root, "hours") else {
            return config;
        };
        self.unknown_keys(
            table,
            "hours",
            &["overage_rate_cents", "emergency_rate_cents", "billable_rate_cents", "tiers"],
        );
        let max_rate = 100_000_000;
        if let Some(rate) = self.integer(table, "hours", "overage_rate_cents", 0, max_rate) {
            config.rates.overage_cents_per_hour = rate;
        }
        if let Some(rate) = self.integer(table, "hours", "emergency_rate_cents", 0, max_rate) {
            config.rates.emergency_cents_per_hour = rate;
        }
        if let Some(rate) = self.integer(table, "hours", "billable_rate_cents", 0, max_rate) {
            config.rates.billable_cents_per_hour = rate;
        }
        if let Some(tiers) = self.section(table, "tiers") {
            for (tier_name, rules) in tiers.iter() {
                let prefix = format!("hours.tiers.{tier_name}");
                let (Ok(tier), Some(rules)) = (tier_name.parse::<Tier>(), rules.as_table()) else {
                    self.problem(&prefix, "expected [hours.tiers.starter|growth|enterprise] with hour keys");
                    continue;
                };
                self.unknown_keys(rules, &prefix, &["included_hours", "rollover_max_hours", "bank_cap_hours"]);
                let entry = config.tiers.get_mut(&tier).expect("every tier has defaults");
                if let Some(hours) = self.integer(rules, &prefix, "included_hours", 0, 10_000) {
                    entry.included_minutes = hours * 60;
                }
                if let Some(hours) = self.integer(rules, &prefix, "rollover_max_hours", 0, 10_000) {
                    entry.rollover_max_minutes = hours * 60;
                }
                if let Some(hours) = self.integer(rules, &prefix, "bank_cap_hours", 0, 10_000) {
                    entry.bank_cap_minutes = hours * 60;
                }
            }
        }
        config
    }

    fn read_summary(&mut self, root: &Table) -> SummaryConfig {
        let mut config = SummaryConfig { enabled: true, time: NaiveTime::from_hms_opt(7, 30, 0).expect("valid time") };
        let Some(table) = self.section(root, "summary") else {
            return config;
        };
        self.unknown_keys(table, "summary", &["enabled", "time"]);
        if let Some(enabled) = self.boolean(table, "summary", "enabled") {
            config.enabled = enabled;
        }
        if let Some(raw) = self.string(table, "summary", "time") {
            match NaiveTime::parse_from_str(&raw, "%H:%M") {
                Ok(time) => config.time = time,
                Err(_) => self.problem("summary.time", format!("{raw:?} is not a time like 07:30")),
            }
        }
        config
    }

    fn read_reports(&mut self, root: &Table) -> ReportsConfig {
        let mut config = ReportsConfig { scheduled: true };
        if let Some(table) = self.section(root, "reports") {
            self.unknown_keys(table, "reports", &["scheduled"]);
            if let Some(scheduled) = self.boolean(table, "reports", "scheduled") {
                config.scheduled = scheduled;
            }
        }
        config
    }

    fn read_business_hours(&mut self, root: &Table, agent: Option<&AgentConfig>) -> Option<BusinessHoursConfig> {
        let agent_timezone = agent.map(|agent| agent.timezone).unwrap_or(Tz::UTC);
        let mut config = BusinessHoursConfig {
            timezone: agent_timezone,
            days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            opens: NaiveTime::from_hms_opt(9, 0, 0).expect("valid time"),
            closes: NaiveTime::from_hms_opt(17, 0, 0).expect("valid time"),
            holidays: Vec::new(),
        };
        let Some(table) = self.section(root, "business_hours") else {
            return Some(config);
        };
        self.unknown_keys(table, "business_hours", &["timezone", "days", "opens", "closes", "holidays"]);
        if let Some(timezone) = self.timezone(table, "business_hours", "timezone") {
            config.timezone = timezone;
        }
        if table.contains_key("days") {
            let mut days = Vec::new();
            for (index, raw) in self.strings(table, "business_hours", "days").into_iter().enumerate() {
                match raw.parse::<Weekday>() {
                    Ok(day) => days.push(day),
                    Err(_) => self.problem(
                        &format!("business_hours.days[{index}]"),
                        format!("{raw:?} is not a weekday (mon..sun)"),
                    ),
                }
            }
            config.days = days;
        }
        for (key, slot) in [("opens", &mut config.opens), ("closes", &mut config.closes)] {
            if let Some(raw) = self.string(table, "business_hours", key) {
                match NaiveTime::parse_from_str(&raw, "%H:%M") {
                    Ok(time) => *slot = time,
                    Err(_) => {
                        self.problem(&format!("business_hours.{key}"), format!("{raw:?} is not a time like 09:00"))
                    }
                }
            }
        }
        if config.opens >= config.closes {
            self.problem("business_hours.closes", "must be later than opens");
        }
        for (index, raw) in self.strings(table, "business_hours", "holidays").into_iter().enumerate() {
            match NaiveDate::parse_from_str(&raw, "%Y-%m-%d") {
                Ok(date) => config.holidays.push(date),
                Err(_) => self.problem(
                    &format!("business_hours.holidays[{index}]"),
                    format!("{raw:?} is not a date like 2026-12-25"),
                ),
            }
        }
        Some(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const VALID: &str = r#"
[database]
url = "sqlite://helpdesk.db"
[imap]
host = "127.0.0.1"
port = 1143
username = "support@example.test"
password_env = "TEST_IMAP_PASSWORD"
[smtp]
host = "127.0.0.1"
port = 2525
from = "Support <support@example.test>"
[agent]
name = "Travis"
addresses = ["travis@example.test"]
timezone = "America/New_York"
[[clients]]
name = "Acme"
tier = "growth"
domains = ["acme.test"]
contacts = ["ops@partner.test"]
"#;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn commands_that_do_not_connect_load_without_the_mailbox_secret() {
        let required = Config::from_toml(VALID, &env(&[]), Path::new("/"));
        assert!(required.unwrap_err().problems[0].contains("TEST_IMAP_PASSWORD"));
        let offline = Config::from_toml_with(VALID, &env(&[]), Path::new("/"), Secrets::Optional).unwrap();
        let refused = offline.require_secrets().unwrap_err().to_string();
        assert!(refused.contains("imap.password_env") && refused.contains("TEST_IMAP_PASSWORD"), "{refused}");
        let with_secret =
            Config::from_toml_with(VALID, &env(&[("TEST_IMAP_PASSWORD", "s")]), Path::new("/"), Secrets::Optional);
        assert!(with_secret.unwrap().require_secrets().is_ok());
    }

    #[test]
    fn a_valid_config_loads_with_secrets_redacted() {
        let config =
            Config::from_toml(VALID, &env(&[("TEST_IMAP_PASSWORD", "hunter2")]), Path::new("/etc/desk")).unwrap();
        let SourceConfig::Imap(imap) = &config.source else { panic!("imap expected") };
        assert_eq!(imap.password.expose_secret(), "hunter2");
        assert_eq!(config.database_url, "sqlite:///etc/desk/helpdesk.db");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.clients[0].tier, Tier::Growth);
    }

    #[test]
    fn environment_overrides_section_keys() {
        let config = Config::from_toml(
            VALID,
            &env(&[("TEST_IMAP_PASSWORD", "x"), ("HELPDESK_IMAP__PORT", "2143"), ("HELPDESK_AGENT__NAME", "Sam")]),
            Path::new("."),
        )
        .unwrap();
        let SourceConfig::Imap(imap) = &config.source else { panic!("imap expected") };
        assert_eq!(imap.port, 2143);
        assert_eq!(config.agent.name, "Sam");
    }

    #[test]
    fn ca_file_is_read_and_checked_at_load() {
        let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"));
        let with = |imap_tls: &str, ca_file: &str| {
            let text =
                VALID.replace("port = 1143", &format!("port = 1143\ntls = \"{imap_tls}\"\nca_file = \"{ca_file}\""));
            Config::from_toml(&text, &env(&[("TEST_IMAP_PASSWORD", "x")]), data)
        };
        let config = with("tls", "tls/ca.pem").unwrap();
        let SourceConfig::Imap(imap) = &config.source else { panic!("imap") };
        let trusted = imap.ca_file.as_ref().unwrap();
        assert_eq!(trusted.path, data.join("tls/ca.pem"), "relative to the config file");
        assert_eq!(trusted.certificates().len(), 1);

        let problems = |result: Result<Config, ConfigErrors>| result.unwrap_err().to_string();
        let missing = problems(with("tls", "tls/missing.pem"));
        assert!(missing.contains("imap.ca_file: cannot read") && missing.contains("missing.pem"), "{missing}");
        let not_pem = problems(with("starttls", "sla/matrix.txt"));
        assert!(not_pem.contains("imap.ca_file") && not_pem.contains("no PEM certificate"), "{not_pem}");
        let plain = problems(with("none", "tls/ca.pem"));
        assert!(plain.contains("imap.ca_file: is used only with imap.tls"), "{plain}");
    }

    #[test]
    fn the_example_config_loads_with_every_section() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/helpdesk.toml")).unwrap();
        for section in
            ["[imap]", "[smtp]", "[agent]", "[business_hours]", "[triage]", "[sla]", "[hours]", "[summary]", "[intake]"]
        {
            assert!(text.lines().any(|line| line.starts_with(section)), "{section} is not in the example");
        }
        let example = Config::from_toml(&text, &env(&[("HELPDESK_IMAP_PASSWORD", "x")]), Path::new("."));
        assert!(example.is_ok(), "examples/helpdesk.toml must load: {}", example.unwrap_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let broken = VALID
            .replace("port = 1143", "port = \"abc\"")
            .replace("tier = \"growth\"", "tier = \"platinum\"")
            .replace("America/New_York", "Mars/Olympus")
            + "\n[surprise]\nx = 1\n";
        let errors = Config::from_toml(&broken, &env(&[]), Path::new(".")).unwrap_err();
        let text = errors.to_string();
        for key in ["imap.port", "clients[0].tier", "agent.timezone", "imap.password_env", "surprise"] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        assert_eq!(errors.problems.len(), 5, "{text}");
    }

    #[test]
    fn every_flood_limit_is_at_least_one() {
        let keys = [
            "acknowledgements_per_sender_per_hour",
            "acknowledgements_per_domain_per_hour",
            "agent_notifications_per_sender_per_hour",
            "agent_notifications_per_domain_per_hour",
        ];
        let zeros: String = keys.iter().map(|key| format!("{key} = 0\n")).collect();
        let text = format!("{VALID}\n[intake]\n{zeros}");
        let errors = Config::from_toml(&text, &env(&[("TEST_IMAP_PASSWORD", "x")]), Path::new(".")).unwrap_err();
        let shown = errors.to_string();
        for key in keys {
            assert!(
                shown.contains(&format!("intake.{key}: expected an integer from 1")),
                "{key} missing from:\n{shown}"
            );
        }
        assert_eq!(errors.problems.len(), 4, "{shown}");

        let ones: String = keys.iter().map(|key| format!("{key} = 1\n")).collect();
        let config = Config::from_toml(
            &format!("{VALID}\n[intake]\n{ones}"),
            &env(&[("TEST_IMAP_PASSWORD", "x")]),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(config.intake.acknowledgements_per_domain_per_hour, 1);
        assert_eq!(config.intake.agent_notifications_per_domain_per_hour, 1);
    }
}
