use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::routes::history::{self, HistoryQuery};
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use wangge_domain::UnitId;

/// What happened to a unit, oldest first.
pub async fn history(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id: UnitId = http::id(&id, WHAT)?;
    let limit = http::limit(query.limit)?;
    let after = history::cursor(query.cursor.as_deref())?;
    let rows = state
        .db(move |conn| {
            Ok(wangge_app::units::history(
                conn,
                id,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(history::page(rows, limit)))
}
