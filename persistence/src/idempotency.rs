//! Idempotency keys: one row per (account, key). A request claims a key by inserting it with an
//! owner token and a lease; its effect and the stored answer commit together
//! ([`complete`], in the effect's transaction); a retry finds the answer and replays it. A
//! claim whose lease ran out (its owner crashed before committing) can be taken over.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::idempotency_keys as keys;
use crate::{hashtextextended, pg_try_advisory_xact_lock};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = keys)]
pub struct KeyRecord {
    pub account_id: String,
    pub key: String,
    pub request_hash: String,
    pub owner: Option<String>,
    pub locked_until: Option<String>,
    pub status: Option<i32>,
    /// JSON `[[name, value], …]`.
    pub headers: Option<String>,
    pub body: Option<Vec<u8>>,
    pub body_key_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// A claim on a key: who holds it (a random token) and until when.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub account_id: &'a str,
    pub key: &'a str,
    pub owner: &'a str,
    pub locked_until: &'a str,
}

/// A stored answer; the body already sealed.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    pub status: i32,
    pub headers: &'a str,
    pub body: &'a [u8],
    pub body_key_id: &'a str,
}

/// # Errors
/// Database errors.
pub fn find(
    conn: &mut AnyConnection,
    account_id: &str,
    key: &str,
) -> Result<Option<KeyRecord>, StoreError> {
    Ok(keys::table
        .find((account_id, key))
        .select(KeyRecord::as_select())
        .first(conn)
        .optional()?)
}

