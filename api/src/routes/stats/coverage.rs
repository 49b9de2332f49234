//! `GET /stats/coverage`: a unit's cells walked and households visited in a period, in all
//! and per worker, with the cells nobody walked as GeoJSON.

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

pub async fn coverage(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let unit = unit_id(query.unit_id.as_deref())?.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            "unit_id: name the unit whose coverage to read",
        )
    })?;
    let (span, _) = span(query.from.as_deref(), query.to.as_deref())?;
    let v = state
        .read(user.who(), move |r| {
            wangge_app::stats::coverage(r, unit, span)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
