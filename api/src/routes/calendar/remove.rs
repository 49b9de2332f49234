//! `DELETE /calendar/{date}`: the date follows the plain week again.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_app::calendar as uc;

pub async fn remove(
    user: AuthUser,
    state: web::Data<AppState>,
    date: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let date = super::date(&date)?;
    let if_match = http::if_match(&req)?;
    state
        .write(user.who(), move |tx| uc::remove(tx, date, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
