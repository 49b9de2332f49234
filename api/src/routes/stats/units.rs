//! `GET /stats/units/{id}`: a unit's figures over a period, split by child unit and category.

use super::span;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_domain::UnitId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    from: Option<String>,
    to: Option<String>,
}

pub async fn unit(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let id: UnitId = http::id(&id, "unit")?;
    let (span, now) = span(query.from.as_deref(), query.to.as_deref())?;
    let v = state
        .read(user.who(), move |r| {
            wangge_app::stats::unit(r, id, span, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
