//! Helpers for the tests that drive the real intake on a SQLite file (no network): the sample
//! desk in a temp dir, arrival times, delivering raw mail.

use std::path::Path;

use chrono::{DateTime, Utc};
use helpdesk::desk::Desk;
use helpdesk::inbound::RawMail;
use helpdesk::intake::{record_mail, IntakeOutcome};
use helpdesk::testing::{test_database_url, SampleDesk};

/// The sample desk (`helpdesk::testing::SampleDesk`) on a fresh database of the backend under
/// test (a SQLite file in `dir`, or a PostgreSQL database of its own), with a
/// Maildir source and an outbox folder there.
pub fn sample_desk(dir: &Path) -> SampleDesk {
    let url = test_database_url(&format!("sqlite://{}/desk.db", dir.display()));
    SampleDesk::new().database(Some(&url)).folders("maildir", "outbox")
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// A desk with the config `desk` (paths relative to `dir`), on a fresh database.
pub async fn open_desk(dir: &Path, desk: &SampleDesk) -> Desk {
    Desk::open(desk.config(dir)).await.unwrap()
}

/// Writes `desk` as `dir/helpdesk.toml`, for the CLI.
pub fn write_config(dir: &Path, desk: &SampleDesk) {
    std::fs::write(dir.join("helpdesk.toml"), desk.toml()).unwrap();
}

/// Records one raw mail that arrived at `arrived`.
pub async fn deliver(desk: &Desk, bytes: impl Into<Vec<u8>>, arrived: DateTime<Utc>) -> IntakeOutcome {
    record_mail(desk, &RawMail::new(bytes.into(), arrived), arrived).await.unwrap()
}

/// LF to CRLF, as a server stores a mail.
pub fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}
