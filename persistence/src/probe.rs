//! Counts that tell whether a piece of work left its mark, and left it once: for checks run
//! against a live database (`wangge simulate field`), not for serving requests.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{changes, history, visits};
use diesel::prelude::*;

/// History rows of a record of one kind that an operation recorded on a phone at
/// `recorded_at` (as stored) left.
///
/// # Errors
/// Database errors.
pub fn history_rows(
    conn: &mut AnyConnection,
    entity_id: &str,
    kind: &str,
    recorded_at: &str,
) -> Result<i64, StoreError> {
    let pattern = format!("%\"recorded_at\":\"{recorded_at}\"%");
    Ok(history::table
        .filter(history::entity_id.eq(entity_id))
        .filter(history::kind.eq(kind))
        .filter(history::details.like(pattern))
        .count()
        .get_result(conn)?)
}

/// Visits with this id (0 or 1).
///
/// # Errors
/// Database errors.
pub fn visits_with_id(conn: &mut AnyConnection, id: &str) -> Result<i64, StoreError> {
    Ok(visits::table
        .filter(visits::id.eq(id))
        .count()
        .get_result(conn)?)
}

/// Changes committed but not numbered by the feed yet.
///
/// # Errors
/// Database errors.
pub fn unnumbered_changes(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(changes::table
        .filter(changes::position.is_null())
        .count()
        .get_result(conn)?)
}
