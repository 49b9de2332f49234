//! Visits (走访): recorded once, never changed.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::visits;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = visits)]
pub struct VisitRecord {
    pub id: String,
    pub household_id: String,
    pub unit_id: String,
    pub visitor_id: String,
    pub visited_at: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub notes: String,
    pub created_at: String,
}

pub struct NewVisit<'a> {
    pub id: &'a str,
    pub household_id: &'a str,
    pub unit_id: &'a str,
    pub visitor_id: &'a str,
    pub visited_at: &'a str,
    pub point: Option<(f64, f64)>,
    pub notes: &'a str,
}

/// # Errors
/// Database errors (a taken id is a `Conflict`).
pub fn insert(conn: &mut AnyConnection, v: &NewVisit<'_>, now: &str) -> Result<(), StoreError> {
    diesel::insert_into(visits::table)
        .values((
            visits::id.eq(v.id),
            visits::household_id.eq(v.household_id),
            visits::unit_id.eq(v.unit_id),
            visits::visitor_id.eq(v.visitor_id),
            visits::visited_at.eq(v.visited_at),
            visits::lon.eq(v.point.map(|p| p.0)),
            visits::lat.eq(v.point.map(|p| p.1)),
            visits::notes.eq(v.notes),
            visits::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<VisitRecord>, StoreError> {
    Ok(visits::table
        .find(id)
        .select(VisitRecord::as_select())
        .first(conn)
        .optional()?)
}

/// Visits of a household, newest first, before the cursor (a visit id).
///
/// # Errors
/// Database errors.
pub fn of_household(
    conn: &mut AnyConnection,
    household_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<VisitRecord>, StoreError> {
    let mut q = visits::table
        .filter(visits::household_id.eq(household_id))
        .select(VisitRecord::as_select())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(visits::id.lt(b.to_owned()));
    }
    Ok(q.order(visits::id.desc()).limit(limit).load(conn)?)
}

/// Ids of a household's visits (what a deletion leaves tombstones of).
///
/// # Errors
/// Database errors.
pub fn ids_of_household(
    conn: &mut AnyConnection,
    household_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(visits::table
        .filter(visits::household_id.eq(household_id))
        .select(visits::id)
        .load(conn)?)
}

/// The last visit of each of these households that has one: (household id, `visited_at`).
///
/// # Errors
/// Database errors.
pub fn last_of(
    conn: &mut AnyConnection,
    household_ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let rows: Vec<(String, Option<String>)> = visits::table
        .filter(visits::household_id.eq_any(household_ids))
        .group_by(visits::household_id)
        .select((visits::household_id, diesel::dsl::max(visits::visited_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(h, at)| at.map(|at| (h, at)))
        .collect())
}
