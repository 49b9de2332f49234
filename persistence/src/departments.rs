//! Functional departments (职能部门).

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::departments;
use crate::{check_version, now_rfc3339, uuid_v7};
use diesel::prelude::*;
use serde_json::json;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = departments)]
pub struct DepartmentRecord {
    pub id: String,
    pub code: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        entity: "department",
        id: id.to_owned(),
    }
}

fn code_taken(code: &str) -> StoreError {
    StoreError::Conflict {
        code: "duplicate_code",
        message: format!("a department with code {code} exists already"),
        details: json!({ "department_code": code }),
    }
}

/// # Errors
/// `NotFound`.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<DepartmentRecord, StoreError> {
    departments::table
        .find(id)
        .select(DepartmentRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(id))
}

/// One page in id order after the cursor.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DepartmentRecord>, StoreError> {
    let mut q = departments::table
        .select(DepartmentRecord::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(departments::id.gt(a.to_owned()));
    }
    Ok(q.order(departments::id.asc()).limit(limit).load(conn)?)
}

fn code_exists(conn: &mut AnyConnection, code: &str) -> Result<bool, StoreError> {
    let n: i64 = departments::table
        .filter(departments::code.eq(code))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// # Errors
/// `Conflict` (`duplicate_code`).
pub fn create(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
) -> Result<DepartmentRecord, StoreError> {
    if code_exists(conn, code)? {
        return Err(code_taken(code));
    }
    let id = uuid_v7();
    let now = now_rfc3339();
    diesel::insert_into(departments::table)
        .values((
            departments::id.eq(&id),
            departments::code.eq(code),
            departments::name.eq(name),
            departments::created_at.eq(&now),
            departments::updated_at.eq(&now),
            departments::version.eq(1_i64),
        ))
        .execute(conn)?;
    get(conn, &id)
}

/// Renames or recodes a department.
///
/// # Errors
/// `NotFound`, `Conflict`, `VersionMismatch`.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    code: Option<&str>,
    name: Option<&str>,
    expected_version: Option<i64>,
) -> Result<DepartmentRecord, StoreError> {
    let current = get(conn, id)?;
    check_version(current.version, expected_version)?;
    if let Some(c) = code.filter(|c| *c != current.code) {
        if code_exists(conn, c)? {
            return Err(code_taken(c));
        }
        diesel::update(departments::table.find(id))
            .set(departments::code.eq(c))
            .execute(conn)?;
    }
    if let Some(n) = name {
        diesel::update(departments::table.find(id))
            .set(departments::name.eq(n))
            .execute(conn)?;
    }
    diesel::update(departments::table.find(id))
        .set((
            departments::version.eq(departments::version + 1),
            departments::updated_at.eq(now_rfc3339()),
        ))
        .execute(conn)?;
    get(conn, id)
}

/// # Errors
/// `NotFound`, `VersionMismatch`.
pub fn delete(
    conn: &mut AnyConnection,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let current = get(conn, id)?;
    check_version(current.version, expected_version)?;
    let bound: i64 = crate::schema::users::table
        .filter(crate::schema::users::department_id.eq(id))
        .count()
        .get_result(conn)?;
    if bound > 0 {
        return Err(StoreError::Conflict {
            code: "department_in_use",
            message: format!(
                "{bound} account(s) are bound to department {}; bind them elsewhere first",
                current.code
            ),
            details: json!({ "accounts": bound }),
        });
    }
    diesel::delete(departments::table.find(id)).execute(conn)?;
    Ok(())
}
