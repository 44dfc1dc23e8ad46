//! Opens the database (SQLite or PostgreSQL) and applies `migrations/`. The SQL for each table lives with the module
//! that owns the table (`tickets::store`, `outbound::outbox`, `inbound::cursor`); this module
//! only connects and hands out the pool, plus the time format every table shares.

mod kind;
pub mod migrate;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::Connection;

/// The database the desk runs on: SQLite or PostgreSQL, chosen by the URL's scheme at start
/// (sqlx's `Any` driver). Everything outside this module names these aliases, never a
/// backend's own types; SQL that must differ between the two asks [`Dialect`].
pub type Backend = sqlx::Any;
pub type Db = sqlx::AnyPool;
pub type Tx<'c> = sqlx::Transaction<'c, Backend>;
/// One connection (a `Tx` derefs to one): what read-only helpers that also run inside a
/// write transaction take.
pub type Conn = sqlx::AnyConnection;
pub type Row = sqlx::any::AnyRow;

/// Which database a URL, pool or connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sqlite:...`, `postgres://...` or `postgresql://...`; `None` for anything else.
    pub fn of_url(url: &str) -> Option<Dialect> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            _ => None,
        }
    }

    pub fn of(db: &Db) -> Dialect {
        Dialect::of_url(db.connect_options().database_url.as_str()).unwrap_or(Dialect::Sqlite)
    }

    pub fn of_conn(conn: &Conn) -> Dialect {
        if conn.backend_name() == "PostgreSQL" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// How the database is opened: how long a writer waits for the lock, and whether every commit
/// is synced to disk before it returns.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    pub busy_timeout: Duration,
    pub durable_commits: bool,
    /// Create a PostgreSQL database the server does not have (with a warning: a mistyped
    /// name would otherwise look like an empty desk). `migrate --from` opens without.
    pub create_missing: bool,
}

/// Connects, and creates and migrates the schema (`migrations/sqlite/` or
/// `migrations/postgres/`). SQLite: creates the file if needed and turns on WAL; with
/// `durable_commits` every commit is synced to disk before it returns (`synchronous = FULL`),
/// without, a commit survives a crash of the desk at once and a crash of the machine once the
/// WAL is synced (`NORMAL`). PostgreSQL: several desks may start at once; the migrator holds
/// an advisory lock while it works.
pub async fn open(url: &str, busy_timeout: Duration, durable_commits: bool) -> anyhow::Result<Db> {
    open_with(url, OpenOptions { busy_timeout, durable_commits, create_missing: true }).await
}

pub async fn open_with(url: &str, options: OpenOptions) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::of_url(url)
        .with_context(|| format!("database.url {:?} is neither sqlite: nor postgres://", redacted_url(url)))?;
    let pool = match dialect {
        Dialect::Sqlite => open_sqlite(url, options).await,
        Dialect::Postgres => open_postgres(url, options).await,
    }
    .with_context(|| format!("cannot open database {}", redacted_url(url)))?;
    let migrated = match dialect {
        Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
        Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
    };
    migrated.context("cannot apply database migrations")?;
    Ok(pool)
}

async fn open_sqlite(url: &str, options: OpenOptions) -> anyhow::Result<Db> {
    let (url, in_memory) = sqlite_url(url);
    let pool = AnyPoolOptions::new().max_connections(4);
    // An in-memory database lives as long as one connection to it does.
    let pool = if in_memory { pool.min_connections(1).idle_timeout(None).max_lifetime(None) } else { pool };
    let pool = pool
        .after_connect(move |connection, _| {
            Box::pin(async move {
                let synchronous = if options.durable_commits { "FULL" } else { "NORMAL" };
                let mut pragmas = vec![
                    format!("PRAGMA busy_timeout = {}", options.busy_timeout.as_millis()),
                    "PRAGMA foreign_keys = ON".to_string(),
                    format!("PRAGMA synchronous = {synchronous}"),
                    // 16 MiB of page cache per connection (SQLite's default is 2 MiB): keeps
                    // the upper levels of the big indexes (messages, message_refs, outbox) in
                    // memory as they grow.
                    "PRAGMA cache_size = -16384".to_string(),
                ];
                if !in_memory {
                    pragmas.insert(0, "PRAGMA journal_mode = WAL".to_string());
                }
                for pragma in pragmas {
                    sqlx::query(sqlx::AssertSqlSafe(pragma)).execute(&mut *connection).await?;
                }
                Ok(())
            })
        })
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
        });
    Ok(pool.connect(&url).await?)
}

