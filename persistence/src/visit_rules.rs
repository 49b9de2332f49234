//! How often a household with a tag is due a visit (`visit_rules`).

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::visit_rules as vr;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = vr)]
pub struct VisitRule {
    pub tag: String,
    pub every_days: i32,
    pub version: i64,
    pub updated_at: String,
}

/// Every rule, by tag.
///
/// # Errors
/// Database errors.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<VisitRule>, StoreError> {
    Ok(vr::table
        .order(vr::tag.asc())
        .select(VisitRule::as_select())
        .load(conn)?)
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, tag: &str) -> Result<Option<VisitRule>, StoreError> {
    Ok(vr::table
        .find(tag)
        .select(VisitRule::as_select())
        .first(conn)
        .optional()?)
}

/// Writes a rule: a new one at version 1, or over `version` (the one read). `false` when
/// another write came first (the version moved, or the rule appeared or went).
///
/// # Errors
/// Database errors.
pub fn put(
    conn: &mut AnyConnection,
    tag: &str,
    every_days: i32,
    version: Option<i64>,
    now: &str,
) -> Result<bool, StoreError> {
    let n = match version {
        None => on_backend!(conn, |c| diesel::insert_into(vr::table)
            .values((
                vr::tag.eq(tag),
                vr::every_days.eq(every_days),
                vr::version.eq(1_i64),
                vr::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c))?,
        Some(v) => diesel::update(vr::table.find(tag).filter(vr::version.eq(v)))
            .set((
                vr::every_days.eq(every_days),
                vr::version.eq(v + 1),
                vr::updated_at.eq(now),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Deletes a rule at `version`; `false` when it is not there at that version.
///
/// # Errors
/// Database errors.
pub fn delete(conn: &mut AnyConnection, tag: &str, version: i64) -> Result<bool, StoreError> {
    Ok(diesel::delete(vr::table.find(tag).filter(vr::version.eq(version))).execute(conn)? == 1)
}
