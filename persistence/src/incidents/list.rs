//! The incident list: filters, the viewer's reach, cursor pages.

use super::IncidentRecord;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{incident_departments as summons, incidents};
use crate::scoped::{ReachSql, UnitRef, reach_sql, subtrees_sql};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use wangge_domain::Reach;

const OWNER_UNIT: UnitRef = UnitRef {
    before: "incidents.owner_unit_id",
    after: "",
};

/// Filters of the incident list.
#[derive(Debug, Default, Clone)]
pub struct IncidentFilter {
    pub statuses: Vec<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    /// Only cases owned inside this subtree (a unit path).
    pub under_path: Option<String>,
    /// Only cases dispatched to this department.
    pub department_id: Option<String>,
    /// Only cases with a deadline of their stage before this time (stored form).
    pub overdue_at: Option<String>,
    /// Reported at or after / before these times (stored form).
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    /// Closed at or after / before these times (stored form).
    pub closed_from: Option<String>,
    pub closed_to: Option<String>,
    /// Reported by this account.
    pub reporter_id: Option<String>,
    /// Leave out anonymous reports (a reporter filter by anyone but the reporter must not
    /// tell who made them).
    pub named_only: bool,
    /// Newest first (ids are UUIDv7, so id order is report order).
    pub newest_first: bool,
    /// Only cases inside this box, WGS-84 degrees: (min lng, min lat, max lng, max lat).
    pub bbox: Option<(f64, f64, f64, f64)>,
    /// Only cases whose leaf cell lies in one of these inclusive ranges of cell indexes (the
    /// leaf descendants of H3 cells, `wangge_geo::leaf_range`).
    pub cell_ranges: Vec<(i64, i64)>,
}

/// Who the list is for: a reach over owner units, and for a department account its own cases
/// (dispatched or summoned), whatever their unit.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    Units(Reach<'a>),
    Department(&'a str),
}

