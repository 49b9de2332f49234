//! `GET /visit-rules`, `PUT` and `DELETE /visit-rules/{tag}`: how often households with a
//! tag are due a visit (the use cases are `wangge_app::visit_rules`).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use wangge_domain::Tag;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    every_days: i32,
}

fn tag(s: &str) -> Result<Tag, ApiError> {
    s.parse::<Tag>()
        .map_err(|e| ApiError::not_found(format!("no such tag: {}", e.reason)))
}

pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rules = state
        .read(user.who(), wangge_app::visit_rules::list)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": rules })))
}

pub async fn put(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<RuleBody>,
) -> Result<HttpResponse, ApiError> {
    let tag = tag(&path)?;
    let if_match = http::if_match(&req)?;
    let days = body.into_inner().every_days;
    let rule = state
        .write(user.who(), move |tx| {
            wangge_app::visit_rules::put(tx, tag, days, if_match)
        })
        .await?;
    Ok(http::with_etag(StatusCode::OK, rule.version, &rule))
}

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tag = tag(&path)?;
    let if_match = http::if_match(&req)?;
    state
        .write(user.who(), move |tx| {
            wangge_app::visit_rules::delete(tx, tag, if_match)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
