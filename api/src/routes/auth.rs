//! `POST /api/v1/auth/login`.

use crate::auth::{dummy_hash, verify_password};
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use wangge_persistence::users;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: String,
}

pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody { username, password } = body.into_inner();
    // Such names cannot exist (see `Username`); refusing them here also keeps NUL bytes away
    // from PostgreSQL, which rejects them.
    if username.len() > 64 || password.len() > 1024 || username.chars().any(char::is_control) {
        return Err(
            ApiError::unauthorized("wrong username or password").with_code("invalid_credentials")
        );
    }
    let user = state
        .db(move |conn| Ok(users::find_by_username(conn, &username)?))
        .await?;
    // Verify against a dummy hash for unknown users so timing does not reveal which exist.
    let (hash, found) = match &user {
        Some(u) if u.active => (u.password_hash.clone(), true),
        _ => (dummy_hash().to_owned(), false),
    };
    let ok = web::block(move || verify_password(&password, &hash)).await? && found;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(auth.outcome = "failure", "login failed");
        return Err(
            ApiError::unauthorized("wrong username or password").with_code("invalid_credentials")
        );
    };
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = state.tokens.issue(&user.id, user.roles(), now_s)?;
    tracing::info!(auth.outcome = "success", user.id = %user.id, "login");
    Ok(HttpResponse::Ok().json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": state.tokens.ttl_s,
        "must_change_password": user.must_change_password,
        "user": { "id": user.id, "username": user.username, "roles": user.roles() },
    })))
}
