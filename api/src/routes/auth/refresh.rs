use super::token_pair;
use crate::auth::{peer_address, request_id};
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::sessions::{self, Origin, Refreshed};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// Rotates a refresh token. Sent again within `WANGGE_REFRESH_RETRY_S` (a lost answer), it
/// gets a new pair of the same session; after that, a spent token ends the session.
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    if token.len() > 256 {
        return Err(
            ApiError::unauthorized("the refresh token is invalid or expired")
                .with_code("invalid_refresh_token"),
        );
    }
    let origin = Origin {
        address: peer_address(&req),
        request_id: request_id(&req),
    };
    let svc = state.svc.clone();
    let outcome = state
        .db(move |conn| Ok(sessions::refresh(conn, &svc, &token, &origin)?))
        .await?;
    match outcome {
        Refreshed::Issued(issued) => Ok(HttpResponse::Ok().json(token_pair(&state, &issued)?)),
        Refreshed::Reused { family_id } => {
            tracing::warn!(auth.session = %family_id, "refresh token reused: session revoked");
            crate::bus::announce_revoked(&state, &family_id).await;
            Err(ApiError::unauthorized(
                "this refresh token was already used; the session has been ended for safety",
            )
            .with_code("refresh_token_reused"))
        }
    }
}
