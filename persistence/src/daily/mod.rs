//! The figures summed ahead per day (migration `incident_daily`): additions from the
//! transactions that change cases, and sums over a run of days. What a case adds is decided
//! by the use cases (`wangge_app::stats::fold`); this only stores and sums it.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::incidents::{IncidentRecord, Measures};
use crate::schema::{
    incident_daily_categories as cats, incident_daily_units as units, incident_overdue as overdue,
};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel::upsert::excluded;

mod read;

pub use read::*;

/// How many figures a day holds.
pub const FIGURES: usize = 10;

/// One day's additions to each figure, in this order: registered, due, closed,
/// closed_on_time, closed_in_period, replied, satisfied, signed, sign_seconds, close_seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally(pub [i64; FIGURES]);

impl Tally {
    /// Adds `o` times `sign` (1 or -1).
    pub fn add(&mut self, o: &Self, sign: i64) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b * sign;
        }
    }

    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

/// A row of `incident_daily_units`: a unit's day, its own cases' share or its children's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitDay {
    pub unit_id: String,
    pub day: String,
    pub own: bool,
}

/// A row of `incident_daily_categories`: a category's day in a unit's subtree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CategoryDay {
    pub unit_id: String,
    pub day: String,
    pub category_code: String,
}

#[derive(Insertable)]
#[diesel(table_name = units)]
struct UnitRow<'a> {
    unit_id: &'a str,
    day: &'a str,
    own: bool,
    registered: i64,
    due: i64,
    closed: i64,
    closed_on_time: i64,
    closed_in_period: i64,
    replied: i64,
    satisfied: i64,
    signed: i64,
    sign_seconds: i64,
    close_seconds: i64,
}

#[derive(Insertable)]
#[diesel(table_name = cats)]
struct CategoryRow<'a> {
    unit_id: &'a str,
    day: &'a str,
    category_code: &'a str,
    registered: i64,
    due: i64,
    closed: i64,
    closed_on_time: i64,
    closed_in_period: i64,
    replied: i64,
    satisfied: i64,
    signed: i64,
    sign_seconds: i64,
    close_seconds: i64,
}

impl<'a> UnitRow<'a> {
    fn of(k: &'a UnitDay, t: &Tally) -> Self {
        let [a, b, c, d, e, f, g, h, i, j] = t.0;
        Self {
            unit_id: &k.unit_id,
            day: &k.day,
            own: k.own,
            registered: a,
            due: b,
            closed: c,
            closed_on_time: d,
            closed_in_period: e,
            replied: f,
            satisfied: g,
            signed: h,
            sign_seconds: i,
            close_seconds: j,
        }
    }
}

impl<'a> CategoryRow<'a> {
    fn of(k: &'a CategoryDay, t: &Tally) -> Self {
        let [a, b, c, d, e, f, g, h, i, j] = t.0;
        Self {
            unit_id: &k.unit_id,
            day: &k.day,
            category_code: &k.category_code,
            registered: a,
            due: b,
            closed: c,
            closed_on_time: d,
            closed_in_period: e,
            replied: f,
            satisfied: g,
            signed: h,
            sign_seconds: i,
            close_seconds: j,
        }
    }
}

/// Rows a statement: within SQLite's bound-parameter limit.
const CHUNK: usize = 1_000;

/// `INSERT .. ON CONFLICT (key) DO UPDATE SET f = f + excluded.f` for each figure `f`: one
/// statement a chunk on PostgreSQL; diesel's SQLite upsert takes one row a statement (no
/// round trip there: it is in-process).
macro_rules! add_into {
    ($conn:expr, $t:ident, $values:expr, ($($key:ident),+), [$($f:ident),+]) => {
        match $conn {
            AnyConnection::Postgresql(c) => {
                diesel::insert_into($t::table)
                    .values($values)
                    .on_conflict(($($t::$key),+))
                    .do_update()
                    .set(($($t::$f.eq($t::$f + excluded($t::$f))),+))
                    .execute(c)?;
            }
            AnyConnection::Sqlite(c) => {
                for v in $values {
                    diesel::insert_into($t::table)
                        .values(v)
                        .on_conflict(($($t::$key),+))
                        .do_update()
                        .set(($($t::$f.eq($t::$f + excluded($t::$f))),+))
                        .execute(c)?;
                }
            }
        }
    };
}

/// Adds each tally to its unit day (creating the row at zero first). Callers pass the keys
/// sorted, so concurrent writers lock the rows in one order and cannot deadlock.
///
/// # Errors
/// Database errors.
pub fn add_units(conn: &mut AnyConnection, rows: &[(UnitDay, Tally)]) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<UnitRow<'_>> = chunk.iter().map(|(k, t)| UnitRow::of(k, t)).collect();
        add_into!(
            conn,
            units,
            &values,
            (unit_id, day, own),
            [
                registered,
                due,
                closed,
                closed_on_time,
                closed_in_period,
                replied,
                satisfied,
                signed,
                sign_seconds,
                close_seconds
            ]
        );
    }
    Ok(())
}

/// Adds each tally to its category day; keys sorted as for [`add_units`].
///
/// # Errors
/// Database errors.
pub fn add_categories(
    conn: &mut AnyConnection,
    rows: &[(CategoryDay, Tally)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<CategoryRow<'_>> =
            chunk.iter().map(|(k, t)| CategoryRow::of(k, t)).collect();
        add_into!(
            conn,
            cats,
            &values,
            (unit_id, day, category_code),
            [
                registered,
                due,
                closed,
                closed_on_time,
                closed_in_period,
                replied,
                satisfied,
                signed,
                sign_seconds,
                close_seconds
            ]
        );
    }
    Ok(())
}

