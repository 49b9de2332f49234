//! `GET /me/tasks`: what the caller should do next (the use case is `wangge_app::tasks`).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    limit: Option<u32>,
}

pub async fn mine(
    user: AuthUser,
    state: web::Data<AppState>,
    query: http::Query<TasksQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = http::limit(query.limit)? as usize;
    let tasks = state
        .read(user.who(), move |r| wangge_app::tasks::mine(r, limit))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": tasks })))
}
