//! `GET /incidents/{id}`: the case with its history, deadlines, owner chain and departments.

use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::IncidentId;

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: IncidentId = http::id(&id, WHAT)?;
    let v = state
        .read(user.who(), move |r| {
            wangge_app::incidents::read::get(r.conn, &r.caller, id, chrono::Utc::now())
        })
        .await?;
    if http::not_modified(&req, v.version) {
        return Ok(http::not_modified_response(v.version));
    }
    Ok(http::with_etag(StatusCode::OK, v.version, &v))
}
