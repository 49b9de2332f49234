//! The command centre's list: cases in the caller's sight, filtered, in id (report) order,
//! a page at a time.

use super::{UnitBrief, summary};
use crate::caller::Caller;
use crate::error::AppError;
use crate::tx::stored_time;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use wangge_domain::{Action, Reach, Role, UnitId};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid;
use wangge_persistence::incidents::{self as store, IncidentFilter, Viewer};

/// Filters as parsed from the query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: IncidentFilter,
    /// Only cases owned in this unit's subtree.
    pub unit: Option<UnitId>,
    pub overdue: bool,
    /// Only cases inside these H3 cells (each no finer than the leaf resolution).
    pub cells: Vec<wangge_geo::CellIndex>,
}

/// One page (`limit + 1` rows tell whether more follow).
///
/// # Errors
/// 403 for a caller who sees no cases; 404 for a unit outside the caller's sight.
pub fn list(
    conn: &mut AnyConnection,
    caller: &Caller,
    q: &ListQuery,
    after: Option<&str>,
    limit: i64,
    now: DateTime<Utc>,
    leaf: wangge_geo::Resolution,
) -> Result<Vec<Value>, AppError> {
    let department = caller
        .account
        .as_ref()
        .and_then(|a| a.user.department_id.clone())
        .filter(|_| caller.scope.has_role(Role::Department));
    let reach = caller.reach(Action::ReadIncident);
    let viewer = match (&department, reach) {
        (_, r) if r != Reach::Nothing => Viewer::Units(r),
        (Some(d), _) => Viewer::Department(d),
        (None, _) => return Err(AppError::forbidden("your roles do not read incidents")),
    };
    let mut filter = q.filter.clone();
    // Filtering by someone else's reports must not tell which anonymous ones are theirs.
    filter.named_only = filter
        .reporter_id
        .as_deref()
        .is_some_and(|r| Some(r) != caller.account_id());
    for c in &q.cells {
        let range = wangge_geo::leaf_range(*c, leaf).ok_or_else(|| {
            AppError::bad_request(
                "invalid_query",
                format!("cells: {c} is finer than the resolution cases are placed at ({leaf})"),
            )
        })?;
        filter.cell_ranges.push(range);
    }
    if let Some(u) = q.unit {
        let unit = crate::units::get(conn, u)?;
        filter.under_path = Some(unit.path);
    }
    if q.overdue {
        filter.overdue_at = Some(stored_time(now));
    }
    let rows = store::list(conn, viewer, &filter, after, limit)?;
    // The page's owner units in one statement (a district page names dozens).
    let ids: Vec<&str> = rows.iter().map(|r| r.owner_unit_id.as_str()).collect();
    let units: HashMap<String, UnitBrief> = grid::units_by_ids(conn, &ids)?
        .iter()
        .map(|u| (u.id.clone(), UnitBrief::from(u)))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let owner = units
            .get(&r.owner_unit_id)
            .ok_or_else(|| AppError::internal("a case's owner unit vanished"))?;
        out.push(summary(r, owner, now));
    }
    Ok(out)
}
