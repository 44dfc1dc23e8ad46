//! The stored grant (`oauth2_grants`): one row per desk, its tokens sealed. This module owns
//! the table. Every write is a `begin_write` transaction; a refresh stores its access token
//! and any rotated refresh token together, and only over the generation it read.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::endpoint::Granted;
use super::seal::TokenKey;
use super::timing;
use crate::storage::{begin_write, optional_time_from_db, time_from_db, time_to_db, Db};

/// The desk's one grant; both edges use it.
pub const GRANT_NAME: &str = "mailbox";

/// The seal contexts of the two tokens (see `seal`).
pub const REFRESH_TOKEN_CONTEXT: &str = "oauth2_grants mailbox refresh_token";
pub const ACCESS_TOKEN_CONTEXT: &str = "oauth2_grants mailbox access_token";

/// A grant as stored: tokens still sealed.
#[derive(Debug, Clone)]
pub struct StoredGrant {
    pub provider: String,
    pub client_id: String,
    pub account: String,
    pub scopes: String,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub access_obtained_at: Option<DateTime<Utc>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub signed_in_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub generation: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Set when the provider refused the grant: nothing but a new login helps.
    pub needs_login_since: Option<DateTime<Utc>>,
}

/// A fresh access token (sealed), and the rotated refresh token when there is one.
pub struct SealedTokens {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub refresh_token: Option<String>,
}

/// What a login stores.
pub struct SignedIn {
    pub provider: String,
    pub client_id: String,
    pub account: String,
    pub scopes: String,
    pub tokens: SealedTokens,
}

impl SealedTokens {
    /// What the token endpoint granted at `now`, sealed with `key` for storing.
    pub fn seal(key: &TokenKey, granted: &Granted, now: DateTime<Utc>) -> anyhow::Result<SealedTokens> {
        Ok(SealedTokens {
            access_token: key.seal(ACCESS_TOKEN_CONTEXT, &granted.access_token)?,
            expires_at: timing::expiry(now, granted.expires_in),
            refresh_token: match &granted.refresh_token {
                Some(token) => Some(key.seal(REFRESH_TOKEN_CONTEXT, token)?),
                None => None,
            },
        })
    }
}

pub async fn load(db: &Db) -> anyhow::Result<Option<StoredGrant>> {
    let row = sqlx::query(
        "SELECT provider, client_id, account, scopes, refresh_token, access_token, access_obtained_at,
                access_expires_at, signed_in_at, refreshed_at, generation, last_error, last_error_at,
                needs_login_since
         FROM oauth2_grants WHERE name = $1",
    )
    .bind(GRANT_NAME)
    .fetch_optional(db)
    .await
    .context("reading the OAuth2 grant")?;
    let Some(row) = row else { return Ok(None) };
    let time = |column: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
        optional_time_from_db(row.try_get::<Option<String>, _>(column)?.as_deref())
    };
    Ok(Some(StoredGrant {
        provider: row.try_get("provider")?,
        client_id: row.try_get("client_id")?,
        account: row.try_get("account")?,
        scopes: row.try_get("scopes")?,
        refresh_token: row.try_get("refresh_token")?,
        access_token: row.try_get("access_token")?,
        access_obtained_at: time("access_obtained_at")?,
        access_expires_at: time("access_expires_at")?,
        signed_in_at: time_from_db(row.try_get("signed_in_at")?)?,
        refreshed_at: time("refreshed_at")?,
        generation: row.try_get("generation")?,
        last_error: row.try_get("last_error")?,
        last_error_at: time("last_error_at")?,
        needs_login_since: time("needs_login_since")?,
    }))
}

/// Stores a new login, replacing any grant before it (and its errors).
pub async fn store_login(db: &Db, login: &SignedIn, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = begin_write(db).await?;
    sqlx::query(
        "INSERT INTO oauth2_grants (name, provider, client_id, account, scopes, refresh_token, access_token,
             access_obtained_at, access_expires_at, signed_in_at, refreshed_at, generation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, NULL, $10)
         ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, client_id = excluded.client_id,
             account = excluded.account, scopes = excluded.scopes, refresh_token = excluded.refresh_token,
             access_token = excluded.access_token, access_obtained_at = excluded.access_obtained_at,
             access_expires_at = excluded.access_expires_at, signed_in_at = excluded.signed_in_at,
             refreshed_at = NULL, generation = oauth2_grants.generation + 1, last_error = NULL,
             last_error_at = NULL, needs_login_since = NULL",
    )
    .bind(GRANT_NAME)
    .bind(&login.provider)
    .bind(&login.client_id)
    .bind(&login.account)
    .bind(&login.scopes)
    .bind(&login.tokens.refresh_token)
    .bind(&login.tokens.access_token)
    .bind(time_to_db(now))
    .bind(time_to_db(login.tokens.expires_at))
    // A new row starts past any generation an earlier grant (since forgotten) could have
    // reached, so a refresh of that one can never be stored over this one.
    .bind(now.timestamp_millis())
    .execute(&mut *tx)
    .await
    .context("storing the OAuth2 grant")?;
    tx.commit().await.context("storing the OAuth2 grant")?;
    Ok(())
}

/// Stores a refresh's tokens, in one transaction, if the grant is still at `generation`;
/// whether it was (false: another desk or a new login stored first).
pub async fn store_refresh(
    db: &Db,
    generation: i64,
    tokens: &SealedTokens,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let mut tx = begin_write(db).await?;
    let stored = sqlx::query(
        "UPDATE oauth2_grants SET access_token = $1, access_obtained_at = $2, access_expires_at = $3,
             refresh_token = COALESCE($4, refresh_token), refreshed_at = $2, generation = generation + 1,
             last_error = NULL, last_error_at = NULL, needs_login_since = NULL
         WHERE name = $5 AND generation = $6",
    )
    .bind(&tokens.access_token)
    .bind(time_to_db(now))
    .bind(time_to_db(tokens.expires_at))
    .bind(&tokens.refresh_token)
    .bind(GRANT_NAME)
    .bind(generation)
    .execute(&mut *tx)
    .await
    .context("storing the refreshed OAuth2 token")?
    .rows_affected();
    tx.commit().await.context("storing the refreshed OAuth2 token")?;
    Ok(stored == 1)
}

/// Records a failed refresh on the grant still at `generation`; with `needs_login`, the
/// grant is marked as refused until the next login.
pub async fn record_error(
    db: &Db,
    generation: i64,
    error: &str,
    needs_login: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut tx = begin_write(db).await?;
    sqlx::query(
        "UPDATE oauth2_grants SET last_error = $1, last_error_at = $2,
             needs_login_since = CASE WHEN $3 = 1 THEN COALESCE(needs_login_since, $2) ELSE needs_login_since END
         WHERE name = $4 AND generation = $5",
    )
    .bind(error.chars().take(500).collect::<String>())
    .bind(time_to_db(now))
    .bind(i64::from(needs_login))
    .bind(GRANT_NAME)
    .bind(generation)
    .execute(&mut *tx)
    .await
    .context("recording the OAuth2 error")?;
    tx.commit().await.context("recording the OAuth2 error")?;
    Ok(())
}

/// Forgets the grant; whether there was one.
pub async fn forget(db: &Db) -> anyhow::Result<bool> {
    let mut tx = begin_write(db).await?;
    let gone = sqlx::query("DELETE FROM oauth2_grants WHERE name = $1")
        .bind(GRANT_NAME)
        .execute(&mut *tx)
        .await
        .context("forgetting the OAuth2 grant")?
        .rows_affected();
    tx.commit().await.context("forgetting the OAuth2 grant")?;
    Ok(gone > 0)
}
