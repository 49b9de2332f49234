//! The command centre's figures summed from the incident rows: the departments' (one pass),
//! a unit's partial days (`window_sums`), the overdue cases the clock has not reached, the
//! summonses and the heat map. What each sum counts is defined in the contract (`Measures`);
//! the columns it reads are kept on the case as it moves (migration `incident_measures`).
//! Whole days and months come from the sums kept ahead (`daily`).

pub mod coverage;

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::scoped::path_upper_bound;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// The sums of one group of cases over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct Sums {
    #[diesel(sql_type = Text)]
    pub grp: String,
    #[diesel(sql_type = BigInt)]
    pub registered: i64,
    #[diesel(sql_type = BigInt)]
    pub due: i64,
    #[diesel(sql_type = BigInt)]
    pub closed: i64,
    #[diesel(sql_type = BigInt)]
    pub closed_on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub closed_in_period: i64,
    #[diesel(sql_type = BigInt)]
    pub replied: i64,
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = BigInt)]
    pub overdue_now: i64,
    #[diesel(sql_type = BigInt)]
    pub signed: i64,
    #[diesel(sql_type = BigInt)]
    pub sign_seconds: i64,
    #[diesel(sql_type = BigInt)]
    pub close_seconds: i64,
}

impl Sums {
    /// Adds another group's sums to these.
    pub fn add(&mut self, o: &Self) {
        self.registered += o.registered;
        self.due += o.due;
        self.closed += o.closed;
        self.closed_on_time += o.closed_on_time;
        self.closed_in_period += o.closed_in_period;
        self.replied += o.replied;
        self.satisfied += o.satisfied;
        self.overdue_now += o.overdue_now;
        self.signed += o.signed;
        self.sign_seconds += o.sign_seconds;
        self.close_seconds += o.close_seconds;
    }
}

/// A period and the present, as stored times (`from` inclusive, `to` exclusive).
#[derive(Debug, Clone)]
pub struct Period {
    pub from: String,
    pub to: String,
    pub now: String,
}

/// `$1`..`$3` are from, to, now; each first appears in that order (SQLite numbers `$n` by
/// first appearance): the window's sums with `overdue_now` counted too.
fn sums_with_overdue() -> String {
    WINDOW_SUMS.replace(
        "CAST(0 AS BIGINT) AS overdue_now",
        "CAST(SUM(CASE WHEN i.status NOT IN ('closed', 'rejected', 'on_hold') AND (i.register_due < $3 OR i.sign_due < $3 OR i.close_due < $3) THEN 1 ELSE 0 END) AS BIGINT) AS overdue_now",
    )
}

/// A row counts if something it measures happened in the period, or it is open now (it may
/// be overdue). Everything else is left out before the sums.
const RELEVANT: &str = "(m.registered_at >= $1 OR m.due_at >= $1 OR i.closed_at >= $1 \
  OR m.signed_at >= $1 OR i.status NOT IN ('closed', 'rejected'))";

/// Sums per department the cases were dispatched to (cases with none are left out), over
/// the cases owned inside the subtree at `path` (a unit path): one pass over the cases.
///
/// # Errors
/// Database errors.
pub fn department_sums(
    conn: &mut AnyConnection,
    period: &Period,
    path: &str,
) -> Result<Vec<Sums>, StoreError> {
    let sums = sums_with_overdue();
    let q = format!(
        "SELECT i.department_id AS grp, {sums} FROM incidents i JOIN units u ON u.id = i.owner_unit_id \
         LEFT JOIN incident_measures m ON m.incident_id = i.id WHERE {RELEVANT} AND u.path >= $4 AND u.path < $5 \
         AND i.department_id IS NOT NULL GROUP BY i.department_id"
    );
    Ok(diesel::sql_query(q)
        .bind::<Text, _>(&period.from)
        .bind::<Text, _>(&period.to)
        .bind::<Text, _>(&period.now)
        .bind::<Text, _>(path)
        .bind::<Text, _>(path_upper_bound(path))
        .load(conn)?)
}

