use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_domain::{HouseholdId, ResidentId};

/// Removes a resident from the registry.
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (hid, rid) = path.into_inner();
    let household: HouseholdId = http::id(&hid, "household")?;
    let resident: ResidentId = http::id(&rid, WHAT)?;
    let if_match = http::if_match(&req)?;
    state
        .write(user.who(), move |tx| {
            wangge_app::households::residents::delete(tx, household, resident, if_match)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
