//! A unit's coverage: stored as compacted H3 cells, checked against its parent and siblings
//! inside the caller's transaction.

use super::{SAMPLE_CELLS, UnitChanges, UnitRecord, get_unit, update_if_version};
use crate::check_version;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{meta, unit_coverage, units};
use diesel::prelude::*;
use serde_json::json;
use wangge_domain::UnitId;
use wangge_geo::{CellIndex, Coverage, CoverageSet, Resolution};

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

pub(super) fn load_coverage(
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

pub(super) fn check_against_parent_and_siblings(
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
pub(super) fn bump_generation(conn: &mut AnyConnection) -> Result<(), StoreError> {
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
pub(super) fn lock_grid(conn: &mut AnyConnection) -> Result<(), StoreError> {
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
