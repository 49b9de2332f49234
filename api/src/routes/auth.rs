//! Login, token refresh, logout and the caller's own account.

use crate::access;
use crate::auth::request_id;
use crate::auth::{
    AuthUser, dummy_hash, now_s, peer_address, random_token, token_hash, verify_password,
};
use crate::bus;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use wangge_persistence::audit::{self, NewAuditEvent};
use wangge_persistence::users::UserRecord;
use wangge_persistence::{sessions, users};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("wrong username or password").with_code("invalid_credentials")
}

fn rfc3339(unix_s: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(unix_s).unwrap_or(i64::MAX), 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A refresh token to store: its hash and expiry (the token itself only goes to the client).
struct NewRefresh {
    hash: String,
    expires_at: String,
}

/// A new access token and refresh token for `user` in session `family_id`, with nothing
/// stored yet, so that callers can store the refresh token inside their own transaction.
fn prepare_pair(
    state: &AppState,
    user: &UserRecord,
    family_id: &str,
    session_started_s: u64,
) -> Result<(serde_json::Value, NewRefresh), ApiError> {
    let now = now_s();
    let refresh = random_token(48);
    // No refresh token outlives the session's maximum age, so a stolen one cannot be kept
    // alive for ever by refreshing it.
    let session_ends_s = session_started_s.saturating_add(state.settings.session_max_age_s);
    let refresh_ttl_s = state
        .settings
        .refresh_token_ttl_s
        .min(session_ends_s.saturating_sub(now));
    let stored = NewRefresh {
        hash: token_hash(&refresh),
        expires_at: rfc3339(now.saturating_add(refresh_ttl_s)),
    };
    let access = state.tokens.issue(
        &user.id,
        user.roles(),
        family_id,
        user.must_change_password,
        now,
    )?;
    let body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.tokens.ttl_s,
        "refresh_token": refresh,
        "refresh_expires_in": refresh_ttl_s,
        "must_change_password": user.must_change_password,
        "user": { "id": user.id, "username": user.username, "roles": user.roles() },
    });
    Ok((body, stored))
}

/// A new session's first pair, its refresh token stored (one insert).
fn issue_pair(
    state: &AppState,
    conn: &mut wangge_persistence::AnyConnection,
    user: &UserRecord,
    family_id: &str,
) -> Result<serde_json::Value, ApiError> {
    let (body, stored) = prepare_pair(state, user, family_id, now_s())?;
    sessions::insert_refresh(conn, family_id, &user.id, &stored.hash, &stored.expires_at)?;
    Ok(body)
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

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody { username, password } = body.into_inner();
    // Such names cannot exist (see `Username`); refusing them here also keeps NUL bytes away
    // from PostgreSQL, which rejects them.
    if username.len() > 64 || password.len() > 1024 || username.chars().any(char::is_control) {
        return Err(invalid_credentials());
    }
    let address = peer_address(&req);
    let throttle = &state.login_throttle;
    count_attempt(&state, &username, &address).await?;
    let name = username.clone();
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
        // The attempt was counted before the check: a failure leaves it counted.
        tracing::info!(auth.outcome = "failure", "login failed");
        let event = NewAuditEvent {
            actor_name: Some(name),
            action: "auth.login_failed",
            address: Some(address),
            request_id: request_id(&req),
            ..NewAuditEvent::default()
        };
        state
            .db(move |conn| Ok(audit::record(conn, &event)?))
            .await?;
        return Err(invalid_credentials());
    };
    if let Err(e) = throttle.succeeded(&name, &address).await {
        tracing::warn!(error.cause = %e, "login throttle unavailable");
    }
    let st = state.clone();
    let event = NewAuditEvent {
        actor_id: Some(user.id.clone()),
        actor_name: Some(user.username.clone()),
        action: "auth.login",
        address: Some(address),
        request_id: request_id(&req),
        ..NewAuditEvent::default()
    };
    let body = state
        .db(move |conn| {
            audit::record(conn, &event)?;
            issue_pair(&st, conn, &user, &wangge_persistence::uuid_v7())
        })
        .await?;
    tracing::info!(auth.outcome = "success", user.id = %body["user"]["id"].as_str().unwrap_or(""), "login");
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

enum Refreshed {
    Pair(serde_json::Value),
    /// A used token came back: the whole session is revoked.
    Reused {
        family_id: String,
    },
}

