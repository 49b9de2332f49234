//! Sessions: login, refresh, logout and changing one's password. A session is a family of
//! rotating refresh tokens, stored as hashes only; its lifecycle is `domain::session`. The
//! access tokens themselves (JWT) are minted by `api`.

use crate::caller::{Caller, Who};
use crate::error::AppError;
use crate::password;
use crate::services::Services;
use crate::tx::{Audit, Change, Entity, stored_time, write};
use chrono::{DateTime, Utc};
use serde_json::json;
use wangge_domain::session::{Refresh, RefreshToken};
use wangge_persistence::audit::{self, NewAuditEvent};
use wangge_persistence::users::{self, UserRecord, UserWithUnits};
use wangge_persistence::{AnyConnection, sessions, write_transaction};

/// SHA-256 of a refresh token, hex: only this is stored, so a database leak yields no usable
/// tokens.
#[must_use]
pub fn token_hash(token: &str) -> String {
    use std::fmt::Write as _;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where a request without a session came from, for the audit log.
#[derive(Debug, Clone)]
pub struct Origin {
    pub address: String,
    pub request_id: Option<String>,
}

/// A session's newest refresh token, in plain text for the client (never stored so).
#[derive(Debug, Clone)]
pub struct Issued {
    pub family_id: String,
    pub refresh_token: String,
    pub refresh_expires_in_s: u64,
    pub user: UserRecord,
}

fn invalid() -> AppError {
    AppError::Unauthorized {
        code: "invalid_refresh_token",
        message: "the refresh token is invalid or expired".into(),
    }
}

/// A new refresh token for `user` in session `family_id`, stored (as its hash) in the
/// caller's transaction.
fn issue(
    conn: &mut AnyConnection,
    user: &UserRecord,
    family_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Issued, AppError> {
    let refresh = password::random_token(48);
    sessions::insert_refresh(
        conn,
        family_id,
        &user.id,
        &token_hash(&refresh),
        &stored_time(expires_at),
    )?;
    Ok(Issued {
        family_id: family_id.to_owned(),
        refresh_token: refresh,
        refresh_expires_in_s: u64::try_from((expires_at - now).num_seconds()).unwrap_or(0),
        user: user.clone(),
    })
}

fn event(user: Option<&UserRecord>, action: &'static str, origin: &Origin) -> NewAuditEvent {
    NewAuditEvent {
        actor_id: user.map(|u| u.id.clone()),
        actor_name: user.map(|u| u.username.clone()),
        action,
        address: Some(origin.address.clone()),
        request_id: origin.request_id.clone(),
        ..NewAuditEvent::default()
    }
}

/// A login in progress: the account (if it exists and is active) and the hash to check the
/// password against (a dummy one otherwise, so timing does not tell which names exist).
pub struct LoginAttempt {
    user: Option<UserRecord>,
    hash: String,
}

/// Looks the account up.
///
/// # Errors
/// Database errors.
pub fn prepare_login(conn: &mut AnyConnection, username: &str) -> Result<LoginAttempt, AppError> {
    let user = users::find_by_username(conn, username)?.filter(|u| u.active);
    let hash = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    Ok(LoginAttempt { user, hash })
}

impl LoginAttempt {
    /// Checks the password (Argon2: CPU work, off the database threads); the account when it
    /// matches.
    #[must_use]
    pub fn verify(self, password: &str) -> Option<UserRecord> {
        let ok = password::verify(password, &self.hash);
        self.user.filter(|_| ok)
    }
}

/// Records a failed login.
///
/// # Errors
/// Database errors.
pub fn login_failed(
    conn: &mut AnyConnection,
    username: &str,
    origin: &Origin,
) -> Result<(), AppError> {
    let mut e = event(None, "auth.login_failed", origin);
    e.actor_name = Some(username.to_owned());
    audit::record(conn, &e)?;
    Ok(())
}

/// Starts a session for an account whose password matched.
///
/// # Errors
/// Database errors.
pub fn login(
    conn: &mut AnyConnection,
    svc: &Services,
    user: &UserRecord,
    origin: &Origin,
) -> Result<Issued, AppError> {
    let now = Utc::now();
    let expires = svc.config.session.expiry(now, now);
    write_transaction(conn, |conn| {
        audit::record(conn, &event(Some(user), "auth.login", origin))?;
        issue(conn, user, &crate::tx::new_id(), expires, now)
    })
}

/// What presenting a refresh token came to.
#[derive(Debug)]
pub enum Refreshed {
    /// The next token of the session.
    Issued(Box<Issued>),
    /// A spent token came back after the retry window: it leaked, and the session is ended.
    Reused { family_id: String },
}

/// Rotates a refresh token: the old one is spent and a successor issued in the same session.
/// Within the retry window a spent token gets another successor (the phone probably lost the
/// answer); after it, a spent token means it leaked, and the session ends for everyone.
///
/// # Errors
/// 401 `invalid_refresh_token` for an unknown, expired or revoked token, or a session past
/// its maximum age.
pub fn refresh(
    conn: &mut AnyConnection,
    svc: &Services,
    token: &str,
    origin: &Origin,
) -> Result<Refreshed, AppError> {
    let hash = token_hash(token);
    for _ in 0..3 {
        let Some(rec) = sessions::find_refresh(conn, &hash)? else {
            return Err(invalid());
        };
        let started = sessions::family_started_at(conn, &rec.family_id)?
            .as_deref()
            .and_then(parse_time)
            .ok_or_else(invalid)?;
        let state = RefreshToken {
            expires_at: parse_time(&rec.expires_at).ok_or_else(invalid)?,
            used_at: rec.used_at.as_deref().and_then(parse_time),
            session_started_at: started,
            session_revoked: sessions::is_revoked(conn, &rec.family_id)?,
        };
        let now = Utc::now();
        let decision = svc.config.session.decide(&state, now);
        match decision {
            Refresh::Invalid => return Err(invalid()),
            Refresh::SessionEnded => {
                return Err(AppError::Unauthorized {
                    code: "invalid_refresh_token",
                    message: "the session reached its maximum age; log in again".into(),
                });
            }
            Refresh::Rotate { expires_at } => {
                let user = active_user(conn, &rec.user_id)?;
                // Spending the old token and storing its successor commit together: a failure
                // in between leaves the old token usable.
                let spent = write_transaction(conn, |conn| {
                    if !sessions::mark_used(conn, &rec.id)? {
                        return Ok(None);
                    }
                    issue(conn, &user, &rec.family_id, expires_at, now).map(Some)
                })?;
                match spent {
                    Some(issued) => return Ok(Refreshed::Issued(Box::new(issued))),
                    // Spent by a concurrent request just now: decide again (a retry).
                    None => continue,
                }
            }
            Refresh::Retry { expires_at } => {
                let user = active_user(conn, &rec.user_id)?;
                let issued = write_transaction(conn, |conn| {
                    audit::record(
                        conn,
                        &NewAuditEvent {
                            subject_type: Some("session"),
                            subject_id: Some(rec.family_id.clone()),
                            ..event(Some(&user), "auth.refresh_retried", origin)
                        },
                    )?;
                    issue(conn, &user, &rec.family_id, expires_at, now)
                })?;
                return Ok(Refreshed::Issued(Box::new(issued)));
            }
            Refresh::Reused => {
                write_transaction(conn, |conn| {
                    sessions::revoke(conn, &rec.family_id, &rec.user_id, "refresh_token_reused")?;
                    audit::record(
                        conn,
                        &NewAuditEvent {
                            actor_id: Some(rec.user_id.clone()),
                            subject_type: Some("session"),
                            subject_id: Some(rec.family_id.clone()),
                            ..event(None, "auth.refresh_token_reused", origin)
                        },
                    )?;
                    Ok::<_, AppError>(())
                })?;
                return Ok(Refreshed::Reused {
                    family_id: rec.family_id,
                });
            }
        }
    }
    Err(invalid())
}

fn active_user(conn: &mut AnyConnection, id: &str) -> Result<UserRecord, AppError> {
    users::find_by_id(conn, id)?
        .filter(|u| u.active)
        .ok_or_else(invalid)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Ends the caller's session at once.
///
/// # Errors
/// Database errors.
pub fn logout(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    session_id: &str,
) -> Result<(), AppError> {
    write(conn, svc, who, |tx| {
        let user_id = tx.caller.actor.id.clone().unwrap_or_default();
        sessions::revoke(tx.conn, session_id, &user_id, "logout")?;
        tx.audit(Audit {
            action: "auth.logout",
            subject_type: Some("session"),
            subject_id: Some(session_id.to_owned()),
            unit_path: None,
            details: json!({}),
        })
    })
}

/// The caller's own account, with its units.
///
/// # Errors
/// 401 when it is gone or inactive.
pub fn me(conn: &mut AnyConnection, who: &Who) -> Result<UserWithUnits, AppError> {
    Caller::load(conn, who)?
        .account
        .ok_or_else(|| AppError::forbidden("only accounts have an account"))
}

/// A password change in progress: the account and its current hash.
pub struct PasswordChange {
    pub user: UserRecord,
}

/// Loads the caller's account for a password change.
///
/// # Errors
/// 401 when it is gone or inactive.
pub fn prepare_password_change(
    conn: &mut AnyConnection,
    who: &Who,
) -> Result<PasswordChange, AppError> {
    let account = me(conn, who)?;
    Ok(PasswordChange { user: account.user })
}

impl PasswordChange {
    /// Checks the current password (CPU work, off the database threads).
    #[must_use]
    pub fn current_matches(&self, current: &str) -> bool {
        current.len() <= 1024 && password::verify(current, &self.user.password_hash)
    }
}

/// Sets a new password (already hashed). Every session of the account ends, the one in use
/// included, and a new one starts: no token issued under the old (or one-time) password
/// outlives it. Returns the new session and the ended ones, to announce.
///
/// # Errors
/// Database errors.
pub fn change_password(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    current_session: &str,
    new_hash: &str,
) -> Result<(Issued, Vec<String>), AppError> {
    if who.account_id().is_none() {
        return Err(AppError::forbidden("only accounts change their password"));
    }
    let now = Utc::now();
    let expires = svc.config.session.expiry(now, now);
    write(conn, svc, who, |tx| {
        let user_id = tx
            .caller
            .account_id()
            .ok_or_else(|| AppError::forbidden("only accounts change their password"))?
            .to_owned();
        let mut ended = sessions::live_families(tx.conn, &user_id)?;
        if !ended.iter().any(|s| s == current_session) {
            ended.push(current_session.to_owned());
        }
        let now_text = tx.now().to_owned();
        let changes = users::UserChanges {
            password_hash: Some(new_hash.to_owned()),
            must_change_password: Some(false),
            ..users::UserChanges::default()
        };
        let current =
            users::find_by_id(tx.conn, &user_id)?.ok_or_else(|| AppError::not_found("user"))?;
        if !users::update(tx.conn, &user_id, current.version, &changes, &now_text)? {
            return Err(AppError::Raced);
        }
        for family in &ended {
            sessions::revoke(tx.conn, family, &user_id, "password_changed")?;
        }
        tx.audit(Audit {
            action: "auth.password_changed",
            ..Audit::default()
        })?;
        let user =
            users::find_by_id(tx.conn, &user_id)?.ok_or_else(|| AppError::not_found("user"))?;
        tx.history(
            Entity::User,
            &user_id,
            "password_changed",
            Some(user.version),
            json!({}),
        )?;
        tx.change(Change {
            entity: Entity::User,
            id: user_id.clone(),
            version: user.version,
            deleted: false,
            unit_path_before: None,
            unit_path_after: None,
        })?;
        let issued = issue(tx.conn, &user, &crate::tx::new_id(), expires, now)?;
        Ok((issued, ended.clone()))
    })
}
