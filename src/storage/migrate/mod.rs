//! `helpdesk migrate`: a desk's whole history copied from one database into another, empty
//! one (SQLite to PostgreSQL, or back), ids kept, so ticket numbers, signed reply addresses
//! and the signed Message-IDs of mail sent before the move mean the same after it (the
//! signing key is a row of `settings`, copied like every other).
//!
//! The one place that reads and writes every table: it copies rows generically, column by
//! column, and knows no table's meaning, only the order foreign keys need ([`TABLES`]). It
//! refuses a target with any row in it, writes everything in one transaction (a failure
//! leaves the target empty), and compares every table's count before it commits.

mod values;

use std::collections::BTreeSet;

use anyhow::{bail, ensure, Context};
use futures::TryStreamExt;
use sqlx::AssertSqlSafe;

use self::values::{quoted, Column, Value};
use super::{begin_write, Conn, Db, Dialect};

/// One table of the desk's schema, as migrate copies it.
struct Table {
    name: &'static str,
    /// The order rows are read in from PostgreSQL (its key, or every column); SQLite's
    /// rows are read in `rowid` order, the order they were written in.
    key: &'static str,
    /// Columns that refer to rows of the same table, maybe to later ones: written NULL with
    /// the row, then set once the whole table is in (the table's key is `id`).
    links: &'static [&'static str],
}

const fn table(name: &'static str, key: &'static str) -> Table {
    Table { name, key, links: &[] }
}

/// Every table of the schema, each after the tables its foreign keys refer to. A table
/// missing here is refused at run time (and `every_table_of_the_schema_is_copied_after_what_it_refers_to`
/// fails), never silently left behind.
const TABLES: &[Table] = &[
    Table { name: "tickets", key: "id", links: &["related_ticket_id", "merged_into"] },
    table("messages", "id"),
    table("message_refs", "message_row, ticket_id, referenced_id"),
    table("ticket_participants", "ticket_id, address"),
    table("satisfaction_scores", "ticket_id, received_at, score, client"),
    table("outbox", "id"),
    table("time_entries", "id"),
    table("sla_notices", "ticket_id, clock, kind"),
    table("bank_alerts", "client, period_start, percent"),
    table("client_reports", "id"),
    table("daily_summaries", "summary_date"),
    table("raised_signals", "client, kind"),
    table("mailbox_cursors", "source"),
    table("intake_attempts", "mail_key"),
    table("burned_agent_ids", "message_id"),
    table("settings", "key"),
    table("oauth2_grants", "name"),
];

/// The desks' own running state, which a moved desk starts without: who holds the mailbox
/// and the desks' heartbeats (`crate::lease`). Neither copied nor counted.
const NOT_COPIED: &[&str] = &["desk_leases", "desk_heartbeats"];

/// Rows are written this many values at a time at most (both backends take far more binds
/// in one statement)...
const BATCH_VALUES: usize = 8_000;
/// ... and at most about this many bytes (raw mail): a big `messages` table is never in
/// memory at once.
const BATCH_BYTES: usize = 8 << 20;

/// What was copied: every table with its row count, in the order copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<TableCount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub rows: i64,
}

impl CopyReport {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|table| table.rows).sum()
    }
}

/// Copies every row of `from` into `to`, both opened with `storage::open` (so both have the
/// current schema). Refuses, writing nothing, when `to` has a row in any table, when either
/// database has a table migrate does not know, or when `from` has no row at all. Reads `from`
/// in one snapshot and writes `to` in one transaction, which commits only when every table's
/// count matches; on PostgreSQL each identity's sequence is moved past the copied ids.
pub async fn copy_desk(from: &Db, to: &Db) -> anyhow::Result<CopyReport> {
    let mut source = match Dialect::of(from) {
        Dialect::Sqlite => from.begin().await,
        Dialect::Postgres => from.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await,
    }
    .context("cannot start reading the source database")?;
    let mut target = begin_write(to).await?;
    check_tables(&mut source, "source").await?;
    check_tables(&mut target, "target").await?;
    for table in TABLES {
        let has_rows = sqlx::query(AssertSqlSafe(format!("SELECT 1 FROM {} LIMIT 1", quoted(table.name))))
            .fetch_optional(&mut *target)
            .await
            .with_context(|| format!("look for rows in the target's {}", table.name))?
            .is_some();
        ensure!(
            !has_rows,
            "the target database already has data (its table {} has rows): migrate copies only into an empty one",
            table.name
        );
    }
    let expected = counts(&mut source).await?;
    ensure!(expected.rows() > 0, "the source database has no data: nothing to copy");

    for table in TABLES {
        copy_table(&mut source, &mut target, table).await?;
    }
    if Dialect::of(to) == Dialect::Postgres {
        move_identities_past_copied_ids(&mut target).await?;
    }

    let copied = counts(&mut target).await?;
    for (source_count, target_count) in expected.tables.iter().zip(&copied.tables) {
        ensure!(
            source_count == target_count,
            "table {}: {} rows in the source but {} in the target; nothing was written",
            source_count.table,
            source_count.rows,
            target_count.rows
        );
    }
    target.commit().await.context("cannot commit the copy")?;
    source.rollback().await.context("end reading the source database")?;
    Ok(copied)
}

