use super::{WHAT, user_body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::routes::history::{self, HistoryQuery};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::UserId;

/// One account, if the caller may read it.
pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = http::id(&id, WHAT)?;
    let u = state
        .read(user.who(), move |r| wangge_app::users::get(r, id))
        .await?;
    if http::not_modified(&req, u.user.version) {
        return Ok(http::not_modified_response(u.user.version));
    }
    Ok(http::with_etag(
        StatusCode::OK,
        u.user.version,
        &user_body(&u),
    ))
}

/// What happened to an account, oldest first.
pub async fn history(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = http::id(&id, WHAT)?;
    let limit = http::limit(query.limit)?;
    let after = history::cursor(query.cursor.as_deref())?;
    let rows = state
        .read(user.who(), move |r| {
            wangge_app::users::history(r, id, after.as_deref(), i64::from(limit) + 1)
        })
        .await?;
    Ok(HttpResponse::Ok().json(history::page(rows, limit)))
}
