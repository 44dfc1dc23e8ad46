//! The `intake_attempts` table: mails the desk began to record and did not finish because the
//! process died on them. Without it, a mail that kills the desk (a bug that aborts, memory
//! running out, an operator's kill of a desk stuck on it) would be fetched first after every
//! restart and kill it again: a poison loop.
//!
//! Only mails large enough to exhaust memory or a stack are marked (over
//! `LARGE_MAIL_BYTES`), so that ordinary intake costs no extra commit and a desk killed at
//! random (an operator, a crash test) never keeps an ordinary mail aside by coincidence: the
//! first mail after a restart is the same one each time, and marking it made 2 random kills
//! in a row on it look like a poison mail in 3 of 4 crash-test runs. A mail that is merely
//! slow needs no mark: `intake.max_seconds_per_mail` bounds it in every process. The mark is
//! written and committed before the work starts and removed in the transaction that records
//! the mail.
//!
//! Not covered: a small mail that kills the process outright (not a panic, which is caught)
//! would be tried after every restart.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::parse::hex_prefix;
use crate::storage::{begin_write, time_to_db, Db, Tx};

/// Mails larger than this are marked whatever their place in the run.
pub const LARGE_MAIL_BYTES: usize = 256 * 1024;

/// After this many unfinished attempts the next one keeps the mail aside instead of trying.
pub const UNFINISHED_ATTEMPTS_BEFORE_KEPT_ASIDE: i64 = 2;

/// A mark on one mail: its key, and how many earlier attempts on it never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub mail_key: String,
    pub unfinished_before: i64,
}

impl Attempt {
    /// Whether the desk died on this mail often enough that it must not try again.
    pub fn is_poison(&self) -> bool {
        self.unfinished_before >= UNFINISHED_ATTEMPTS_BEFORE_KEPT_ASIDE
    }
}

fn mail_key(bytes: &[u8]) -> String {
    hex_prefix(&Sha256::digest(bytes))
}

/// Marks the mail as being recorded (committed at once) and returns how often that was
/// begun before without finishing.
pub async fn begin(db: &Db, bytes: &[u8], now: DateTime<Utc>) -> anyhow::Result<Attempt> {
    let mail_key = mail_key(bytes);
    let mut tx = begin_write(db).await?;
    let unfinished_before: i64 = sqlx::query_scalar(
        "INSERT INTO intake_attempts (mail_key, attempts, last_attempt_at) VALUES ($1, 1, $2)
         ON CONFLICT (mail_key) DO UPDATE SET attempts = intake_attempts.attempts + 1, last_attempt_at = excluded.last_attempt_at
         RETURNING attempts - 1",
    )
    .bind(&mail_key)
    .bind(time_to_db(now))
    .fetch_one(&mut *tx)
    .await
    .context("begin")?;
    tx.commit().await?;
    Ok(Attempt { mail_key, unfinished_before })
}

/// Removes the mark, inside the transaction that records the mail.
pub async fn finish(tx: &mut Tx<'_>, attempt: &Attempt) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM intake_attempts WHERE mail_key = $1")
        .bind(&attempt.mail_key)
        .execute(&mut **tx)
        .await
        .context("finish")?;
    Ok(())
}
