//! `GET /stats/departments`: each department's figures over a period.

use super::{span, unit_id};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    unit_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub async fn departments(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let unit = unit_id(query.unit_id.as_deref())?;
    let (span, now) = span(query.from.as_deref(), query.to.as_deref())?;
    let v = state
        .read(user.who(), move |r| {
            wangge_app::stats::departments(r, unit, span, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
