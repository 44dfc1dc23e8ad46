//! Opens the database and applies `migrations/`. The SQL for each table lives with the module
//! that owns the table (`tickets::store`, `outbound::outbox`, `inbound::cursor`); this module
//! only connects and hands out the pool, plus the time format every table shares.

mod kind;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};

/// The database the desk runs on. Everything outside this module names these aliases, never
/// a backend's own types, so a second backend is an addition here.
pub type Backend = sqlx::Sqlite;
pub type Db = SqlitePool;
pub type Tx<'c> = sqlx::Transaction<'c, Backend>;
/// One connection (a `Tx` derefs to one): what read-only helpers that also run inside a
/// write transaction take.
pub type Conn = <Backend as sqlx::Database>::Connection;
pub type Row = <Backend as sqlx::Database>::Row;

/// Connects (creating the file if needed), turns on WAL, and migrates. With
/// `durable_commits`, every commit is synced to disk before it returns (`synchronous = FULL`);
/// without, a commit survives a crash of the desk at once and a crash of the machine once the
/// WAL is synced (`NORMAL`).
pub async fn open(url: &str, busy_timeout: Duration, durable_commits: bool) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("database.url {url:?} is not a SQLite URL"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if durable_commits { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
        .busy_timeout(busy_timeout)
        // 16 MiB of page cache per connection (SQLite's default is 2 MiB): keeps the upper
        // levels of the big indexes (messages, message_refs, outbox) in memory as they grow.
        .pragma("cache_size", "-16384")
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // When a COMMIT fails (SQLITE_FULL on a full disk), SQLite rolls the transaction back
        // itself, sqlx's own ROLLBACK then fails, and sqlx still counts the connection as inside
        // a transaction: every later BEGIN on it would fail. Such a connection is closed
        // instead of reused (the ping lets a pending rollback finish first).
        .before_acquire(|connection, _| {
            Box::pin(async move {
                if connection.is_in_transaction() {
                    connection.ping().await?;
                }
                Ok(!connection.is_in_transaction())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open database {url}"))?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await.context("cannot apply database migrations")?;
    Ok(pool)
}

/// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock at once, so a writer
/// waits (up to the busy timeout) instead of failing later on a stale snapshot.
pub async fn begin_write(db: &Db) -> anyhow::Result<Tx<'static>> {
    db.begin_with("BEGIN IMMEDIATE").await.context("cannot start a database transaction")
}

/// What is wrong with the database, when an error comes from it in a way the user can fix:
/// another process holding the lock, a full disk, a read-only or unreachable file. `None`
/// for every other error.
pub fn database_problem(err: &anyhow::Error) -> Option<String> {
    let sqlx_error = err.chain().find_map(|cause| cause.downcast_ref::<sqlx::Error>())?;
    match sqlx_error {
        sqlx::Error::Database(db_error) => {
            // SQLite reports extended result codes; the primary code is the low byte.
            let code: i64 = db_error.code()?.parse().ok()?;
            let problem = match code & 0xff {
                5 | 6 => "the database is busy or locked by another process",
                13 => "the disk holding the database is full",
                8 => "the database file is read-only",
                10 => "the database file cannot be read or written (I/O error)",
                14 => "the database file cannot be opened",
                _ => return None,
            };
            Some(format!("{problem} ({})", db_error.message()))
        }
        sqlx::Error::PoolTimedOut => Some("no database connection became free in time".to_string()),
        sqlx::Error::Io(io) => Some(format!("the database file cannot be read or written: {io}")),
        _ => None,
    }
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

/// A time column that may be NULL.
pub fn optional_time_from_db(text: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    text.map(time_from_db).transpose()
}

/// A value from the settings table, created with `make` the first time it is asked for.
pub async fn setting_or_create(db: &Db, key: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Some(value) = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
        .context("setting or create")?
    {
        return Ok(value);
    }
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(make())
        .execute(db)
        .await
        .context("setting or create")?;
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_one(db)
        .await
        .context("setting or create")
}