/// One page of cases in id order after the cursor.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    filter: &IncidentFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<IncidentRecord>, StoreError> {
    let mut q = incidents::table.into_boxed();
    let reach = match viewer {
        // A subtree asked for inside the caller's reach needs no second condition: the
        // reach of a district's command centre is every unit of the district.
        Viewer::Units(reach)
            if filter
                .under_path
                .as_deref()
                .is_some_and(|p| reach.contains(p)) =>
        {
            None
        }
        Viewer::Units(reach) => Some(reach_sql::<incidents::table>(conn, reach)?),
        Viewer::Department(d) => {
            q = q.filter(
                incidents::department_id
                    .eq(d.to_owned())
                    .or(incidents::id.eq_any(
                        summons::table
                            .filter(summons::department_id.eq(d.to_owned()))
                            .select(summons::incident_id),
                    )),
            );
            None
        }
    };
    let under = filter
        .under_path
        .as_ref()
        .map(|p| subtrees_sql::<incidents::table>(conn, std::slice::from_ref(p)))
        .transpose()?;
    let mut few_units = false;
    for f in [reach, under].into_iter().flatten() {
        match f {
            ReachSql::Empty => return Ok(Vec::new()),
            ReachSql::All => {}
            ReachSql::Units(ids) => {
                few_units = true;
                q = q.filter(incidents::owner_unit_id.eq_any(ids));
            }
            ReachSql::Subtrees(..) => {
                if let Some(c) = f.condition(&OWNER_UNIT) {
                    q = q.filter(c);
                }
            }
        }
    }
    if !filter.statuses.is_empty() {
        q = q.filter(incidents::status.eq_any(filter.statuses.clone()));
    }
    // Open cases only: say so in the words of the open-cases index (a literal, so the
    // planner can match it whatever the bound values).
    let open_only = !filter.statuses.is_empty()
        && filter
            .statuses
            .iter()
            .all(|s| s != "closed" && s != "rejected");
    if open_only {
        q = q.filter(sql::<Bool>(
            "incidents.status NOT IN ('closed', 'rejected')",
        ));
    }
    // A few units' open cases are few: take the page's ids from the open-cases index and
    // sort them (by an expression that sorts as the id does). Ordered by the bare id,
    // PostgreSQL walks the primary key through a year of closed cases instead, taking it for
    // the cheaper way to the first page (25-400 ms with a million cases; docs/benchmarks.md).
    let by_sort = open_only && few_units;
    if let Some(c) = &filter.category {
        q = q.filter(
            incidents::category_code
                .eq(c.clone())
                .or(incidents::category_code.like(format!("{c}%"))),
        );
    }
    if let Some(p) = &filter.priority {
        q = q.filter(incidents::priority.eq(p.clone()));
    }
    if let Some(d) = &filter.department_id {
        q = q.filter(incidents::department_id.eq(d.clone()));
    }
    if let Some(now) = &filter.overdue_at {
        q = q
            .filter(incidents::status.ne_all(["closed", "rejected", "on_hold"]))
            .filter(
                incidents::register_due
                    .lt(now.clone())
                    .or(incidents::sign_due.lt(now.clone()))
                    .or(incidents::close_due.lt(now.clone())),
            );
    }
    if let Some(t) = &filter.created_from {
        q = q.filter(incidents::created_at.ge(t.clone()));
    }
    if let Some(t) = &filter.created_to {
        q = q.filter(incidents::created_at.lt(t.clone()));
    }
    if let Some(t) = &filter.closed_from {
        q = q.filter(incidents::closed_at.ge(t.clone()));
    }
    if let Some(t) = &filter.closed_to {
        q = q.filter(incidents::closed_at.lt(t.clone()));
    }
    if let Some(r) = &filter.reporter_id {
        q = q.filter(incidents::reporter_id.eq(r.clone()));
    }
    if filter.named_only {
        q = q.filter(incidents::anonymous.eq(false));
    }
    if let Some((min_lng, min_lat, max_lng, max_lat)) = filter.bbox {
        q = q
            .filter(incidents::lat.between(min_lat, max_lat))
            .filter(incidents::lon.between(min_lng, max_lng));
    }
    if let Some(((lo, hi), rest)) = filter.cell_ranges.split_first() {
        let mut any: Box<
            dyn BoxableExpression<
                    incidents::table,
                    crate::db::Backend,
                    SqlType = diesel::sql_types::Bool,
                >,
        > = Box::new(incidents::cell.between(*lo, *hi));
        for (lo, hi) in rest {
            any = Box::new(any.or(incidents::cell.between(*lo, *hi)));
        }
        q = q.filter(any);
    }
    q = match (filter.newest_first, after) {
        (true, Some(a)) => q.filter(incidents::id.lt(a.to_owned())),
        (false, Some(a)) => q.filter(incidents::id.gt(a.to_owned())),
        (_, None) => q,
    };
    if by_sort {
        // The page's ids from the open-cases index alone, then those rows.
        let sorted = sql::<diesel::sql_types::Text>("incidents.id || ''");
        let q = if filter.newest_first {
            q.order(sorted.desc())
        } else {
            q.order(sorted.asc())
        };
        let ids: Vec<String> = q.select(incidents::id).limit(limit).load(conn)?;
        // Again with the status: a case closed between the two reads stays out.
        let mut rows: Vec<IncidentRecord> = incidents::table
            .filter(incidents::id.eq_any(&ids))
            .filter(incidents::status.eq_any(&filter.statuses))
            .select(IncidentRecord::as_select())
            .load(conn)?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        if filter.newest_first {
            rows.reverse();
        }
        return Ok(rows);
    }
    let q = if filter.newest_first {
        q.order(incidents::id.desc())
    } else {
        q.order(incidents::id.asc())
    };
    Ok(q.select(IncidentRecord::as_select())
        .limit(limit)
        .load(conn)?)
}
