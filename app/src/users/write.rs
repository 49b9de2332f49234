//! Changing, deleting and re-keying accounts. Each returns the sessions it ended, for the
//! caller to announce to other instances once the change is committed.

use super::{
    AssignmentIn, assignments_json, end_sessions, forbidden_grant, manageable, record, reload,
    resolve_assignments,
};
use crate::caller::Caller;
use crate::error::AppError;
use crate::password;
use crate::pii::PiiKind;
use crate::tx::Tx;
use crate::versions;
use serde_json::json;
use wangge_domain::{Assignment, DepartmentId, DisplayName, PhoneNumber, Role, UserId, account};
use wangge_persistence::AnyConnection;
use wangge_persistence::locks::Locked;
use wangge_persistence::users::{self as store, UserChanges, UserWithUnits, roles_text};

/// What an administrator may change; `None` leaves a field alone, the inner `None` clears it.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub display_name: Option<DisplayName>,
    pub phone: Option<Option<PhoneNumber>>,
    pub roles: Option<Vec<Role>>,
    pub active: Option<bool>,
    pub department_id: Option<Option<DepartmentId>>,
    pub all_units: Option<bool>,
}

/// Changes an account. Deactivating it, or changing its roles or reach, ends its sessions:
/// no token issued under the old grant outlives it.
///
/// # Errors
/// 404/403 by scope; 403 for grants beyond the caller's; `validation_failed`;
/// `unknown_department`; `VersionMismatch`.
pub fn update(
    tx: &mut Tx<'_>,
    id: UserId,
    if_match: Option<i64>,
    patch: &AccountPatch,
) -> Result<(UserWithUnits, Vec<String>), AppError> {
    let key = id.to_string();
    versions::hold_unless_matched(tx, Locked::User, &key, if_match)?;
    let target = manageable(tx.conn, tx.caller, &key)?;
    let new_roles = patch.roles.clone().unwrap_or_else(|| target.user.roles());
    let new_all = patch.all_units.unwrap_or(target.user.all_units);
    let granting = patch.roles.is_some() || patch.all_units.is_some();
    let current: Vec<Assignment> = target.assignments.iter().map(|a| a.to_domain()).collect();
    if granting && !tx.caller.scope.may_grant(&new_roles, new_all, &current) {
        return Err(forbidden_grant());
    }
    let bound = match &patch.department_id {
        Some(d) => d.is_some(),
        None => target.user.department_id.is_some(),
    };
    account::check_department_binding(&new_roles, bound)?;
    let version = versions::expect(target.user.version, if_match)?;
    let mut changes = UserChanges {
        display_name: patch.display_name.as_ref().map(|n| n.as_str().to_owned()),
        roles: patch.roles.as_deref().map(roles_text),
        active: patch.active,
        department_id: patch.department_id.map(|d| d.map(|d| d.to_string())),
        all_units: patch.all_units,
        ..UserChanges::default()
    };
    if let Some(p) = &patch.phone {
        let sealed = p
            .as_ref()
            .map(|p| tx.svc.pii.seal(PiiKind::Phone, p.expose(), p.masked()));
        changes.set_phone(sealed.as_ref());
    }
    let now = tx.now().to_owned();
    if !store::update(tx.conn, &key, version, &changes, &now)? {
        let now_version = store::find_by_id(tx.conn, &key)?.map(|u| u.version);
        return Err(versions::lost(if_match, now_version, super::WHAT));
    }
    let ends = account::change_ends_sessions(
        patch.roles.is_some(),
        patch.all_units.is_some(),
        patch.active == Some(false),
    );
    let ended = if ends {
        end_sessions(tx.conn, &key, "account_changed")?
    } else {
        Vec::new()
    };
    let mut fields = Vec::new();
    for (set, name) in [
        (patch.display_name.is_some(), "display_name"),
        (patch.phone.is_some(), "phone"),
        (patch.roles.is_some(), "roles"),
        (patch.active.is_some(), "active"),
        (patch.department_id.is_some(), "department_id"),
        (patch.all_units.is_some(), "all_units"),
    ] {
        if set {
            fields.push(name);
        }
    }
    let u = reload(tx.conn, &key)?;
    crate::sync::scopes::keep_change(tx.conn, &target, &u, &now)?;
    let action = if patch.active == Some(false) {
        "user.deactivated"
    } else {
        "user.updated"
    };
    let path = target.assignments.first().map(|a| a.unit_path.clone());
    record(
        tx,
        &u,
        action,
        "updated",
        path,
        false,
        json!({ "fields": fields, "sessions_ended": ended.len() }),
    )?;
    Ok((u, ended))
}

