//! Sessions: rotating refresh tokens (stored hashed) grouped in families, and the list of
//! revoked families that every instance refuses access tokens of.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::now_rfc3339;
use crate::schema::{refresh_tokens, revoked_sessions};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRecord {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
}

/// Stores a new refresh token (its hash only).
///
/// # Errors
/// Database errors.
pub fn insert_refresh(
    conn: &mut AnyConnection,
    family_id: &str,
    user_id: &str,
    token_hash: &str,
    expires_at: &str,
) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(crate::uuid_v7()),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::created_at.eq(now_rfc3339()),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// # Errors
/// Database errors.
pub fn find_refresh(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshRecord>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshRecord::as_select())
        .first(conn)
        .optional()?)
}

/// When the session (refresh-token family) began: its first token's creation time.
///
/// # Errors
/// Database errors.
pub fn family_started_at(
    conn: &mut AnyConnection,
    family_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .select(diesel::dsl::min(refresh_tokens::created_at))
        .first(conn)?)
}

/// Marks a token used, once: false when it was already used (a concurrent or repeated use).
///
/// # Errors
/// Database errors.
pub fn mark_used(conn: &mut AnyConnection, id: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now_rfc3339()))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes a session (idempotent).
///
/// # Errors
/// Database errors.
pub fn revoke(
    conn: &mut AnyConnection,
    family_id: &str,
    user_id: &str,
    reason: &str,
) -> Result<(), StoreError> {
    if is_revoked(conn, family_id)? {
        return Ok(());
    }
    let inserted = diesel::insert_into(revoked_sessions::table)
        .values((
            revoked_sessions::family_id.eq(family_id),
            revoked_sessions::user_id.eq(user_id),
            revoked_sessions::reason.eq(reason),
            revoked_sessions::revoked_at.eq(now_rfc3339()),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        // A concurrent revocation of the same session won the race: revoked either way.
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every session (refresh-token family) of a user that is not revoked yet.
///
/// # Errors
/// Database errors.
pub fn live_families(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<String>, StoreError> {
    let all: Vec<String> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)?;
    let revoked: Vec<String> = revoked_sessions::table
        .filter(revoked_sessions::user_id.eq(user_id))
        .select(revoked_sessions::family_id)
        .load(conn)?;
    Ok(all.into_iter().filter(|f| !revoked.contains(f)).collect())
}

/// # Errors
/// Database errors.
pub fn is_revoked(conn: &mut AnyConnection, family_id: &str) -> Result<bool, StoreError> {
    let n: i64 = revoked_sessions::table
        .filter(revoked_sessions::family_id.eq(family_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Sessions revoked at or after `since` (RFC 3339), for an instance to refuse their tokens.
///
/// # Errors
/// Database errors.
pub fn revoked_since(conn: &mut AnyConnection, since: &str) -> Result<Vec<String>, StoreError> {
    Ok(revoked_sessions::table
        .filter(revoked_sessions::revoked_at.ge(since))
        .select(revoked_sessions::family_id)
        .load(conn)?)
}
