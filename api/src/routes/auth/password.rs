use super::{attempt_succeeded, count_attempt, token_pair};
use crate::auth::{AuthUser, peer_address};
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use wangge_app::sessions;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Sets a new password. Every session of the user ends and a new one starts (the answer is a
/// new token pair). Wrong current passwords count against the login throttle, so this is no
/// back door for guessing.
pub async fn change_password(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let PasswordBody {
        current_password,
        new_password,
    } = body.into_inner();
    let weak = |m: String| {
        ApiError::unprocessable("weak_password", m).with(json!({ "field": "new_password" }))
    };
    let new = wangge_domain::Password::replacing(&current_password, &new_password)
        .map_err(|e| weak(e.to_string()))?;
    let who = user.who();
    let change = state
        .db(move |conn| Ok(sessions::prepare_password_change(conn, &who)?))
        .await?;
    let address = peer_address(&req);
    let username = change.user.username.clone();
    count_attempt(&state, &username, &address).await?;
    let (current_ok, change) =
        web::block(move || (change.current_matches(&current_password), change)).await?;
    if !current_ok {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "current_password: does not match",
        )
        .with(json!({ "field": "current_password" })));
    }
    attempt_succeeded(&state, &username, &address).await;
    drop(change);
    let svc = state.svc.clone();
    let new_hash = web::block(move || svc.passwords.hash(new.expose()))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let (svc, who, sid) = (state.svc.clone(), user.who(), user.session_id.clone());
    let (issued, ended) = state
        .db(move |conn| {
            Ok(sessions::change_password(
                conn, &svc, &who, &sid, &new_hash,
            )?)
        })
        .await?;
    for family in &ended {
        crate::bus::announce_revoked(&state, family).await;
    }
    state.sequencer.notify_one();
    tracing::info!(auth.event = "password_changed", "password changed");
    Ok(HttpResponse::Ok().json(token_pair(&state, &issued)?))
}