/// The URL handed to sqlx: the file is created if missing (`mode=rwc`), and `sqlite::memory:`
/// becomes a named shared in-memory database, since every connection of the pool opens the
/// URL anew and a plain `:memory:` would give each its own empty database.
fn sqlite_url(url: &str) -> (String, bool) {
    static MEMORY_DATABASES: AtomicUsize = AtomicUsize::new(0);
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let (path, query) = rest.split_once('?').map(|(p, q)| (p, Some(q))).unwrap_or((rest, None));
    if path.is_empty() || path == ":memory:" || query.is_some_and(|q| q.contains("mode=memory")) {
        let n = MEMORY_DATABASES.fetch_add(1, Ordering::Relaxed);
        let name = format!("helpdesk-memory-{}-{n}", std::process::id());
        return (format!("sqlite:file:{name}?mode=memory&cache=shared"), true);
    }
    let url = match query {
        Some(query) if query.contains("mode=") => format!("sqlite://{path}?{query}"),
        Some(query) => format!("sqlite://{path}?{query}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    };
    (url, false)
}

/// How long the first connection to PostgreSQL may take before the desk says the server
/// does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to PostgreSQL: one connection first, so that a server that refuses, a wrong
/// password or a missing database is reported as such (a pool would only time out), and the
/// database created when it is missing and `create_missing` says so (two desks creating it at
/// once both go on); then the pool.
async fn open_postgres(url: &str, options: OpenOptions) -> anyhow::Result<Db> {
    match tokio::time::timeout(CONNECT_TIMEOUT, <Conn as Connection>::connect(url)).await {
        Err(_) => anyhow::bail!("the database server did not answer within {} s", CONNECT_TIMEOUT.as_secs()),
        Ok(Ok(connection)) => connection.close().await?,
        Ok(Err(sqlx::Error::Database(missing))) if missing.code().as_deref() == Some("3D000") => {
            if !options.create_missing {
                anyhow::bail!("the database does not exist on the server ({})", missing.message());
            }
            create_postgres_database(url).await?;
        }
        Ok(Err(err)) => return Err(err.into()),
    }
    Ok(AnyPoolOptions::new()
        .max_connections(8)
        // A writer waits for the write lock inside its transaction (see `begin_write`); the
        // pool's own wait is the same budget.
        .acquire_timeout(options.busy_timeout)
        .connect(url)
        .await?)
}

async fn create_postgres_database(url: &str) -> anyhow::Result<()> {
    use sqlx::migrate::MigrateDatabase;
    tracing::warn!(
        url = redacted_url(url),
        "the database does not exist on the server: creating it, empty (if the name is a typo, fix [database] url)"
    );
    if let Err(err) = sqlx::Postgres::create_database(url).await {
        // 42P04: it exists by now; 23505: another desk's CREATE DATABASE won the race.
        let already_made =
            matches!(&err, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("42P04" | "23505")));
        if !already_made {
            return Err(anyhow::Error::new(err).context("cannot create the database"));
        }
    }
    Ok(())
}

/// The key of PostgreSQL's transaction-level advisory lock that `begin_write` takes: every
/// desk process on the database shares it (the bytes of "helpdesk").
const WRITE_LOCK_KEY: i64 = 0x6865_6c70_6465_736b;

/// Starts a write transaction, and takes the database's one write lock at once, so that write
/// transactions run one at a time across every desk on the database, as on SQLite: a writer
/// waits (up to the busy timeout) instead of failing later on a stale snapshot, and a
/// read-then-write (threading a mail, claiming a queued mail, renewing the mailbox lease) sees
/// every earlier commit. SQLite: `BEGIN IMMEDIATE`. PostgreSQL: `BEGIN` and
/// `pg_advisory_xact_lock`, released by the commit or rollback (or the connection's loss).
pub async fn begin_write(db: &Db) -> anyhow::Result<Tx<'static>> {
    match Dialect::of(db) {
        Dialect::Sqlite => db.begin_with("BEGIN IMMEDIATE").await.context("cannot start a database transaction"),
        Dialect::Postgres => {
            let mut tx = db.begin().await.context("cannot start a database transaction")?;
            // The wait for the lock is bounded like SQLite's busy timeout (SQLSTATE 55P03).
            let wait = format!("{}ms", db.options().get_acquire_timeout().as_millis());
            sqlx::query("SELECT set_config('lock_timeout', $1, true), pg_advisory_xact_lock($2)")
                .bind(wait)
                .bind(WRITE_LOCK_KEY)
                .execute(&mut *tx)
                .await
                .context("cannot take the database write lock")?;
            Ok(tx)
        }
    }
}

