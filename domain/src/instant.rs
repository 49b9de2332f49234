//! Instants and dates as clients write them, parsed strictly: an RFC 3339 time whose UTC
//! form is again RFC 3339 (a year from 1 to 9999, no leap second), since instants are stored
//! and compared as text, and a time past year 9999 (`+10000-…`) sorts before every other.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// An RFC 3339 time with an offset, in UTC; `None` when it is not one, falls outside years
/// 1 to 9999 in UTC, or is a leap second.
///
/// ```
/// use wangge_domain::instant::parse_instant;
/// assert!(parse_instant("2026-12-06T08:00:00+08:00").is_some());
/// assert!(parse_instant("9999-12-31T23:59:59-00:01").is_none());
/// assert!(parse_instant("2026-06-30T23:59:60+08:00").is_none());
/// ```
#[must_use]
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    ((1..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000).then_some(t)
}

/// A calendar date written exactly `YYYY-MM-DD`, in years 1 to 9999; `None` otherwise
/// (`2026-1-1`, `+2026-01-01` and `0000-01-01` are not).
///
/// ```
/// use wangge_domain::instant::parse_date;
/// assert!(parse_date("2026-01-31").is_some());
/// assert!(parse_date("2026-1-31").is_none());
/// assert!(parse_date("+2026-01-31").is_none());
/// assert!(parse_date("0000-01-01").is_none());
/// ```
#[must_use]
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .filter(|d| d.year() >= 1)
}
