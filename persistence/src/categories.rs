//! Incident categories, keyed by their stable code. `time_limits` is stored as the JSON the
//! contract shows; the application layer parses it with the domain's types.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::incident_categories as cat;
use diesel::prelude::*;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = cat, treat_none_as_default_value = false)]
pub struct CategoryRecord {
    pub code: String,
    pub parent_code: Option<String>,
    pub name: String,
    pub key: String,
    pub department_id: Option<String>,
    pub lowest_level: i32,
    pub routing: String,
    pub time_limits: String,
    pub retired: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, code: &str) -> Result<Option<CategoryRecord>, StoreError> {
    Ok(cat::table
        .find(code)
        .select(CategoryRecord::as_select())
        .first(conn)
        .optional()?)
}

/// One page in code order after the cursor; retired categories only when asked.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
    with_retired: bool,
) -> Result<Vec<CategoryRecord>, StoreError> {
    let mut q = cat::table.select(CategoryRecord::as_select()).into_boxed();
    if let Some(a) = after {
        q = q.filter(cat::code.gt(a.to_owned()));
    }
    if !with_retired {
        q = q.filter(cat::retired.eq(false));
    }
    Ok(q.order(cat::code.asc()).limit(limit).load(conn)?)
}

/// How many categories there are (the seed runs on an empty table only).
///
/// # Errors
/// Database errors.
pub fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(cat::table.count().get_result(conn)?)
}

/// The code of the category with `key`, other than `except`.
fn key_holder(
    conn: &mut AnyConnection,
    key: &str,
    except: &str,
) -> Result<Option<String>, StoreError> {
    Ok(cat::table
        .filter(cat::key.eq(key))
        .filter(cat::code.ne(except))
        .select(cat::code)
        .first::<String>(conn)
        .optional()?)
}

fn key_taken(key: &str, holder: &str) -> StoreError {
    StoreError::Conflict {
        code: "duplicate_key",
        message: format!("category {holder} has the key {key} already"),
        details: json!({ "key": key, "category_code": holder }),
    }
}

/// Inserts a category at version 1.
///
/// # Errors
/// `Conflict`: `duplicate_code` for a taken code, `duplicate_key` for a taken key.
pub fn insert(conn: &mut AnyConnection, row: &CategoryRecord) -> Result<(), StoreError> {
    if get(conn, &row.code)?.is_some() {
        return Err(StoreError::Conflict {
            code: "duplicate_code",
            message: format!("a category with code {} exists already", row.code),
            details: json!({ "category_code": row.code }),
        });
    }
    if let Some(holder) = key_holder(conn, &row.key, &row.code)? {
        return Err(key_taken(&row.key, &holder));
    }
    on_backend!(conn, |c| diesel::insert_into(cat::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// Replaces every field but the code, parent and creation time if the category is still at
/// version `expected`, in one statement, and makes it `expected + 1`. False when it is not.
///
/// # Errors
/// `Conflict` (`duplicate_key`); database errors.
pub fn update(
    conn: &mut AnyConnection,
    expected: i64,
    row: &CategoryRecord,
) -> Result<bool, StoreError> {
    if let Some(holder) = key_holder(conn, &row.key, &row.code)? {
        return Err(key_taken(&row.key, &holder));
    }
    let n = diesel::update(
        cat::table
            .filter(cat::code.eq(&row.code))
            .filter(cat::version.eq(expected)),
    )
    .set((
        cat::name.eq(&row.name),
        cat::key.eq(&row.key),
        cat::department_id.eq(&row.department_id),
        cat::lowest_level.eq(row.lowest_level),
        cat::routing.eq(&row.routing),
        cat::time_limits.eq(&row.time_limits),
        cat::retired.eq(row.retired),
        cat::updated_at.eq(&row.updated_at),
        cat::version.eq(expected + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many categories sit below `code`.
///
/// # Errors
/// Database errors.
pub fn children(conn: &mut AnyConnection, code: &str) -> Result<i64, StoreError> {
    Ok(cat::table
        .filter(cat::parent_code.eq(code))
        .count()
        .get_result(conn)?)
}

/// How many categories name the department.
///
/// # Errors
/// Database errors.
pub fn of_department(conn: &mut AnyConnection, department_id: &str) -> Result<i64, StoreError> {
    Ok(cat::table
        .filter(cat::department_id.eq(department_id))
        .count()
        .get_result(conn)?)
}

/// Deletes the category if it is still at version `expected`. False when it is not.
///
/// # Errors
/// Database errors.
pub fn delete(conn: &mut AnyConnection, code: &str, expected: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        cat::table
            .filter(cat::code.eq(code))
            .filter(cat::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