/// What each figure counts of a case, for a window `$1`..`$2` (`overdue_now` is not a
/// window's: 0 here). A case counts as a duplicate or a rejected report in no figure but
/// `registered`.
const WINDOW_SUMS: &str = "CAST(SUM(CASE WHEN m.registered_at >= $1 AND m.registered_at < $2 THEN 1 ELSE 0 END) AS BIGINT) AS registered, \
  CAST(SUM(CASE WHEN m.due_at >= $1 AND m.due_at < $2 AND i.status <> 'rejected' AND i.merged_into IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS due, \
  CAST(SUM(CASE WHEN m.due_at >= $1 AND m.due_at < $2 AND i.status = 'closed' AND i.merged_into IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS closed, \
  CAST(SUM(CASE WHEN m.due_at >= $1 AND m.due_at < $2 AND i.status = 'closed' AND i.merged_into IS NULL AND m.on_time THEN 1 ELSE 0 END) AS BIGINT) AS closed_on_time, \
  CAST(SUM(CASE WHEN i.closed_at >= $1 AND i.closed_at < $2 AND i.status = 'closed' AND i.merged_into IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS closed_in_period, \
  CAST(SUM(CASE WHEN i.closed_at >= $1 AND i.closed_at < $2 AND i.status = 'closed' AND i.merged_into IS NULL AND m.callback_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS replied, \
  CAST(SUM(CASE WHEN i.closed_at >= $1 AND i.closed_at < $2 AND i.status = 'closed' AND i.merged_into IS NULL AND m.callback_at IS NOT NULL AND i.satisfied THEN 1 ELSE 0 END) AS BIGINT) AS satisfied, \
  CAST(0 AS BIGINT) AS overdue_now, \
  CAST(SUM(CASE WHEN m.signed_at >= $1 AND m.signed_at < $2 AND m.sign_seconds IS NOT NULL AND i.status <> 'rejected' AND i.merged_into IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS signed, \
  CAST(SUM(CASE WHEN m.signed_at >= $1 AND m.signed_at < $2 AND m.sign_seconds IS NOT NULL AND i.status <> 'rejected' AND i.merged_into IS NULL THEN m.sign_seconds ELSE 0 END) AS BIGINT) AS sign_seconds, \
  CAST(SUM(CASE WHEN i.closed_at >= $1 AND i.closed_at < $2 AND i.status = 'closed' AND i.merged_into IS NULL THEN m.close_seconds ELSE 0 END) AS BIGINT) AS close_seconds";

/// Sums per owner path and category (the group `"{path}|{code}"`) over the subtree's cases
/// with something counted in `[from, to)`, found by the index on each time a figure counts;
/// `overdue_now` is 0. For the partial days at the ends of a period summed ahead by day.
///
/// # Errors
/// Database errors.
pub fn window_sums(
    conn: &mut AnyConnection,
    (from, to): (&str, &str),
    path: &str,
) -> Result<Vec<Sums>, StoreError> {
    let grp = "u.path || '|' || i.category_code";
    let q = format!(
        "WITH w AS (SELECT incident_id AS id FROM incident_measures WHERE registered_at >= $1 AND registered_at < $2 \
           UNION SELECT incident_id FROM incident_measures WHERE due_at >= $1 AND due_at < $2 \
           UNION SELECT incident_id FROM incident_measures WHERE signed_at >= $1 AND signed_at < $2 \
           UNION SELECT id FROM incidents WHERE closed_at >= $1 AND closed_at < $2) \
         SELECT {grp} AS grp, {WINDOW_SUMS} FROM w JOIN incidents i ON i.id = w.id \
           JOIN units u ON u.id = i.owner_unit_id LEFT JOIN incident_measures m ON m.incident_id = i.id \
         WHERE u.path >= $3 AND u.path < $4 GROUP BY u.path, i.category_code"
    );
    // Planned for its bounds: the generic plan of the cached statement, blind to them, takes
    // a window for 0.5% of the cases and reads a million rows for five hundred.
    custom_plans(conn, true)?;
    let rows = diesel::sql_query(q)
        .bind::<Text, _>(from)
        .bind::<Text, _>(to)
        .bind::<Text, _>(path)
        .bind::<Text, _>(path_upper_bound(path))
        .load(conn);
    custom_plans(conn, false)?;
    Ok(rows?)
}

/// Within a transaction on PostgreSQL: plan each statement for its values (`on`), or as
/// usual again.
fn custom_plans(conn: &mut AnyConnection, on: bool) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    if let AnyConnection::Postgresql(c) = conn {
        c.batch_execute(if on {
            "SET LOCAL plan_cache_mode = force_custom_plan"
        } else {
            "SET LOCAL plan_cache_mode = auto"
        })?;
    }
    Ok(())
}

