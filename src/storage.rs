//! Opens the database and applies `migrations/`. The SQL for each table lives with the module
//! that owns the table (`tickets::store`, `outbound::outbox`, `inbound::cursor`); this module
//! only connects and hands out the pool, plus the time format every table shares.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub type Db = SqlitePool;
pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Sqlite>;

/// Connects (creating the file if needed), turns on WAL, and migrates.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("database.url {url:?} is not a SQLite URL"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        // 16 MiB of page cache per connection (SQLite's default is 2 MiB): keeps the upper
        // levels of the big indexes (messages, message_refs, outbox) in memory as they grow.
        .pragma("cache_size", "-16384")
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open database {url}"))?;
    sqlx::migrate!("./migrations").run(&pool).await.context("cannot apply database migrations")?;
    Ok(pool)
}

/// The one way times are written to the database.
pub fn time_to_db(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn time_from_db(text: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("bad time {text:?} in the database"))?
        .with_timezone(&Utc))
}

/// A value from the settings table, created with `make` the first time it is asked for.
pub async fn setting_or_create(db: &Db, key: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Some(value) =
        sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(db).await?
    {
        return Ok(value);
    }
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(make())
        .execute(db)
        .await?;
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = ?").bind(key).fetch_one(db).await?)
}
