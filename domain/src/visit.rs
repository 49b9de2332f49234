//! When a visit may be dated: a phone that was offline sends a visit later than it happened,
//! so it may be up to 90 days old, but not in the future (beyond a little clock skew).

use crate::unit::ValidationError;
use chrono::{DateTime, Duration, Utc};

/// How far back a visit may be dated.
pub const BACKDATE_DAYS: i64 = 90;
/// How far ahead of the server's clock a phone's clock may run.
pub const CLOCK_SKEW_MINUTES: i64 = 5;

/// The time a visit happened: `given` (RFC 3339), or `now` when absent.
///
/// # Errors
/// `visited_at` when it does not parse, lies in the future or more than 90 days back.
pub fn visited_at(
    given: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    let Some(s) = given else {
        return Ok(now);
    };
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|_| ValidationError::new("visited_at", "must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    if t > now + Duration::minutes(CLOCK_SKEW_MINUTES) {
        return Err(ValidationError::new("visited_at", "is in the future"));
    }
    if t < now - Duration::days(BACKDATE_DAYS) {
        return Err(ValidationError::new(
            "visited_at",
            format!("is more than {BACKDATE_DAYS} days ago"),
        ));
    }
    Ok(t)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_ninety_days_back_to_five_minutes_ahead() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(visited_at(None, now), Ok(now));
        assert!(visited_at(Some("2026-12-01T08:04:59Z"), now).is_ok());
        assert!(visited_at(Some("2026-12-01T08:05:01Z"), now).is_err());
        assert!(visited_at(Some("2026-09-02T08:00:01Z"), now).is_ok());
        assert!(visited_at(Some("2026-09-02T07:59:59Z"), now).is_err());
        assert!(visited_at(Some("yesterday"), now).is_err());
        // Offsets are honoured: 16:00 in Beijing is 08:00 UTC.
        assert_eq!(visited_at(Some("2026-12-01T16:00:00+08:00"), now), Ok(now));
    }
}