/// Claims a new key; false when a row for it exists already (claimed or done).
///
/// # Errors
/// Database errors.
pub fn insert_claim(
    conn: &mut AnyConnection,
    claim: &Claim<'_>,
    request_hash: &str,
    now: &str,
    expires_at: &str,
) -> Result<bool, StoreError> {
    let values = (
        keys::account_id.eq(claim.account_id),
        keys::key.eq(claim.key),
        keys::request_hash.eq(request_hash),
        keys::owner.eq(claim.owner),
        keys::locked_until.eq(claim.locked_until),
        keys::created_at.eq(now),
        keys::expires_at.eq(expires_at),
    );
    let n = on_backend!(conn, |c| diesel::insert_into(keys::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// Takes over a claim whose lease ended before `now` and that has no answer; false when
/// someone else took it or it was answered meanwhile.
///
/// # Errors
/// Database errors.
pub fn take_over(
    conn: &mut AnyConnection,
    claim: &Claim<'_>,
    previous_owner: Option<&str>,
    now: &str,
) -> Result<bool, StoreError> {
    let target = keys::table
        .filter(keys::account_id.eq(claim.account_id))
        .filter(keys::key.eq(claim.key))
        .filter(keys::status.is_null())
        .filter(keys::locked_until.lt(now));
    let n = match previous_owner {
        Some(p) => diesel::update(target.filter(keys::owner.eq(p)))
            .set((
                keys::owner.eq(claim.owner),
                keys::locked_until.eq(claim.locked_until),
            ))
            .execute(conn)?,
        None => diesel::update(target.filter(keys::owner.is_null()))
            .set((
                keys::owner.eq(claim.owner),
                keys::locked_until.eq(claim.locked_until),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// The first statement of the effect's transaction: confirms the claim is still ours (and on
/// PostgreSQL locks the row until commit, so no one can take it over meanwhile).
///
/// # Errors
/// Database errors.
pub fn hold(conn: &mut AnyConnection, claim: &Claim<'_>) -> Result<bool, StoreError> {
    let n = diesel::update(
        keys::table
            .filter(keys::account_id.eq(claim.account_id))
            .filter(keys::key.eq(claim.key))
            .filter(keys::owner.eq(claim.owner))
            .filter(keys::status.is_null()),
    )
    .set(keys::locked_until.eq(claim.locked_until))
    .execute(conn)?;
    Ok(n == 1)
}

/// Stores the answer, in the effect's transaction.
///
/// # Errors
/// Database errors; `Corrupt` when the claim was lost (which `hold` rules out).
pub fn complete(
    conn: &mut AnyConnection,
    claim: &Claim<'_>,
    answer: &Answer<'_>,
) -> Result<(), StoreError> {
    let n = diesel::update(
        keys::table
            .filter(keys::account_id.eq(claim.account_id))
            .filter(keys::key.eq(claim.key))
            .filter(keys::owner.eq(claim.owner)),
    )
    .set((
        keys::status.eq(answer.status),
        keys::headers.eq(answer.headers),
        keys::body.eq(answer.body),
        keys::body_key_id.eq(answer.body_key_id),
        keys::owner.eq(None::<String>),
        keys::locked_until.eq(None::<String>),
    ))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt("an idempotency claim vanished".into()))
    }
}

/// Gives a claim up after the effect failed, so a retry runs it again.
///
/// # Errors
/// Database errors.
pub fn release(conn: &mut AnyConnection, claim: &Claim<'_>) -> Result<(), StoreError> {
    diesel::delete(
        keys::table
            .filter(keys::account_id.eq(claim.account_id))
            .filter(keys::key.eq(claim.key))
            .filter(keys::owner.eq(claim.owner))
            .filter(keys::status.is_null()),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes keys that expired before `now`; returns how many.
///
/// # Errors
/// Database errors.
pub fn prune(conn: &mut AnyConnection, now: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(keys::table.filter(keys::expires_at.lt(now))).execute(conn)?)
}

/// The name of a key's advisory lock, for [`try_lock`] and `users::with_units_locking`.
#[must_use]
pub fn lock_name(account_id: &str, key: &str) -> String {
    format!("idempotency {account_id} {key}")
}

/// PostgreSQL only: takes the transaction-level advisory lock `name` (a key's: [`lock_name`])
/// without waiting; false
/// when another transaction holds it (its request is running). The lock ends with the
/// transaction, so a request that dies leaves nothing behind.
///
/// # Errors
/// Database errors; `Corrupt` on SQLite, which has no advisory locks.
pub fn try_lock(conn: &mut AnyConnection, name: &str) -> Result<bool, StoreError> {
    let AnyConnection::Postgresql(c) = conn else {
        return Err(StoreError::Corrupt("advisory locks need PostgreSQL".into()));
    };
    // A statement of fixed shape, so the connection keeps it prepared.
    Ok(diesel::select(pg_try_advisory_xact_lock(hashtextextended(name, 0_i64))).get_result(c)?)
}

/// A key and its answer, to be stored with the effect under [`try_lock`] (written with the
/// journal: `journal::insert_journal`).
#[derive(Debug, Clone)]
pub struct AnsweredKey {
    pub account_id: String,
    pub key: String,
    pub request_hash: String,
    pub status: i32,
    /// JSON `[[name, value], …]`.
    pub headers: String,
    /// Sealed.
    pub body: Vec<u8>,
    pub body_key_id: String,
    pub created_at: String,
    pub expires_at: String,
}

/// Stores a key and its answer; false when a row for the key was committed meanwhile (the
/// caller looks again).
///
/// # Errors
/// Database errors.
pub fn insert_answered(conn: &mut AnyConnection, a: &AnsweredKey) -> Result<bool, StoreError> {
    let values = (
        keys::account_id.eq(&a.account_id),
        keys::key.eq(&a.key),
        keys::request_hash.eq(&a.request_hash),
        keys::status.eq(a.status),
        keys::headers.eq(&a.headers),
        keys::body.eq(&a.body),
        keys::body_key_id.eq(&a.body_key_id),
        keys::created_at.eq(&a.created_at),
        keys::expires_at.eq(&a.expires_at),
    );
    let n = on_backend!(conn, |c| diesel::insert_into(keys::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// Deletes a key's row that has no answer (a claim left by the two-phase path), inside the
/// transaction that holds the key's lock.
///
/// # Errors
/// Database errors.
pub fn delete_unanswered(
    conn: &mut AnyConnection,
    account_id: &str,
    key: &str,
) -> Result<(), StoreError> {
    diesel::delete(
        keys::table
            .filter(keys::account_id.eq(account_id))
            .filter(keys::key.eq(key))
            .filter(keys::status.is_null()),
    )
    .execute(conn)?;
    Ok(())
}
