//! The access token the edges log in with: read from the stored grant on every login (so a
//! new `auth login` is seen without a restart), refreshed when it is due or a server refused
//! it, the rotated refresh token stored in the same transaction. A grant the provider refused
//! needs a new login: then no request is made until there is one, and the error is logged
//! once an hour.
//!
//! A refresh runs on a task of its own, so that a caller's timeout cannot cancel it between
//! the provider rotating the refresh token and the desk storing the new one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

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

/// OAuth errors that no retry mends: the grant, the client or the consent must change.
const NEEDS_A_PERSON: [&str; 4] = ["invalid_client", "unauthorized_client", "interaction_required", "consent_required"];

/// How long a desk that got `invalid_grant` waits before it believes it: another process may
/// have just rotated the refresh token and be about to store the new one.
const ROTATION_RACE_WAIT: Duration = Duration::from_secs(2);

/// How often storing a refreshed token is tried before it is given up (its refresh token is
/// then lost, and a rotating provider wants a new login).
const STORE_ATTEMPTS: u32 = 5;

/// The desk's source of access tokens (cheap to clone: one state behind an `Arc`).
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    endpoint: TokenEndpoint,
    key: TokenKey,
    client_id: String,
    pace: std::sync::Mutex<ErrorPace>,
    /// One refresh at a time in this process.
    refreshing: tokio::sync::Mutex<()>,
}

impl TokenSource {
    pub fn new(db: Db, config: &OAuth2Config) -> anyhow::Result<TokenSource> {
        let inner = Inner {
            db,
            endpoint: TokenEndpoint::new(config)?,
            key: TokenKey::from_secret(&config.token_key),
            client_id: config.client_id.clone(),
            pace: Default::default(),
            refreshing: Default::default(),
        };
        Ok(TokenSource { inner: Arc::new(inner) })
    }

    /// A token to log in with at `now`: the stored one while it is fresh enough, else a new one.
    pub async fn bearer(&self, now: DateTime<Utc>) -> Result<SecretString, AuthError> {
        self.on_own_task(now, None).await
    }

    /// A token after a server refused `rejected`: the stored one if another login or lane has
    /// refreshed it meanwhile, else a new one.
    pub async fn bearer_after_rejection(
        &self,
        rejected: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<SecretString, AuthError> {
        self.on_own_task(now, Some(SecretString::from(rejected.expose_secret().to_string()))).await
    }

    async fn on_own_task(&self, now: DateTime<Utc>, rejected: Option<SecretString>) -> Result<SecretString, AuthError> {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { inner.token(now, rejected.as_ref()).await });
        task.await.unwrap_or_else(|err| Err(AuthError::Unavailable(anyhow::anyhow!("the token task failed: {err}"))))
    }

    /// Why no login can work until a person signs in again, read from the stored grant
    /// without asking the provider anything; None when a login may work.
    pub async fn waiting_for_login(&self) -> Option<AuthError> {
        let grant = match self.inner.current_grant().await {
            Ok(grant) => grant,
            Err(err) => return err.needs_login().then_some(err),
        };
        match &grant.refresh_token {
            Some(sealed) if self.inner.key.open(REFRESH_TOKEN_CONTEXT, sealed).is_err() => Some(AuthError::WrongKey),
            _ => None,
        }
    }

    /// What `helpdesk auth status` shows, read from the stored grant (nothing is asked of the
    /// provider).
    pub async fn status(&self, now: DateTime<Utc>) -> anyhow::Result<GrantStatus> {
        let grant = grant::load(&self.inner.db).await?;
        let key = &self.inner.key;
        let opens = grant.as_ref().is_none_or(|grant| {
            let refresh = grant.refresh_token.as_ref().is_none_or(|t| key.open(REFRESH_TOKEN_CONTEXT, t).is_ok());
            let access = grant.access_token.as_ref().is_none_or(|t| key.open(ACCESS_TOKEN_CONTEXT, t).is_ok());
            refresh && access
        });
        Ok(grant_status(grant.as_ref(), opens, now))
    }

    /// Logs `error` at ERROR when it needs a person and was not logged in the last hour (at
    /// DEBUG otherwise).
    pub fn report(&self, edge: &str, error: &AuthError, now: DateTime<Utc>) {
        let mut pace = self.inner.pace.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if error.needs_login() && pace.should_log(now) {
            tracing::error!(edge, error = %error, "OAuth2 sign-in needed (this is logged once an hour)");
        } else {
            tracing::debug!(edge, error = %error, "no OAuth2 access token");
        }
    }
}

