//! Patrols (巡查) and the fixes of their tracks. A patrol is written when it starts, gains
//! fixes while it is walked, and is summarised once when it finishes; nothing changes after.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{patrol_points, patrols, units};
use crate::scoped::{ReachSql, UnitRef, reach_sql, subtrees_sql};
use diesel::prelude::*;
use wangge_domain::Reach;

/// Fixes per INSERT statement (6 values each, well below either backend's limit).
const CHUNK: usize = 400;

const PATROL_UNIT: UnitRef = UnitRef {
    before: "patrols.unit_id",
    after: "",
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = patrols)]
pub struct PatrolRecord {
    pub id: String,
    pub unit_id: String,
    pub walker_id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Fixes stored.
    pub points: i64,
    /// Fixes sent again (the same time), dropped.
    pub duplicates: i64,
    pub distance_m: Option<f64>,
    pub duration_s: Option<i64>,
    /// The cells walked, hexadecimal, comma-separated.
    pub cells: Option<String>,
    /// The flagged segments, a JSON array.
    pub flags: Option<String>,
    pub accepted: Option<i64>,
    pub ignored: Option<i64>,
    pub first_fix_at: Option<String>,
    pub last_fix_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// A patrol with the path of its unit (none when the unit is gone).
#[derive(Debug, Clone)]
pub struct Patrol {
    pub record: PatrolRecord,
    pub unit_path: Option<String>,
}

pub struct NewPatrol<'a> {
    pub id: &'a str,
    pub unit_id: &'a str,
    pub walker_id: &'a str,
    pub started_at: &'a str,
}

/// One fix, WGS-84, its time as stored.
#[derive(Debug, Clone, Insertable, Queryable)]
#[diesel(table_name = patrol_points)]
pub struct PointRow {
    pub patrol_id: String,
    pub at: String,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: f64,
    pub received_at: String,
}

/// A stored fix, as the analysis reads it.
#[derive(Debug, Clone, Queryable)]
pub struct StoredFix {
    pub at: String,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: f64,
}

/// What a finished patrol's track came to.
pub struct Summary<'a> {
    pub finished_at: &'a str,
    pub distance_m: f64,
    pub duration_s: i64,
    pub cells: &'a str,
    pub flags: &'a str,
    pub accepted: i64,
    pub ignored: i64,
    /// Duplicates the analysis found beyond those dropped on arrival.
    pub more_duplicates: i64,
    pub first_fix_at: Option<&'a str>,
    pub last_fix_at: Option<&'a str>,
}

