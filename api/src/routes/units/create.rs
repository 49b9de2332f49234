use super::{UnitBody, parse_parent};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_domain::{Level, UnitCode, UnitId, UnitName};
use wangge_persistence::grid::NewUnit;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    code: String,
    name: String,
    level: i64,
    #[serde(default)]
    parent_id: Option<String>,
}

/// Creates a unit without coverage.
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = body.keyed(&key);
    let b = body.into_inner();
    let id = b.id.as_deref().map(UnitId::parse_client).transpose()?;
    let new = NewUnit {
        code: UnitCode::parse(&b.code)?,
        name: UnitName::parse(&b.name)?,
        level: Level::from_number(b.level)?,
        parent_id: parse_parent(b.parent_id.as_deref())?,
    };
    let res = state
        .answer(
            user.who(),
            keyed,
            move |tx| wangge_app::units::create(tx, id, &new),
            |c| {
                let status = if c.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                let u = UnitBody::from(c.record.clone());
                http::answer(
                    status,
                    &u,
                    Some(format!("/api/v1/units/{}", u.id)),
                    Some(u.version),
                )
            },
        )
        .await?;
    if res.status() == StatusCode::CREATED {
        state.coverage_changed().await;
    }
    Ok(res)
}
