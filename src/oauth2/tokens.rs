//! The access token the edges log in with: read from the stored grant on every login (so a
//! new `auth login` is seen without a restart), refreshed when it is due or a server refused
//! it, the rotated refresh token stored in the same transaction. A grant the provider refused
//! needs a new login: then no request is made until there is one, and the error is logged
//! once an hour.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::endpoint::{Granted, TokenEndpoint, TokenError};
use super::grant::{self, SealedTokens, StoredGrant, ACCESS_TOKEN_CONTEXT, REFRESH_TOKEN_CONTEXT};
use super::seal::TokenKey;
use super::status::{grant_status, GrantStatus};
use super::timing::{self, ErrorPace};
use crate::config::OAuth2Config;
use crate::storage::Db;

/// Why there is no access token to log in with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no OAuth2 grant is stored for this desk: run `helpdesk auth login` to sign in; mail waits on the server and in the outbox meanwhile")]
    NoGrant,
    #[error("the OAuth2 grant for {account} was refused by the provider ({reason}): run `helpdesk auth login` to sign in again; mail waits on the server and in the outbox meanwhile")]
    NeedsLogin { account: String, reason: String },
    #[error("the stored OAuth2 tokens cannot be opened with this token key (was oauth2.token_key changed?): run `helpdesk auth login` to sign in again")]
    WrongKey,
    /// The provider could not be asked (or the database read): tried again later.
    #[error("no OAuth2 access token: {0:#}")]
    Unavailable(anyhow::Error),
}

impl AuthError {
    /// Only a person running `helpdesk auth login` ends this.
    pub fn needs_login(&self) -> bool {
        !matches!(self, AuthError::Unavailable(_))
    }
}

/// The desk's source of access tokens.
pub struct TokenSource {
    db: Db,
    endpoint: TokenEndpoint,
    key: TokenKey,
    pace: std::sync::Mutex<ErrorPace>,
    /// One refresh at a time in this process.
    refreshing: tokio::sync::Mutex<()>,
}

impl TokenSource {
    pub fn new(db: Db, config: &OAuth2Config) -> anyhow::Result<TokenSource> {
        Ok(TokenSource {
            db,
            endpoint: TokenEndpoint::new(config)?,
            key: TokenKey::from_secret(&config.token_key),
            pace: Default::default(),
            refreshing: Default::default(),
        })
    }

    /// A token to log in with at `now`: the stored one while it is fresh enough, else a new one.
    pub async fn bearer(&self, now: DateTime<Utc>) -> Result<SecretString, AuthError> {
        self.token(now, false).await
    }

    /// A new token after a server refused `bearer`'s (revoked early, or clocks apart).
    pub async fn bearer_after_rejection(&self, now: DateTime<Utc>) -> Result<SecretString, AuthError> {
        self.token(now, true).await
    }

    /// Why no login can work until a person signs in again, read from the stored grant
    /// without asking the provider anything; None when a login may work.
    pub async fn waiting_for_login(&self) -> Option<AuthError> {
        let grant = match self.current_grant().await {
            Ok(grant) => grant,
            Err(err) => return err.needs_login().then_some(err),
        };
        match &grant.refresh_token {
            Some(sealed) if self.key.open(REFRESH_TOKEN_CONTEXT, sealed).is_err() => Some(AuthError::WrongKey),
            _ => None,
        }
    }

    /// What `helpdesk auth status` shows, read from the stored grant (nothing is asked of the
    /// provider).
    pub async fn status(&self, now: DateTime<Utc>) -> anyhow::Result<GrantStatus> {
        let grant = grant::load(&self.db).await?;
        let opens = grant.as_ref().is_none_or(|grant| {
            let refresh = grant.refresh_token.as_ref().is_none_or(|t| self.key.open(REFRESH_TOKEN_CONTEXT, t).is_ok());
            let access = grant.access_token.as_ref().is_none_or(|t| self.key.open(ACCESS_TOKEN_CONTEXT, t).is_ok());
            refresh && access
        });
        Ok(grant_status(grant.as_ref(), opens, now))
    }

    /// Logs `error` at ERROR when it needs a person and was not logged in the last hour (at
    /// DEBUG otherwise); whether it was logged loudly.
    pub fn report(&self, edge: &str, error: &AuthError, now: DateTime<Utc>) -> bool {
        let mut pace = self.pace.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if error.needs_login() && pace.should_log(now) {
            tracing::error!(edge, error = %error, "OAuth2 sign-in needed (this is logged once an hour)");
            return true;
        }
        tracing::debug!(edge, error = %error, "no OAuth2 access token");
        false
    }

