//! `helpdesk migrate --from URL --to URL`: the desk's whole history copied into an empty
//! database (`storage::migrate` does the copy and its checks). Needs no config file: both
//! databases are named on the command line, and shown only through `storage::redacted_url`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::storage::{self, redacted_url, Dialect};

/// How long either side waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens both (creating and migrating the target's schema), copies, and prints each table's
/// count and a one-line summary.
pub async fn migrate(from: &str, to: &str) -> anyhow::Result<ExitCode> {
    let (shown_from, shown_to) = (redacted_url(from), redacted_url(to));
    for (flag, url, shown) in [("--from", from, &shown_from), ("--to", to, &shown_to)] {
        if Dialect::of_url(url).is_none() {
            bail!("{flag} {shown:?}: give a sqlite:// or postgres:// URL");
        }
    }
    if from == to {
        bail!("--from and --to are the same database ({shown_from})");
    }
    // Opening a SQLite URL creates the file: a mistyped --from would copy an empty desk.
    if let Some(path) = sqlite_file(from) {
        if !path.is_file() {
            bail!("--from {shown_from}: there is no SQLite database at {}", path.display());
        }
    }
    let started = Instant::now();
    // The source must exist: a mistyped PostgreSQL name is an error, not a new empty database.
    let existing = storage::OpenOptions { busy_timeout: BUSY_TIMEOUT, durable_commits: false, create_missing: false };
    let source = storage::open_with(from, existing).await.with_context(|| format!("--from {shown_from}"))?;
    let target = storage::open(to, BUSY_TIMEOUT, true).await.with_context(|| format!("--to {shown_to}"))?;
    let copied = storage::migrate::copy_desk(&source, &target)
        .await
        .with_context(|| format!("cannot migrate {shown_from} to {shown_to}"))?;
    source.close().await;
    target.close().await;
    for table in &copied.tables {
        println!("{:<22} {:>9}", table.table, table.rows);
    }
    println!(
        "Copied {} rows in {} tables from {shown_from} to {shown_to} in {:.1} s; every table's count matches.",
        copied.rows(),
        copied.tables.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The file a `sqlite:` URL names (relative to the current directory), if it names one.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file_relative_to_here() {
        assert_eq!(sqlite_file("sqlite://helpdesk.db"), Some(Path::new("helpdesk.db")));
        assert_eq!(sqlite_file("sqlite:desk/h.db?mode=ro"), Some(Path::new("desk/h.db")));
        assert_eq!(sqlite_file("sqlite:///var/lib/h.db"), Some(Path::new("/var/lib/h.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
