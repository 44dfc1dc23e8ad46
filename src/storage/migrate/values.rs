//! One stored value on its way from one backend to the other: read from a row whatever its
//! type, and bound as the type the target's column has. This is where the two schemas'
//! one difference of type is bridged: `messages.desk_failed` is a 0/1 INTEGER on SQLite and a
//! BOOLEAN on PostgreSQL. Nothing else converts, so a value the target column cannot hold
//! as it is is an error naming the column, never a guess.

use anyhow::{bail, Context};
use sqlx::any::{AnyArguments, AnyTypeInfoKind};
use sqlx::{Row as _, ValueRef as _};

use crate::storage::{Backend, Conn, Dialect, Row};

/// A column's type, in the vocabulary both schemas share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnType {
    Integer,
    Boolean,
    Text,
    Bytes,
}

impl ColumnType {
    /// From the declared type: SQLite's `INTEGER`, `TEXT`, `BLOB`; PostgreSQL's `bigint`,
    /// `boolean`, `text`, `bytea`.
    fn of_declared(table: &str, column: &str, declared: &str) -> anyhow::Result<ColumnType> {
        Ok(match declared.to_ascii_lowercase().as_str() {
            "integer" | "bigint" | "int" | "smallint" => ColumnType::Integer,
            "boolean" => ColumnType::Boolean,
            "text" => ColumnType::Text,
            "blob" | "bytea" => ColumnType::Bytes,
            other => bail!("{table}.{column} has the type {other:?}, which migrate does not copy"),
        })
    }
}

/// One column of a table: its name and type.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub name: String,
    pub kind: ColumnType,
}

/// The columns of `table`, in the schema's order.
pub(super) async fn columns(conn: &mut Conn, table: &str) -> anyhow::Result<Vec<Column>> {
    let sql = match Dialect::of_conn(conn) {
        Dialect::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Dialect::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql)
        .bind(table)
        .fetch_all(conn)
        .await
        .with_context(|| format!("read the columns of {table}"))?;
    rows.into_iter()
        .map(|(name, declared)| Ok(Column { kind: ColumnType::of_declared(table, &name, &declared)?, name }))
        .collect()
}

/// The desk's tables in the database (not sqlx's bookkeeping, not SQLite's own).
pub(super) async fn tables(conn: &mut Conn) -> anyhow::Result<Vec<String>> {
    let sql = match Dialect::of_conn(conn) {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
               AND table_name <> '_sqlx_migrations' ORDER BY table_name"
        }
    };
    sqlx::query_scalar(sql).fetch_all(conn).await.context("read the database's tables")
}

/// A stored value, whatever the backend: the types the desk's schema uses.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Integer(i64),
    Boolean(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    /// The value of column `index` of a row, by the type the database says it has (on
    /// SQLite, the type of the value itself).
    pub(super) fn read(row: &Row, index: usize) -> anyhow::Result<Value> {
        let raw = row.try_get_raw(index)?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let kind = raw.type_info().kind();
        let name = || row.columns().get(index).map(|column| sqlx::Column::name(column).to_string());
        Ok(match kind {
            AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                Value::Integer(row.try_get(index)?)
            }
            AnyTypeInfoKind::Bool => Value::Boolean(row.try_get(index)?),
            AnyTypeInfoKind::Text => Value::Text(row.try_get(index)?),
            AnyTypeInfoKind::Blob => Value::Bytes(row.try_get(index)?),
            other => bail!("column {:?} holds a {other:?} value, which migrate does not copy", name()),
        })
    }

    /// How much memory the value takes, roughly: what a batch of rows is measured by.
    pub(super) fn size(&self) -> usize {
        match self {
            Value::Text(text) => text.len(),
            Value::Bytes(bytes) => bytes.len(),
            _ => 8,
        }
    }

    /// Binds the value as `column`'s type on the target.
    pub(super) fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Backend, AnyArguments>,
        table: &str,
        column: &Column,
    ) -> anyhow::Result<sqlx::query::Query<'q, Backend, AnyArguments>> {
        Ok(match (self, column.kind) {
            (Value::Null, ColumnType::Integer) => query.bind(None::<i64>),
            (Value::Null, ColumnType::Boolean) => query.bind(None::<bool>),
            (Value::Null, ColumnType::Text) => query.bind(None::<String>),
            (Value::Null, ColumnType::Bytes) => query.bind(None::<Vec<u8>>),
            (Value::Integer(number), ColumnType::Integer) => query.bind(number),
            (Value::Integer(flag @ (0 | 1)), ColumnType::Boolean) => query.bind(flag == 1),
            (Value::Boolean(flag), ColumnType::Boolean) => query.bind(flag),
            (Value::Boolean(flag), ColumnType::Integer) => query.bind(i64::from(flag)),
            (Value::Text(text), ColumnType::Text) => query.bind(text),
            (Value::Bytes(bytes), ColumnType::Bytes) => query.bind(bytes),
            // SQLite keeps what it is given: a BLOB column may hold text.
            (Value::Text(text), ColumnType::Bytes) => query.bind(text.into_bytes()),
            (value, kind) => bail!("{table}.{}: the value {value:?} does not fit the target's {kind:?}", column.name),
        })
    }
}

/// `name` quoted as an SQL identifier.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_of_both_schemas_read_as_one_vocabulary() {
        for (declared, expected) in [
            ("INTEGER", ColumnType::Integer),
            ("bigint", ColumnType::Integer),
            ("boolean", ColumnType::Boolean),
            ("TEXT", ColumnType::Text),
            ("BLOB", ColumnType::Bytes),
            ("bytea", ColumnType::Bytes),
        ] {
            assert_eq!(ColumnType::of_declared("t", "c", declared).unwrap(), expected, "{declared}");
        }
        let refused = ColumnType::of_declared("tickets", "score", "REAL").unwrap_err().to_string();
        assert!(refused.contains("tickets.score") && refused.contains("real"), "{refused}");
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quoted("tickets"), "\"tickets\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
