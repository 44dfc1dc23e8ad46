//! The PostgreSQL schema (`migrations/postgres/`) against the SQLite one (`migrations/sqlite/`),
//! on a real PostgreSQL at 127.0.0.1:5432 (`HELPDESK_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`; `scripts/ensure-postgres` starts one): the same
//! tables with the same columns, types and NOT NULLs, and every stored kind the Rust enums name
//! accepted by both backends while a value they do not name is refused by both. Each run
//! uses a database of its own and drops it.

use std::collections::BTreeSet;

use helpdesk::outbound::outbox::OutboxKind;
use helpdesk::tickets::kinds::AuthorKind;
use sqlx::{Connection, PgConnection, SqliteConnection};

fn server_url() -> String {
    std::env::var("HELPDESK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database, dropped when the test ends (also when it fails).
struct FreshDatabase {
    name: String,
}

impl FreshDatabase {
    async fn create() -> (FreshDatabase, PgConnection) {
        let name = format!("helpdesk_schema_{}", uuid::Uuid::new_v4().simple());
        let mut admin =
            PgConnection::connect(&server_url()).await.expect("PostgreSQL answers (scripts/ensure-postgres)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
        let url = format!("{}/{name}", server_url().rsplit_once('/').unwrap().0);
        (FreshDatabase { name }, PgConnection::connect(&url).await.unwrap())
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside the test's runtime: a runtime of its own for the DROP.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&server_url()).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await;
                }
            })
        })
        .join();
    }
}

/// (table, column, type family, NOT NULL) of every table of the desk.
type Columns = BTreeSet<(String, String, &'static str, bool)>;

/// SQLite's declared types and PostgreSQL's, in one vocabulary. SQLite has no boolean:
/// `desk_failed` is an INTEGER kept to 0 and 1 there, a BOOLEAN on PostgreSQL.
fn family(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "boolean" => "integer",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        _ => "other",
    }
}

async fn sqlite_columns(db: &mut SqliteConnection) -> Columns {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter()
        // A primary key is NOT NULL on PostgreSQL; SQLite lets a TEXT key be NULL unless it
        // says NOT NULL (a quirk no insert of the desk relies on).
        .map(|(table, column, kind, not_null, key)| (table, column, family(&kind), not_null == 1 || key > 0))
        .collect()
}

async fn postgres_columns(db: &mut PgConnection) -> Columns {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter().map(|(table, column, kind, nullable)| (table, column, family(&kind), nullable == "NO")).collect()
}

async fn sqlite_desk() -> SqliteConnection {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}", dir.join("schema.db").display());
    helpdesk::storage::open(&url, std::time::Duration::from_secs(5), false).await.unwrap().close().await;
    SqliteConnection::connect(&url).await.unwrap()
}

#[tokio::test]
async fn the_postgres_schema_has_the_tables_and_columns_of_the_sqlite_one() {
    let (_database, mut pg) = FreshDatabase::create().await;
    sqlx::migrate!("./migrations/postgres").run(&mut pg).await.unwrap();
    let mut sqlite = sqlite_desk().await;
    let (on_sqlite, on_postgres) = (sqlite_columns(&mut sqlite).await, postgres_columns(&mut pg).await);
    assert!(on_sqlite.len() > 100, "the SQLite schema was read ({} columns)", on_sqlite.len());
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the schemas differ: only on SQLite {only_sqlite:#?}, only on PostgreSQL {only_postgres:#?}"
    );
}

const TICKET: &str = "INSERT INTO tickets (requester, subject, severity, severity_reason, opened_at, updated_at)
    VALUES ('a@acme.test', 's', 'P2', 'r', 't', 't')";

#[tokio::test]
async fn every_stored_kind_the_enums_name_is_taken_by_both_backends_and_no_other() {
    let (_database, mut pg) = FreshDatabase::create().await;
    sqlx::migrate!("./migrations/postgres").run(&mut pg).await.unwrap();
    let mut sqlite = sqlite_desk().await;
    sqlx::query(TICKET).execute(&mut sqlite).await.unwrap();
    sqlx::query(TICKET).execute(&mut pg).await.unwrap();
    let message = |n: usize, kind: &str| {
        format!(
            "INSERT INTO messages (dedupe_key, author_kind, sender, subject, body_text, thread_reason, arrived_at,
                                   recorded_at, raw) VALUES ('k{n}', '{kind}', 's', 's', 'b', 'r', 't', 't', '')"
        )
    };
    let outbox = |n: usize, kind: &str| {
        format!(
            "INSERT INTO outbox (kind, envelope_from, recipients, message_id, subject, raw, next_attempt_at, created_at)
             VALUES ('{kind}', 'f', 'r', 'm{n}', 's', '', 't', 't')"
        )
    };
    let mut n = 0;
    let authors = AuthorKind::ALL.iter().map(|kind| (kind.as_str(), true)).chain([("robot", false)]);
    for (kind, named) in authors {
        n += 1;
        let sql = message(n, kind);
        let on_sqlite = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut sqlite).await.is_ok();
        let on_postgres = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut pg).await.is_ok();
        assert_eq!((on_sqlite, on_postgres), (named, named), "author_kind {kind:?}");
    }
    let kinds = OutboxKind::ALL.iter().map(|kind| (kind.as_str(), true)).chain([("newsletter", false)]);
    for (kind, named) in kinds {
        n += 1;
        let sql = outbox(n, kind);
        let on_sqlite = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut sqlite).await.is_ok();
        let on_postgres = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut pg).await.is_ok();
        assert_eq!((on_sqlite, on_postgres), (named, named), "outbox kind {kind:?}");
    }
}
