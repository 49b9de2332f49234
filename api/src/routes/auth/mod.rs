//! Login, token refresh, logout and the caller's own account. Sessions are `wangge_app`'s;
//! this layer counts password attempts (the login throttle) and mints access tokens.

mod login;
mod password;
mod refresh;

pub use login::login;
pub use password::change_password;
pub use refresh::refresh;

use crate::auth::{AuthUser, now_s};
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use wangge_app::sessions::Issued;

/// The token pair a client gets: a new access token for the session and its newest refresh
/// token.
fn token_pair(state: &AppState, issued: &Issued) -> Result<Value, ApiError> {
    let user = &issued.user;
    let access = state.tokens.issue(
        &user.id,
        user.roles(),
        &issued.family_id,
        user.must_change_password,
        now_s(),
    )?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.tokens.ttl_s,
        "refresh_token": issued.refresh_token,
        "refresh_expires_in": issued.refresh_expires_in_s,
        "must_change_password": user.must_change_password,
        "user": { "id": user.id, "username": user.username, "roles": user.roles() },
    }))
}

/// Counts a password attempt for `username` from `address`; 429 when the throttle says so.
/// Redis trouble must not lock everyone out: the attempt goes ahead, and it is logged.
async fn count_attempt(state: &AppState, username: &str, address: &str) -> Result<(), ApiError> {
    match state
        .login_throttle
        .attempt(username, address, now_s())
        .await
    {
        Ok(Some(wait_s)) => {
            tracing::warn!(auth.outcome = "throttled", "password attempt throttled");
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "login_throttled",
                "too many failed password attempts for this account or from this address; retry after the time in Retry-After",
            );
            e.retry_after_s = Some(wait_s);
            Err(e)
        }
        Ok(None) => Ok(()),
        Err(e) => {
            tracing::warn!(error.cause = %e, "login throttle unavailable");
            Ok(())
        }
    }
}

async fn attempt_succeeded(state: &AppState, username: &str, address: &str) {
    if let Err(e) = state.login_throttle.succeeded(username, address).await {
        tracing::warn!(error.cause = %e, "login throttle unavailable");
    }
}

/// Ends the caller's session at once: its access and refresh tokens stop working.
pub async fn logout(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sid = user.session_id.clone();
    let svc = state.svc.clone();
    let who = user.who();
    state
        .db(move |conn| Ok(wangge_app::sessions::logout(conn, &svc, &who, &sid)?))
        .await?;
    crate::bus::announce_revoked(&state, &user.session_id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account, with the units it is assigned.
pub async fn me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let who = user.who();
    let account = state
        .db(move |conn| Ok(wangge_app::sessions::me(conn, &who)?))
        .await?;
    Ok(HttpResponse::Ok().json(super::users::user_body(&account)))
}