/// # Errors
/// Database errors (a taken id is a `Conflict`).
pub fn insert(conn: &mut AnyConnection, p: &NewPatrol<'_>, now: &str) -> Result<(), StoreError> {
    diesel::insert_into(patrols::table)
        .values((
            patrols::id.eq(p.id),
            patrols::unit_id.eq(p.unit_id),
            patrols::walker_id.eq(p.walker_id),
            patrols::started_at.eq(p.started_at),
            patrols::created_at.eq(now),
            patrols::updated_at.eq(now),
            patrols::version.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

/// The patrol and its unit's path.
///
/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Patrol>, StoreError> {
    let row: Option<(PatrolRecord, Option<String>)> = patrols::table
        .left_join(units::table.on(units::id.eq(patrols::unit_id)))
        .filter(patrols::id.eq(id))
        .select((PatrolRecord::as_select(), units::path.nullable()))
        .first(conn)
        .optional()?;
    Ok(row.map(|(record, unit_path)| Patrol { record, unit_path }))
}

/// Stores fixes; a fix whose time the patrol has already is dropped. Returns how many were
/// stored.
///
/// # Errors
/// Database errors.
pub fn insert_points(conn: &mut AnyConnection, rows: &[PointRow]) -> Result<usize, StoreError> {
    let mut stored = 0;
    for chunk in rows.chunks(CHUNK) {
        // diesel has no multi-row INSERT … ON CONFLICT for SQLite: INSERT OR IGNORE there.
        stored += match conn {
            AnyConnection::Postgresql(c) => diesel::insert_into(patrol_points::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(c)?,
            AnyConnection::Sqlite(c) => diesel::insert_or_ignore_into(patrol_points::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(stored)
}

/// Counts a batch of fixes on a patrol still walked and moves it to the next version, which
/// it returns; none when the patrol is finished (on PostgreSQL this waits for a finish under
/// way, then sees it).
///
/// # Errors
/// Database errors.
pub fn count_points(
    conn: &mut AnyConnection,
    id: &str,
    stored: i64,
    duplicates: i64,
    now: &str,
) -> Result<Option<i64>, StoreError> {
    let target = patrols::table
        .filter(patrols::id.eq(id))
        .filter(patrols::finished_at.is_null());
    let set = (
        patrols::points.eq(patrols::points + stored),
        patrols::duplicates.eq(patrols::duplicates + duplicates),
        patrols::updated_at.eq(now),
        patrols::version.eq(patrols::version + 1),
    );
    // `RETURNING` exists on each backend but not on the multi-backend connection.
    Ok(on_backend!(conn, |c| diesel::update(target)
        .set(set)
        .returning(patrols::version)
        .get_result::<i64>(c)
        .optional())?)
}

/// Holds a patrol still walked, so no batch of fixes lands while it is summarised; false when
/// it is finished already (on PostgreSQL: once the finish under way committed).
///
/// # Errors
/// Database errors.
pub fn hold_unfinished(conn: &mut AnyConnection, id: &str, now: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        patrols::table
            .filter(patrols::id.eq(id))
            .filter(patrols::finished_at.is_null()),
    )
    .set(patrols::updated_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// The fixes of a patrol, in time order.
///
/// # Errors
/// Database errors.
pub fn fixes(conn: &mut AnyConnection, id: &str) -> Result<Vec<StoredFix>, StoreError> {
    Ok(patrol_points::table
        .filter(patrol_points::patrol_id.eq(id))
        .order(patrol_points::at.asc())
        .select((
            patrol_points::at,
            patrol_points::lon,
            patrol_points::lat,
            patrol_points::accuracy_m,
        ))
        .load(conn)?)
}

/// Finishes a patrol held by [`hold_unfinished`] with its summary.
///
/// # Errors
/// Database errors.
pub fn finish(
    conn: &mut AnyConnection,
    id: &str,
    s: &Summary<'_>,
    now: &str,
) -> Result<(), StoreError> {
    diesel::update(
        patrols::table
            .filter(patrols::id.eq(id))
            .filter(patrols::finished_at.is_null()),
    )
    .set((
        patrols::finished_at.eq(s.finished_at),
        patrols::distance_m.eq(s.distance_m),
        patrols::duration_s.eq(s.duration_s),
        patrols::cells.eq(s.cells),
        patrols::flags.eq(s.flags),
        patrols::accepted.eq(s.accepted),
        patrols::ignored.eq(s.ignored),
        patrols::duplicates.eq(patrols::duplicates + s.more_duplicates),
        patrols::first_fix_at.eq(s.first_fix_at),
        patrols::last_fix_at.eq(s.last_fix_at),
        patrols::updated_at.eq(now),
        patrols::version.eq(patrols::version + 1),
    ))
    .execute(conn)?;
    Ok(())
}

/// The patrols list's filters.
#[derive(Debug, Clone, Default)]
pub struct PatrolFilter {
    /// Only patrols in the subtree at this unit path.
    pub under_path: Option<String>,
    pub walker_id: Option<String>,
    /// Started at or after (stored form).
    pub from: Option<String>,
    /// Started before (stored form).
    pub to: Option<String>,
}

/// Patrols newest first, before the cursor (a patrol id): those in units within `reach`, and
/// the walker's own (`own`) wherever they are.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    own: Option<&str>,
    filter: &PatrolFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<PatrolRecord>, StoreError> {
    let mut q = patrols::table
        .select(PatrolRecord::as_select())
        .into_boxed();
    let own = own.map(str::to_owned);
    match reach_sql::<patrols::table>(conn, reach)? {
        ReachSql::All => {}
        ReachSql::Empty => match own {
            Some(me) => q = q.filter(patrols::walker_id.eq(me)),
            None => return Ok(Vec::new()),
        },
        ReachSql::Units(ids) => {
            q = match own {
                Some(me) => q.filter(patrols::unit_id.eq_any(ids).or(patrols::walker_id.eq(me))),
                None => q.filter(patrols::unit_id.eq_any(ids)),
            };
        }
        r @ ReachSql::Subtrees(..) => {
            if let Some(c) = r.condition(&PATROL_UNIT) {
                q = match own {
                    Some(me) => q.filter(c.or(patrols::walker_id.eq(me))),
                    None => q.filter(c),
                };
            }
        }
    }
    if let Some(p) = &filter.under_path {
        match subtrees_sql::<patrols::table>(conn, std::slice::from_ref(p))? {
            ReachSql::Empty => return Ok(Vec::new()),
            ReachSql::All => {}
            ReachSql::Units(ids) => q = q.filter(patrols::unit_id.eq_any(ids)),
            r @ ReachSql::Subtrees(..) => {
                if let Some(c) = r.condition(&PATROL_UNIT) {
                    q = q.filter(c);
                }
            }
        }
    }
    if let Some(w) = &filter.walker_id {
        q = q.filter(patrols::walker_id.eq(w.clone()));
    }
    if let Some(t) = &filter.from {
        q = q.filter(patrols::started_at.ge(t.clone()));
    }
    if let Some(t) = &filter.to {
        q = q.filter(patrols::started_at.lt(t.clone()));
    }
    if let Some(b) = before {
        q = q.filter(patrols::id.lt(b.to_owned()));
    }
    Ok(q.order(patrols::id.desc()).limit(limit).load(conn)?)
}
