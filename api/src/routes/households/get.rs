use super::{WHAT, household_body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::routes::history::{self, HistoryQuery};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::HouseholdId;

/// One household; `If-None-Match` with its current tag answers 304.
pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: HouseholdId = http::id(&id, WHAT)?;
    let h = state
        .read(user.who(), move |r| wangge_app::households::get(r, id))
        .await?;
    if http::not_modified(&req, h.record.version) {
        return Ok(http::not_modified_response(h.record.version));
    }
    Ok(http::with_etag(
        StatusCode::OK,
        h.record.version,
        &household_body(&h),
    ))
}

/// What happened to a household (its residents and visits included), oldest first.
pub async fn history(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: HouseholdId = http::id(&id, WHAT)?;
    let limit = http::limit(query.limit)?;
    let after = history::cursor(query.cursor.as_deref())?;
    let rows = state
        .read(user.who(), move |r| {
            wangge_app::households::history(r, id, after.as_deref(), i64::from(limit) + 1)
        })
        .await?;
    Ok(HttpResponse::Ok().json(history::page(rows, limit)))
}
