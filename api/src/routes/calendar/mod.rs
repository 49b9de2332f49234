//! The working-day calendar (`/api/v1/calendar`): a file per operation. Days are addressed
//! by their date, `YYYY-MM-DD`.

pub mod deadline;
pub mod list;
pub mod remove;
pub mod set;

use crate::error::ApiError;
use chrono::NaiveDate;

/// `YYYY-MM-DD` exactly (chrono alone would take `2026-2-1`, which RFC 3339 dates are not).
fn parse(s: &str) -> Option<NaiveDate> {
    wangge_domain::instant::parse_date(s)
}

/// A date in a path, or `400 invalid_id`.
fn date(s: &str) -> Result<NaiveDate, ApiError> {
    parse(s).ok_or_else(|| {
        ApiError::bad_request("invalid_id", format!("{s:?} is not a date (YYYY-MM-DD)"))
    })
}

/// A date in a query, or `400 invalid_query`.
fn query_date(name: &str, s: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    s.map(|s| {
        parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name}: {s:?} is not a date (YYYY-MM-DD)"),
            )
        })
    })
    .transpose()
}
