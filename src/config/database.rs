//! The desk's own files: `[database]` (a SQLite URL, relative to the config file like every
//! path, or a PostgreSQL URL with its password from `password_env`, and how long a write
//! waits for a lock) and `[templates]` (a folder of overrides).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::fields;
use super::read::{Reader, Table};
use crate::storage::Dialect;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DatabaseSection {
    url: String,
    /// The variable holding the PostgreSQL password (instead of one inside the URL).
    password_env: Option<String>,
    /// How long a write waits for another process's lock (default 30 s).
    #[serde(deserialize_with = "fields::int::<_, _, 1, 3600>")]
    busy_timeout_secs: u64,
}

impl Default for DatabaseSection {
    fn default() -> DatabaseSection {
        DatabaseSection { url: "sqlite://helpdesk.db".to_string(), password_env: None, busy_timeout_secs: 30 }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct TemplatesSection {
    /// A folder whose templates replace the built-in ones of the same name.
    dir: Option<String>,
}

/// Where the database is: a URL that may hold a password, so its `Debug` and `Display` show
/// it with the password replaced by `***` ([`crate::storage::redacted_url`]).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The URL to connect with, password included: for `storage::open` only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::storage::redacted_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::storage::redacted_url(&self.0))
    }
}

/// The database URL (a relative SQLite path made absolute, a PostgreSQL URL with the
/// password from `password_env`) and the busy timeout.
pub(super) fn read(reader: &mut Reader, root: &Table) -> (DatabaseUrl, Duration) {
    let section: DatabaseSection = reader.section_or_default(root, "database");
    let url = database_url(reader, section.url, section.password_env);
    (DatabaseUrl(url), Duration::from_secs(section.busy_timeout_secs))
}

/// Relative SQLite paths are taken relative to the config file, like every other path.
fn database_url(reader: &mut Reader, url: String, password_env: Option<String>) -> String {
    match Dialect::of_url(&url) {
        Some(Dialect::Sqlite) => {
            if password_env.is_some() {
                reader.problem("database.password_env", "SQLite has no password: leave password_env out");
            }
            sqlite_url(reader, url)
        }
        Some(Dialect::Postgres) => postgres_url(reader, url, password_env),
        None => {
            let shown = crate::storage::redacted_url(&url);
            reader.problem("database.url", format!("{shown:?}: give a sqlite:// or postgres:// URL"));
            url
        }
    }
}

fn sqlite_url(reader: &mut Reader, url: String) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else { return url };
    let (path, query) = rest.split_once('?').map(|(p, q)| (p, Some(q))).unwrap_or((rest, None));
    if path.is_empty() || path == ":memory:" {
        return url;
    }
    let full = reader.path(path);
    match query {
        Some(query) => format!("sqlite://{}?{query}", full.display()),
        None => format!("sqlite://{}", full.display()),
    }
}

/// A PostgreSQL URL must parse and name a database; `password_env`'s value goes into it.
fn postgres_url(reader: &mut Reader, url: String, password_env: Option<String>) -> String {
    let shown = crate::storage::redacted_url(&url);
    let Ok(mut parsed) = url::Url::parse(&url) else {
        reader.problem(
            "database.url",
            format!("{shown:?} is not a valid URL (a password with @ : / # ? must be percent-encoded, or given by password_env)"),
        );
        return url;
    };
    if parsed.path().trim_start_matches('/').is_empty() {
        reader.problem("database.url", format!("{shown:?} names no database (postgres://user@host:5432/helpdesk)"));
    }
    let Some(variable) = password_env else { return url };
    if parsed.password().is_some() {
        reader.problem("database.password_env", "the URL already has a password: give one or the other");
        return url;
    }
    match reader.env.get(&variable) {
        Some(password) if parsed.set_password(Some(password)).is_ok() => parsed.to_string(),
        Some(_) => {
            reader.problem("database.password_env", "this URL cannot carry a password");
            url
        }
        None => {
            reader.problem("database.password_env", format!("the variable {variable} is not set"));
            url
        }
    }
}

/// `templates.dir`, which must be a folder.
pub(super) fn read_templates(reader: &mut Reader, root: &Table) -> Option<PathBuf> {
    let section: TemplatesSection = reader.section_or_default(root, "templates");
    let dir = reader.path(&section.dir?);
    if !dir.is_dir() {
        reader.problem("templates.dir", format!("{} is not a directory", dir.display()));
    }
    Some(dir)
}