/// Deletes an account that has no history of its own (visits recorded); one with history is
/// deactivated instead, so the record of who did what stays whole.
///
/// # Errors
/// 404/403 by scope; `user_has_history`; `VersionMismatch`.
pub fn delete(tx: &mut Tx<'_>, id: UserId, if_match: Option<i64>) -> Result<Vec<String>, AppError> {
    let key = id.to_string();
    versions::hold_unless_matched(tx, Locked::User, &key, if_match)?;
    let target = manageable(tx.conn, tx.caller, &key)?;
    let version = versions::expect(target.user.version, if_match)?;
    let visits = store::visits_by(tx.conn, &key)?;
    if visits > 0 {
        return Err(AppError::conflict(
            "user_has_history",
            format!(
                "{} has recorded {visits} visit(s); deactivate the account instead (PATCH active=false) so the record stays whole",
                target.user.username
            ),
            json!({ "visits": visits }),
        ));
    }
    let ended = end_sessions(tx.conn, &key, "account_deleted")?;
    if !store::delete(tx.conn, &key, version)? {
        let now_version = store::find_by_id(tx.conn, &key)?.map(|u| u.version);
        return Err(versions::lost(if_match, now_version, super::WHAT));
    }
    let path = target.assignments.first().map(|a| a.unit_path.clone());
    let mut tombstone = target.clone();
    tombstone.user.version += 1;
    record(
        tx,
        &tombstone,
        "user.deleted",
        "deleted",
        path,
        true,
        json!({ "username": target.user.username }),
    )?;
    Ok(ended)
}

/// Replaces the units an account works in. The admin must manage the account as it is and be
/// able to grant every new unit.
///
/// # Errors
/// 404/403 by scope and grant; `validation_failed`; `VersionMismatch`.
pub fn set_assignments(
    tx: &mut Tx<'_>,
    id: UserId,
    if_match: Option<i64>,
    wanted: &[AssignmentIn],
) -> Result<UserWithUnits, AppError> {
    let key = id.to_string();
    versions::hold_unless_matched(tx, Locked::User, &key, if_match)?;
    let target = manageable(tx.conn, tx.caller, &key)?;
    let (unit_ids, assignments) = resolve_assignments(tx.conn, wanted)?;
    if !tx
        .caller
        .scope
        .may_grant(&target.user.roles(), target.user.all_units, &assignments)
    {
        return Err(forbidden_grant());
    }
    let version = versions::expect(target.user.version, if_match)?;
    let now = tx.now().to_owned();
    if !store::set_assignments(tx.conn, &key, version, &unit_ids, &now)? {
        let now_version = store::find_by_id(tx.conn, &key)?.map(|u| u.version);
        return Err(versions::lost(if_match, now_version, super::WHAT));
    }
    let u = reload(tx.conn, &key)?;
    crate::sync::scopes::keep_change(tx.conn, &target, &u, &now)?;
    let from: Vec<(String, bool)> = target
        .assignments
        .iter()
        .map(|a| (a.unit_id.clone(), a.capture))
        .collect();
    let path = target.assignments.first().map(|a| a.unit_path.clone());
    record(
        tx,
        &u,
        "user.assignments_changed",
        "assignments_changed",
        path,
        false,
        json!({ "from": assignments_json(&from), "to": assignments_json(&unit_ids) }),
    )?;
    Ok(u)
}

/// A password reset the caller may make (checked by [`authorize_reset`]).
#[derive(Debug)]
pub struct ResetPlan {
    id: UserId,
}

/// A checked reset with its one-time password hashed.
pub struct HashedReset {
    id: UserId,
    hash: String,
    password: String,
}

impl HashedReset {
    /// The one-time password, to show once.
    #[must_use]
    pub fn one_time_password(&self) -> &str {
        &self.password
    }
}

/// Checks that the caller may reset this account's password, before any hashing.
///
/// # Errors
/// 404/403 by scope.
pub fn authorize_reset(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: UserId,
) -> Result<ResetPlan, AppError> {
    manageable(conn, caller, &id.to_string())?;
    Ok(ResetPlan { id })
}

impl ResetPlan {
    /// Makes and hashes a one-time password: CPU work, off the database threads.
    ///
    /// # Errors
    /// Internal, when hashing fails.
    pub fn hash(self, hasher: &password::Hasher) -> Result<HashedReset, AppError> {
        let password = password::one_time_password();
        let hash = hasher.hash(&password).map_err(AppError::internal)?;
        Ok(HashedReset {
            id: self.id,
            hash,
            password,
        })
    }
}

/// Gives an account a new one-time password and ends its sessions.
///
/// # Errors
/// 404/403 by scope.
pub fn reset_password(tx: &mut Tx<'_>, plan: &HashedReset) -> Result<Vec<String>, AppError> {
    let key = plan.id.to_string();
    let target = manageable(tx.conn, tx.caller, &key)?;
    let changes = UserChanges {
        password_hash: Some(plan.hash.clone()),
        must_change_password: Some(true),
        ..UserChanges::default()
    };
    let now = tx.now().to_owned();
    if !store::update(tx.conn, &key, target.user.version, &changes, &now)? {
        return Err(AppError::Raced);
    }
    let ended = end_sessions(tx.conn, &key, "password_reset")?;
    let u = reload(tx.conn, &key)?;
    let path = target.assignments.first().map(|a| a.unit_path.clone());
    record(
        tx,
        &u,
        "user.password_reset",
        "password_reset",
        path,
        false,
        json!({ "sessions_ended": ended.len() }),
    )?;
    Ok(ended)
}
