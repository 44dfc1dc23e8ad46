//! When an access token is refreshed, and how often a grant that needs a new login is
//! complained about. Pure: every function takes the time.

use chrono::{DateTime, Duration, Utc};

/// A token is refreshed at least this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);

/// The one "run `helpdesk auth login`" error is logged at most this often.
pub const NEEDS_LOGIN_LOG_EVERY: Duration = Duration::hours(1);

/// When a token obtained at `obtained` and expiring at `expires` is refreshed: the later of
/// half its life and `REFRESH_MARGIN` before it expires. An hour-long token is refreshed 5
/// minutes early; a token of a few seconds (a test's) halfway through its life.
pub fn refresh_at(obtained: DateTime<Utc>, expires: DateTime<Utc>) -> DateTime<Utc> {
    let halfway = obtained + (expires - obtained) / 2;
    halfway.max(expires - REFRESH_MARGIN)
}

/// Whether the token is still good to hand to a server at `now` without a refresh first.
pub fn fresh_enough(obtained: DateTime<Utc>, expires: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < refresh_at(obtained, expires)
}

/// The expiry of a token issued at `now` that lives `expires_in` seconds: a provider that
/// names no lifetime gets an hour (Google's and Microsoft's), and an absurd one is capped.
pub fn expiry(now: DateTime<Utc>, expires_in: Option<i64>) -> DateTime<Utc> {
    now + Duration::seconds(expires_in.unwrap_or(3600).clamp(1, 86_400))
}

/// Remembers when the "needs login" error was last logged, so that it is logged once per
/// `NEEDS_LOGIN_LOG_EVERY` however often the desk retries.
#[derive(Debug, Default)]
pub struct ErrorPace {
    last_logged: Option<DateTime<Utc>>,
}

impl ErrorPace {
    /// Whether to log now; if so, `now` counts as the last time.
    pub fn should_log(&mut self, now: DateTime<Utc>) -> bool {
        let due = self.last_logged.is_none_or(|last| now - last >= NEEDS_LOGIN_LOG_EVERY);
        if due {
            self.last_logged = Some(now);
        }
        due
    }

    /// After a good login: the next problem is logged at once. Whether a problem had been
    /// logged (so that the recovery is worth a line too).
    pub fn reset(&mut self) -> bool {
        self.last_logged.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn an_hour_token_is_refreshed_five_minutes_before_it_expires() {
        assert_eq!(refresh_at(at(0), at(3600)), at(3300));
        assert!(fresh_enough(at(0), at(3600), at(3299)));
        assert!(!fresh_enough(at(0), at(3600), at(3300)));
    }

    #[test]
    fn a_short_token_is_refreshed_halfway_through_its_life() {
        assert_eq!(refresh_at(at(0), at(8)), at(4));
        assert_eq!(refresh_at(at(100), at(700)), at(400), "ten minutes: halfway is later than five before");
        assert!(!fresh_enough(at(0), at(8), at(4)));
    }

    #[test]
    fn a_token_already_past_its_expiry_is_never_fresh() {
        assert!(!fresh_enough(at(0), at(3600), at(4000)));
        assert!(!fresh_enough(at(10), at(5), at(10)), "an expiry before the issue time");
    }

    #[test]
    fn the_lifetime_defaults_to_an_hour_and_is_bounded() {
        assert_eq!(expiry(at(0), None), at(3600));
        assert_eq!(expiry(at(0), Some(-5)), at(1));
        assert_eq!(expiry(at(0), Some(10_000_000)), at(86_400));
    }

    #[test]
    fn the_needs_login_error_is_logged_once_an_hour() {
        let mut pace = ErrorPace::default();
        assert!(pace.should_log(at(0)));
        assert!(!pace.should_log(at(1)));
        assert!(!pace.should_log(at(3599)));
        assert!(pace.should_log(at(3600)));
        assert!(!pace.should_log(at(3700)));
        assert!(pace.reset(), "it had logged");
        assert!(!pace.reset());
        assert!(pace.should_log(at(3701)));
    }
}