    async fn token(&self, now: DateTime<Utc>, force: bool) -> Result<SecretString, AuthError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let grant = self.current_grant().await?;
        if !force {
            if let Some(token) = self.fresh_access_token(&grant, now)? {
                return Ok(token);
            }
        }
        match self.refresh(&grant, now).await {
            // Someone rotated or signed in meanwhile: their grant is the one to use.
            Err(AuthError::NeedsLogin { .. }) if self.grant_changed(grant.generation).await => {
                let grant = self.current_grant().await?;
                match self.fresh_access_token(&grant, now)? {
                    Some(token) => Ok(token),
                    None => self.refresh(&grant, now).await,
                }
            }
            Err(AuthError::Unavailable(err)) if !force => {
                // The old token still works until it expires: use it, refresh next time.
                let still_valid = grant.access_expires_at.is_some_and(|expires| now < expires);
                match (still_valid, self.open_access_token(&grant)?) {
                    (true, Some(token)) => {
                        tracing::warn!(
                            error = format!("{err:#}"),
                            "refreshing the OAuth2 token failed: using the current one until it expires"
                        );
                        Ok(token)
                    }
                    _ => Err(AuthError::Unavailable(err)),
                }
            }
            outcome => {
                if outcome.is_ok() {
                    self.pace.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).reset();
                }
                outcome
            }
        }
    }

    async fn current_grant(&self) -> Result<StoredGrant, AuthError> {
        let grant = grant::load(&self.db).await.map_err(AuthError::Unavailable)?.ok_or(AuthError::NoGrant)?;
        match &grant.needs_login_since {
            Some(_) => Err(AuthError::NeedsLogin {
                account: grant.account.clone(),
                reason: grant.last_error.clone().unwrap_or_else(|| "refused".into()),
            }),
            None => Ok(grant),
        }
    }

    async fn grant_changed(&self, generation: i64) -> bool {
        matches!(grant::load(&self.db).await, Ok(Some(grant)) if grant.generation != generation)
    }

    fn open_access_token(&self, grant: &StoredGrant) -> Result<Option<SecretString>, AuthError> {
        let Some(sealed) = &grant.access_token else { return Ok(None) };
        self.key.open(ACCESS_TOKEN_CONTEXT, sealed).map(Some).map_err(|_| AuthError::WrongKey)
    }

    fn fresh_access_token(&self, grant: &StoredGrant, now: DateTime<Utc>) -> Result<Option<SecretString>, AuthError> {
        match (grant.access_obtained_at, grant.access_expires_at) {
            (Some(obtained), Some(expires)) if timing::fresh_enough(obtained, expires, now) => {
                self.open_access_token(grant)
            }
            _ => Ok(None),
        }
    }

    /// Asks the provider for a new access token and stores it; a refused grant is recorded
    /// as needing a login.
    async fn refresh(&self, grant: &StoredGrant, now: DateTime<Utc>) -> Result<SecretString, AuthError> {
        let Some(sealed) = &grant.refresh_token else {
            let reason = "no refresh token was issued".to_string();
            return Err(AuthError::NeedsLogin { account: grant.account.clone(), reason });
        };
        let refresh_token = self.key.open(REFRESH_TOKEN_CONTEXT, sealed).map_err(|_| AuthError::WrongKey)?;
        match self.endpoint.refresh(&refresh_token).await {
            Ok(granted) => self.store(grant, granted, now).await,
            Err(TokenError::InvalidGrant(description)) => {
                let reason = format!("invalid_grant{}", if description.is_empty() { "" } else { ": " }) + &description;
                let _ = grant::record_error(&self.db, grant.generation, &reason, true, now).await;
                Err(AuthError::NeedsLogin { account: grant.account.clone(), reason })
            }
            Err(err) => {
                let _ = grant::record_error(&self.db, grant.generation, &err.to_string(), false, now).await;
                Err(AuthError::Unavailable(err.into()))
            }
        }
    }

    async fn store(
        &self,
        grant: &StoredGrant,
        granted: Granted,
        now: DateTime<Utc>,
    ) -> Result<SecretString, AuthError> {
        let tokens = self.seal(&granted, now).map_err(AuthError::Unavailable)?;
        let stored = grant::store_refresh(&self.db, grant.generation, &tokens, now).await;
        match stored {
            Ok(true) => tracing::info!(
                account = grant.account,
                expires_at = %tokens.expires_at,
                rotated = tokens.refresh_token.is_some(),
                "refreshed the OAuth2 access token"
            ),
            Ok(false) => tracing::info!("another desk stored a newer OAuth2 grant: this token is used once"),
            // The token is good; a rotated refresh token that could not be stored is lost, and
            // the next refresh uses the old one (which a rotating provider may refuse).
            Err(err) => tracing::error!(error = format!("{err:#}"), "could not store the refreshed OAuth2 token"),
        }
        Ok(granted.access_token)
    }

    /// The tokens of a grant, sealed for storing.
    pub fn seal(&self, granted: &Granted, now: DateTime<Utc>) -> anyhow::Result<SealedTokens> {
        Ok(SealedTokens {
            access_token: self.key.seal(ACCESS_TOKEN_CONTEXT, &granted.access_token)?,
            expires_at: timing::expiry(now, granted.expires_in),
            refresh_token: match &granted.refresh_token {
                Some(token) => Some(self.key.seal(REFRESH_TOKEN_CONTEXT, token)?),
                None => None,
            },
        })
    }
}
