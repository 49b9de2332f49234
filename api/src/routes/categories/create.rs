//! `POST /incident-categories`: administrators of the whole grid add a category.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;
use wangge_app::categories::{self as uc, NewCategory};
use wangge_domain::incident::{CategoryCode, CategoryKey, CategoryPolicy, RoutingRule, TimeLimits};
use wangge_domain::unit::Level;
use wangge_domain::{DepartmentId, UnitName};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    code: String,
    #[serde(default, deserialize_with = "http::non_null")]
    parent_code: Option<String>,
    name: String,
    key: String,
    #[serde(default, deserialize_with = "http::non_null")]
    department_id: Option<String>,
    lowest_level: i64,
    routing: String,
    time_limits: TimeLimits,
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = body.keyed(&key);
    let b = body.into_inner();
    let department = b
        .department_id
        .as_deref()
        .map(|d| {
            DepartmentId::parse(d).map_err(|_| {
                ApiError::unprocessable("validation_failed", "department_id: must be a UUID")
            })
        })
        .transpose()?;
    let new = NewCategory {
        code: CategoryCode::parse(&b.code)?,
        parent_code: b
            .parent_code
            .as_deref()
            .map(CategoryCode::parse)
            .transpose()?,
        name: UnitName::parse(&b.name)?,
        key: CategoryKey::parse(&b.key)?,
        policy: CategoryPolicy::new(
            Level::from_number(b.lowest_level)?,
            RoutingRule::parse(&b.routing)?,
            department,
            b.time_limits,
        )?,
    };
    state
        .answer(
            user.who(),
            keyed,
            move |tx| uc::create(tx, &new),
            |c| {
                http::answer(
                    StatusCode::CREATED,
                    c,
                    Some(super::location(c)),
                    Some(c.version),
                )
            },
        )
        .await
}
