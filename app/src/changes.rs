//! The change feed: every change of a record, in one sequence that grows in commit order
//! (`persistence::changes`). Administrators read it for now; phones' scoped sync builds on it.

use crate::error::AppError;
use crate::tx::Reader;
use wangge_domain::{Action, Reach};
use wangge_persistence::AnyConnection;
use wangge_persistence::changes::{self as store, ChangeRow};

/// Changes after position `after`, in position order.
///
/// # Errors
/// 403 unless the caller reads everything (the feed is not scoped yet).
pub fn feed(r: &mut Reader<'_>, after: i64, limit: i64) -> Result<Vec<ChangeRow>, AppError> {
    if r.caller.reach(Action::ReadChanges) != Reach::Everything {
        return Err(AppError::forbidden(
            "the change feed is read by administrators who reach every unit",
        ));
    }
    Ok(store::after(r.conn, after, limit)?)
}

/// Numbers committed changes, `batch` at a time, until none is left; returns how many. The
/// background sequencer calls this whenever a write committed (and on a timer, for writes of
/// other instances).
///
/// # Errors
/// Database errors.
pub fn sequence(conn: &mut AnyConnection, batch: i64) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let n = store::sequence(conn, batch)?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < batch {
            return Ok(total);
        }
    }
}

/// Deletes numbered changes written more than `days` days ago; returns how many. A sync
/// cursor in the deleted part is answered `cursor_expired` from then on.
///
/// # Errors
/// Database errors.
pub fn prune(conn: &mut AnyConnection, days: u32) -> Result<usize, AppError> {
    let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    Ok(store::prune(conn, &crate::tx::stored_time(before), 0)?)
}
