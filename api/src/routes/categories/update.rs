//! `PATCH /incident-categories/{code}` with `If-Match`: rename, re-route, change the limits,
//! retire (or bring back).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::categories::{self as uc, CategoryPatch};
use wangge_domain::incident::{CategoryKey, RoutingRule, TimeLimits};
use wangge_domain::unit::Level;
use wangge_domain::{DepartmentId, UnitName};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "http::non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    key: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "http::double_option")]
    department_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::non_null")]
    lowest_level: Option<i64>,
    #[serde(default, deserialize_with = "http::non_null")]
    routing: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    time_limits: Option<TimeLimits>,
    #[serde(default, deserialize_with = "http::non_null")]
    retired: Option<bool>,
}

pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    code: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let code = super::code(&code)?;
    let if_match = http::if_match(&req)?;
    let b = body.into_inner();
    let empty = b.name.is_none()
        && b.key.is_none()
        && b.department_id.is_none()
        && b.lowest_level.is_none()
        && b.routing.is_none()
        && b.time_limits.is_none()
        && b.retired.is_none();
    if empty {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "send at least one of name, key, department_id, lowest_level, routing, time_limits, retired",
        ));
    }
    let department = match b.department_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => Some(Some(DepartmentId::parse(&d).map_err(|_| {
            ApiError::unprocessable("validation_failed", "department_id: must be a UUID")
        })?)),
    };
    let patch = CategoryPatch {
        name: b.name.as_deref().map(UnitName::parse).transpose()?,
        key: b.key.as_deref().map(CategoryKey::parse).transpose()?,
        department,
        lowest_level: b.lowest_level.map(Level::from_number).transpose()?,
        routing: b.routing.as_deref().map(RoutingRule::parse).transpose()?,
        time_limits: b.time_limits,
        retired: b.retired,
    };
    let c = state
        .write(user.who(), move |tx| {
            uc::update(tx, &code, if_match, &patch)
        })
        .await?;
    Ok(http::with_etag(StatusCode::OK, c.version, &c))
}
