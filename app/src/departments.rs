//! Functional departments (职能部门): every signed-in role reads them; administrators who reach
//! every unit change them.

use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Tx, new_id};
use crate::versions::{self, Created};
use serde_json::json;
use wangge_domain::{DepartmentCode, DepartmentId, UnitName};
use wangge_persistence::AnyConnection;
use wangge_persistence::departments::{self as store, DepartmentChanges, DepartmentRecord};
use wangge_persistence::locks::Locked;

const WHAT: &str = "department";

/// # Errors
/// 404 for an unknown id.
pub fn get(conn: &mut AnyConnection, id: DepartmentId) -> Result<DepartmentRecord, AppError> {
    store::get(conn, &id.to_string())?.ok_or_else(|| AppError::not_found(WHAT))
}

/// One page in id order after the cursor (`limit + 1` rows tell whether more follow).
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    after: Option<DepartmentId>,
    limit: i64,
) -> Result<Vec<DepartmentRecord>, AppError> {
    Ok(store::list(
        conn,
        after.map(|a| a.to_string()).as_deref(),
        limit,
    )?)
}

/// A department to create.
#[derive(Debug, Clone)]
pub struct NewDepartment {
    pub id: Option<DepartmentId>,
    pub code: DepartmentCode,
    pub name: UnitName,
}

fn record(
    tx: &mut Tx<'_>,
    d: &DepartmentRecord,
    kind: &'static str,
    deleted: bool,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let event = match kind {
        "created" => "department.created",
        "deleted" => "department.deleted",
        _ => "department.changed",
    };
    tx.history(
        Entity::Department,
        &d.id,
        kind,
        Some(d.version),
        details.clone(),
    )?;
    tx.audit(Audit {
        action: event,
        subject_type: Some(WHAT),
        subject_id: Some(d.id.clone()),
        unit_path: None,
        details,
    })?;
    tx.event(
        event,
        Entity::Department,
        &d.id,
        d.version,
        json!({ "id": d.id, "code": d.code, "name": d.name, "version": d.version }),
    )?;
    tx.change(Change {
        entity: Entity::Department,
        id: d.id.clone(),
        version: d.version,
        deleted,
        unit_path_before: None,
        unit_path_after: None,
    })
}

/// Creates a department.
///
/// # Errors
/// 403 unless the caller administers the whole grid; `duplicate_code`, `id_taken`.
pub fn create(tx: &mut Tx<'_>, new: &NewDepartment) -> Result<Created<DepartmentRecord>, AppError> {
    tx.caller.require_grid_write(None)?;
    let id = match new.id {
        Some(id) => {
            let content = json!({ "code": new.code.as_str(), "name": new.name.as_str() });
            if client_id::claim(tx, Entity::Department, &id.to_string(), &content)?
                == Claimed::Again
            {
                let record = store::get(tx.conn, &id.to_string())?
                    .ok_or_else(|| client_id::taken(&id.to_string()))?;
                return Ok(Created {
                    record,
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    let now = tx.now().to_owned();
    let d = store::insert(tx.conn, &id, new.code.as_str(), new.name.as_str(), &now)?;
    record(
        tx,
        &d,
        "created",
        false,
        json!({ "code": d.code, "name": d.name }),
    )?;
    Ok(Created {
        record: d,
        again: false,
    })
}

/// What a change may set.
#[derive(Debug, Clone, Default)]
pub struct DepartmentPatch {
    pub code: Option<DepartmentCode>,
    pub name: Option<UnitName>,
}

/// Renames or recodes a department.
///
/// # Errors
/// 403, 404, `duplicate_code`, `VersionMismatch`.
pub fn update(
    tx: &mut Tx<'_>,
    id: DepartmentId,
    if_match: Option<i64>,
    patch: &DepartmentPatch,
) -> Result<DepartmentRecord, AppError> {
    tx.caller.require_grid_write(None)?;
    let key = id.to_string();
    versions::hold_unless_matched(tx, Locked::Department, &key, if_match)?;
    let current = store::get(tx.conn, &key)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let version = versions::expect(current.version, if_match)?;
    let changes = DepartmentChanges {
        code: patch
            .code
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .filter(|c| *c != current.code),
        name: patch.name.as_ref().map(|n| n.as_str().to_owned()),
    };
    let now = tx.now().to_owned();
    if !store::update(tx.conn, &key, version, &changes, &now)? {
        let now_version = store::get(tx.conn, &key)?.map(|d| d.version);
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let d = store::get(tx.conn, &key)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let mut fields = Vec::new();
    if changes.code.is_some() {
        fields.push("code");
    }
    if changes.name.is_some() {
        fields.push("name");
    }
    record(
        tx,
        &d,
        "updated",
        false,
        json!({ "fields": fields, "from": { "code": current.code, "name": current.name }, "to": { "code": d.code, "name": d.name } }),
    )?;
    Ok(d)
}

/// Deletes a department no account is bound to.
///
/// # Errors
/// 403, 404, `department_in_use`, `VersionMismatch`.
pub fn delete(tx: &mut Tx<'_>, id: DepartmentId, if_match: Option<i64>) -> Result<(), AppError> {
    tx.caller.require_grid_write(None)?;
    let key = id.to_string();
    versions::hold_unless_matched(tx, Locked::Department, &key, if_match)?;
    let current = store::get(tx.conn, &key)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let version = versions::expect(current.version, if_match)?;
    let bound = store::bound_accounts(tx.conn, &key)?;
    let categories = wangge_persistence::categories::of_department(tx.conn, &key)?;
    if bound > 0 || categories > 0 {
        return Err(AppError::conflict(
            "department_in_use",
            format!(
                "department {} is named by {bound} account(s) and {categories} incident \
                 categories; bind and route them elsewhere first",
                current.code
            ),
            json!({ "accounts": bound, "categories": categories }),
        ));
    }
    if !store::delete(tx.conn, &key, version)? {
        let now_version = store::get(tx.conn, &key)?.map(|d| d.version);
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let gone = DepartmentRecord {
        version: current.version + 1,
        ..current
    };
    record(
        tx,
        &gone,
        "deleted",
        true,
        json!({ "code": gone.code, "name": gone.name }),
    )
}
