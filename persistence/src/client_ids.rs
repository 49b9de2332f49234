//! Ids that clients made for the records they create, each with a digest of what it created,
//! so that the same create sent again is recognised, and another create under a taken id is
//! refused.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::client_ids;
use diesel::prelude::*;

/// Records `id` for `entity` with `digest`; false when the id is recorded already (on
/// PostgreSQL a concurrent insert of the same id waits for the first to commit, then finds
/// it).
///
/// # Errors
/// Database errors.
pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    entity: &str,
    digest: &str,
    now: &str,
) -> Result<bool, StoreError> {
    let values = (
        client_ids::id.eq(id),
        client_ids::entity.eq(entity),
        client_ids::digest.eq(digest),
        client_ids::created_at.eq(now),
    );
    let n = on_backend!(conn, |c| diesel::insert_into(client_ids::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// The entity and digest recorded for `id`.
///
/// # Errors
/// Database errors.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<(String, String)>, StoreError> {
    Ok(client_ids::table
        .find(id)
        .select((client_ids::entity, client_ids::digest))
        .first(conn)
        .optional()?)
}
