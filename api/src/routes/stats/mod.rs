//! The command centre's figures (`/api/v1/stats`): a file per operation.

pub mod coverage;
pub mod departments;
pub mod heatmap;
pub mod units;

use crate::error::ApiError;
use wangge_app::stats::Span;

/// The period every figure is asked for (`from` and `to` of the query), and the present it
/// was read against: one moment, so a period "to now" ends exactly now.
fn span(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Span, chrono::DateTime<chrono::Utc>), ApiError> {
    let now = chrono::Utc::now();
    Ok((Span::parse(from, to, now)?, now))
}

fn unit_id(s: Option<&str>) -> Result<Option<wangge_domain::UnitId>, ApiError> {
    s.map(|u| {
        u.parse()
            .map_err(|_| ApiError::bad_request("invalid_query", "unit_id: must be a UUID"))
    })
    .transpose()
}
