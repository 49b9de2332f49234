//! The audit log, read-only: there is no route that changes or deletes an event.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_domain::UserId;
use wangge_persistence::audit::AuditFilter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    actor_id: Option<String>,
    subject_id: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// An RFC 3339 time, normalised to the stored form (UTC, milliseconds) so it compares as text.
fn time(name: &str, s: &str) -> Result<String, ApiError> {
    wangge_domain::instant::parse_instant(s)
        .map(wangge_app::tx::stored_time)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("{name} must be an RFC 3339 time"))
        })
}

fn uuid(name: &str, s: &str) -> Result<String, ApiError> {
    s.parse::<UserId>()
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_request("invalid_query", format!("{name} must be a UUID")))
}

fn action(a: String) -> Result<String, ApiError> {
    let ok = (1..=64).contains(&a.len())
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    if ok {
        Ok(a)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            "action must be an event name like user.created",
        ))
    }
}

/// Newest first, scoped to what the caller reaches.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = http::limit(q.limit)?;
    let before: Option<UserId> = http::cursor(q.cursor.as_deref())?;
    let filter = AuditFilter {
        from: q.from.as_deref().map(|t| time("from", t)).transpose()?,
        to: q.to.as_deref().map(|t| time("to", t)).transpose()?,
        actor_id: q
            .actor_id
            .as_deref()
            .map(|s| uuid("actor_id", s))
            .transpose()?,
        subject_id: q
            .subject_id
            .as_deref()
            .map(|s| uuid("subject_id", s))
            .transpose()?,
        action: q.action.map(action).transpose()?,
    };
    let rows = state
        .read(user.who(), move |r| {
            wangge_app::audit::list(
                r,
                &filter,
                before.map(|b| b.to_string()).as_deref(),
                i64::from(limit) + 1,
            )
        })
        .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let details: Value = serde_json::from_str(&r.details).unwrap_or(Value::Null);
            let mut v = json!(r);
            v["details"] = details;
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(http::page(items, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })))
}