/// Open cases past a deadline, counted per owner path and category.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Overdue {
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub category_code: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// The subtree's cases past a running deadline that the clock has not noted yet: their
/// earliest deadline is the next one the clock waits for (`next_due`, none while held or
/// ended), and it has passed. The rest of `overdue_now` is kept in `incident_overdue`.
///
/// # Errors
/// Database errors.
pub fn overdue_unnoted(
    conn: &mut AnyConnection,
    now: &str,
    path: &str,
) -> Result<Vec<Overdue>, StoreError> {
    // Planned for its bounds, as `window_sums`: the generic plan guesses 73 units for the
    // district's path range and hashes all 14,522 (10 ms on the demo; 0.05 ms planned).
    custom_plans(conn, true)?;
    let rows = diesel::sql_query(
        "SELECT u.path AS path, i.category_code AS category_code, CAST(COUNT(*) AS BIGINT) AS count \
         FROM incidents i JOIN units u ON u.id = i.owner_unit_id \
         WHERE i.next_due < $1 AND COALESCE(i.register_due >= i.next_due, TRUE) \
           AND COALESCE(i.sign_due >= i.next_due, TRUE) AND COALESCE(i.close_due >= i.next_due, TRUE) \
           AND u.path >= $2 AND u.path < $3 \
         GROUP BY u.path, i.category_code",
    )
    .bind::<Text, _>(now)
    .bind::<Text, _>(path)
    .bind::<Text, _>(path_upper_bound(path))
    .load(conn);
    custom_plans(conn, false)?;
    Ok(rows?)
}

/// A department's answers to summonses (吹哨报到) over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct SummonsSums {
    #[diesel(sql_type = Text)]
    pub department_id: String,
    #[diesel(sql_type = BigInt)]
    pub summoned: i64,
    #[diesel(sql_type = BigInt)]
    pub reported_in: i64,
    #[diesel(sql_type = BigInt)]
    pub reported_in_on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub missed: i64,
}

/// Summonses made in the period to each department, for cases owned inside the subtree.
///
/// # Errors
/// Database errors.
pub fn summonses(
    conn: &mut AnyConnection,
    period: &Period,
    path: &str,
) -> Result<Vec<SummonsSums>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT s.department_id AS department_id, CAST(COUNT(*) AS BIGINT) AS summoned, \
           CAST(SUM(CASE WHEN s.reported_in_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS reported_in, \
           CAST(SUM(CASE WHEN s.reported_in_at <= s.report_in_due THEN 1 ELSE 0 END) AS BIGINT) AS reported_in_on_time, \
           CAST(SUM(CASE WHEN s.missed_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS missed \
         FROM incident_departments s JOIN incidents i ON i.id = s.incident_id \
           JOIN units u ON u.id = i.owner_unit_id \
         WHERE s.summoned_at >= $1 AND s.summoned_at < $2 AND u.path >= $3 AND u.path < $4 \
         GROUP BY s.department_id",
    )
    .bind::<Text, _>(&period.from)
    .bind::<Text, _>(&period.to)
    .bind::<Text, _>(path)
    .bind::<Text, _>(path_upper_bound(path))
    .load(conn)?)
}

/// A count of cases reported in one H3 cell.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CellCount {
    #[diesel(sql_type = BigInt)]
    pub cell: i64,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Cases reported in the period inside the subtree, counted per coarser cell: each stored
/// cell with its resolution bits replaced (`& keep | set`, see `wangge_geo::cell_parent_bits`).
///
/// # Errors
/// Database errors.
pub fn cell_counts(
    conn: &mut AnyConnection,
    period: &Period,
    path: &str,
    (keep, set): (i64, i64),
) -> Result<Vec<CellCount>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT ((i.cell & $1) | $2) AS cell, CAST(COUNT(*) AS BIGINT) AS count \
         FROM incidents i JOIN units u ON u.id = i.owner_unit_id \
         WHERE i.created_at >= $3 AND i.created_at < $4 AND u.path >= $5 AND u.path < $6 \
         GROUP BY 1",
    )
    .bind::<BigInt, _>(keep)
    .bind::<BigInt, _>(set)
    .bind::<Text, _>(&period.from)
    .bind::<Text, _>(&period.to)
    .bind::<Text, _>(path)
    .bind::<Text, _>(path_upper_bound(path))
    .load(conn)?)
}

/// Whether any case has a measured step (and so a share of the figures).
///
/// # Errors
/// Database errors.
pub fn any_measured(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    use crate::schema::incident_measures as m;
    Ok(m::table
        .select(m::incident_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}
