//! Patrols (巡查): a grid worker walks their grid with a phone recording a GPS track. A phone
//! that was offline sends its fixes late, so every time a patrol carries is the phone's, and
//! checked against the same window as a visit's: up to 90 days back, never in the future
//! (beyond a little clock skew).

use crate::unit::ValidationError;
use crate::visit::{BACKDATE_DAYS, CLOCK_SKEW_MINUTES};
use chrono::{DateTime, Duration, Utc};

/// Fixes in one batch of points, at most.
pub const MAX_FIXES_PER_BATCH: usize = 1_000;

/// A time a phone gives (RFC 3339), within the window.
///
/// # Errors
/// `field` when `s` does not parse, lies in the future or more than 90 days back; `what`
/// names the value in the message (`"started_at"`, `"points[3].at"`).
pub fn phone_time(
    field: &'static str,
    what: &str,
    s: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|_| ValidationError::new(field, format!("{what} must be an RFC 3339 time")))?
        .with_timezone(&Utc);
    if t > now + Duration::minutes(CLOCK_SKEW_MINUTES) {
        return Err(ValidationError::new(
            field,
            format!("{what} is in the future"),
        ));
    }
    if t < now - Duration::days(BACKDATE_DAYS) {
        return Err(ValidationError::new(
            field,
            format!("{what} is more than {BACKDATE_DAYS} days ago"),
        ));
    }
    Ok(t)
}

/// When a patrol started: `given`, or `now` when absent.
///
/// # Errors
/// `started_at` outside the window.
pub fn started_at(
    given: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    given.map_or(Ok(now), |s| phone_time("started_at", "started_at", s, now))
}

/// When a patrol finished: `given`, or `now` when absent; never before it started.
///
/// # Errors
/// `finished_at` outside the window or before `started`.
pub fn finished_at(
    given: Option<&str>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    let t = given.map_or(Ok(now), |s| {
        phone_time("finished_at", "finished_at", s, now)
    })?;
    if t < started {
        return Err(ValidationError::new(
            "finished_at",
            "finished_at is before the patrol started",
        ));
    }
    Ok(t)
}

/// The number of fixes in a batch: 1 to [`MAX_FIXES_PER_BATCH`].
///
/// # Errors
/// `points` otherwise.
pub fn batch_size(n: usize) -> Result<(), ValidationError> {
    if (1..=MAX_FIXES_PER_BATCH).contains(&n) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "points",
            format!("send 1 to {MAX_FIXES_PER_BATCH} points per batch, not {n}"),
        ))
    }
}

/// A fix's accuracy radius, in metres: finite and not negative. A coarse one is kept (the
/// analysis ignores it and counts it as ignored).
///
/// # Errors
/// `points` otherwise; `what` names the value (`"points[3].accuracy_m"`).
pub fn accuracy_m(what: &str, v: f64) -> Result<f64, ValidationError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ValidationError::new(
            "points",
            format!("{what} must be a radius in metres, 0 or more"),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn times_are_in_the_window_and_a_finish_follows_the_start() {
        let now = at("2026-12-06T08:00:00Z");
        assert_eq!(started_at(None, now), Ok(now));
        assert!(started_at(Some("2026-12-06T08:04:59Z"), now).is_ok());
        assert!(started_at(Some("2026-12-06T08:05:01Z"), now).is_err());
        assert!(started_at(Some("2026-09-07T08:00:01Z"), now).is_ok());
        assert!(started_at(Some("2026-09-07T07:59:59Z"), now).is_err());
        let e = phone_time("points", "points[2].at", "noon", now).expect_err("refused");
        assert_eq!(e.field, "points");
        assert!(e.reason.starts_with("points[2].at "), "{}", e.reason);
        let start = at("2026-12-06T07:00:00Z");
        assert_eq!(finished_at(None, start, now), Ok(now));
        assert!(finished_at(Some("2026-12-06T06:59:59Z"), start, now).is_err());
        assert_eq!(
            finished_at(Some("2026-12-06T15:30:00+08:00"), start, now),
            Ok(at("2026-12-06T07:30:00Z"))
        );
    }

    #[test]
    fn batches_and_accuracies_are_bounded() {
        assert!(batch_size(0).is_err());
        assert!(batch_size(1).is_ok());
        assert!(batch_size(MAX_FIXES_PER_BATCH).is_ok());
        assert!(batch_size(MAX_FIXES_PER_BATCH + 1).is_err());
        assert_eq!(accuracy_m("a", 0.0), Ok(0.0));
        assert!(accuracy_m("a", -0.5).is_err());
        assert!(accuracy_m("a", f64::NAN).is_err());
        assert!(accuracy_m("a", f64::INFINITY).is_err());
    }
}
