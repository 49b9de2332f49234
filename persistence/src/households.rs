//! Households: the rows, the scoped list, and conditional changes. Residents and visits are in
//! their own modules; history, outbox and change rows are written by the application layer
//! through `journal`.

use crate::db::{AnyConnection, Backend};
use crate::error::StoreError;
use crate::schema::{households, residents, units};
use crate::scoped::{ReachSql, UnitInSubtree, UnitRef, path_depth, reach_sql, subtrees_sql};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Text;
use wangge_domain::Reach;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = households)]
pub struct HouseholdRecord {
    pub id: String,
    pub unit_id: String,
    pub address: String,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub unit_reason: Option<String>,
    /// `,tag,tag,`
    pub tags: String,
    pub notes: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl HouseholdRecord {
    /// The tag names, in stored (canonical) order.
    #[must_use]
    pub fn tag_names(&self) -> Vec<&str> {
        split_tags(&self.tags)
    }
}

/// `,a,b,` → `["a", "b"]`.
#[must_use]
pub fn split_tags(stored: &str) -> Vec<&str> {
    stored.split(',').filter(|t| !t.is_empty()).collect()
}

/// `["a", "b"]` → `,a,b,` (empty for none), so that `LIKE '%,a,%'` finds a tag.
#[must_use]
pub fn join_tags(tags: &[&str]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(",{},", tags.join(","))
    }
}

/// The unit a household is in, as bodies show it and scope checks need it.
pub use crate::scoped::UnitBrief;

/// A household with its unit.
#[derive(Debug, Clone)]
pub struct Household {
    pub record: HouseholdRecord,
    pub unit: UnitBrief,
}

const UNIT_BRIEF: (units::id, units::code, units::name, units::path) =
    (units::id, units::code, units::name, units::path);

/// A household row is placed by its unit.
const HOUSEHOLD_UNIT: UnitRef = UnitRef {
    before: "households.unit_id",
    after: "",
};

/// Households by id, with their units (those that exist).
///
/// # Errors
/// Database errors.
pub fn by_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<Household>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(HouseholdRecord, UnitBrief)> = households::table
        .inner_join(units::table)
        .filter(households::id.eq_any(ids))
        .select((HouseholdRecord::as_select(), UNIT_BRIEF))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(record, unit)| Household { record, unit })
        .collect())
}

/// The ids of the households in one unit (not below it).
///
/// # Errors
/// Database errors.
pub fn ids_in_unit(conn: &mut AnyConnection, unit_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(households::table
        .filter(households::unit_id.eq(unit_id))
        .select(households::id)
        .load(conn)?)
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Household>, StoreError> {
    let row: Option<(HouseholdRecord, UnitBrief)> = households::table
        .inner_join(units::table)
        .filter(households::id.eq(id))
        .select((HouseholdRecord::as_select(), UNIT_BRIEF))
        .first(conn)
        .optional()?;
    Ok(row.map(|(record, unit)| Household { record, unit }))
}

/// Where a page of the households list starts: after this household, in the list's order (by
/// unit id, then by household id, which is creation order within a unit).
///
/// The list is grouped by unit because that order is an index range: the scope's units are
/// a list of ids, and `(unit_id, id)` lets the database read exactly one page in order,
/// where id order alone made it read and sort every household in scope for every page
/// (docs/benchmarks.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseholdCursor {
    pub unit_id: String,
    pub id: String,
}

impl HouseholdCursor {
    /// The position just after `h`.
    #[must_use]
    pub fn after(h: &HouseholdRecord) -> Self {
        Self {
            unit_id: h.unit_id.clone(),
            id: h.id.clone(),
        }
    }
}

/// `households.unit_id >= ? AND (households.unit_id, households.id) > (?, ?)`. Both backends
/// read a row-value comparison as one range of the `(unit_id, id)` index. diesel has no row values, and a `sql()` literal
/// would keep the statement from being prepared once per connection.
#[derive(Debug, Clone, QueryId)]
struct AfterCursor(HouseholdCursor);

