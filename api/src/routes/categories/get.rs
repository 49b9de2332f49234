//! `GET /incident-categories/{code}`, with its `ETag`.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_app::categories as uc;

pub async fn get(
    _user: AuthUser,
    state: web::Data<AppState>,
    code: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let code = super::code(&code)?;
    let c = state.db(move |conn| Ok(uc::get(conn, &code)?)).await?;
    if http::not_modified(&req, c.version) {
        return Ok(http::not_modified_response(c.version));
    }
    Ok(http::with_etag(StatusCode::OK, c.version, &c))
}