/// The database's tables are [`TABLES`], no more and no fewer.
async fn check_tables(conn: &mut Conn, which: &str) -> anyhow::Result<()> {
    let found: BTreeSet<String> =
        values::tables(conn).await?.into_iter().filter(|table| !NOT_COPIED.contains(&table.as_str())).collect();
    let known: BTreeSet<String> = TABLES.iter().map(|table| table.name.to_string()).collect();
    if let Some(unknown) = found.difference(&known).next() {
        bail!("the {which} database has a table {unknown} that migrate does not know how to copy");
    }
    if let Some(missing) = known.difference(&found).next() {
        bail!("the {which} database has no table {missing}: is it a helpdesk database?");
    }
    Ok(())
}

async fn counts(conn: &mut Conn) -> anyhow::Result<CopyReport> {
    let mut tables = Vec::new();
    for table in TABLES {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", quoted(table.name))))
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("count the rows of {}", table.name))?;
        tables.push(TableCount { table: table.name, rows });
    }
    Ok(CopyReport { tables })
}

/// One table, read as a stream and written in batches; its links set afterwards.
async fn copy_table(source: &mut Conn, target: &mut Conn, table: &Table) -> anyhow::Result<()> {
    let columns = matching_columns(source, target, table.name).await?;
    let position = |name: &str| columns.iter().position(|column| column.name == name);
    let links: Vec<usize> = table.links.iter().filter_map(|link| position(link)).collect();
    let id = position("id");
    ensure!(
        links.len() == table.links.len() && (links.is_empty() || id.is_some()),
        "table {} lacks a link column of migrate's list, or the id they need",
        table.name
    );

    let order = match Dialect::of_conn(source) {
        Dialect::Sqlite => "rowid",
        Dialect::Postgres => table.key,
    };
    let names: Vec<String> = columns.iter().map(|column| quoted(&column.name)).collect();
    let select = format!("SELECT {} FROM {} ORDER BY {order}", names.join(", "), quoted(table.name));
    let mut rows = sqlx::query(AssertSqlSafe(select)).fetch(&mut *source);
    let mut batch = Batch::default();
    let mut linked = Vec::new();
    while let Some(row) = rows.try_next().await.with_context(|| format!("read the source's {}", table.name))? {
        let mut row: Vec<Value> = (0..columns.len())
            .map(|index| Value::read(&row, index))
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("read a row of the source's {}", table.name))?;
        let link_values: Vec<Value> =
            links.iter().map(|&index| std::mem::replace(&mut row[index], Value::Null)).collect();
        if let Some(id) = id.filter(|_| link_values.iter().any(|value| *value != Value::Null)) {
            linked.push((row[id].clone(), link_values));
        }
        batch.push(row);
        if batch.is_full(columns.len()) {
            batch.insert(target, table.name, &columns).await?;
        }
    }
    drop(rows);
    batch.insert(target, table.name, &columns).await?;

    let link_columns: Vec<&Column> = links.iter().map(|&index| &columns[index]).collect();
    let id_column = id.map(|index| &columns[index]);
    for (id, values) in linked {
        let sets: Vec<String> = link_columns
            .iter()
            .enumerate()
            .map(|(n, column)| format!("{} = ${}", quoted(&column.name), n + 1))
            .collect();
        let update = format!("UPDATE {} SET {} WHERE id = ${}", quoted(table.name), sets.join(", "), sets.len() + 1);
        let mut query = sqlx::query(AssertSqlSafe(update));
        for (value, column) in values.into_iter().zip(&link_columns) {
            query = value.bind(query, table.name, column)?;
        }
        query = id.bind(query, table.name, id_column.expect("links need an id"))?;
        query.execute(&mut *target).await.with_context(|| format!("set the links of {}", table.name))?;
    }
    Ok(())
}

