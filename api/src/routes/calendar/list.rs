//! `GET /calendar?from=&to=`: the dates that differ from the plain week, in order.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use wangge_app::calendar as uc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
}

pub async fn list(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let from = super::query_date("from", query.from.as_deref())?;
    let to = super::query_date("to", query.to.as_deref())?;
    let days = state.db(move |conn| Ok(uc::list(conn, from, to)?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "days": days })))
}
