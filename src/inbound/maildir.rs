//! The Maildir source, for the demo and for hosts that deliver into a Maildir. New mail is
//! the files in `new/`; a processed mail is moved to `cur/` with the Seen flag (`:2,S`), after
//! its ticket change has committed. The arrival time is the file's modification time.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::RawMail;

/// Creates `new/`, `cur/` and `tmp/` if missing.
pub fn ensure_maildir(root: &Path) -> anyhow::Result<()> {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(sub))
            .with_context(|| format!("cannot create {}", root.join(sub).display()))?;
    }
    Ok(())
}

/// Files waiting in `new/`, oldest name first (Maildir names start with the delivery time).
pub fn waiting_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = root.join("new");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read Maildir folder {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

pub fn read_file(path: &Path) -> anyhow::Result<RawMail> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let arrived_at: DateTime<Utc> =
        std::fs::metadata(path).and_then(|meta| meta.modified()).map(DateTime::from).unwrap_or_else(|_| Utc::now());
    Ok(RawMail::new(bytes, arrived_at))
}

/// Moves a processed file from `new/` to `cur/` with the Seen flag.
pub fn mark_processed(root: &Path, file: &Path) -> anyhow::Result<()> {
    let name = file.file_name().context("a Maildir file has a name")?.to_string_lossy();
    let base = name.split(':').next().unwrap_or(&name);
    let target = root.join("cur").join(format!("{base}:2,S"));
    std::fs::rename(file, &target).with_context(|| format!("cannot move {} to {}", file.display(), target.display()))
}