/// The table's columns in the source's order with the target's types; both schemas must
/// have the same columns.
async fn matching_columns(source: &mut Conn, target: &mut Conn, table: &str) -> anyhow::Result<Vec<Column>> {
    let in_source = values::columns(source, table).await?;
    let in_target = values::columns(target, table).await?;
    let names = |columns: &[Column]| columns.iter().map(|column| column.name.clone()).collect::<BTreeSet<_>>();
    let (source_names, target_names) = (names(&in_source), names(&in_target));
    ensure!(
        source_names == target_names,
        "table {table} has other columns in the source ({source_names:?}) than in the target ({target_names:?})"
    );
    Ok(in_source
        .into_iter()
        .map(|column| in_target.iter().find(|other| other.name == column.name).cloned().expect("the same names"))
        .collect())
}

/// Rows waiting to be written, in one multi-row INSERT.
#[derive(Default)]
struct Batch {
    rows: Vec<Vec<Value>>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, row: Vec<Value>) {
        self.bytes += row.iter().map(Value::size).sum::<usize>();
        self.rows.push(row);
    }

    fn is_full(&self, width: usize) -> bool {
        (self.rows.len() + 1) * width > BATCH_VALUES || self.bytes >= BATCH_BYTES
    }

    async fn insert(&mut self, target: &mut Conn, table: &str, columns: &[Column]) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let width = columns.len();
        let tuples: Vec<String> = (0..self.rows.len())
            .map(|row| {
                let binds: Vec<String> = (1..=width).map(|column| format!("${}", row * width + column)).collect();
                format!("({})", binds.join(", "))
            })
            .collect();
        let names: Vec<String> = columns.iter().map(|column| quoted(&column.name)).collect();
        let insert = format!("INSERT INTO {} ({}) VALUES {}", quoted(table), names.join(", "), tuples.join(", "));
        let mut query = sqlx::query(AssertSqlSafe(insert));
        for row in self.rows.drain(..) {
            for (value, column) in row.into_iter().zip(columns) {
                query = value.bind(query, table, column)?;
            }
        }
        self.bytes = 0;
        query.execute(&mut *target).await.with_context(|| format!("write rows of {table} to the target"))?;
        Ok(())
    }
}

/// PostgreSQL's identities do not move when a row comes with its id: each is set to go on
/// after the largest id copied, or the desk's next ticket would collide with ticket 1.
async fn move_identities_past_copied_ids(target: &mut Conn) -> anyhow::Result<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name",
    )
    .fetch_all(&mut *target)
    .await
    .context("read the target's identity columns")?;
    for (table, column) in identities {
        let restart = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({}), 0) + 1, false) FROM {}",
            quoted(&column),
            quoted(&table)
        );
        sqlx::query(AssertSqlSafe(restart))
            .bind(quoted(&table))
            .bind(&column)
            .execute(&mut *target)
            .await
            .with_context(|| format!("move the identity of {table}.{column} past the copied ids"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table of the schema is in [`TABLES`], after each table its foreign keys refer
    /// to; a key to its own table is one of its links.
    #[tokio::test]
    async fn every_table_of_the_schema_is_copied_after_what_it_refers_to() {
        let db = crate::storage::open("sqlite::memory:", std::time::Duration::from_secs(5), false).await.unwrap();
        let mut conn = db.acquire().await.unwrap();
        let in_schema: BTreeSet<String> = values::tables(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .filter(|table| !NOT_COPIED.contains(&table.as_str()))
            .collect();
        let listed: BTreeSet<String> = TABLES.iter().map(|table| table.name.to_string()).collect();
        assert_eq!(in_schema, listed);
        assert_eq!(listed.len(), TABLES.len(), "each table once");
        for (position, table) in TABLES.iter().enumerate() {
            let keys: Vec<(String, String)> =
                sqlx::query_as(r#"SELECT "table", "from" FROM pragma_foreign_key_list($1)"#)
                    .bind(table.name)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            for (referenced, column) in keys {
                if referenced == table.name {
                    assert!(table.links.contains(&column.as_str()), "{}.{column} must be one of its links", table.name);
                } else {
                    let earlier = TABLES[..position].iter().any(|other| other.name == referenced);
                    assert!(earlier, "{}.{column} refers to {referenced}, which must come first", table.name);
                }
            }
        }
    }
}
