//! The working-day calendar's overrides: one row per date that differs from the plain week.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::calendar_days as days;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = days)]
pub struct DayRecord {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub kind: String,
    pub name: String,
    pub updated_at: String,
    pub version: i64,
}

/// Every override, or those from `from` to `to` (inclusive, `YYYY-MM-DD`), in date order.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<DayRecord>, StoreError> {
    let mut q = days::table.select(DayRecord::as_select()).into_boxed();
    if let Some(f) = from {
        q = q.filter(days::day.ge(f.to_owned()));
    }
    if let Some(t) = to {
        q = q.filter(days::day.le(t.to_owned()));
    }
    Ok(q.order(days::day.asc()).load(conn)?)
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, day: &str) -> Result<Option<DayRecord>, StoreError> {
    Ok(days::table
        .find(day)
        .select(DayRecord::as_select())
        .first(conn)
        .optional()?)
}

/// How many overrides there are (the seed runs on an empty calendar only).
///
/// # Errors
/// Database errors.
pub fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(days::table.count().get_result(conn)?)
}

/// Inserts an override at version 1. False when the date has one already.
///
/// # Errors
/// Database errors.
pub fn insert(conn: &mut AnyConnection, row: &DayRecord) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| diesel::insert_into(days::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// Sets kind and name if the override is still at version `expected`. False when it is not.
///
/// # Errors
/// Database errors.
pub fn update(
    conn: &mut AnyConnection,
    expected: i64,
    row: &DayRecord,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        days::table
            .filter(days::day.eq(&row.day))
            .filter(days::version.eq(expected)),
    )
    .set((
        days::kind.eq(&row.kind),
        days::name.eq(&row.name),
        days::updated_at.eq(&row.updated_at),
        days::version.eq(expected + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Removes the override if it is still at version `expected`. False when it is not.
///
/// # Errors
/// Database errors.
pub fn delete(conn: &mut AnyConnection, day: &str, expected: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        days::table
            .filter(days::day.eq(day))
            .filter(days::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
