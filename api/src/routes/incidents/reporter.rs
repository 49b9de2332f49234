//! `GET /incidents/{id}/reporter`: the reporter's name and phone in full, for those who may
//! see them; every reveal is audited (so it runs as a write).

use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use wangge_domain::IncidentId;

pub async fn reveal(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: IncidentId = http::id(&id, WHAT)?;
    let v = state
        .write(user.who(), move |tx| {
            wangge_app::incidents::reporter::reveal(tx, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
