//! What `GET /stats/coverage` reads: the patrols walked in and around a unit in a period (and
//! the fixes of those still walked), the households of its subtree and their visits, and the
//! accounts who work it. Set queries, a page of patrols at a time; the sums are made above.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{households, patrol_points, patrols, units, user_assignments, users, visits};
use crate::scoped::{ReachSql, UnitInSubtree, UnitRef, path_upper_bound, subtrees_sql};
use diesel::dsl::{count, count_star};
use diesel::prelude::*;

use crate::patrols::StoredFix;

const PATROL_UNIT: UnitRef = UnitRef {
    before: "patrols.unit_id",
    after: "",
};

/// Ids per `IN (…)` list, well below either backend's limit on bound values.
const CHUNK: usize = 1_000;

/// A patrol as the figures read it.
#[derive(Debug, Clone, Queryable)]
pub struct WalkedPatrol {
    pub id: String,
    pub walker_id: String,
    pub unit_id: String,
    /// The cells walked (hexadecimal, comma-separated); none while it is walked.
    pub cells: Option<String>,
    pub finished_at: Option<String>,
}

/// Patrols started in `[from, to)` in a unit of the subtree at `path` or in one of the units
/// `above` it (whose patrols may walk its cells), in id order after `after`.
///
/// # Errors
/// Database errors.
pub fn patrols_started(
    conn: &mut AnyConnection,
    path: &str,
    above: &[&str],
    (from, to): (&str, &str),
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<WalkedPatrol>, StoreError> {
    let above: Vec<String> = above.iter().map(|s| (*s).to_owned()).collect();
    let mut q = patrols::table
        .filter(patrols::started_at.ge(from.to_owned()))
        .filter(patrols::started_at.lt(to.to_owned()))
        .select((
            patrols::id,
            patrols::walker_id,
            patrols::unit_id,
            patrols::cells,
            patrols::finished_at,
        ))
        .into_boxed();
    match subtrees_sql::<patrols::table>(conn, &[path.to_owned()])? {
        ReachSql::All => {}
        ReachSql::Empty => q = q.filter(patrols::unit_id.eq_any(above)),
        ReachSql::Units(mut ids) => {
            ids.extend(above);
            q = q.filter(patrols::unit_id.eq_any(ids));
        }
        r @ ReachSql::Subtrees(..) => {
            if let Some(c) = r.condition(&PATROL_UNIT) {
                q = q.filter(c.or(patrols::unit_id.eq_any(above)));
            }
        }
    }
    if let Some(a) = after {
        q = q.filter(patrols::id.gt(a.to_owned()));
    }
    Ok(q.order(patrols::id.asc()).limit(limit).load(conn)?)
}

/// The fixes of these patrols, by patrol and in time order.
///
/// # Errors
/// Database errors.
pub fn fixes_of(
    conn: &mut AnyConnection,
    patrol_ids: &[String],
) -> Result<Vec<(String, StoredFix)>, StoreError> {
    let mut out = Vec::new();
    for chunk in patrol_ids.chunks(CHUNK) {
        out.extend(
            patrol_points::table
                .filter(patrol_points::patrol_id.eq_any(chunk))
                .order((patrol_points::patrol_id.asc(), patrol_points::at.asc()))
                .select((
                    patrol_points::patrol_id,
                    (
                        patrol_points::at,
                        patrol_points::lon,
                        patrol_points::lat,
                        patrol_points::accuracy_m,
                    ),
                ))
                .load::<(String, StoredFix)>(conn)?,
        );
    }
    Ok(out)
}

/// The households of the subtree at `path`.
///
/// # Errors
/// Database errors.
pub fn household_count(conn: &mut AnyConnection, path: &str) -> Result<i64, StoreError> {
    Ok(households::table
        .filter(UnitInSubtree::households(path))
        .count()
        .get_result(conn)?)
}

/// The households of the subtree at `path` visited in `[from, to)`, by anyone.
///
/// # Errors
/// Database errors.
pub fn households_visited(
    conn: &mut AnyConnection,
    path: &str,
    (from, to): (&str, &str),
) -> Result<i64, StoreError> {
    Ok(visits::table
        .inner_join(households::table.on(households::id.eq(visits::household_id)))
        .filter(UnitInSubtree::households(path))
        .filter(visits::visited_at.ge(from.to_owned()))
        .filter(visits::visited_at.lt(to.to_owned()))
        .select(count(visits::household_id).aggregate_distinct())
        .first(conn)?)
}

/// One visitor's visits in a period.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct VisitorCounts {
    pub visitor_id: String,
    /// Distinct households visited.
    pub households: i64,
    pub visits: i64,
}

/// Per visitor, the visits in `[from, to)` to households of the subtree at `path`.
///
/// # Errors
/// Database errors.
pub fn visits_by_visitor(
    conn: &mut AnyConnection,
    path: &str,
    (from, to): (&str, &str),
) -> Result<Vec<VisitorCounts>, StoreError> {
    Ok(visits::table
        .inner_join(households::table.on(households::id.eq(visits::household_id)))
        .filter(UnitInSubtree::households(path))
        .filter(visits::visited_at.ge(from.to_owned()))
        .filter(visits::visited_at.lt(to.to_owned()))
        .group_by(visits::visitor_id)
        .select((
            visits::visitor_id,
            count(visits::household_id).aggregate_distinct(),
            count_star(),
        ))
        .load(conn)?)
}

/// An account as the figures name it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// Comma-separated role names.
    pub roles: String,
}

/// Active accounts with capture scope assigned at a unit of the subtree at `path`.
///
/// # Errors
/// Database errors.
pub fn capture_assigned(conn: &mut AnyConnection, path: &str) -> Result<Vec<Account>, StoreError> {
    Ok(users::table
        .inner_join(user_assignments::table.on(user_assignments::user_id.eq(users::id)))
        .inner_join(units::table.on(units::id.eq(user_assignments::unit_id)))
        .filter(users::active.eq(true))
        .filter(user_assignments::capture.eq(true))
        .filter(units::path.ge(path.to_owned()))
        .filter(units::path.lt(path_upper_bound(path)))
        .select((
            users::id,
            users::username,
            users::display_name,
            users::roles,
        ))
        .distinct()
        .load(conn)?)
}

/// The accounts with these ids that exist.
///
/// # Errors
/// Database errors.
pub fn accounts(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<Account>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            users::table
                .filter(users::id.eq_any(chunk))
                .select((
                    users::id,
                    users::username,
                    users::display_name,
                    users::roles,
                ))
                .load::<Account>(conn)?,
        );
    }
    Ok(out)
}
