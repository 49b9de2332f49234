//! The figures summed ahead per day (migration `incident_daily`): additions from the
//! transactions that change cases, and sums over a run of days. What a case adds is decided
//! by the use cases (`wangge_app::stats::fold`); this only stores and sums it.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::incidents::{IncidentRecord, Measures};
use crate::schema::{
    incident_daily_categories as cats, incident_daily_units as units, incident_overdue as overdue,
};
use crate::stats::Sums;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::upsert::excluded;

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
        let values: Vec<UnitRow<'_>> = chunk
            .iter()
            .map(|(k, t)| {
                let [a, b, c, d, e, f, g, h, i, j] = t.0;
                UnitRow {
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
            })
            .collect();
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
        let values: Vec<CategoryRow<'_>> = chunk
            .iter()
            .map(|(k, t)| {
                let [a, b, c, d, e, f, g, h, i, j] = t.0;
                CategoryRow {
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
            })
            .collect();
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

/// Adds to the overdue counts; keys sorted as for [`add_units`].
///
/// # Errors
/// Database errors.
pub fn add_overdue(conn: &mut AnyConnection, rows: &[(OverdueKey, i64)]) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<OverdueRow<'_>> = chunk
            .iter()
            .map(|(k, n)| OverdueRow {
                unit_id: &k.unit_id,
                category_code: &k.category_code,
                own: k.own,
                n: *n,
            })
            .collect();
        add_into!(conn, overdue, &values, (unit_id, category_code, own), [n]);
    }
    Ok(())
}

/// An overdue count as stored.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct OverdueCount {
    #[diesel(embed)]
    pub key: OverdueKey,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The overdue counts of a unit and of its children (their ids).
///
/// # Errors
/// Database errors.
pub fn overdue_here_and_below(
    conn: &mut AnyConnection,
    unit_id: &str,
    children: &[String],
) -> Result<Vec<OverdueCount>, StoreError> {
    let mut ids = Vec::with_capacity(children.len() + 1);
    ids.push(unit_id.to_owned());
    ids.extend(children.iter().cloned());
    Ok(overdue::table
        .filter(overdue::unit_id.eq_any(&ids))
        .filter(overdue::n.ne(0))
        .select((
            overdue::unit_id,
            overdue::category_code,
            overdue::own,
            overdue::n,
        ))
        .load::<(String, String, bool, i64)>(conn)?
        .into_iter()
        .map(|(unit_id, category_code, own, n)| OverdueCount {
            key: OverdueKey {
                unit_id,
                category_code,
                own,
            },
            n,
        })
        .collect())
}

/// The overdue counts of exactly one unit (to move them when the unit moves).
///
/// # Errors
/// Database errors.
pub fn overdue_of(
    conn: &mut AnyConnection,
    unit_id: &str,
) -> Result<Vec<OverdueCount>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT unit_id, category_code, own, n FROM incident_overdue WHERE unit_id = $1 AND n <> 0",
    )
    .bind::<Text, _>(unit_id)
    .load(conn)?)
}

/// Every unit day of one unit (to move a unit's share when the unit moves).
///
/// # Errors
/// Database errors.
pub fn unit_rows(conn: &mut AnyConnection, unit_id: &str) -> Result<Vec<Sums>, StoreError> {
    sums_query(
        "SELECT day AS grp, {SUMS} FROM incident_daily_units WHERE unit_id = $1 GROUP BY day",
        &[unit_id],
        conn,
    )
}

/// Every category day of one unit, grouped as `"{day} {category_code}"`.
///
/// # Errors
/// Database errors.
pub fn category_rows(conn: &mut AnyConnection, unit_id: &str) -> Result<Vec<Sums>, StoreError> {
    sums_query(
        "SELECT day || ' ' || category_code AS grp, {SUMS} FROM incident_daily_categories \
         WHERE unit_id = $1 GROUP BY day, category_code",
        &[unit_id],
        conn,
    )
}

/// The columns summed, as stored.
const FIGURE_COLUMNS: &str = "registered, due, closed, closed_on_time, closed_in_period, replied, satisfied, signed, sign_seconds, close_seconds";

