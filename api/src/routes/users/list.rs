use super::user_body;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use wangge_app::users::ListQuery as Query;
use wangge_domain::{Role, SearchText, UnitId, UserId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    unit_id: Option<String>,
    role: Option<String>,
    active: Option<bool>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// The accounts the caller reaches.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let bad =
        |e: wangge_domain::ValidationError| ApiError::bad_request("invalid_query", e.to_string());
    let limit = http::limit(q.limit)?;
    let query = Query {
        unit: q
            .unit_id
            .as_deref()
            .map(|u| http::id::<UnitId>(u, "unit"))
            .transpose()?,
        role: q
            .role
            .as_deref()
            .map(str::parse::<Role>)
            .transpose()
            .map_err(bad)?,
        active: q.active,
        text: q
            .q
            .as_deref()
            .map(|t| SearchText::parse(t, 64))
            .transpose()
            .map_err(bad)?
            .flatten(),
        after: http::cursor::<UserId>(q.cursor.as_deref())?,
        limit: i64::from(limit) + 1,
    };
    let rows = state
        .read(user.who(), move |r| wangge_app::users::list(r, query))
        .await?;
    let bodies: Vec<Value> = rows.iter().map(user_body).collect();
    Ok(HttpResponse::Ok().json(http::page(bodies, limit, |u| {
        u["id"].as_str().unwrap_or_default().to_owned()
    })))
}