/// A URL fit for a log line or an error: the password, if any, replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) if url.contains('@') => "(a database URL that does not parse)".to_string(),
        Err(_) => url.to_string(),
    }
}

/// What is wrong with the database, when an error comes from it in a way the user can fix:
/// another process holding the lock, a full disk, a read-only or unreachable file, a
/// PostgreSQL server that is down or shutting down. `None` for every other error.
pub fn database_problem(err: &anyhow::Error) -> Option<String> {
    let sqlx_error = err.chain().find_map(|cause| cause.downcast_ref::<sqlx::Error>())?;
    match sqlx_error {
        sqlx::Error::Database(db_error) => {
            let code = db_error.code()?;
            let problem = match code.parse::<i64>() {
                // SQLite reports extended result codes; the primary code is the low byte.
                Ok(sqlite_code) => sqlite_problem(sqlite_code & 0xff)?,
                Err(_) => postgres_problem(&code)?,
            };
            Some(format!("{problem} ({})", db_error.message()))
        }
        sqlx::Error::PoolTimedOut => Some("no database connection became free in time".to_string()),
        sqlx::Error::Io(io) => Some(format!("the database cannot be read or reached: {io}")),
        sqlx::Error::Tls(tls) => Some(format!("the database's TLS connection failed: {tls}")),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Some("the database connection was lost".to_string()),
        _ => None,
    }
}

fn sqlite_problem(primary_code: i64) -> Option<&'static str> {
    Some(match primary_code {
        5 | 6 => "the database is busy or locked by another process",
        13 => "the disk holding the database is full",
        8 => "the database file is read-only",
        10 => "the database file cannot be read or written (I/O error)",
        14 => "the database file cannot be opened",
        _ => return None,
    })
}

/// PostgreSQL's SQLSTATE classes and codes a desk's operator can act on.
fn postgres_problem(sqlstate: &str) -> Option<&'static str> {
    Some(match sqlstate {
        "53100" => "the disk holding the database is full",
        "53300" => "the database server has no connection slot free",
        "57P01" | "57P02" | "57P03" => "the database server is shutting down or starting up",
        "25006" => "the database is read-only (a standby?)",
        "28000" | "28P01" => "the database refused the login",
        "3D000" => "the database does not exist",
        "55P03" | "40P01" => "the database is busy or locked by another process",
        code if code.starts_with("08") => "the connection to the database failed",
        _ => return None,
    })
}

/// A yes/no column: BOOLEAN on PostgreSQL, 0/1 INTEGER on SQLite (which has no boolean type
/// that sqlx's `Any` driver reads as one). Bind a plain `bool`; read this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl sqlx::Type<Backend> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as sqlx::Type<Backend>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        ty.kind() == sqlx::any::AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> sqlx::Decode<'r, Backend> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Flag, sqlx::error::BoxDynError> {
        match <bool as sqlx::Decode<Backend>>::decode(value.clone()) {
            Ok(flag) => Ok(Flag(flag)),
            Err(_) => Ok(Flag(<i64 as sqlx::Decode<Backend>>::decode(value)? != 0)),
        }
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