/// `SELECT grp, {SUMS}` over the rows of each branch `(grp expression, table, condition)`
/// in each key range `[lo, hi)` (its rows added, or taken away when its sign is -1), one
/// index range a branch. In the SQL, `$1` is `first`, the ranges' bounds follow from `$2` in
/// order, then `rest` (a condition names them as `{rest}`).
fn ranged_sums(
    conn: &mut AnyConnection,
    first: &str,
    rest: &[String],
    branches: &[(&str, &str, &str)],
    ranges: &[(String, String, i64)],
) -> Result<Vec<Sums>, StoreError> {
    let after_ranges = 2 + 2 * ranges.len();
    let rest_list = (0..rest.len())
        .map(|i| format!("${}", after_ranges + i))
        .collect::<Vec<_>>()
        .join(", ");
    let mut parts = Vec::new();
    for (grp, table, cond) in branches {
        if cond.contains("{rest}") && rest.is_empty() {
            continue;
        }
        let cond = cond.replace("{rest}", &rest_list);
        for (i, (_, _, sign)) in ranges.iter().enumerate() {
            let (lo, hi) = (2 + 2 * i, 3 + 2 * i);
            let columns = if *sign < 0 {
                FIGURE_COLUMNS
                    .split(", ")
                    .map(|c| format!("-{c} AS {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                FIGURE_COLUMNS.to_owned()
            };
            parts.push(format!(
                "SELECT {grp} AS grp, {columns} FROM {table} WHERE {cond} AND day >= ${lo} AND day < ${hi}"
            ));
        }
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let q = format!(
        "SELECT grp, {SUMS} FROM ({}) x GROUP BY grp",
        parts.join(" UNION ALL ")
    );
    let mut q = diesel::sql_query(q)
        .into_boxed::<crate::db::Backend>()
        .bind::<Text, _>(first.to_owned());
    for (lo, hi, _) in ranges {
        q = q.bind::<Text, _>(lo.clone()).bind::<Text, _>(hi.clone());
    }
    for r in rest {
        q = q.bind::<Text, _>(r.clone());
    }
    Ok(q.load(conn)?)
}

/// The sums over key ranges (days `YYYY-MM-DD`, months `MYYYY-MM`) for a unit and its
/// children (their ids), in one statement: the group `own` for its own cases, `below` for
/// its children's, each child's by its id, and each leaf category's over the subtree as
/// `category {code}`.
///
/// # Errors
/// Database errors.
pub fn unit_and_children(
    conn: &mut AnyConnection,
    unit_id: &str,
    children: &[String],
    ranges: &[(String, String, i64)],
) -> Result<Vec<Sums>, StoreError> {
    ranged_sums(
        conn,
        unit_id,
        children,
        &[
            (
                "CASE WHEN own THEN 'own' ELSE 'below' END",
                "incident_daily_units",
                "unit_id = $1",
            ),
            ("unit_id", "incident_daily_units", "unit_id IN ({rest})"),
            (
                "'category ' || category_code",
                "incident_daily_categories",
                "unit_id = $1",
            ),
        ],
        ranges,
    )
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

const SUMS: &str = "CAST(SUM(registered) AS BIGINT) AS registered, CAST(SUM(due) AS BIGINT) AS due, \
  CAST(SUM(closed) AS BIGINT) AS closed, CAST(SUM(closed_on_time) AS BIGINT) AS closed_on_time, \
  CAST(SUM(closed_in_period) AS BIGINT) AS closed_in_period, CAST(SUM(replied) AS BIGINT) AS replied, \
  CAST(SUM(satisfied) AS BIGINT) AS satisfied, CAST(0 AS BIGINT) AS overdue_now, \
  CAST(SUM(signed) AS BIGINT) AS signed, CAST(SUM(sign_seconds) AS BIGINT) AS sign_seconds, \
  CAST(SUM(close_seconds) AS BIGINT) AS close_seconds";

fn sums_query(
    template: &str,
    binds: &[&str],
    conn: &mut AnyConnection,
) -> Result<Vec<Sums>, StoreError> {
    let q = template.replace("{SUMS}", SUMS);
    let mut q = diesel::sql_query(q).into_boxed::<crate::db::Backend>();
    for b in binds {
        q = q.bind::<Text, _>(*b);
    }
    Ok(q.load(conn)?)
}

/// A figures row as a tally, in [`Tally`]'s order.
#[must_use]
pub fn tally_of(s: &Sums) -> Tally {
    Tally([
        s.registered,
        s.due,
        s.closed,
        s.closed_on_time,
        s.closed_in_period,
        s.replied,
        s.satisfied,
        s.signed,
        s.sign_seconds,
        s.close_seconds,
    ])
}

/// A tally as a figures row (no `overdue_now`: that is never summed ahead).
#[must_use]
pub fn sums_of(grp: String, t: &Tally) -> Sums {
    let [a, b, c, d, e, f, g, h, i, j] = t.0;
    Sums {
        grp,
        registered: a,
        due: b,
        closed: c,
        closed_on_time: d,
        closed_in_period: e,
        replied: f,
        satisfied: g,
        overdue_now: 0,
        signed: h,
        sign_seconds: i,
        close_seconds: j,
    }
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
