use super::{UnitBody, WHAT};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::UnitId;

/// One unit; `If-None-Match` with its current tag answers 304.
pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id: UnitId = http::id(&id, WHAT)?;
    let unit = state
        .db(move |conn| Ok(wangge_app::units::get(conn, id)?))
        .await?;
    if http::not_modified(&req, unit.version) {
        return Ok(http::not_modified_response(unit.version));
    }
    Ok(http::with_etag(
        StatusCode::OK,
        unit.version,
        &UnitBody::from(unit),
    ))
}
