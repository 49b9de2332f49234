use super::{attempt_succeeded, count_attempt, token_pair};
use crate::auth::{peer_address, request_id};
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::sessions::{self, Origin};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("the username or password is wrong").with_code("invalid_credentials")
}

/// Logs in: the attempt is counted before the password is checked, and the check runs
/// against a dummy hash for unknown names so timing does not tell which exist.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody { username, password } = body.into_inner();
    if !wangge_domain::auth::plausible_login(&username, &password) {
        return Err(invalid_credentials());
    }
    let origin = Origin {
        address: peer_address(&req),
        request_id: request_id(&req),
    };
    count_attempt(&state, &username, &origin.address).await?;
    let name = username.clone();
    let attempt = state
        .db(move |conn| Ok(sessions::prepare_login(conn, &username)?))
        .await?;
    let user = web::block(move || attempt.verify(&password)).await?;
    let Some(user) = user else {
        // The attempt was counted before the check: a failure leaves it counted.
        tracing::info!(auth.outcome = "failure", "login failed");
        let o = origin.clone();
        state
            .db(move |conn| Ok(sessions::login_failed(conn, &name, &o)?))
            .await?;
        return Err(invalid_credentials());
    };
    attempt_succeeded(&state, &name, &origin.address).await;
    let svc = state.svc.clone();
    let issued = state
        .db(move |conn| Ok(sessions::login(conn, &svc, &user, &origin)?))
        .await?;
    tracing::info!(auth.outcome = "success", user.id = %issued.user.id, "login");
    Ok(HttpResponse::Ok().json(token_pair(&state, &issued)?))
}