impl Expression for AfterCursor {
    type SqlType = diesel::sql_types::Bool;
}

impl<GB> diesel::expression::ValidGrouping<GB> for AfterCursor {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<QS> AppearsOnTable<QS> for AfterCursor {}
impl<QS> SelectableExpression<QS> for AfterCursor {}

impl QueryFragment<Backend> for AfterCursor {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        // The redundant `unit_id >=` matters: with the unit ids as `= ANY(…)`, PostgreSQL 15
        // bounds its index scan by the row comparison alone and reads the (unit_id, id)
        // index from the cursor to its end (7,525 buffers, 70 ms, for a community's second
        // page on the full demo); with it, 37 buffers and 0.14 ms.
        out.push_sql("(households.unit_id >= ");
        out.push_bind_param::<Text, _>(&self.0.unit_id)?;
        out.push_sql(" AND (households.unit_id, households.id) > (");
        out.push_bind_param::<Text, _>(&self.0.unit_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.0.id)?;
        out.push_sql("))");
        Ok(())
    }
}

/// Filters of the households list.
#[derive(Debug, Default, Clone)]
pub struct HouseholdFilter {
    /// Only inside this subtree (a unit path).
    pub under_path: Option<String>,
    pub tag: Option<String>,
    /// Part of the address or of a resident's name.
    pub text: Option<String>,
    /// Keyed hash of an identity-card number or phone: households with such a resident.
    pub id_card_hash: Option<String>,
    pub phone_hash: Option<String>,
    /// Within `radius_m` of (`lon`, `lat`), WGS-84.
    pub near: Option<Near>,
}

#[derive(Debug, Clone, Copy)]
pub struct Near {
    pub lon: f64,
    pub lat: f64,
    pub radius_m: f64,
}

impl Near {
    /// Great-circle distance from the centre, metres.
    #[must_use]
    pub fn distance_m(&self, lon: f64, lat: f64) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), lat.to_radians());
        let dp = p2 - p1;
        let dl = (lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }

    /// A lon/lat box holding the circle, for the index.
    fn bbox(&self) -> (f64, f64, f64, f64) {
        let dlat = (self.radius_m / 111_320.0) * 1.01;
        let dlon = dlat / self.lat.to_radians().cos().max(0.01);
        (
            self.lon - dlon,
            self.lat - dlat,
            self.lon + dlon,
            self.lat + dlat,
        )
    }
}

