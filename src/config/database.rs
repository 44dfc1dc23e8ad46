//! The desk's own files: `[database]` (the SQLite URL, relative to the config file like every
//! path, and how long a write waits for a lock) and `[templates]` (a folder of overrides).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::fields;
use super::read::{Reader, Table};

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DatabaseSection {
    url: String,
    /// How long a write waits for another process's lock (default 30 s).
    #[serde(deserialize_with = "fields::int::<_, _, 1, 3600>")]
    busy_timeout_secs: u64,
}

impl Default for DatabaseSection {
    fn default() -> DatabaseSection {
        DatabaseSection { url: "sqlite://helpdesk.db".to_string(), busy_timeout_secs: 30 }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct TemplatesSection {
    /// A folder whose templates replace the built-in ones of the same name.
    dir: Option<String>,
}

/// The database URL (a relative SQLite path made absolute) and the busy timeout.
pub(super) fn read(reader: &mut Reader, root: &Table) -> (String, Duration) {
    let section: DatabaseSection = reader.section_or_default(root, "database");
    (database_url(reader, section.url), Duration::from_secs(section.busy_timeout_secs))
}

/// Relative SQLite paths are taken relative to the config file, like every other path.
fn database_url(reader: &mut Reader, url: String) -> String {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let (path, query) = rest.split_once('?').map(|(p, q)| (p, Some(q))).unwrap_or((rest, None));
        if path.is_empty() || path == ":memory:" {
            return url;
        }
        let full = reader.path(path);
        return match query {
            Some(query) => format!("sqlite://{}?{query}", full.display()),
            None => format!("sqlite://{}", full.display()),
        };
    }
    if !url.starts_with("sqlite:") {
        reader.problem("database.url", format!("{url:?}: only sqlite:// URLs are supported in this version"));
    }
    url
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
