//! The scopes a sync cursor may name (`sync_scopes`): an account's scope as it was, by tag.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::sync_scopes as ss;
use diesel::prelude::*;

/// Keeps `scope` (a serialised description) under `(user_id, tag)`; a tag kept already stays.
///
/// # Errors
/// Database errors.
pub fn keep(
    conn: &mut AnyConnection,
    user_id: &str,
    tag: &str,
    scope: &str,
    now: &str,
) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(ss::table)
        .values((
            ss::user_id.eq(user_id),
            ss::tag.eq(tag),
            ss::scope.eq(scope),
            ss::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// The scope kept under `(user_id, tag)`, if any.
///
/// # Errors
/// Database errors.
pub fn get(
    conn: &mut AnyConnection,
    user_id: &str,
    tag: &str,
) -> Result<Option<String>, StoreError> {
    Ok(ss::table
        .find((user_id, tag))
        .select(ss::scope)
        .first(conn)
        .optional()?)
}