/// One page of the households `reach` covers, after the cursor in the list's order (see
/// [`HouseholdCursor`]). With `near`, the box is filtered in SQL and the circle here, reading
/// on until the page is full. The rows' units are left to the caller, who may know them
/// already ([`unit_briefs`] fetches the rest): joining `units` to every row made PostgreSQL
/// probe the units' primary key per row, 1.8 ms instead of 0.3 ms for a page of 500.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    f: &HouseholdFilter,
    after: Option<&HouseholdCursor>,
    limit: i64,
) -> Result<Vec<HouseholdRecord>, StoreError> {
    // The phone's everyday question, "my households, page by page", has no other filter and
    // one subtree: one statement of fixed shape, which the connection keeps prepared, finds
    // the subtree's units and reads one page off the (unit_id, id) index. Only a reach of
    // the whole district (level 1, every unit) is left to the general query below, where
    // most rows match.
    let plain = f.under_path.is_none()
        && f.tag.is_none()
        && f.text.is_none()
        && f.id_card_hash.is_none()
        && f.phone_hash.is_none()
        && f.near.is_none();
    if let (true, Reach::Subtrees([path])) = (plain, reach)
        && path_depth(path) >= 2
    {
        let rows: Vec<HouseholdRecord> = households::table
            .filter(UnitInSubtree::households(path))
            // The first page starts after ("", ""), so the statement keeps one shape.
            .filter(AfterCursor(after.cloned().unwrap_or_default()))
            .select(HouseholdRecord::as_select())
            .order((households::unit_id.asc(), households::id.asc()))
            .limit(limit)
            .load(conn)?;
        return Ok(rows);
    }
    let mut out = Vec::new();
    let mut cursor = after.cloned();
    // Resolved once; a `near` search may read several batches with them.
    let scope = reach_sql(conn, reach)?;
    let under = f
        .under_path
        .as_ref()
        .map(|p| subtrees_sql(conn, std::slice::from_ref(p)))
        .transpose()?;
    let filters: Vec<ReachSql<households::table>> = std::iter::once(scope).chain(under).collect();
    loop {
        let mut q = households::table
            .select(HouseholdRecord::as_select())
            .into_boxed();
        for filter in &filters {
            match filter {
                ReachSql::Empty => return Ok(Vec::new()),
                ReachSql::All => {}
                ReachSql::Units(_) => q = q.filter(households::unit_id.eq_any(filter.unit_ids())),
                ReachSql::Subtrees(..) => {
                    if let Some(c) = filter.condition(&HOUSEHOLD_UNIT) {
                        q = q.filter(c);
                    }
                }
            }
        }
        if let Some(t) = &f.tag {
            q = q.filter(households::tags.like(format!("%,{t},%")));
        }
        if let Some(text) = &f.text {
            let pattern = crate::grid::like_contains(text);
            let address = households::address.like(pattern.clone()).escape('\\');
            let named = residents::name.like(pattern).escape('\\');
            // In a scope, each of its households' residents is looked up by household (an
            // index probe each); `IN (SELECT …)` read every resident of the district (600,000
            // on the demo: 90 ms) for a community's few hundred households. Over the whole
            // grid the district-wide read is the cheaper one.
            q = if filters.iter().any(|f| !matches!(f, ReachSql::All)) {
                q.filter(
                    address.or(diesel::dsl::exists(
                        residents::table
                            .filter(residents::household_id.eq(households::id))
                            .filter(named),
                    )),
                )
            } else {
                q.filter(
                    address.or(households::id.eq_any(
                        residents::table
                            .filter(named)
                            .select(residents::household_id),
                    )),
                )
            };
        }
        if let Some(h) = &f.id_card_hash {
            q = q.filter(
                households::id.eq_any(
                    residents::table
                        .filter(residents::id_card_hash.eq(h.clone()))
                        .select(residents::household_id),
                ),
            );
        }
        if let Some(h) = &f.phone_hash {
            q = q.filter(
                households::id.eq_any(
                    residents::table
                        .filter(residents::phone_hash.eq(h.clone()))
                        .select(residents::household_id),
                ),
            );
        }
        if let Some(n) = &f.near {
            let (w, s, e, no) = n.bbox();
            q = q.filter(
                households::lat
                    .between(s, no)
                    .and(households::lon.between(w, e)),
            );
        }
        if let Some(a) = &cursor {
            q = q.filter(AfterCursor(a.clone()));
        }
        let batch: Vec<HouseholdRecord> = q
            .order((households::unit_id.asc(), households::id.asc()))
            .limit(limit)
            .load(conn)?;
        let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) == limit;
        cursor = batch.last().map(HouseholdCursor::after);
        out.extend(batch.into_iter().filter(|h| {
            f.near
                .is_none_or(|n| n.distance_m(h.lon, h.lat) <= n.radius_m)
        }));
        if !full || i64::try_from(out.len()).unwrap_or(i64::MAX) >= limit {
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(out);
        }
    }
}

