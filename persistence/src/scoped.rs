//! Scope in SQL: the domain's [`Reach`] as a filter on a list query, so lists are narrowed in
//! the database and never loaded first and filtered after.
//!
//! A reach is a few subtrees (unit paths). The units inside them are found first, in one query
//! on `units` (a range on the path index); the list query then keeps rows whose unit is
//! among them, which the planner can answer from a `(unit_id, id)` index. Folding the subtree
//! test into the list query as a subquery made PostgreSQL walk the whole list table in id
//! order instead (35 ms for a worker's 484 households among 200,000; see docs/benchmarks.md).
//! Reaches of many units (a whole district) keep the subquery form, where most rows match.

use crate::db::{AnyConnection, Backend};
use crate::error::StoreError;
use crate::schema::units;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use wangge_domain::Reach;

/// A boolean SQL condition usable in a boxed query over `QS`.
pub(crate) type Condition<QS> = Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>>;

/// Above this many units a reach is filtered by a subquery instead of a list of ids.
const MAX_LISTED_UNITS: i64 = 2_000;

/// Where a row names its unit, as SQL around `<unit id> IN (…)`: `before` ends with the
/// expression holding the unit id, `after` closes what `before` opened. Always literals of
/// this crate, never input.
pub(crate) struct UnitRef {
    pub before: &'static str,
    pub after: &'static str,
}

/// The row's unit lies inside one of `paths` (unit paths, so a subtree is a prefix match).
/// `paths` must not be empty.
///
/// Written as SQL text with bound values because diesel cannot nest a boxed subquery on a
/// multi-backend connection.
pub(crate) fn unit_in_subtrees<QS: 'static>(unit: &UnitRef, paths: &[String]) -> Condition<QS> {
    let (before, after) = (unit.before, unit.after);
    let term = |p: &String| -> Condition<QS> {
        Box::new(
            sql::<Bool>(&format!(
                "{before} IN (SELECT units.id FROM units WHERE units.path >= "
            ))
            .bind::<Text, _>(p.clone())
            .sql(" AND units.path < ")
            .bind::<Text, _>(path_upper_bound(p))
            .sql(&format!("){after}")),
        )
    };
    let mut terms = paths.iter().map(term);
    let first = terms
        .next()
        .unwrap_or_else(|| Box::new(sql::<Bool>("1 = 0")));
    terms.fold(first, |acc, t| Box::new(acc.or(t)))
}

/// The least string above every path that starts with `path` (which ends with '/'): the same
/// with its last byte raised to '0', the next byte after '/'. Paths compare as bytes (SQLite's
/// default, and the "C" collation of `units.path` on PostgreSQL), so `path >= p AND path <
/// upper(p)` is the subtree, and an index range.
pub(crate) fn path_upper_bound(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(stem) => format!("{stem}0"),
        // Not a unit path; nothing can start with it and sort below itself.
        None => path.to_owned(),
    }
}

/// A unit id column (`households.unit_id`, `units.id`) names a unit inside the subtree at
/// `path`, as one condition of the query itself: the units are found by the statement, not
/// by a query before it.
///
/// On PostgreSQL it is `= ANY(ARRAY(SELECT …))`: the subquery runs once, and the query reads
/// its `(unit_id, …)` index (or the units' primary key) for exactly those units and stops at
/// the page's end. Written as `IN (SELECT …)`, or as the path range on the outer table,
/// PostgreSQL's generic plan walks every unit or household in id order instead (see the
/// module comment). SQLite plans `IN (SELECT …)` as that same lookup. A type of its own, not
/// a `sql()` literal, so that the statement is prepared once per connection.
///
/// The column is a type (`HouseholdUnit`, `UnitSelf`), not a value: diesel caches a prepared
/// statement by its query's type, so two columns must never share one.
#[derive(Debug, Clone, diesel::query_builder::QueryId)]
pub(crate) struct UnitInSubtree<C> {
    from: String,
    below: String,
    column: std::marker::PhantomData<C>,
}

/// A column naming a unit, as [`UnitInSubtree`] reads it.
pub(crate) trait UnitColumn {
    const SQL: &'static str;
}

/// `households.unit_id`.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
pub(crate) struct HouseholdUnit;

impl UnitColumn for HouseholdUnit {
    const SQL: &'static str = "households.unit_id";
}

/// `units.id`.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
pub(crate) struct UnitSelf;

impl UnitColumn for UnitSelf {
    const SQL: &'static str = "units.id";
}

impl UnitInSubtree<HouseholdUnit> {
    /// `households.unit_id` in the subtree.
    pub(crate) fn households(path: &str) -> Self {
        Self::new(path)
    }
}

impl UnitInSubtree<UnitSelf> {
    /// `units.id` in the subtree: the subtree's units, the root too.
    pub(crate) fn units(path: &str) -> Self {
        Self::new(path)
    }
}

