use super::{UnitBody, WHAT, parse_parent};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_domain::{UnitCode, UnitId, UnitName};
use wangge_persistence::grid::UnitPatch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "http::non_null")]
    code: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    parent_id: Option<String>,
}

/// Renames, recodes or moves a unit.
pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id: UnitId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let b = body.into_inner();
    if b.code.is_none() && b.name.is_none() && b.parent_id.is_none() {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "send at least one of code, name, parent_id",
        ));
    }
    let patch = UnitPatch {
        code: b.code.as_deref().map(UnitCode::parse).transpose()?,
        name: b.name.as_deref().map(UnitName::parse).transpose()?,
        parent_id: parse_parent(b.parent_id.as_deref())?,
    };
    let unit = state
        .write(user.who(), move |tx| {
            wangge_app::units::update(tx, id, if_match, &patch)
        })
        .await?;
    state.coverage_changed().await;
    Ok(http::with_etag(
        StatusCode::OK,
        unit.version,
        &UnitBody::from(unit),
    ))
}
