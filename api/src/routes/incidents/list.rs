//! `GET /incidents`: the cases in the caller's sight, filtered, a page at a time.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_app::incidents::list::{ListQuery, list as list_cases};
use wangge_domain::incident::{CategoryCode, Priority, Status};
use wangge_domain::{DepartmentId, IncidentId, UnitId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    cursor: Option<String>,
    limit: Option<u32>,
    /// One status or several, comma-separated.
    status: Option<String>,
    category: Option<String>,
    priority: Option<String>,
    unit_id: Option<String>,
    department_id: Option<String>,
    overdue: Option<bool>,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", m)
}

pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = http::limit(q.limit)?;
    let after: Option<IncidentId> = http::cursor(q.cursor.as_deref())?;
    let mut lq = ListQuery::default();
    if let Some(s) = &q.status {
        for one in s.split(',') {
            let st = Status::parse(one.trim()).map_err(|e| bad(e.to_string()))?;
            lq.filter.statuses.push(st.as_str().to_owned());
        }
    }
    if let Some(c) = &q.category {
        let code = CategoryCode::parse(c).map_err(|e| bad(format!("category: {}", e.reason)))?;
        lq.filter.category = Some(code.as_str().to_owned());
    }
    if let Some(p) = &q.priority {
        lq.filter.priority = Some(
            Priority::parse(p)
                .map_err(|e| bad(e.to_string()))?
                .as_str()
                .to_owned(),
        );
    }
    if let Some(d) = &q.department_id {
        let d: DepartmentId = d
            .parse()
            .map_err(|_| bad("department_id: must be a UUID"))?;
        lq.filter.department_id = Some(d.to_string());
    }
    if let Some(u) = &q.unit_id {
        lq.unit = Some(
            u.parse::<UnitId>()
                .map_err(|_| bad("unit_id: must be a UUID"))?,
        );
    }
    lq.overdue = q.overdue.unwrap_or(false);
    let after = after.map(|a| a.to_string());
    let rows = state
        .read(user.who(), move |r| {
            list_cases(
                r.conn,
                &r.caller,
                &lq,
                after.as_deref(),
                i64::from(limit) + 1,
                chrono::Utc::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(http::page(rows, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })))
}
