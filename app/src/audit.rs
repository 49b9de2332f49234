//! Reading the audit log; nothing changes or deletes an event.

use crate::error::AppError;
use crate::tx::Reader;
use wangge_domain::{Action, Reach};
use wangge_persistence::audit::{self, AuditFilter, AuditRecord};

/// Newest first. Admins and the command centre read the events about what they reach; events
/// about no place in the grid (logins, accounts without units) only readers who reach every
/// unit.
///
/// # Errors
/// 403 for other roles.
pub fn list(
    r: &mut Reader<'_>,
    filter: &AuditFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRecord>, AppError> {
    let reach = r.caller.reach(Action::ReadAudit);
    if reach == Reach::Nothing {
        return Err(AppError::forbidden(
            "the audit log is read by admins and the command centre",
        ));
    }
    Ok(audit::list(r.conn, reach, filter, before, limit)?)
}
