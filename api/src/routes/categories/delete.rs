//! `DELETE /incident-categories/{code}` with `If-Match`: only a category nothing refers to.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_app::categories as uc;

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    code: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let code = super::code(&code)?;
    let if_match = http::if_match(&req)?;
    state
        .write(user.who(), move |tx| uc::delete(tx, &code, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
