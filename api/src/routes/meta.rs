//! Health, readiness, the contract and metrics.

use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the database answers, and Redis too when configured.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db_ok = state
        .db(|conn| wangge_persistence::db::ping(conn).map_err(|e| ApiError::unavailable(&e)))
        .await
        .is_ok();
    let redis = match &state.redis {
        None => "not_configured",
        Some(r) => {
            let mut c = r.clone();
            let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
            if pong.is_ok() { "ok" } else { "unavailable" }
        }
    };
    let checks = json!({ "database": if db_ok { "ok" } else { "unavailable" }, "redis": redis });
    if db_ok && redis != "unavailable" {
        Ok(HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks })))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "a dependency is unavailable",
        )
        .with(json!({ "checks": checks })))
    }
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(include_str!("../../../openapi.yaml"))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.state();
    let m = &state.metrics;
    m.pool_connections
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle_connections));
    m.pool_connections
        .with_label_values(&["in_use"])
        .set(i64::from(
            pool.connections.saturating_sub(pool.idle_connections),
        ));
    m.pool_connections
        .with_label_values(&["max"])
        .set(i64::from(state.pool.max_size()));
    state.record_locator_metrics();
    m.password_hashes
        .set(i64::try_from(state.svc.passwords.made()).unwrap_or(i64::MAX));
    if let Ok(n) = state
        .db(|conn| Ok(wangge_persistence::changes::unsequenced(conn)?))
        .await
    {
        m.changes_unsequenced.set(n);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}

/// 405 for a method the resource does not offer, with `Allow` listing the ones it does.
pub async fn method_not_allowed(req: HttpRequest, allow: String) -> HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; use {allow}",
            req.method(),
            req.path()
        ),
    ));
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    res
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
