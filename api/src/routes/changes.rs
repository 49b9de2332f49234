//! The change feed (administrators for now; the phones' scoped sync builds on it).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// Changes after a position, in position order. `next_cursor` is the last position returned
/// (or `after` again when nothing is new): pass it as `after` to go on.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = http::limit(query.limit)?;
    let after = match query.after.as_deref() {
        None => 0,
        Some(a) => a.parse::<i64>().ok().filter(|a| *a >= 0).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "after must be a position this feed gave")
        })?,
    };
    let rows = state
        .read(user.who(), move |r| {
            wangge_app::changes::feed(r, after, i64::from(limit))
        })
        .await?;
    let next = rows.last().and_then(|r| r.position).unwrap_or(after);
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            json!({
                "position": r.position,
                "entity": r.entity,
                "id": r.entity_id,
                "version": r.version,
                "deleted": r.deleted,
                "unit_path_before": r.unit_path_before,
                "unit_path_after": r.unit_path_after,
                "at": r.at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next.to_string() })))
}
