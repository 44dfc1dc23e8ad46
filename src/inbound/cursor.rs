//! The `mailbox_cursors` table: how far the IMAP source has got in each mailbox. The cursor
//! moves inside the same transaction as the ticket change of the message at that UID.

use super::SourceCursor;
use crate::storage::{Db, Tx};
use anyhow::Context;

/// (UIDVALIDITY, last processed UID) of a source, if it was ever read.
pub async fn load_cursor(db: &Db, source: &str) -> anyhow::Result<Option<(u32, u32)>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT uid_validity, last_uid FROM mailbox_cursors WHERE source = $1")
            .bind(source)
            .fetch_optional(db)
            .await
            .context("load cursor")?;
    Ok(row.map(|(validity, uid)| (validity as u32, uid as u32)))
}

pub async fn advance_cursor(tx: &mut Tx<'_>, cursor: &SourceCursor) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO mailbox_cursors (source, uid_validity, last_uid) VALUES ($1, $2, $3)
         ON CONFLICT (source) DO UPDATE SET
           last_uid = CASE WHEN mailbox_cursors.uid_validity = excluded.uid_validity
                           THEN CASE WHEN excluded.last_uid > mailbox_cursors.last_uid
                                     THEN excluded.last_uid ELSE mailbox_cursors.last_uid END
                           ELSE excluded.last_uid END,
           uid_validity = excluded.uid_validity",
    )
    .bind(&cursor.source)
    .bind(cursor.uid_validity as i64)
    .bind(cursor.uid as i64)
    .execute(&mut **tx)
    .await
    .context("advance cursor")?;
    Ok(())
}
