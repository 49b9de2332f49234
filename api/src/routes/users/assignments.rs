use super::{AssignmentBody, WHAT, assignments, user_body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_domain::UserId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentsBody {
    assignments: Vec<AssignmentBody>,
}

/// Replaces the units an account works in.
pub async fn set_assignments(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<AssignmentsBody>,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let wanted = assignments(&body.into_inner().assignments)?;
    let u = state
        .write(user.who(), move |tx| {
            wangge_app::users::set_assignments(tx, id, if_match, &wanted)
        })
        .await?;
    Ok(http::with_etag(
        StatusCode::OK,
        u.user.version,
        &user_body(&u),
    ))
}
