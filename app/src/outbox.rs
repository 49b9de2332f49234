//! The outbox: events for subscribers outside, written with each change. Nothing delivers them
//! yet (the platform integration will); operators see what waits.

use crate::error::AppError;
use wangge_persistence::AnyConnection;
use wangge_persistence::journal;

/// Undelivered events by type: (type, count, oldest time).
///
/// # Errors
/// Database errors.
pub fn status(conn: &mut AnyConnection) -> Result<Vec<(String, i64, String)>, AppError> {
    Ok(journal::outbox_status(conn)?)
}