impl<C> UnitInSubtree<C> {
    fn new(path: &str) -> Self {
        Self {
            from: path.to_owned(),
            below: path_upper_bound(path),
            column: std::marker::PhantomData,
        }
    }
}

impl<C> diesel::expression::Expression for UnitInSubtree<C> {
    type SqlType = Bool;
}

impl<C, GB> diesel::expression::ValidGrouping<GB> for UnitInSubtree<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<C, QS> diesel::expression::AppearsOnTable<QS> for UnitInSubtree<C> {}
impl<C, QS> diesel::expression::SelectableExpression<QS> for UnitInSubtree<C> {}

impl<C: UnitColumn> diesel::query_builder::QueryFragment<Backend> for UnitInSubtree<C> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, Backend>,
    ) -> QueryResult<()> {
        let pg = matches!(out.backend(), Backend::Postgresql(_));
        out.push_sql("(");
        out.push_sql(C::SQL);
        out.push_sql(if pg {
            " = ANY(ARRAY(SELECT s.id FROM units s WHERE s.path >= "
        } else {
            " IN (SELECT s.id FROM units s WHERE s.path >= "
        });
        out.push_bind_param::<Text, _>(&self.from)?;
        out.push_sql(" AND s.path < ");
        out.push_bind_param::<Text, _>(&self.below)?;
        out.push_sql(if pg { ")))" } else { "))" });
        Ok(())
    }
}

/// How many levels below the top of the grid the unit at `path` is: 1 for the district.
#[must_use]
pub(crate) fn path_depth(path: &str) -> usize {
    path.matches('/').count().saturating_sub(1)
}

/// A unit as lists show it beside their rows (and as scope checks need it).
#[derive(Debug, Clone, Queryable)]
pub struct UnitBrief {
    pub id: String,
    pub code: String,
    pub name: String,
    pub path: String,
}

/// The ids of the units inside any of `paths`, up to `limit`: lists filter by them and show
/// their own rows' units, so nothing else of these units is needed.
fn units_under(
    conn: &mut AnyConnection,
    paths: &[String],
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    if let [p] = paths {
        // One subtree (most accounts): a fixed query the connection keeps prepared.
        return Ok(units::table
            .select(units::id)
            .filter(units::path.ge(p))
            .filter(units::path.lt(path_upper_bound(p)))
            .limit(limit)
            .load(conn)?);
    }
    let mut q = units::table.select(units::id).into_boxed();
    for (i, p) in paths.iter().enumerate() {
        let range = units::path
            .ge(p.clone())
            .and(units::path.lt(path_upper_bound(p)));
        q = if i == 0 {
            q.filter(range)
        } else {
            q.or_filter(range)
        };
    }
    Ok(q.limit(limit).load(conn)?)
}

/// What a list query must do for a set of subtrees.
pub(crate) enum ReachSql<QS> {
    /// Answer with nothing, without asking the database.
    Empty,
    /// No filter.
    All,
    /// Keep rows whose unit is one of these ids.
    Units(Vec<String>),
    /// Keep rows whose unit lies in these subtrees (`unit_in_subtrees`): too many units to
    /// list.
    Subtrees(Vec<String>, std::marker::PhantomData<QS>),
}

impl<QS: 'static> ReachSql<QS> {
    /// The unit ids of `Units`.
    pub(crate) fn unit_ids(&self) -> Vec<&str> {
        match self {
            Self::Units(ids) => ids.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The condition for `Subtrees`, built afresh for each query that needs it.
    pub(crate) fn condition(&self, unit: &UnitRef) -> Option<Condition<QS>> {
        match self {
            Self::Subtrees(paths, _) => Some(unit_in_subtrees(unit, paths)),
            _ => None,
        }
    }
}

/// The filter for rows within `reach`.
///
/// # Errors
/// Database errors.
pub(crate) fn reach_sql<QS: 'static>(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
) -> Result<ReachSql<QS>, StoreError> {
    Ok(match reach {
        Reach::Nothing | Reach::Subtrees([]) => ReachSql::Empty,
        Reach::Everything => ReachSql::All,
        Reach::Subtrees(paths) => subtrees_sql(conn, paths)?,
    })
}

/// The filter for rows inside `paths` (not empty).
///
/// # Errors
/// Database errors.
pub(crate) fn subtrees_sql<QS: 'static>(
    conn: &mut AnyConnection,
    paths: &[String],
) -> Result<ReachSql<QS>, StoreError> {
    let units = units_under(conn, paths, MAX_LISTED_UNITS + 1)?;
    Ok(if units.is_empty() {
        ReachSql::Empty
    } else if i64::try_from(units.len()).unwrap_or(i64::MAX) <= MAX_LISTED_UNITS {
        ReachSql::Units(units)
    } else {
        ReachSql::Subtrees(paths.to_vec(), std::marker::PhantomData)
    })
}
