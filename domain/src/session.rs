//! The life of a session's refresh tokens. Each refresh spends a token and issues its
//! successor; a spent token presented again means it leaked and ends the session, unless it
//! comes back within a short retry window (a phone whose answer was lost), when it gets a
//! fresh successor instead. No token outlives the session's maximum age.

use chrono::{DateTime, Duration, Utc};

/// The settings the lifecycle follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub refresh_ttl_s: u64,
    pub session_max_age_s: u64,
    /// How long a spent token may come back without ending the session; 0 turns it off.
    pub retry_window_s: u64,
}

/// A refresh token as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshToken {
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub session_started_at: DateTime<Utc>,
    pub session_revoked: bool,
}

/// What presenting a refresh token leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Spend it and issue a successor valid until `expires_at`.
    Rotate { expires_at: DateTime<Utc> },
    /// Spent moments ago: the answer was probably lost. Issue another successor.
    Retry { expires_at: DateTime<Utc> },
    /// Spent earlier: it leaked. End the session.
    Reused,
    /// Expired, or its session ended: refuse.
    Invalid,
    /// The session reached its maximum age: refuse; the user logs in again.
    SessionEnded,
}

impl SessionPolicy {
    /// When a token issued now for a session that began at `started` expires: its own
    /// lifetime, cut at the session's end.
    #[must_use]
    pub fn expiry(&self, started: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        let own = now + secs(self.refresh_ttl_s);
        own.min(self.session_end(started))
    }

    #[must_use]
    pub fn session_end(&self, started: DateTime<Utc>) -> DateTime<Utc> {
        started + secs(self.session_max_age_s)
    }

    /// Decides what presenting `token` at `now` does.
    #[must_use]
    pub fn decide(&self, token: &RefreshToken, now: DateTime<Utc>) -> Refresh {
        if token.session_revoked {
            return Refresh::Invalid;
        }
        if self.session_end(token.session_started_at) <= now {
            return Refresh::SessionEnded;
        }
        let expires_at = self.expiry(token.session_started_at, now);
        match token.used_at {
            Some(used) if self.retry_window_s > 0 && now - used <= secs(self.retry_window_s) => {
                Refresh::Retry { expires_at }
            }
            Some(_) => Refresh::Reused,
            None if token.expires_at <= now => Refresh::Invalid,
            None => Refresh::Rotate { expires_at },
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    const POLICY: SessionPolicy = SessionPolicy {
        refresh_ttl_s: 3600,
        session_max_age_s: 86_400,
        retry_window_s: 30,
    };

    fn token(used: Option<&str>) -> RefreshToken {
        RefreshToken {
            expires_at: t("2026-12-01T09:00:00Z"),
            used_at: used.map(t),
            session_started_at: t("2026-12-01T00:00:00Z"),
            session_revoked: false,
        }
    }

    #[test]
    fn a_fresh_token_rotates_within_the_session() {
        let now = t("2026-12-01T08:00:00Z");
        assert_eq!(
            POLICY.decide(&token(None), now),
            Refresh::Rotate {
                expires_at: t("2026-12-01T09:00:00Z")
            }
        );
        // Near the session's end, the successor ends with it.
        let late = t("2026-12-01T23:30:00Z");
        let mut tok = token(None);
        tok.expires_at = t("2026-12-02T00:10:00Z");
        assert_eq!(
            POLICY.decide(&tok, late),
            Refresh::Rotate {
                expires_at: t("2026-12-02T00:00:00Z")
            }
        );
        assert_eq!(
            POLICY.decide(&tok, t("2026-12-02T00:00:00Z")),
            Refresh::SessionEnded
        );
        assert_eq!(
            POLICY.decide(&token(None), t("2026-12-01T09:00:00Z")),
            Refresh::Invalid
        );
    }

    #[test]
    fn a_spent_token_is_a_retry_inside_the_window_and_a_leak_after_it() {
        let used = Some("2026-12-01T08:00:00Z");
        assert!(matches!(
            POLICY.decide(&token(used), t("2026-12-01T08:00:30Z")),
            Refresh::Retry { .. }
        ));
        assert_eq!(
            POLICY.decide(&token(used), t("2026-12-01T08:00:31Z")),
            Refresh::Reused
        );
        let off = SessionPolicy {
            retry_window_s: 0,
            ..POLICY
        };
        assert_eq!(
            off.decide(&token(used), t("2026-12-01T08:00:01Z")),
            Refresh::Reused
        );
        let mut revoked = token(used);
        revoked.session_revoked = true;
        assert_eq!(
            POLICY.decide(&revoked, t("2026-12-01T08:00:01Z")),
            Refresh::Invalid
        );
    }
}
