use super::{UnitBody, WHAT, page};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use wangge_domain::UnitId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// A unit's children, a page at a time.
pub async fn children(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id: UnitId = http::id(&id, WHAT)?;
    let limit = http::limit(query.limit)?;
    let after: Option<UnitId> = http::cursor(query.cursor.as_deref())?;
    let rows = state
        .db(move |conn| {
            Ok(wangge_app::units::children(
                conn,
                id,
                after,
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(rows, limit)))
}

/// A unit's ancestors, nearest first.
pub async fn ancestors(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id: UnitId = http::id(&id, WHAT)?;
    let rows = state
        .db(move |conn| Ok(wangge_app::units::ancestors(conn, id)?))
        .await?;
    let items: Vec<UnitBody> = rows.into_iter().map(UnitBody::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": null })))
}
