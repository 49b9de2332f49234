//! `GET /incident-categories`: every signed-in role reads them (a phone needs them to report).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_app::categories as uc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
    /// Retired categories too (for administrators' lists and old cases).
    include_retired: Option<bool>,
}

pub async fn list(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = http::limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(super::code)
        .transpose()
        .map_err(|_| {
            ApiError::bad_request("invalid_cursor", "the cursor is not one this API issued")
        })?;
    let with_retired = query.include_retired.unwrap_or(false);
    let rows = state
        .db(move |conn| {
            Ok(uc::list(
                conn,
                after.as_ref(),
                i64::from(limit) + 1,
                with_retired,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(http::page(rows, limit, |c| c.code.clone())))
}
