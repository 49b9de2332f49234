use super::{WHAT, announce};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use wangge_domain::UserId;

/// Gives an account a new one-time password (returned once) and ends its sessions. The right
/// is checked before the password is hashed.
pub async fn reset_password(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = http::id(&id, WHAT)?;
    let plan = state
        .read(user.who(), move |r| {
            wangge_app::users::authorize_reset(r.conn, &r.caller, id)
        })
        .await?;
    let svc = state.svc.clone();
    let hashed = web::block(move || plan.hash(&svc.passwords)).await??;
    let keyed = key.0.as_ref().map(|k| wangge_app::idempotency::Keyed {
        key: k.clone(),
        request_hash: http::request_hash(&req, b""),
    });
    let ended = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = ended.clone();
    let res = state
        .answer(
            user.who(),
            keyed,
            move |tx| {
                wangge_app::users::reset_password(tx, &hashed)
                    .map(|e| (e, hashed.one_time_password().to_owned()))
            },
            move |(e, password)| {
                if let Ok(mut s) = sink.lock() {
                    s.clone_from(e);
                }
                http::answer(
                    StatusCode::OK,
                    &json!({ "one_time_password": password, "sessions_ended": e.len() }),
                    None,
                    None,
                )
            },
        )
        .await?;
    let ended = ended.lock().map(|e| e.clone()).unwrap_or_default();
    announce(&state, &ended).await;
    Ok(res)
}