/// The units with these ids (a page's few units), in no particular order.
///
/// # Errors
/// Database errors.
pub fn unit_briefs(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<UnitBrief>, StoreError> {
    Ok(units::table
        .filter(units::id.eq_any(ids))
        .select(UNIT_BRIEF)
        .load(conn)?)
}

/// A new household, placed already (by locate or by staff).
pub struct NewHousehold<'a> {
    pub id: &'a str,
    pub unit_id: &'a str,
    pub address: &'a str,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub unit_reason: Option<&'a str>,
    pub tags: &'a str,
    pub notes: Option<&'a str>,
    pub created_by: Option<&'a str>,
}

/// Inserts households at version 1, one statement per chunk.
///
/// # Errors
/// Database errors (a taken id is a `Conflict`).
pub fn insert(
    conn: &mut AnyConnection,
    rows: &[NewHousehold<'_>],
    now: &str,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(400) {
        let values: Vec<_> = chunk
            .iter()
            .map(|n| {
                (
                    households::id.eq(n.id),
                    households::unit_id.eq(n.unit_id),
                    households::address.eq(n.address),
                    households::lon.eq(n.lon),
                    households::lat.eq(n.lat),
                    households::cell.eq(n.cell),
                    households::unit_reason.eq(n.unit_reason),
                    households::tags.eq(n.tags),
                    households::notes.eq(n.notes),
                    households::created_by.eq(n.created_by),
                    households::created_at.eq(now),
                    households::updated_at.eq(now),
                    households::version.eq(1_i64),
                )
            })
            .collect();
        // Multi-row INSERT exists on each backend but not on the multi-backend connection.
        on_backend!(conn, |c| diesel::insert_into(households::table)
            .values(values)
            .execute(c))?;
    }
    Ok(())
}

/// Inserts one household and answers it as stored, in one statement (`RETURNING`); `unit`
/// is the unit it was placed in, read by the caller in the same transaction.
///
/// # Errors
/// Database errors (a taken id is a unique violation).
pub fn insert_one(
    conn: &mut AnyConnection,
    n: &NewHousehold<'_>,
    unit: UnitBrief,
    now: &str,
) -> Result<Household, StoreError> {
    let values = (
        households::id.eq(n.id),
        households::unit_id.eq(n.unit_id),
        households::address.eq(n.address),
        households::lon.eq(n.lon),
        households::lat.eq(n.lat),
        households::cell.eq(n.cell),
        households::unit_reason.eq(n.unit_reason),
        households::tags.eq(n.tags),
        households::notes.eq(n.notes),
        households::created_by.eq(n.created_by),
        households::created_at.eq(now),
        households::updated_at.eq(now),
        households::version.eq(1_i64),
    );
    // `RETURNING` exists on each backend but not on the multi-backend connection.
    let record = on_backend!(conn, |c| diesel::insert_into(households::table)
        .values(values)
        .returning(HouseholdRecord::as_returning())
        .get_result(c))?;
    Ok(Household { record, unit })
}

/// What a change sets on a household; `None` leaves a column alone, and the inner `None` of a
/// nullable column clears it.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = households)]
pub struct HouseholdChanges {
    pub unit_id: Option<String>,
    pub unit_reason: Option<Option<String>>,
    pub address: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub cell: Option<i64>,
    pub tags: Option<String>,
    pub notes: Option<Option<String>>,
}

/// Applies `changes` if the household is still at version `expected`, in one statement, and
/// raises the version. False when it is not (changed or deleted meanwhile).
///
/// # Errors
/// Database errors.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    changes: &HouseholdChanges,
    now: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        households::table
            .filter(households::id.eq(id))
            .filter(households::version.eq(expected)),
    )
    .set((
        changes,
        households::version.eq(households::version + 1),
        households::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes the household if it is still at version `expected`; its residents and visits go
/// with it (foreign keys cascade). False when it is not.
///
/// # Errors
/// Database errors.
pub fn delete(conn: &mut AnyConnection, id: &str, expected: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        households::table
            .filter(households::id.eq(id))
            .filter(households::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// The current version, or `None` when the household is gone.
///
/// # Errors
/// Database errors.
pub fn version_of(conn: &mut AnyConnection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(households::table
        .find(id)
        .select(households::version)
        .first(conn)
        .optional()?)
}

/// A household that followed the coverage into another unit.
#[derive(Debug, Clone)]
pub struct Moved {
    pub id: String,
    pub from_unit_id: String,
    pub to_unit_id: String,
    /// Its version after the move.
    pub version: i64,
}

/// After a unit's coverage changed from `old` to `new`, located households follow the cells:
/// those of the unit in cells it lost go to its parent (the deepest unit covering them now,
/// since siblings never overlap and children stay inside the unit), and those of the parent in
/// cells it gained come to the unit. Households that staff placed with a reason stay where
/// they are. Runs in the caller's transaction; returns the moves, for the caller to record.
///
/// # Errors
/// Database errors.
pub(crate) fn follow_coverage(
    conn: &mut AnyConnection,
    unit_id: &str,
    parent_id: Option<&str>,
    old: Option<&wangge_geo::Coverage>,
    new: &wangge_geo::Coverage,
    now: &str,
) -> Result<Vec<Moved>, StoreError> {
    let located =
        |conn: &mut AnyConnection, unit: &str| -> Result<Vec<(String, i64, i64)>, StoreError> {
            Ok(households::table
                .filter(households::unit_id.eq(unit))
                .filter(households::unit_reason.is_null())
                .select((households::id, households::cell, households::version))
                .load(conn)?)
        };
    let contains = |cov: &wangge_geo::Coverage, cell: i64| {
        u64::try_from(cell)
            .ok()
            .and_then(|c| wangge_geo::CellIndex::try_from(c).ok())
            .is_some_and(|c| cov.contains_cell(c))
    };
    let mut candidates: Vec<(String, i64, &str, &str)> = Vec::new();
    if let Some(parent) = parent_id {
        if old.is_some() {
            for (id, cell, version) in located(conn, unit_id)? {
                if !contains(new, cell) {
                    candidates.push((id, version, unit_id, parent));
                }
            }
        }
        for (id, cell, version) in located(conn, parent)? {
            if contains(new, cell) && !old.is_some_and(|o| contains(o, cell)) {
                candidates.push((id, version, parent, unit_id));
            }
        }
    }
    let mut moves: Vec<Moved> = Vec::with_capacity(candidates.len());
    for (id, mut version, from, to) in candidates {
        // Household writers do not take the grid lock: move only the household as it was
        // read, and read it again if it changed meanwhile.
        for _ in 0..3 {
            let n = diesel::update(
                households::table
                    .filter(households::id.eq(&id))
                    .filter(households::version.eq(version))
                    .filter(households::unit_id.eq(from))
                    .filter(households::unit_reason.is_null()),
            )
            .set((
                households::unit_id.eq(to),
                households::version.eq(households::version + 1),
                households::updated_at.eq(now),
            ))
            .execute(conn)?;
            if n == 1 {
                moves.push(Moved {
                    id: id.clone(),
                    from_unit_id: from.to_owned(),
                    to_unit_id: to.to_owned(),
                    version: version + 1,
                });
                break;
            }
            let now_row: Option<(i64, String, Option<String>)> = households::table
                .find(&id)
                .select((
                    households::version,
                    households::unit_id,
                    households::unit_reason,
                ))
                .first(conn)
                .optional()?;
            match now_row {
                Some((v, unit, None)) if unit == from => version = v,
                _ => break,
            }
        }
    }
    Ok(moves)
}

/// Where households are, for synthetic data placed among them: up to `limit` of (unit id, lon,
/// lat, leaf cell), in id order.
///
/// # Errors
/// Database errors.
pub fn places(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(String, f64, f64, i64)>, StoreError> {
    Ok(households::table
        .select((
            households::unit_id,
            households::lon,
            households::lat,
            households::cell,
        ))
        .order(households::id.asc())
        .limit(limit)
        .load(conn)?)
}
