use super::{WHAT, announce};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::UserId;

/// Deletes an account without history of its own; otherwise 409 (deactivate it instead).
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let ended = state
        .write(user.who(), move |tx| {
            wangge_app::users::delete(tx, id, if_match)
        })
        .await?;
    announce(&state, &ended).await;
    Ok(HttpResponse::NoContent().finish())
}