/// Rotates a refresh token: the old one is spent, a new pair is issued in the same session.
/// A token presented twice means it leaked; the session ends for everyone holding it.
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    let (address, rid) = (peer_address(&req), request_id(&req));
    let invalid = || {
        ApiError::unauthorized("the refresh token is invalid or expired")
            .with_code("invalid_refresh_token")
    };
    if token.len() > 256 {
        return Err(invalid());
    }
    let hash = token_hash(&token);
    let st = state.clone();
    let outcome = state
        .db(move |conn| {
            let Some(rec) = sessions::find_refresh(conn, &hash)? else {
                return Err(invalid());
            };
            if sessions::is_revoked(conn, &rec.family_id)? {
                return Err(invalid());
            }
            let reused = |conn: &mut wangge_persistence::AnyConnection| {
                sessions::revoke(conn, &rec.family_id, &rec.user_id, "refresh_token_reused")?;
                audit::record(
                    conn,
                    &NewAuditEvent {
                        actor_id: Some(rec.user_id.clone()),
                        action: "auth.refresh_token_reused",
                        subject_type: Some("session"),
                        subject_id: Some(rec.family_id.clone()),
                        address: Some(address.clone()),
                        request_id: rid.clone(),
                        ..NewAuditEvent::default()
                    },
                )?;
                Ok::<_, ApiError>(Refreshed::Reused {
                    family_id: rec.family_id.clone(),
                })
            };
            if rec.used_at.is_some() {
                return reused(conn);
            }
            if rec.expires_at < wangge_persistence::now_rfc3339() {
                return Err(invalid());
            }
            // The session began with its first token; a maximum age lowered since applies too.
            let started_s = sessions::family_started_at(conn, &rec.family_id)?
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .and_then(|t| u64::try_from(t.timestamp()).ok())
                .ok_or_else(invalid)?;
            if started_s.saturating_add(st.settings.session_max_age_s) <= now_s() {
                return Err(ApiError::unauthorized(
                    "the session reached its maximum age; log in again",
                )
                .with_code("invalid_refresh_token"));
            }
            let user = users::find_by_id(conn, &rec.user_id)?
                .filter(|u| u.active)
                .ok_or_else(invalid)?;
            let (body, next) = prepare_pair(&st, &user, &rec.family_id, started_s)?;
            // Spending the old token and storing its successor commit together: a failure in
            // between leaves the old token usable, so a retry is not mistaken for reuse.
            let spent = wangge_persistence::transaction(conn, |conn| {
                if !sessions::mark_used(conn, &rec.id)? {
                    return Ok(false);
                }
                sessions::insert_refresh(
                    conn,
                    &rec.family_id,
                    &user.id,
                    &next.hash,
                    &next.expires_at,
                )?;
                Ok(true)
            })?;
            if spent {
                Ok(Refreshed::Pair(body))
            } else {
                // Another request spent it first: the same token was sent twice.
                reused(conn)
            }
        })
        .await?;
    match outcome {
        Refreshed::Pair(body) => Ok(HttpResponse::Ok().json(body)),
        Refreshed::Reused { family_id } => {
            tracing::warn!(auth.session = %family_id, "refresh token reused: session revoked");
            bus::announce_revoked(&state, &family_id).await;
            Err(ApiError::unauthorized(
                "this refresh token was already used; the session has been ended for safety",
            )
            .with_code("refresh_token_reused"))
        }
    }
}

/// Ends the caller's session at once: its access and refresh tokens stop working.
pub async fn logout(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (sid, uid) = (user.session_id.clone(), user.caller.user_id.to_string());
    let mut event = access::event_by(&user, None, "auth.logout");
    event.subject_type = Some("session");
    event.subject_id = Some(sid.clone());
    state
        .db(move |conn| {
            wangge_persistence::transaction(conn, |conn| {
                sessions::revoke(conn, &sid, &uid, "logout")?;
                audit::record(conn, &event)
            })?;
            Ok(())
        })
        .await?;
    bus::announce_revoked(&state, &user.session_id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account, which must still exist and be active.
async fn caller_account(
    state: &web::Data<AppState>,
    user: &AuthUser,
) -> Result<UserRecord, ApiError> {
    let id = user.caller.user_id.to_string();
    state
        .db(move |conn| Ok(users::find_by_id(conn, &id)?))
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists or is inactive"))
}

/// The caller's own account, with the units it is assigned.
pub async fn me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = state
        .db(move |conn| Ok(access::load(conn, &user)?.account))
        .await?;
    Ok(HttpResponse::Ok().json(super::users::user_body(&account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Sets a new password. Every session of the user ends and a new one starts (the answer is a
/// new token pair), so no token issued under the old password outlives it. Wrong current
/// passwords count against the login throttle, so this is no back door for guessing.
pub async fn change_password(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let PasswordBody {
        current_password,
        new_password,
    } = body.into_inner();
    let new = wangge_domain::Password::parse(&new_password).map_err(|e| {
        ApiError::unprocessable("weak_password", e.to_string())
            .with(json!({ "field": "new_password" }))
    })?;
    if new_password == current_password {
        return Err(ApiError::unprocessable(
            "weak_password",
            "the new password must differ from the current one",
        )
        .with(json!({ "field": "new_password" })));
    }
    let rec = caller_account(&state, &user).await?;
    let address = peer_address(&req);
    count_attempt(&state, &rec.username, &address).await?;
    let hash = rec.password_hash.clone();
    let current_ok = current_password.len() <= 1024
        && web::block(move || verify_password(&current_password, &hash)).await?;
    if current_ok {
        if let Err(e) = state
            .login_throttle
            .succeeded(&rec.username, &address)
            .await
        {
            tracing::warn!(error.cause = %e, "login throttle unavailable");
        }
    } else {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "current_password: does not match",
        )
        .with(json!({ "field": "current_password" })));
    }
    let new_hash = web::block(move || crate::auth::hash_password(new.expose()))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let st = state.clone();
    let old_session = user.session_id.clone();
    let event = access::event_by(&user, Some(&rec.username), "auth.password_changed");
    // Every session of the user ends, not just this one: a session opened with the old (or
    // one-time) password must not be refreshed into a full one afterwards.
    let (body, ended) = state
        .db(move |conn| {
            let mut ended = sessions::live_families(conn, &rec.id)?;
            if !ended.contains(&old_session) {
                ended.push(old_session);
            }
            wangge_persistence::transaction(conn, |conn| {
                users::set_password(conn, &rec.id, &new_hash)?;
                for family in &ended {
                    sessions::revoke(conn, family, &rec.id, "password_changed")?;
                }
                audit::record(conn, &event)
            })?;
            let rec = users::find_by_id(conn, &rec.id)?
                .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
            let body = issue_pair(&st, conn, &rec, &wangge_persistence::uuid_v7())?;
            Ok((body, ended))
        })
        .await?;
    for family in &ended {
        bus::announce_revoked(&state, family).await;
    }
    tracing::info!(auth.event = "password_changed", "password changed");
    Ok(HttpResponse::Ok().json(body))
}
