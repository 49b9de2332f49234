//! Grid units and their coverage. Every write that could break the tree's spatial invariants
//! (a child inside its parent, siblings disjoint) goes through [`set_coverage`] or
//! [`update_unit`], which check them inside the caller's transaction.

use crate::check_version;
use crate::db::AnyConnection;
use crate::error::{ImportProblem, StoreError};
use crate::schema::{meta, unit_coverage, units};
use diesel::prelude::*;
use serde_json::json;
use wangge_domain::{Level, UnitCode, UnitId, UnitName, ValidationError};
use wangge_geo::{CellIndex, Coverage, CoverageSet, Resolution};

/// How many offending cells an error body shows.
const SAMPLE_CELLS: usize = 10;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = units)]
pub struct UnitRecord {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: i32,
    pub parent_id: Option<String>,
    pub path: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl UnitRecord {
    /// # Errors
    /// When a stored level is out of range (a corrupt row).
    pub fn level(&self) -> Result<Level, StoreError> {
        Level::from_number(i64::from(self.level)).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn unit_id(&self) -> Result<UnitId, StoreError> {
        UnitId::parse(&self.id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Ids from the root down to this unit, read from the materialised path.
    #[must_use]
    pub fn path_ids(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

#[derive(Insertable)]
#[diesel(table_name = units)]
struct NewUnitRow<'a> {
    id: &'a str,
    code: &'a str,
    name: &'a str,
    level: i32,
    parent_id: Option<&'a str>,
    path: &'a str,
    created_at: &'a str,
    updated_at: &'a str,
    version: i64,
}

/// A new unit, already validated field by field.
#[derive(Debug, Clone)]
pub struct NewUnit {
    pub code: UnitCode,
    pub name: UnitName,
    pub level: Level,
    pub parent_id: Option<UnitId>,
}

/// Filters for listing units; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct UnitFilter {
    pub parent_id: Option<UnitId>,
    pub level: Option<Level>,
    pub code: Option<UnitCode>,
    /// Part of the name.
    pub q: Option<String>,
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        entity: "unit",
        id: id.to_owned(),
    }
}

/// These units (those that exist), in no order.
///
/// # Errors
/// Database errors.
pub fn units_by_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<UnitRecord>, StoreError> {
    Ok(units::table
        .filter(units::id.eq_any(ids))
        .select(UnitRecord::as_select())
        .load(conn)?)
}

/// # Errors
/// `NotFound` when no unit has this id.
pub fn get_unit(conn: &mut AnyConnection, id: UnitId) -> Result<UnitRecord, StoreError> {
    let key = id.to_string();
    units::table
        .find(&key)
        .select(UnitRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(&key))
}

/// # Errors
/// Database errors.
pub fn find_by_code(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<UnitRecord>, StoreError> {
    Ok(units::table
        .filter(units::code.eq(code))
        .select(UnitRecord::as_select())
        .first(conn)
        .optional()?)
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower()`: LIKE ignores ASCII case on SQLite but not on PostgreSQL; lowering both
    /// sides makes the name search behave the same on both.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Escapes LIKE wildcards so user text matches literally.
pub(crate) fn like_contains(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of units in id order (creation order), after the cursor.
///
/// # Errors
/// Database errors.
pub fn list_units(
    conn: &mut AnyConnection,
    filter: &UnitFilter,
    after: Option<UnitId>,
    limit: i64,
) -> Result<Vec<UnitRecord>, StoreError> {
    let mut q = units::table.select(UnitRecord::as_select()).into_boxed();
    if let Some(p) = filter.parent_id {
        q = q.filter(units::parent_id.eq(p.to_string()));
    }
    if let Some(l) = filter.level {
        q = q.filter(units::level.eq(i32::from(l.number())));
    }
    if let Some(c) = &filter.code {
        q = q.filter(units::code.eq(c.as_str().to_owned()));
    }
    if let Some(text) = &filter.q {
        q = q.filter(
            lower(units::name)
                .like(like_contains(&text.to_lowercase()))
                .escape('\\'),
        );
    }
    if let Some(a) = after {
        q = q.filter(units::id.gt(a.to_string()));
    }
    Ok(q.order(units::id.asc()).limit(limit).load(conn)?)
}

/// Units inside these subtrees (unit paths; every unit with `None`), in id order after
/// `after`: one index range per subtree, merged.
///
/// # Errors
/// Database errors.
pub fn units_within(
    conn: &mut AnyConnection,
    paths: Option<&[String]>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UnitRecord>, StoreError> {
    let page = |conn: &mut AnyConnection, path: Option<&str>| {
        let mut q = units::table.select(UnitRecord::as_select()).into_boxed();
        if let Some(p) = path {
            q = q.filter(crate::scoped::UnitInSubtree::units(p));
        }
        if let Some(a) = after {
            q = q.filter(units::id.gt(a.to_owned()));
        }
        q.order(units::id.asc()).limit(limit).load(conn)
    };
    let Some(paths) = paths else {
        return Ok(page(conn, None)?);
    };
    let mut all = Vec::new();
    for p in paths {
        all.extend(page(conn, Some(p))?);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all.dedup_by(|a, b| a.id == b.id);
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}

/// The unit's ancestors, nearest first, up to the district.
///
/// # Errors
/// Database errors.
pub fn ancestors(
    conn: &mut AnyConnection,
    unit: &UnitRecord,
) -> Result<Vec<UnitRecord>, StoreError> {
    let ids: Vec<&str> = unit
        .path_ids()
        .into_iter()
        .filter(|id| *id != unit.id)
        .collect();
    let mut found: Vec<UnitRecord> = units::table
        .filter(units::id.eq_any(ids))
        .select(UnitRecord::as_select())
        .load(conn)?;
    found.sort_by_key(|u| std::cmp::Reverse(u.level));
    Ok(found)
}

/// All units of the subtree rooted at `root`, root first, parents before children.
///
/// # Errors
/// Database errors.
pub fn subtree(conn: &mut AnyConnection, root: &UnitRecord) -> Result<Vec<UnitRecord>, StoreError> {
    let mut all: Vec<UnitRecord> = units::table
        .filter(units::path.like(format!("{}%", root.path)))
        .select(UnitRecord::as_select())
        .load(conn)?;
    all.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.code.cmp(&b.code)));
    Ok(all)
}

/// All units, parents before children.
///
/// # Errors
/// Database errors.
pub fn all_units(conn: &mut AnyConnection) -> Result<Vec<UnitRecord>, StoreError> {
    Ok(units::table
        .select(UnitRecord::as_select())
        .order((units::level.asc(), units::code.asc()))
        .load(conn)?)
}

/// # Errors
/// Database errors.
pub fn count_units(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(units::table.count().get_result(conn)?)
}

fn check_parent(
    conn: &mut AnyConnection,
    level: Level,
    parent_id: Option<UnitId>,
) -> Result<Option<UnitRecord>, StoreError> {
    let parent = match parent_id {
        Some(pid) => Some(get_unit(conn, pid).map_err(|e| match e {
            StoreError::NotFound { .. } => StoreError::Invalid(ValidationError::new(
                "parent_id",
                format!("no unit has id {pid}"),
            )),
            other => other,
        })?),
        None => None,
    };
    let parent_level = parent.as_ref().map(UnitRecord::level).transpose()?;
    level.check_parent(parent_level)?;
    Ok(parent)
}

fn code_taken(code: &str) -> StoreError {
    StoreError::Conflict {
        code: "duplicate_code",
        message: format!("a unit with code {code} exists already"),
        details: json!({ "unit_code": code }),
    }
}

/// Creates a unit without coverage, with the given id. The parent must exist and sit one
/// level up; codes are unique.
///
/// # Errors
/// `Invalid` for a parent that breaks the level rule, `Conflict` for a taken code or id.
pub fn create_unit(
    conn: &mut AnyConnection,
    id: &str,
    new: &NewUnit,
    now: &str,
) -> Result<UnitRecord, StoreError> {
    lock_grid(conn)?;
    let parent = check_parent(conn, new.level, new.parent_id)?;
    if find_by_code(conn, new.code.as_str())?.is_some() {
        return Err(code_taken(new.code.as_str()));
    }
    let path = match &parent {
        Some(p) => format!("{}{id}/", p.path),
        None => format!("/{id}/"),
    };
    let parent_id = new.parent_id.map(|p| p.to_string());
    diesel::insert_into(units::table)
        .values(NewUnitRow {
            id,
            code: new.code.as_str(),
            name: new.name.as_str(),
            level: i32::from(new.level.number()),
            parent_id: parent_id.as_deref(),
            path: &path,
            created_at: now,
            updated_at: now,
            version: 1,
        })
        .execute(conn)?;
    get_unit(conn, UnitId::parse(id)?)
}

/// Changes to a unit. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UnitPatch {
    pub code: Option<UnitCode>,
    pub name: Option<UnitName>,
    /// Moving: the new parent, which must sit at the same level as the old one.
    pub parent_id: Option<UnitId>,
}

/// Raises a unit's version if it is still `expected`, setting `changes` in the same
/// statement: the grid lock serialises grid writers, and the condition holds the rule that
/// every versioned write is conditional.
fn update_if_version(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    changes: &UnitChanges,
    now: &str,
) -> Result<(), StoreError> {
    let n = diesel::update(
        units::table
            .filter(units::id.eq(id))
            .filter(units::version.eq(expected)),
    )
    .set((
        changes,
        units::version.eq(units::version + 1),
        units::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        let current = get_unit(conn, UnitId::parse(id)?)?.version;
        Err(StoreError::VersionMismatch { expected, current })
    }
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = units)]
struct UnitChanges {
    code: Option<String>,
    name: Option<String>,
    parent_id: Option<String>,
}

/// A unit whose path changed because it or an ancestor moved.
#[derive(Debug, Clone)]
pub struct Repathed {
    pub id: String,
    pub version: i64,
    pub path_before: String,
    pub path_after: String,
}

/// What a unit update did.
#[derive(Debug, Clone)]
pub struct UnitUpdate {
    pub before: UnitRecord,
    pub after: UnitRecord,
    /// Descendants whose paths followed a move (not the unit itself).
    pub descendants_moved: Vec<Repathed>,
}

/// Renames, recodes or moves a unit. A move keeps the tree consistent: the new parent must be
/// one level up, the unit's coverage must lie inside the new parent's and not overlap its new
/// siblings, and the paths of the whole subtree follow.
///
/// # Errors
/// `VersionMismatch`, `Invalid`, `Conflict` as described.
pub fn update_unit(
    conn: &mut AnyConnection,
    id: UnitId,
    patch: &UnitPatch,
    expected_version: Option<i64>,
    leaf: Resolution,
    now: &str,
) -> Result<UnitUpdate, StoreError> {
    lock_grid(conn)?;
    let unit = get_unit(conn, id)?;
    check_version(unit.version, expected_version)?;
    let mut changes = UnitChanges::default();
    if let Some(code) = patch.code.as_ref().filter(|c| c.as_str() != unit.code) {
        if find_by_code(conn, code.as_str())?.is_some() {
            return Err(code_taken(code.as_str()));
        }
        changes.code = Some(code.as_str().to_owned());
    }
    if let Some(name) = &patch.name {
        changes.name = Some(name.as_str().to_owned());
    }
    let moving = patch
        .parent_id
        .filter(|p| unit.parent_id.as_deref() != Some(p.to_string().as_str()));
    let mut descendants_moved = Vec::new();
    if let Some(new_parent_id) = moving {
        let level = unit.level()?;
        let parent = check_parent(conn, level, Some(new_parent_id))?
            .ok_or_else(|| StoreError::Corrupt("parent vanished".into()))?;
        if let Some(cov) = load_coverage(conn, &unit.id, leaf)? {
            check_against_parent_and_siblings(conn, &unit, &parent, &cov, leaf)?;
        }
        changes.parent_id = Some(parent.id.clone());
        let new_path = format!("{}{}/", parent.path, unit.id);
        descendants_moved = move_subtree(conn, &unit, &new_path)?;
    }
    update_if_version(conn, &unit.id, unit.version, &changes, now)?;
    // Names, codes and parents are part of the locate snapshot: every change moves the
    // generation so that every instance rebuilds.
    bump_generation(conn)?;
    let after = get_unit(conn, id)?;
    Ok(UnitUpdate {
        before: unit,
        after,
        descendants_moved,
    })
}

/// Rewrites the path prefix of the unit and every descendant; returns the descendants.
fn move_subtree(
    conn: &mut AnyConnection,
    unit: &UnitRecord,
    new_path: &str,
) -> Result<Vec<Repathed>, StoreError> {
    // A subtree holds at most a few thousand units, so doing it row by row keeps the SQL
    // portable.
    let rows: Vec<(String, String, i64)> = units::table
        .filter(units::path.like(format!("{}%", unit.path)))
        .select((units::id, units::path, units::version))
        .load(conn)?;
    let mut moved = Vec::new();
    for (rid, rpath, version) in rows {
        let rest = rpath.get(unit.path.len()..).unwrap_or_default();
        let path_after = format!("{new_path}{rest}");
        diesel::update(units::table.find(&rid))
            .set(units::path.eq(&path_after))
            .execute(conn)?;
        if rid != unit.id {
            moved.push(Repathed {
                id: rid,
                version,
                path_before: rpath,
                path_after,
            });
        }
    }
    Ok(moved)
}

/// Deletes a unit that has no children. Its coverage goes with it.
///
/// # Errors
/// `Conflict` (`unit_has_children`) when it has children; `VersionMismatch`.
pub fn delete_unit(
    conn: &mut AnyConnection,
    id: UnitId,
    expected_version: Option<i64>,
) -> Result<UnitRecord, StoreError> {
    lock_grid(conn)?;
    let unit = get_unit(conn, id)?;
    check_version(unit.version, expected_version)?;
    let children: i64 = units::table
        .filter(units::parent_id.eq(&unit.id))
        .count()
        .get_result(conn)?;
    if children > 0 {
        return Err(StoreError::Conflict {
            code: "unit_has_children",
            message: format!(
                "unit {} ({}) has {children} child unit(s); delete or move them first",
                unit.code, unit.name
            ),
            details: json!({ "children": children }),
        });
    }
    let assigned: i64 = crate::schema::user_assignments::table
        .filter(crate::schema::user_assignments::unit_id.eq(&unit.id))
        .count()
        .get_result(conn)?;
    let households: i64 = crate::schema::households::table
        .filter(crate::schema::households::unit_id.eq(&unit.id))
        .count()
        .get_result(conn)?;
    let incidents: i64 = crate::schema::incidents::table
        .filter(
            crate::schema::incidents::owner_unit_id
                .eq(&unit.id)
                .or(crate::schema::incidents::locality_unit_id.eq(&unit.id)),
        )
        .count()
        .get_result(conn)?;
    if assigned + households + incidents > 0 {
        return Err(StoreError::Conflict {
            code: "unit_in_use",
            message: format!(
                "unit {} ({}) still has {assigned} account assignment(s), {households} household(s) and {incidents} incident(s); move them first",
                unit.code, unit.name
            ),
            details: json!({ "assignments": assigned, "households": households, "incidents": incidents }),
        });
    }
    let had_coverage = diesel::delete(unit_coverage::table.find(&unit.id)).execute(conn)? > 0;
    let n = diesel::delete(
        units::table
            .filter(units::id.eq(&unit.id))
            .filter(units::version.eq(unit.version)),
    )
    .execute(conn)?;
    if n != 1 {
        return Err(StoreError::VersionMismatch {
            expected: unit.version,
            current: get_unit(conn, id)?.version,
        });
    }
    if had_coverage {
        bump_generation(conn)?;
    }
    Ok(unit)
}

/// A unit's stored coverage.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = unit_coverage)]
pub struct CoverageRecord {
    pub unit_id: String,
    pub resolution: i32,
    pub cells: Vec<u8>,
    pub cell_count: i64,
    pub leaf_cell_count: i64,
    pub boundary: Option<String>,
    pub updated_at: String,
}

impl CoverageRecord {
    /// # Errors
    /// `Corrupt` when the stored bytes are not a coverage at the stored resolution.
    pub fn coverage(&self) -> Result<Coverage, StoreError> {
        let res = u8::try_from(self.resolution)
            .ok()
            .and_then(|r| Resolution::try_from(r).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("resolution {}", self.resolution)))?;
        Coverage::from_bytes(&self.cells, res).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// # Errors
/// Database errors.
pub fn get_coverage(
    conn: &mut AnyConnection,
    unit_id: &str,
) -> Result<Option<CoverageRecord>, StoreError> {
    Ok(unit_coverage::table
        .find(unit_id)
        .select(CoverageRecord::as_select())
        .first(conn)
        .optional()?)
}

fn load_coverage(
    conn: &mut AnyConnection,
    unit_id: &str,
    leaf: Resolution,
) -> Result<Option<Coverage>, StoreError> {
    let Some(rec) = get_coverage(conn, unit_id)? else {
        return Ok(None);
    };
    if rec.resolution != i32::from(u8::from(leaf)) {
        return Err(StoreError::Conflict {
            code: "resolution_mismatch",
            message: format!(
                "unit {unit_id} stores coverage at resolution {}, but the service runs at {}",
                rec.resolution,
                u8::from(leaf)
            ),
            details: serde_json::Value::Null,
        });
    }
    rec.coverage().map(Some)
}

fn sample(cells: &[CellIndex]) -> Vec<String> {
    cells
        .iter()
        .take(SAMPLE_CELLS)
        .map(ToString::to_string)
        .collect()
}

fn unit_ref(u: &UnitRecord) -> serde_json::Value {
    json!({ "id": u.id, "code": u.code, "name": u.name, "level": u.level })
}

/// `cov` split into the part inside the parent's coverage and the part outside (all of it
/// when the parent has none).
fn split_by_parent(
    conn: &mut AnyConnection,
    parent: &UnitRecord,
    cov: &Coverage,
    leaf: Resolution,
) -> Result<(Coverage, Coverage), StoreError> {
    let parent_cov = load_coverage(conn, &parent.id, leaf)?.unwrap_or_default();
    Ok(cov.split(&CoverageSet::from(&parent_cov)))
}

fn check_siblings(
    conn: &mut AnyConnection,
    unit: &UnitRecord,
    parent_id: Option<&str>,
    cov: &Coverage,
    leaf: Resolution,
) -> Result<(), StoreError> {
    let mut q = units::table
        .filter(units::id.ne(&unit.id))
        .filter(units::level.eq(unit.level))
        .select(UnitRecord::as_select())
        .into_boxed();
    q = match parent_id {
        Some(p) => q.filter(units::parent_id.eq(p.to_owned())),
        None => q.filter(units::parent_id.is_null()),
    };
    let siblings: Vec<UnitRecord> = q.load(conn)?;
    let mut set = CoverageSet::new();
    for (i, s) in siblings.iter().enumerate() {
        if let Some(c) = load_coverage(conn, &s.id, leaf)? {
            set.insert(i, &c);
        }
    }
    let mut hits: Vec<CellIndex> = Vec::new();
    let mut owner = None;
    for &cell in cov.cells() {
        if let Some((who, _)) = set.overlap(cell) {
            owner.get_or_insert(who);
            if owner == Some(who) {
                hits.push(cell);
                if hits.len() >= SAMPLE_CELLS {
                    break;
                }
            }
        }
    }
    if let Some(i) = owner {
        let other = &siblings[i];
        return Err(StoreError::Conflict {
            code: "coverage_overlaps_sibling",
            message: format!(
                "the coverage of {} ({}) overlaps its sibling {} ({})",
                unit.code, unit.name, other.code, other.name
            ),
            details: json!({ "unit": unit_ref(other), "sample_cells": sample(&hits) }),
        });
    }
    Ok(())
}

fn check_against_parent_and_siblings(
    conn: &mut AnyConnection,
    unit: &UnitRecord,
    parent: &UnitRecord,
    cov: &Coverage,
    leaf: Resolution,
) -> Result<(), StoreError> {
    let (_, outside) = split_by_parent(conn, parent, cov, leaf)?;
    if !outside.is_empty() {
        return Err(outside_error(unit, parent, &outside, leaf));
    }
    check_siblings(conn, unit, Some(&parent.id), cov, leaf)
}

fn outside_error(
    unit: &UnitRecord,
    parent: &UnitRecord,
    outside: &Coverage,
    leaf: Resolution,
) -> StoreError {
    StoreError::Conflict {
        code: "coverage_outside_parent",
        message: format!(
            "{} leaf cells of {} ({}) lie outside its parent {} ({}); send clip_to_parent=true to trim them",
            outside.leaf_cell_count(leaf),
            unit.code,
            unit.name,
            parent.code,
            parent.name
        ),
        details: json!({
            "unit": unit_ref(parent),
            "outside_leaf_cells": outside.leaf_cell_count(leaf),
            "sample_cells": sample(outside.cells()),
        }),
    }
}

/// What a coverage update stored.
#[derive(Debug, Clone)]
pub struct CoverageOutcome {
    pub record: CoverageRecord,
    /// Leaf cells trimmed because they lay outside the parent (with `clip_to_parent`).
    pub trimmed_leaf_cells: u64,
    /// Households that moved to or from the unit because their cells changed hands.
    pub households_moved: Vec<crate::households::Moved>,
    /// The unit after the change (its version raised).
    pub unit: UnitRecord,
}

/// Sets a unit's coverage, checking the invariants: inside the parent (or trimmed to it with
/// `clip`), disjoint from the siblings, and still holding every child's coverage.
///
/// # Errors
/// `Conflict` naming the offending unit and a sample of cells; `VersionMismatch`.
#[allow(clippy::too_many_arguments)]
pub fn set_coverage(
    conn: &mut AnyConnection,
    id: UnitId,
    mut cov: Coverage,
    mut boundary: Option<String>,
    clip: bool,
    expected_version: Option<i64>,
    leaf: Resolution,
    now: &str,
) -> Result<CoverageOutcome, StoreError> {
    lock_grid(conn)?;
    let unit = get_unit(conn, id)?;
    check_version(unit.version, expected_version)?;
    let mut trimmed = 0;
    if let Some(pid) = &unit.parent_id {
        let parent = get_unit(conn, UnitId::parse(pid)?)?;
        let (inside, outside) = split_by_parent(conn, &parent, &cov, leaf)?;
        if !outside.is_empty() {
            if !clip {
                return Err(outside_error(&unit, &parent, &outside, leaf));
            }
            trimmed = outside.leaf_cell_count(leaf);
            cov = inside;
            // The given polygon no longer describes the cells; exporting it would not import
            // back. The dissolved outline of the kept cells stands in for it.
            boundary = None;
        }
        check_siblings(conn, &unit, Some(pid), &cov, leaf)?;
    } else {
        check_siblings(conn, &unit, None, &cov, leaf)?;
    }
    // Shrinking must not leave a child sticking out.
    let children: Vec<UnitRecord> = units::table
        .filter(units::parent_id.eq(&unit.id))
        .select(UnitRecord::as_select())
        .load(conn)?;
    if !children.is_empty() {
        let set = CoverageSet::from(&cov);
        for child in &children {
            if let Some(child_cov) = load_coverage(conn, &child.id, leaf)? {
                let outside = child_cov.difference(&set);
                if !outside.is_empty() {
                    return Err(StoreError::Conflict {
                        code: "coverage_excludes_child",
                        message: format!(
                            "the new coverage of {} ({}) would leave {} leaf cells of its child {} ({}) outside",
                            unit.code,
                            unit.name,
                            outside.leaf_cell_count(leaf),
                            child.code,
                            child.name
                        ),
                        details: json!({
                            "unit": unit_ref(child),
                            "sample_cells": sample(outside.cells()),
                        }),
                    });
                }
            }
        }
    }
    let record = CoverageRecord {
        unit_id: unit.id.clone(),
        resolution: i32::from(u8::from(leaf)),
        cells: cov.to_bytes(),
        cell_count: i64::try_from(cov.cells().len()).unwrap_or(i64::MAX),
        leaf_cell_count: i64::try_from(cov.leaf_cell_count(leaf)).unwrap_or(i64::MAX),
        boundary,
        updated_at: now.to_owned(),
    };
    let previous = load_coverage(conn, &unit.id, leaf)?;
    write_coverage(conn, &record)?;
    update_if_version(conn, &unit.id, unit.version, &UnitChanges::default(), now)?;
    bump_generation(conn)?;
    // Households whose cells changed hands move in the same transaction.
    let households_moved = crate::households::follow_coverage(
        conn,
        &unit.id,
        unit.parent_id.as_deref(),
        previous.as_ref(),
        &cov,
        now,
    )?;
    Ok(CoverageOutcome {
        record,
        trimmed_leaf_cells: trimmed,
        households_moved,
        unit: get_unit(conn, id)?,
    })
}

fn write_coverage(conn: &mut AnyConnection, r: &CoverageRecord) -> Result<(), StoreError> {
    // No ON CONFLICT through the multi-backend connection: replace inside the transaction.
    diesel::delete(unit_coverage::table.find(&r.unit_id)).execute(conn)?;
    diesel::insert_into(unit_coverage::table)
        .values((
            unit_coverage::unit_id.eq(&r.unit_id),
            unit_coverage::resolution.eq(r.resolution),
            unit_coverage::cells.eq(&r.cells),
            unit_coverage::cell_count.eq(r.cell_count),
            unit_coverage::leaf_cell_count.eq(r.leaf_cell_count),
            unit_coverage::boundary.eq(&r.boundary),
            unit_coverage::updated_at.eq(&r.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Increments the coverage generation: every instance rebuilds its locate index when it sees a
/// new one.
fn bump_generation(conn: &mut AnyConnection) -> Result<(), StoreError> {
    // One atomic statement: two writers can never store the same generation.
    diesel::sql_query(
        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) \
         WHERE key = 'coverage_generation'",
    )
    .execute(conn)?;
    Ok(())
}

/// Serialises writers of the grid: every write transaction starts here, before it reads what
/// it will check. On PostgreSQL this takes a row lock that a concurrent writer waits for (so
/// two siblings cannot both pass the overlap check against the old state); on SQLite, writing
/// first takes the write lock at once, so the busy timeout applies instead of a lock-upgrade
/// failure. Grid edits are rare administrative acts, so one lock for all is cheap.
fn lock_grid(conn: &mut AnyConnection) -> Result<(), StoreError> {
    diesel::sql_query("UPDATE meta SET value = value WHERE key = 'coverage_generation'")
        .execute(conn)?;
    Ok(())
}

/// The current coverage generation.
///
/// # Errors
/// Database errors.
pub fn coverage_generation(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let v: Option<String> = meta::table
        .find("coverage_generation")
        .select(meta::value)
        .first(conn)
        .optional()?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// The distinct resolutions coverage is stored at (one, normally: the configured leaf).
///
/// # Errors
/// Database errors.
pub fn stored_resolutions(conn: &mut AnyConnection) -> Result<Vec<i32>, StoreError> {
    Ok(unit_coverage::table
        .select(unit_coverage::resolution)
        .distinct()
        .load(conn)?)
}

/// Every stored coverage with its unit's level, for building the locate index.
///
/// # Errors
/// Database errors; `Corrupt` for unreadable rows.
pub fn all_coverages(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, i32, CoverageRecord)>, StoreError> {
    let rows: Vec<(i32, CoverageRecord)> = unit_coverage::table
        .inner_join(units::table)
        .select((units::level, CoverageRecord::as_select()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(level, r)| (r.unit_id.clone(), level, r))
        .collect())
}

/// One unit of an import, parsed; `coverage` is already tiled.
#[derive(Debug, Clone)]
pub struct ImportItem {
    pub index: usize,
    pub code: UnitCode,
    pub name: UnitName,
    pub level: Level,
    pub parent_code: Option<UnitCode>,
    pub coverage: Option<Coverage>,
    pub boundary: Option<String>,
}

/// An import as parsed: the items that parsed, the problems of those that did not, and every
/// code the file names (so a parent that failed to parse is not reported missing as well).
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub items: Vec<ImportItem>,
    pub problems: Vec<ImportProblem>,
    pub codes_in_file: std::collections::HashSet<String>,
}

impl From<Vec<ImportItem>> for ImportBatch {
    fn from(items: Vec<ImportItem>) -> Self {
        Self {
            codes_in_file: items.iter().map(|i| i.code.to_string()).collect(),
            items,
            problems: Vec::new(),
        }
    }
}

/// What an import created.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub with_coverage: usize,
    pub trimmed_leaf_cells: u64,
    /// The units as stored (parents first), for the caller to record.
    #[serde(skip)]
    pub units: Vec<UnitRecord>,
    /// Households that followed the new coverage.
    #[serde(skip)]
    pub households_moved: Vec<crate::households::Moved>,
}

/// Imports units in one go: all or nothing. The batch's parse problems and the relational ones
/// (taken codes, missing or wrong-level parents) are reported together, for every item, before
/// anything is written; spatial ones as each unit is placed. Callers run this inside a
/// transaction and roll back on error.
///
/// # Errors
/// `ImportRejected` listing every problem found.
pub fn import_units(
    conn: &mut AnyConnection,
    batch: ImportBatch,
    clip: bool,
    leaf: Resolution,
    now: &str,
    mut new_id: impl FnMut() -> String,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, StoreError> {
    lock_grid(conn)?;
    let ImportBatch {
        mut items,
        mut problems,
        codes_in_file,
    } = batch;
    let problem = |i: &ImportItem, p: String| ImportProblem {
        index: i.index,
        code: Some(i.code.to_string()),
        problem: p,
    };
    // Parents first, so each item's parent exists when it is placed.
    items.sort_by_key(|i| (i.level, i.index));
    let mut in_file: std::collections::HashMap<String, Level> = std::collections::HashMap::new();
    for item in &items {
        if in_file.insert(item.code.to_string(), item.level).is_some() {
            problems.push(problem(
                item,
                format!("code {} appears twice in the file", item.code),
            ));
        }
    }
    for item in &items {
        if find_by_code(conn, item.code.as_str())?.is_some() {
            problems.push(problem(
                item,
                format!("a unit with code {} exists already", item.code),
            ));
        }
        let parent_level = match &item.parent_code {
            None => None,
            Some(pc) => match in_file.get(pc.as_str()) {
                Some(l) => Some(*l),
                // The parent is in the file but did not parse: its own problem says why.
                None if codes_in_file.contains(pc.as_str()) => continue,
                None => match find_by_code(conn, pc.as_str())? {
                    Some(p) => Some(p.level()?),
                    None => {
                        problems.push(problem(
                            item,
                            format!("parent_code {pc} is neither in the file nor stored"),
                        ));
                        continue;
                    }
                },
            },
        };
        if let Err(e) = item.level.check_parent(parent_level) {
            problems.push(problem(item, e.to_string()));
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.index);
        return Err(StoreError::ImportRejected(problems));
    }
    let mut report = ImportReport::default();
    for (n, item) in items.into_iter().enumerate() {
        let parent_id = match &item.parent_code {
            Some(pc) => Some(
                find_by_code(conn, pc.as_str())?
                    .ok_or_else(|| StoreError::Corrupt(format!("parent {pc} vanished")))?
                    .unit_id()?,
            ),
            None => None,
        };
        let unit = create_unit(
            conn,
            &new_id(),
            &NewUnit {
                code: item.code.clone(),
                name: item.name.clone(),
                level: item.level,
                parent_id,
            },
            now,
        )?;
        let mut stored = unit.clone();
        if let Some(cov) = item.coverage.clone() {
            match set_coverage(
                conn,
                unit.unit_id()?,
                cov,
                item.boundary.clone(),
                clip,
                None,
                leaf,
                now,
            ) {
                Ok(outcome) => {
                    report.with_coverage += 1;
                    report.trimmed_leaf_cells += outcome.trimmed_leaf_cells;
                    report.households_moved.extend(outcome.households_moved);
                    stored = outcome.unit;
                }
                Err(StoreError::Conflict { message, .. }) => problems.push(problem(&item, message)),
                Err(other) => return Err(other),
            }
        }
        report.created += 1;
        report.units.push(stored);
        progress(n + 1);
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(StoreError::ImportRejected(problems))
    }
}
