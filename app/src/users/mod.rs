//! Accounts: delegated administration. An admin manages the accounts whose every assignment
//! lies within the admin's capture scope (`wangge_domain::scope`); accounts outside it answer
//! 404 as if they did not exist. Account writes are audited. A change that alters what an
//! account may do ends its sessions (the caller announces them to other instances).

mod create;
mod read;
mod write;

pub use create::{CreatePlan, HashedCreate, InitialPassword, NewAccount, authorize_create, create};
pub use read::{ListQuery, UnitWorker, get, history, list, unit_workers};
pub use write::{
    AccountPatch, HashedReset, ResetPlan, authorize_reset, delete, reset_password, set_assignments,
    update,
};

use crate::caller::Caller;
use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Tx};
use serde_json::{Value, json};
use wangge_domain::{Assignment, UnitId};
use wangge_persistence::users::{self as store, UserWithUnits};
use wangge_persistence::{AnyConnection, StoreError, grid, sessions};

pub(crate) const WHAT: &str = "user";

/// A requested assignment: a unit, and whether it grants capture as well as view.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentIn {
    pub unit: UnitId,
    pub capture: bool,
}

/// Assignments as stored (unit id, capture) and as the domain sees them (paths).
pub(crate) type Resolved = (Vec<(String, bool)>, Vec<Assignment>);

/// Resolves requested assignments: unknown or repeated units are validation errors.
pub(crate) fn resolve_assignments(
    conn: &mut AnyConnection,
    wanted: &[AssignmentIn],
) -> Result<Resolved, AppError> {
    if wanted.len() > 100 {
        return Err(AppError::field("assignments", "at most 100 units"));
    }
    let mut ids: Vec<(String, bool)> = Vec::new();
    let mut domain = Vec::new();
    for a in wanted {
        let unit = grid::get_unit(conn, a.unit).map_err(|e| match e {
            StoreError::NotFound { .. } => {
                AppError::field("assignments", format!("unit {} does not exist", a.unit))
            }
            e => e.into(),
        })?;
        if ids.iter().any(|(u, _)| *u == unit.id) {
            return Err(AppError::field(
                "assignments",
                format!("unit {} is named twice", a.unit),
            ));
        }
        ids.push((unit.id.clone(), a.capture));
        domain.push(Assignment {
            unit_path: unit.path,
            capture: a.capture,
        });
    }
    Ok((ids, domain))
}

/// The target account, if the caller may read it; otherwise 404, as for an unknown id.
pub(crate) fn readable(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: &str,
) -> Result<UserWithUnits, AppError> {
    let target = store::with_units(conn, id)?.ok_or_else(|| AppError::not_found(WHAT))?;
    if caller.scope.may_read_user(&target.scope()) {
        Ok(target)
    } else {
        Err(AppError::not_found(WHAT))
    }
}

/// The target account, if the caller may manage it: 404 when they cannot even read it, 403
/// when they can (their own account, or one reaching beyond their scope).
pub(crate) fn manageable(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: &str,
) -> Result<UserWithUnits, AppError> {
    let target = readable(conn, caller, id)?;
    if caller.scope.may_manage(&target.scope()) {
        Ok(target)
    } else if caller.account_id() == Some(target.user.id.as_str()) {
        Err(AppError::forbidden(
            "nobody administers their own account; ask another administrator",
        ))
    } else {
        Err(AppError::forbidden(
            "this account is assigned beyond your scope; an administrator above you manages it",
        ))
    }
}

pub(crate) fn forbidden_grant() -> AppError {
    AppError::forbidden(
        "you may only grant units within your own capture scope; all_units, the platform role \
         and accounts without units are granted by administrators who reach every unit",
    )
}

/// Ends every live session of an account, in the caller's transaction; returns the sessions
/// to announce to other instances after commit.
pub(crate) fn end_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    reason: &str,
) -> Result<Vec<String>, AppError> {
    let live = sessions::live_families(conn, user_id)?;
    for f in &live {
        sessions::revoke(conn, f, user_id, reason)?;
    }
    Ok(live)
}

/// The unit path an account is placed at in the audit log and the feed: its first
/// assignment's (accounts may hold several; the log keeps one).
fn place(u: &UserWithUnits) -> Option<String> {
    u.assignments.first().map(|a| a.unit_path.clone())
}

/// Records a change of an account: history, audit, change feed. Accounts are internal: no
/// outbox event.
pub(crate) fn record(
    tx: &mut Tx<'_>,
    u: &UserWithUnits,
    action: &'static str,
    kind: &'static str,
    path_before: Option<String>,
    deleted: bool,
    details: Value,
) -> Result<(), AppError> {
    tx.history(
        Entity::User,
        &u.user.id,
        kind,
        Some(u.user.version),
        details.clone(),
    )?;
    tx.audit(Audit {
        action,
        subject_type: Some(WHAT),
        subject_id: Some(u.user.id.clone()),
        unit_path: place(u).or_else(|| path_before.clone()),
        details,
    })?;
    tx.change(Change {
        entity: Entity::User,
        id: u.user.id.clone(),
        version: u.user.version,
        deleted,
        unit_path_before: path_before,
        unit_path_after: if deleted { None } else { place(u) },
    })
}

/// The account as stored now.
pub(crate) fn reload(conn: &mut AnyConnection, id: &str) -> Result<UserWithUnits, AppError> {
    store::with_units(conn, id)?.ok_or_else(|| AppError::not_found(WHAT))
}

fn assignments_json(a: &[(String, bool)]) -> Value {
    Value::Array(
        a.iter()
            .map(|(u, c)| json!({ "unit_id": u, "capture": c }))
            .collect(),
    )
}
