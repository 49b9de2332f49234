//! Functional departments (职能部门).

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{departments, users};
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

fn code_taken(code: &str) -> StoreError {
    StoreError::Conflict {
        code: "duplicate_code",
        message: format!("a department with code {code} exists already"),
        details: json!({ "department_code": code }),
    }
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<DepartmentRecord>, StoreError> {
    Ok(departments::table
        .find(id)
        .select(DepartmentRecord::as_select())
        .first(conn)
        .optional()?)
}

/// The department with `code`.
///
/// # Errors
/// Database errors.
pub fn by_code(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<DepartmentRecord>, StoreError> {
    Ok(departments::table
        .filter(departments::code.eq(code))
        .select(DepartmentRecord::as_select())
        .first(conn)
        .optional()?)
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

fn code_exists(
    conn: &mut AnyConnection,
    code: &str,
    except: Option<&str>,
) -> Result<bool, StoreError> {
    let mut q = departments::table
        .filter(departments::code.eq(code))
        .select(departments::id)
        .into_boxed();
    if let Some(e) = except {
        q = q.filter(departments::id.ne(e.to_owned()));
    }
    Ok(q.first::<String>(conn).optional()?.is_some())
}

/// Inserts a department at version 1.
///
/// # Errors
/// `Conflict` (`duplicate_code`, or `id_taken` for a taken id).
pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    code: &str,
    name: &str,
    now: &str,
) -> Result<DepartmentRecord, StoreError> {
    if code_exists(conn, code, None)? {
        return Err(code_taken(code));
    }
    diesel::insert_into(departments::table)
        .values((
            departments::id.eq(id),
            departments::code.eq(code),
            departments::name.eq(name),
            departments::created_at.eq(now),
            departments::updated_at.eq(now),
            departments::version.eq(1_i64),
        ))
        .execute(conn)?;
    get(conn, id)?.ok_or_else(|| StoreError::Corrupt("a department vanished".into()))
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = departments)]
pub struct DepartmentChanges {
    pub code: Option<String>,
    pub name: Option<String>,
}

/// Applies `changes` if the department is still at version `expected`, in one statement.
/// False when it is not.
///
/// # Errors
/// `Conflict` (`duplicate_code`); database errors.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    changes: &DepartmentChanges,
    now: &str,
) -> Result<bool, StoreError> {
    if let Some(c) = &changes.code
        && code_exists(conn, c, Some(id))?
    {
        return Err(code_taken(c));
    }
    let n = diesel::update(
        departments::table
            .filter(departments::id.eq(id))
            .filter(departments::version.eq(expected)),
    )
    .set((
        changes,
        departments::version.eq(departments::version + 1),
        departments::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many accounts are bound to the department.
///
/// # Errors
/// Database errors.
pub fn bound_accounts(conn: &mut AnyConnection, id: &str) -> Result<i64, StoreError> {
    Ok(users::table
        .filter(users::department_id.eq(id))
        .count()
        .get_result(conn)?)
}

/// Deletes the department if it is still at version `expected`. False when it is not.
///
/// # Errors
/// Database errors (a department still bound to accounts fails its foreign key).
pub fn delete(conn: &mut AnyConnection, id: &str, expected: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        departments::table
            .filter(departments::id.eq(id))
            .filter(departments::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
