//! Optimistic concurrency, the same for every record: `If-Match` is checked against the
//! version read, and the write itself is conditional on that version. A conditional write
//! that finds another version lost a race: with `If-Match` that is `412 version_mismatch`;
//! without, the use case runs again on fresh data ([`AppError::Raced`]).

use crate::error::AppError;

/// The version to write against: the current one, if `If-Match` (when given) names it.
///
/// # Errors
/// `VersionMismatch` when `If-Match` names another version.
pub fn expect(current: i64, if_match: Option<i64>) -> Result<i64, AppError> {
    match if_match {
        Some(v) if v != current => Err(AppError::VersionMismatch {
            expected: v,
            current,
        }),
        _ => Ok(current),
    }
}

/// The error for a conditional write that found no row at the version it read: another
/// write came first. `now` is the record's version after it (`None`: deleted).
#[must_use]
pub fn lost(if_match: Option<i64>, now: Option<i64>, what: &str) -> AppError {
    match (if_match, now) {
        (Some(expected), Some(current)) => AppError::VersionMismatch { expected, current },
        (Some(_), None) => AppError::not_found(what),
        (None, _) => AppError::Raced,
    }
}

/// What a create returns: the record, and whether it existed already (the same client id
/// and content sent again), which is answered 200 instead of 201.
#[derive(Debug, Clone)]
pub struct Created<T> {
    pub record: T,
    pub again: bool,
}

/// A write without `If-Match` must still not interleave with another: it holds the record's
/// row before reading it, so a second such writer waits and then works on what the first
/// wrote. With `If-Match` nothing is held: the conditional write refuses a moved version.
///
/// # Errors
/// Database errors.
pub fn hold_unless_matched(
    tx: &mut crate::tx::Tx<'_>,
    record: wangge_persistence::locks::Locked,
    id: &str,
    if_match: Option<i64>,
) -> Result<(), AppError> {
    if if_match.is_none() {
        wangge_persistence::locks::hold(tx.conn, record, id)?;
    }
    Ok(())
}