impl Inner {
    async fn token(&self, now: DateTime<Utc>, rejected: Option<&SecretString>) -> Result<SecretString, AuthError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let grant = self.current_grant().await?;
        let stored = self.open_access_token(&grant)?;
        let usable = match rejected {
            // Refreshed since the server refused it: that one is the one to try.
            Some(rejected) => stored.filter(|token| token.expose_secret() != rejected.expose_secret()),
            None => self.fresh_access_token(&grant, now)?,
        };
        let account = grant.account.clone();
        let outcome = match usable {
            Some(token) => Ok(token),
            None => self.refresh_or_fall_back(grant, now, rejected.is_some()).await,
        };
        if outcome.is_ok() && self.pace.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).reset() {
            tracing::info!(account, "the OAuth2 grant works again");
        }
        outcome
    }

    /// A refresh; when the provider cannot be reached, the current token while it has not
    /// expired (unless a server just refused it).
    async fn refresh_or_fall_back(
        &self,
        grant: StoredGrant,
        now: DateTime<Utc>,
        forced: bool,
    ) -> Result<SecretString, AuthError> {
        match self.refresh(&grant, now).await {
            Err(AuthError::Unavailable(err)) if !forced => {
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
            outcome => outcome,
        }
    }

    async fn current_grant(&self) -> Result<StoredGrant, AuthError> {
        let grant = grant::load(&self.db).await.map_err(AuthError::Unavailable)?.ok_or(AuthError::NoGrant)?;
        if grant.client_id != self.client_id {
            let reason = format!("it was signed in with the OAuth2 client {}, not {}", grant.client_id, self.client_id);
            return Err(AuthError::NeedsLogin { account: grant.account.clone(), reason });
        }
        match &grant.needs_login_since {
            Some(_) => Err(AuthError::NeedsLogin {
                account: grant.account.clone(),
                reason: grant.last_error.clone().unwrap_or_else(|| "refused".into()),
            }),
            None => Ok(grant),
        }
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

    /// Asks the provider for a new access token and stores it. A refusal that only a person
    /// can mend is recorded as needing a login, unless another process stored a new grant
    /// meanwhile (then that grant's token is used).
    async fn refresh(&self, grant: &StoredGrant, now: DateTime<Utc>) -> Result<SecretString, AuthError> {
        let Some(sealed) = &grant.refresh_token else {
            return self
                .refused(grant, "no refresh token was issued (Microsoft: add the offline_access scope)", now)
                .await;
        };
        let refresh_token = self.key.open(REFRESH_TOKEN_CONTEXT, sealed).map_err(|_| AuthError::WrongKey)?;
        match self.endpoint.refresh(&refresh_token).await {
            Ok(granted) => self.store(grant, granted, now).await,
            Err(err @ TokenError::InvalidGrant(_)) => {
                tokio::time::sleep(ROTATION_RACE_WAIT).await;
                match grant::load(&self.db).await {
                    Ok(Some(newer)) if newer.generation != grant.generation && newer.needs_login_since.is_none() => {
                        tracing::info!("another desk refreshed or signed in meanwhile: using its OAuth2 token");
                        match self.fresh_access_token(&newer, now)? {
                            Some(token) => Ok(token),
                            None => Err(AuthError::Unavailable(anyhow::anyhow!("the other desk's token is not fresh"))),
                        }
                    }
                    _ => self.refused(grant, &err.reason(), now).await,
                }
            }
            Err(err @ TokenError::Refused { .. }) if NEEDS_A_PERSON.iter().any(|e| err.is_error(e)) => {
                self.refused(grant, &err.reason(), now).await
            }
            Err(err) => {
                let _ = grant::record_error(&self.db, grant.generation, &err.to_string(), false, now).await;
                Err(AuthError::Unavailable(err.into()))
            }
        }
    }

    /// Records that the grant needs a new login, and says so.
    async fn refused(&self, grant: &StoredGrant, reason: &str, now: DateTime<Utc>) -> Result<SecretString, AuthError> {
        let _ = grant::record_error(&self.db, grant.generation, reason, true, now).await;
        Err(AuthError::NeedsLogin { account: grant.account.clone(), reason: reason.to_string() })
    }

    async fn store(
        &self,
        grant: &StoredGrant,
        granted: Granted,
        now: DateTime<Utc>,
    ) -> Result<SecretString, AuthError> {
        let tokens = SealedTokens::seal(&self.key, &granted, now).map_err(AuthError::Unavailable)?;
        for attempt in 1..=STORE_ATTEMPTS {
            match grant::store_refresh(&self.db, grant.generation, &tokens, now).await {
                Ok(true) => {
                    tracing::info!(account = grant.account, expires_at = %tokens.expires_at, rotated = tokens.refresh_token.is_some(), "refreshed the OAuth2 access token");
                    break;
                }
                Ok(false) => {
                    tracing::info!("another desk stored a newer OAuth2 grant: this token is used once");
                    break;
                }
                Err(err) if attempt == STORE_ATTEMPTS => {
                    tracing::error!(error = format!("{err:#}"), "could not store the refreshed OAuth2 token: a rotating provider will want a new `helpdesk auth login`");
                }
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        attempt,
                        "storing the refreshed OAuth2 token failed; trying again"
                    );
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
        }
        Ok(granted.access_token)
    }
}
