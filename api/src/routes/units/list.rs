use super::page;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_domain::{Level, SearchText, UnitCode, UnitId};
use wangge_persistence::grid::UnitFilter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    parent_id: Option<String>,
    level: Option<String>,
    code: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// Units, filtered, in id order.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let q = query.into_inner();
    let limit = http::limit(q.limit)?;
    let after: Option<UnitId> = http::cursor(q.cursor.as_deref())?;
    let bad =
        |e: wangge_domain::ValidationError| ApiError::bad_request("invalid_query", e.to_string());
    let filter = UnitFilter {
        parent_id: q
            .parent_id
            .as_deref()
            .map(|p| http::id::<UnitId>(p, "unit"))
            .transpose()?,
        level: q
            .level
            .as_deref()
            .map(str::parse::<Level>)
            .transpose()
            .map_err(bad)?,
        code: q
            .code
            .as_deref()
            .map(UnitCode::parse)
            .transpose()
            .map_err(bad)?,
        q: q.q
            .as_deref()
            .map(|t| SearchText::parse(t, 100))
            .transpose()
            .map_err(bad)?
            .flatten()
            .map(|t| t.as_str().to_owned()),
    };
    let rows = state
        .db(move |conn| {
            Ok(wangge_app::units::list(
                conn,
                &filter,
                after,
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(rows, limit)))
}
