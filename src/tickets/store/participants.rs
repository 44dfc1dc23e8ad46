//! The `ticket_participants` and `satisfaction_scores` tables: who else is on a ticket, and
//! the scores its people gave.

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::domain::{EmailAddress, TicketId};
use crate::storage::{time_to_db, Db, Tx};

/// Adds `addresses` to the ticket's participants (each once); returns how many were new.
pub async fn add_participants(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    addresses: &[EmailAddress],
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let mut added = 0;
    for address in addresses {
        added += sqlx::query(
            "INSERT INTO ticket_participants (ticket_id, address, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(ticket.0)
        .bind(address.as_str())
        .bind(time_to_db(now))
        .execute(&mut **tx)
        .await
        .context("add participants")?
        .rows_affected();
    }
    Ok(added)
}

/// Removes `address` from the ticket's participants; whether it was one.
pub async fn remove_participant(tx: &mut Tx<'_>, ticket: TicketId, address: &EmailAddress) -> anyhow::Result<bool> {
    let removed = sqlx::query("DELETE FROM ticket_participants WHERE ticket_id = $1 AND address = $2")
        .bind(ticket.0)
        .bind(address.as_str())
        .execute(&mut **tx)
        .await
        .context("remove participant")?
        .rows_affected();
    Ok(removed > 0)
}

/// The ticket's participants besides its requester, in the order they joined.
pub async fn participants(tx: &mut Tx<'_>, ticket: TicketId) -> anyhow::Result<Vec<EmailAddress>> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT address FROM ticket_participants WHERE ticket_id = $1 ORDER BY added_at, address")
            .bind(ticket.0)
            .fetch_all(&mut **tx)
            .await
            .context("participants")?;
    Ok(rows.iter().filter_map(|address| EmailAddress::parse(address)).collect())
}

pub async fn record_satisfaction(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    client: Option<&str>,
    score: u8,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO satisfaction_scores (ticket_id, client, score, received_at) VALUES ($1, $2, $3, $4)")
        .bind(ticket.0)
        .bind(client)
        .bind(score as i64)
        .bind(time_to_db(at))
        .execute(&mut **tx)
        .await
        .context("record satisfaction")?;
    Ok(())
}

/// The satisfaction scores received in `from..to`.
pub async fn scores_received_between(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<u8>> {
    let scores: Vec<i64> =
        sqlx::query_scalar("SELECT score FROM satisfaction_scores WHERE received_at >= $1 AND received_at < $2")
            .bind(time_to_db(from))
            .bind(time_to_db(to))
            .fetch_all(db)
            .await
            .context("reading satisfaction scores")?;
    // The table's CHECK keeps scores in 0..=10.
    Ok(scores.into_iter().map(|score| score.clamp(0, 10) as u8).collect())
}
