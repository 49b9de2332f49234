use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::UnitId;

/// Deletes a unit without children, assignments or households.
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: UnitId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    state
        .write(user.who(), move |tx| {
            wangge_app::units::delete(tx, id, if_match)
        })
        .await?;
    state.coverage_changed().await;
    Ok(HttpResponse::NoContent().finish())
}
