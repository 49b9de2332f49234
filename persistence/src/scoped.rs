//! Scope in SQL: the domain's [`Reach`] as a filter on a list query, so lists are narrowed in
//! the database and never loaded first and filtered after.

use crate::db::Backend;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use wangge_domain::Reach;

/// A boolean SQL condition usable in a boxed query over `QS`.
pub(crate) type Condition<QS> = Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>>;

/// Where a row names its unit, as SQL around `<unit id> IN (…)`: `before` ends with the
/// expression holding the unit id, `after` closes what `before` opened. Always literals of
/// this crate, never input.
pub(crate) struct UnitRef {
    pub before: &'static str,
    pub after: &'static str,
}

/// The row's unit lies inside one of `paths` (unit paths, so a subtree is a prefix match).
///
/// Written as SQL text with bound values because diesel cannot nest a boxed subquery on a
/// multi-backend connection.
pub(crate) fn unit_in_subtrees<QS: 'static>(unit: &UnitRef, paths: &[String]) -> Condition<QS> {
    let (before, after) = (unit.before, unit.after);
    let term = |p: &String| {
        // Paths are '/'-joined UUIDs: no LIKE wildcard can occur in them.
        sql::<Bool>(&format!(
            "{before} IN (SELECT units.id FROM units WHERE units.path LIKE "
        ))
        .bind::<Text, _>(format!("{p}%"))
        .sql(&format!("){after}"))
    };
    let mut cond: Condition<QS> = Box::new(sql::<Bool>("1 = 0"));
    for p in paths {
        cond = Box::new(cond.or(term(p)));
    }
    cond
}

/// What a list query must do for a reach.
pub(crate) enum ReachSql<QS> {
    /// Answer with nothing, without asking the database.
    Empty,
    /// No filter.
    All,
    /// Keep rows matching the condition.
    Where(Condition<QS>),
}

pub(crate) fn reach_sql<QS: 'static>(unit: &UnitRef, reach: Reach<'_>) -> ReachSql<QS> {
    match reach {
        Reach::Nothing => ReachSql::Empty,
        Reach::Everything => ReachSql::All,
        Reach::Subtrees([]) => ReachSql::Empty,
        Reach::Subtrees(paths) => ReachSql::Where(unit_in_subtrees(unit, paths)),
    }
}
