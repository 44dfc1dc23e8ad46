//! What `helpdesk auth status` says of the stored grant, and its one-word state. Pure.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::grant::StoredGrant;

/// The grant's state: `ok`, `needs_login` (only a person signing in again helps) or `error`
/// (the last refresh failed and the access token has run out: the provider may be down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Ok,
    NeedsLogin,
    Error,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Ok => "ok",
            GrantState::NeedsLogin => "needs_login",
            GrantState::Error => "error",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GrantStatus {
    pub state: GrantState,
    /// Why the state is not ok, in a sentence naming what to do.
    pub problem: Option<String>,
    pub provider: Option<String>,
    pub account: Option<String>,
    pub scopes: Vec<String>,
    pub signed_in_at: Option<DateTime<Utc>>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The status of `grant` at `now`; `opens` says whether its sealed tokens open with the
/// configured key.
pub fn grant_status(grant: Option<&StoredGrant>, opens: bool, now: DateTime<Utc>) -> GrantStatus {
    let Some(grant) = grant else {
        return GrantStatus {
            state: GrantState::NeedsLogin,
            problem: Some("no grant is stored: run `helpdesk auth login`".into()),
            provider: None,
            account: None,
            scopes: vec![],
            signed_in_at: None,
            access_token_expires_at: None,
            last_refresh_at: None,
            last_error: None,
            last_error_at: None,
        };
    };
    let (state, problem) = state_of(grant, opens, now);
    GrantStatus {
        state,
        problem,
        provider: Some(grant.provider.clone()),
        account: Some(grant.account.clone()),
        scopes: grant.scopes.split_whitespace().map(str::to_string).collect(),
        signed_in_at: Some(grant.signed_in_at),
        access_token_expires_at: grant.access_expires_at,
        last_refresh_at: grant.refreshed_at,
        last_error: grant.last_error.clone(),
        last_error_at: grant.last_error_at,
    }
}

fn state_of(grant: &StoredGrant, opens: bool, now: DateTime<Utc>) -> (GrantState, Option<String>) {
    if grant.needs_login_since.is_some() {
        let why = grant.last_error.as_deref().unwrap_or("refused");
        return (
            GrantState::NeedsLogin,
            Some(format!("the provider refused the grant ({why}): run `helpdesk auth login`")),
        );
    }
    if !opens {
        let problem = "the stored tokens do not open with this token key (was oauth2.token_key changed?): run `helpdesk auth login`";
        return (GrantState::NeedsLogin, Some(problem.into()));
    }
    if grant.refresh_token.is_none() && grant.access_expires_at.is_none_or(|expires| expires <= now) {
        let problem =
            "the access token has expired and the provider issued no refresh token: run `helpdesk auth login`";
        return (GrantState::NeedsLogin, Some(problem.into()));
    }
    let expired = grant.access_expires_at.is_none_or(|expires| expires <= now);
    let last_success = grant.refreshed_at.unwrap_or(grant.signed_in_at);
    let failing = grant.last_error_at.is_some_and(|at| at >= last_success);
    if expired && failing {
        let why = grant.last_error.as_deref().unwrap_or("unknown");
        return (GrantState::Error, Some(format!("the last refresh failed ({why}); the desk keeps trying")));
    }
    (GrantState::Ok, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn grant() -> StoredGrant {
        StoredGrant {
            provider: "microsoft".into(),
            client_id: "c".into(),
            account: "support@agency.test".into(),
            scopes: "a b".into(),
            refresh_token: Some("v1.sealed".into()),
            access_token: Some("v1.sealed".into()),
            access_obtained_at: Some(at(0)),
            access_expires_at: Some(at(3600)),
            signed_in_at: at(0),
            refreshed_at: None,
            generation: 1,
            last_error: None,
            last_error_at: None,
            needs_login_since: None,
        }
    }

    #[test]
    fn a_working_grant_is_ok_even_past_its_access_tokens_expiry() {
        assert_eq!(grant_status(Some(&grant()), true, at(10)).state, GrantState::Ok);
        assert_eq!(grant_status(Some(&grant()), true, at(99_999)).state, GrantState::Ok, "refreshed at next use");
    }

    #[test]
    fn no_grant_a_refused_one_or_a_changed_key_need_a_login() {
        assert_eq!(grant_status(None, true, at(0)).state, GrantState::NeedsLogin);
        let refused =
            StoredGrant { needs_login_since: Some(at(5)), last_error: Some("invalid_grant".into()), ..grant() };
        let status = grant_status(Some(&refused), true, at(10));
        assert_eq!(status.state, GrantState::NeedsLogin);
        assert!(status.problem.unwrap().contains("helpdesk auth login"));
        assert_eq!(grant_status(Some(&grant()), false, at(10)).state, GrantState::NeedsLogin);
        let no_refresh = StoredGrant { refresh_token: None, ..grant() };
        assert_eq!(grant_status(Some(&no_refresh), true, at(10)).state, GrantState::Ok);
        assert_eq!(grant_status(Some(&no_refresh), true, at(3600)).state, GrantState::NeedsLogin);
    }

    #[test]
    fn a_failing_refresh_is_an_error_once_the_token_ran_out() {
        let failing =
            StoredGrant { last_error: Some("cannot connect".into()), last_error_at: Some(at(3400)), ..grant() };
        assert_eq!(grant_status(Some(&failing), true, at(3500)).state, GrantState::Ok, "the token still works");
        assert_eq!(grant_status(Some(&failing), true, at(3700)).state, GrantState::Error);
        let recovered = StoredGrant { refreshed_at: Some(at(3500)), access_expires_at: Some(at(7100)), ..failing };
        assert_eq!(grant_status(Some(&recovered), true, at(3700)).state, GrantState::Ok);
    }
}