/// A row of `incident_overdue`: the overdue cases of a category under a unit, its own or
/// its children's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, QueryableByName)]
pub struct OverdueKey {
    #[diesel(sql_type = Text)]
    pub unit_id: String,
    #[diesel(sql_type = Text)]
    pub category_code: String,
    #[diesel(sql_type = Bool)]
    pub own: bool,
}

#[derive(Insertable)]
#[diesel(table_name = overdue)]
struct OverdueRow<'a> {
    unit_id: &'a str,
    category_code: &'a str,
    own: bool,
    n: i64,
}

impl<'a> OverdueRow<'a> {
    fn of(k: &'a OverdueKey, n: i64) -> Self {
        Self {
            unit_id: &k.unit_id,
            category_code: &k.category_code,
            own: k.own,
            n,
        }
    }
}

/// Adds to the overdue counts; keys sorted as for [`add_units`].
///
/// # Errors
/// Database errors.
pub fn add_overdue(conn: &mut AnyConnection, rows: &[(OverdueKey, i64)]) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<OverdueRow<'_>> =
            chunk.iter().map(|(k, n)| OverdueRow::of(k, *n)).collect();
        add_into!(conn, overdue, &values, (unit_id, category_code, own), [n]);
    }
    Ok(())
}

/// Inserts rows into the three tables just emptied (each key once), many a statement on
/// both backends: a rebuild's write.
///
/// # Errors
/// Database errors.
pub fn insert_fresh(
    conn: &mut AnyConnection,
    units_rows: &[(UnitDay, Tally)],
    category_rows: &[(CategoryDay, Tally)],
    overdue_rows: &[(OverdueKey, i64)],
) -> Result<(), StoreError> {
    for chunk in units_rows.chunks(CHUNK) {
        let values: Vec<UnitRow<'_>> = chunk.iter().map(|(k, t)| UnitRow::of(k, t)).collect();
        on_backend!(conn, |c| diesel::insert_into(units::table)
            .values(&values)
            .execute(c))?;
    }
    for chunk in category_rows.chunks(CHUNK) {
        let values: Vec<CategoryRow<'_>> =
            chunk.iter().map(|(k, t)| CategoryRow::of(k, t)).collect();
        on_backend!(conn, |c| diesel::insert_into(cats::table)
            .values(&values)
            .execute(c))?;
    }
    for chunk in overdue_rows.chunks(CHUNK) {
        let values: Vec<OverdueRow<'_>> =
            chunk.iter().map(|(k, n)| OverdueRow::of(k, *n)).collect();
        on_backend!(conn, |c| diesel::insert_into(overdue::table)
            .values(&values)
            .execute(c))?;
    }
    Ok(())
}

/// The units that own at least one case (a rebuild reads only theirs).
///
/// # Errors
/// Database errors.
pub fn owners(conn: &mut AnyConnection) -> Result<std::collections::HashSet<String>, StoreError> {
    use crate::schema::incidents;
    Ok(incidents::table
        .select(incidents::owner_unit_id)
        .distinct()
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Empties the tables of sums (before they are summed again from the cases).
///
/// # Errors
/// Database errors.
pub fn clear(conn: &mut AnyConnection) -> Result<(), StoreError> {
    on_backend!(conn, |c| {
        diesel::delete(cats::table).execute(c)?;
        diesel::delete(overdue::table).execute(c)?;
        diesel::delete(units::table).execute(c)
    })?;
    Ok(())
}

/// Whether any day has been summed.
///
/// # Errors
/// Database errors.
pub fn any(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    Ok(units::table
        .select(units::unit_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// The cases a unit owns itself, each with its measures (to sum the days again).
///
/// # Errors
/// Database errors.
pub fn cases_of(
    conn: &mut AnyConnection,
    unit_id: &str,
) -> Result<Vec<(IncidentRecord, Measures)>, StoreError> {
    use crate::schema::{incident_measures as measures, incidents};
    let rows: Vec<IncidentRecord> = incidents::table
        .filter(incidents::owner_unit_id.eq(unit_id))
        .select(IncidentRecord::as_select())
        .load(conn)?;
    let mut by_id: std::collections::HashMap<String, Measures> = std::collections::HashMap::new();
    // Within SQLite's bound-parameter limit.
    for chunk in rows.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
        for m in measures::table
            .filter(measures::incident_id.eq_any(&ids))
            .select(Measures::as_select())
            .load::<Measures>(conn)?
        {
            by_id.insert(m.incident_id.clone(), m);
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let m = by_id.remove(&r.id).unwrap_or_else(|| Measures {
                incident_id: r.id.clone(),
                ..Measures::default()
            });
            (r, m)
        })
        .collect())
}

/// Holds both tables against writers until the transaction ends (PostgreSQL; SQLite's one
/// writer needs nothing): a writer that changes a case meanwhile adds its difference after
/// the sums are whole again, never into a table being rebuilt.
///
/// # Errors
/// Database errors.
pub fn lock(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query(
            "LOCK TABLE incident_daily_units, incident_daily_categories, incident_overdue IN EXCLUSIVE MODE",
        )
        .execute(c)?;
    }
    Ok(())
}
