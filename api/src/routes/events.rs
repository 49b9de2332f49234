//! `GET /api/v1/events/stream`: Server-Sent Events of incident activity, for whoever may read
//! incidents (see `wangge_app::events` for which events and who receives each).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::feed::Full;
use crate::sse::Stream;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    after: Option<String>,
}

fn position(s: &str) -> Result<i64, ApiError> {
    // Digits only, as the contract's pattern: `+5` and 20 digits are not ids it sent.
    let s = s.trim();
    Some(s)
        .filter(|s| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "Last-Event-ID and after must be an event id this stream sent",
            )
        })
}

pub async fn stream(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::http::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("invalid"))
        .filter(|v| !v.trim().is_empty());
    // The header wins: a browser's EventSource reconnects to the URL it opened (with its
    // `after`) and says in the header how far it got since.
    let after = header
        .or(query.after.as_deref())
        .map(position)
        .transpose()?;
    let account = user.caller.user_id.to_string();
    let slot = state.feed.slot(&account).map_err(|full| {
        let mut e = match full {
            Full::Instance => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                "this instance serves as many event streams as it may; retry after Retry-After",
            ),
            Full::Account => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_account_streams",
                format!(
                    "this account holds {} event streams open here, as many as it may; close one",
                    state.settings.sse_max_streams_per_account
                ),
            ),
        };
        e.retry_after_s = Some(5);
        e
    })?;
    let (watcher, start) = state
        .read(user.who(), move |r| wangge_app::events::watch(r, after))
        .await?;
    let events = state.feed.subscribe();
    let body = Stream::new(
        state.clone(),
        watcher,
        start,
        events,
        slot,
        user.session_id.clone(),
        user.who(),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        // Not compressed: a compressor would hold small events back.
        .insert_header(ContentEncoding::Identity)
        .streaming(body.into_body()))
}
