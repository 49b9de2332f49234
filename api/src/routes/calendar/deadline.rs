//! `GET /calendar/deadline?start=&hours=|working_days=|seconds=`: when a period ends, by the
//! stored calendar ("when is this due").

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;
use wangge_app::calendar as uc;
use wangge_domain::calendar::TimeLimit;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineQuery {
    start: String,
    hours: Option<u32>,
    working_days: Option<u32>,
    seconds: Option<u32>,
}

pub async fn deadline(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<DeadlineQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let start = wangge_domain::instant::parse_instant(&q.start).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            "start: must be an RFC 3339 date-time with an offset",
        )
    })?;
    let limit = match (q.hours, q.working_days, q.seconds) {
        (Some(h), None, None) => TimeLimit::Hours(h),
        (None, Some(d), None) => TimeLimit::WorkingDays(d),
        (None, None, Some(s)) => TimeLimit::Seconds(s),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give exactly one of hours, working_days, seconds",
            ));
        }
    };
    let limit = limit
        .checked("limit")
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let due = state
        .db(move |conn| Ok(uc::deadline(conn, start, limit)?))
        .await?;
    if due.year() > 9999 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "start: the deadline would fall past the year 9999",
        ));
    }
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(HttpResponse::Ok().json(json!({
        "start": at(start),
        "limit": limit,
        "deadline": at(due),
    })))
}
