//! Reading the sums kept ahead: a unit's, its children's and its categories' over runs of
//! days and months, the overdue counts, and a unit's rows to move them with the unit.

use super::{OverdueKey, Tally};
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::incident_overdue as overdue;
use crate::stats::Sums;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

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
