//! Fixtures shared by the integration tests that drive the real intake on a SQLite file (no
//! network): a desk in a temp dir, arrival times, delivering raw mail.

#![allow(dead_code)] // each test crate uses its own part

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use helpdesk::config::Config;
use helpdesk::desk::Desk;
use helpdesk::inbound::RawMail;
use helpdesk::intake::{record_mail, IntakeOutcome};

/// The shared sample desk (`helpdesk::testing::SAMPLE_PEOPLE`) with a Maildir source and an
/// outbox folder (everything but `[database]`, which `open_desk` adds).
pub fn sample_desk() -> String {
    format!(
        "[maildir]\npath = \"maildir\"\n[outbox_dir]\npath = \"outbox\"\nfrom = \"Support <support@example.test>\"\n{}",
        helpdesk::testing::SAMPLE_PEOPLE
    )
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// A desk on a fresh SQLite file in `dir`, configured by `config` (everything but `[database]`).
pub async fn open_desk(dir: &Path, config: &str) -> Desk {
    let toml = format!("[database]\nurl = \"sqlite://{}/desk.db\"\n{config}", dir.display());
    Desk::open(Config::from_toml(&toml, &HashMap::new(), dir).unwrap()).await.unwrap()
}

/// Records one raw mail that arrived at `arrived`.
pub async fn deliver(desk: &Desk, bytes: impl Into<Vec<u8>>, arrived: DateTime<Utc>) -> IntakeOutcome {
    record_mail(desk, &RawMail::new(bytes.into(), arrived), arrived).await.unwrap()
}

/// LF to CRLF, as a server stores a mail.
pub fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}
