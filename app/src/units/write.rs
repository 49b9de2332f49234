//! Changing the grid: units, their coverage, whole imports. Each use case checks the caller's
//! right first, lets `persistence::grid` hold the invariants under the grid lock, and records
//! the change (and every household that followed a coverage change).

use super::{WHAT, read, record};
use crate::caller::Caller;
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::households;
use crate::tx::{Audit, Change, Entity, Tx, new_id};
use crate::versions::Created;
use serde_json::json;
use wangge_domain::UnitId;
use wangge_geo::Coverage;
use wangge_persistence::AnyConnection;
use wangge_persistence::grid::{
    self, CoverageOutcome, ImportBatch, ImportReport, NewUnit, UnitPatch, UnitRecord,
};

/// Creates a unit (without coverage), under an existing parent one level up.
///
/// # Errors
/// 403 without the right over the parent (or the whole grid, for a district);
/// `validation_failed` for a parent that breaks the level rule; `duplicate_code`; `id_taken`.
pub fn create(
    tx: &mut Tx<'_>,
    id: Option<UnitId>,
    new: &NewUnit,
) -> Result<Created<UnitRecord>, AppError> {
    let parent_path = match new.parent_id {
        Some(p) => read::path_of(tx.conn, p)?,
        None => None,
    };
    // An unknown parent is the store's validation error, after the right check.
    if new.parent_id.is_none() || parent_path.is_some() {
        tx.caller.require_grid_write(parent_path.as_deref())?;
    }
    let content = json!({
        "code": new.code.as_str(),
        "name": new.name.as_str(),
        "level": new.level.number(),
        "parent_id": new.parent_id.map(|p| p.to_string()),
    });
    let id = match id {
        Some(id) => {
            if client_id::claim(tx, Entity::Unit, &id.to_string(), &content)? == Claimed::Again {
                let record =
                    read::get(tx.conn, id).map_err(|_| client_id::taken(&id.to_string()))?;
                return Ok(Created {
                    record,
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    let now = tx.now().to_owned();
    let u = grid::create_unit(tx.conn, &id, new, &now)?;
    record(tx, &u, "created", None, false, true, content)?;
    Ok(Created {
        record: u,
        again: false,
    })
}

/// Renames, recodes or moves a unit.
///
/// # Errors
/// 403 without the right over the unit (and, for a move, the new parent); 404;
/// `VersionMismatch`; the grid's conflicts.
pub fn update(
    tx: &mut Tx<'_>,
    id: UnitId,
    if_match: Option<i64>,
    patch: &UnitPatch,
) -> Result<UnitRecord, AppError> {
    let current = read::get(tx.conn, id)?;
    tx.caller.require_grid_write(Some(&current.path))?;
    // Moving a unit also changes its new parent's subtree.
    if let Some(p) = patch.parent_id
        && let Some(path) = read::path_of(tx.conn, p)?
    {
        tx.caller.require_grid_write(Some(&path))?;
    }
    let leaf = tx.svc.config.leaf;
    let now = tx.now().to_owned();
    let done = grid::update_unit(tx.conn, id, patch, if_match, leaf, &now)?;
    let (before, after) = (&done.before, &done.after);
    let mut fields = Vec::new();
    for (changed, name) in [
        (before.code != after.code, "code"),
        (before.name != after.name, "name"),
        (before.parent_id != after.parent_id, "parent_id"),
    ] {
        if changed {
            fields.push(name);
        }
    }
    record(
        tx,
        after,
        "updated",
        Some(&before.path),
        false,
        true,
        json!({
            "fields": fields,
            "from": { "code": before.code, "name": before.name, "parent_id": before.parent_id },
            "to": { "code": after.code, "name": after.name, "parent_id": after.parent_id },
        }),
    )?;
    if before.path != after.path {
        // The cases of the moved subtree now count under its new ancestors.
        crate::stats::fold::unit_moved(tx.conn, after.id.as_str(), &before.path, &after.path)?;
    }
    // Units below a moved one changed place in the grid too; the records in them follow
    // their units (readers of the feed resolve them by unit).
    for d in done.descendants_moved {
        tx.change(Change {
            entity: Entity::Unit,
            id: d.id,
            version: d.version,
            deleted: false,
            unit_path_before: Some(d.path_before),
            unit_path_after: Some(d.path_after),
        })?;
    }
    Ok(done.after)
}

/// Deletes a unit without children, assignments or households.
///
/// # Errors
/// 403, 404, `VersionMismatch`, `unit_has_children`, `unit_in_use`.
pub fn delete(tx: &mut Tx<'_>, id: UnitId, if_match: Option<i64>) -> Result<(), AppError> {
    let current = read::get(tx.conn, id)?;
    tx.caller.require_grid_write(Some(&current.path))?;
    let gone = grid::delete_unit(tx.conn, id, if_match)?;
    let path = gone.path.clone();
    let tombstone = UnitRecord {
        version: gone.version + 1,
        ..gone
    };
    record(
        tx,
        &tombstone,
        "deleted",
        Some(&path),
        true,
        true,
        json!({ "code": tombstone.code, "name": tombstone.name }),
    )
}

/// Checks, before any tiling, that the caller may set this unit's coverage.
///
/// # Errors
/// 404 for an unknown unit, 403 without the right.
pub fn authorize_coverage(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: UnitId,
) -> Result<(), AppError> {
    let unit = read::get(conn, id)?;
    caller.require_grid_write(Some(&unit.path))
}

/// A new coverage, tiled already.
#[derive(Debug, Clone)]
pub struct CoverageChange {
    pub coverage: Coverage,
    /// The polygon it was tiled from (GeoJSON), kept for export.
    pub boundary: Option<String>,
    /// Trim cells outside the parent instead of refusing them.
    pub clip: bool,
}

/// Sets a unit's coverage; households whose cells changed hands move with it.
///
/// # Errors
/// 403, 404, `VersionMismatch`, the grid's spatial conflicts.
pub fn set_coverage(
    tx: &mut Tx<'_>,
    id: UnitId,
    if_match: Option<i64>,
    change: CoverageChange,
) -> Result<CoverageOutcome, AppError> {
    let current = read::get(tx.conn, id)?;
    tx.caller.require_grid_write(Some(&current.path))?;
    let leaf = tx.svc.config.leaf;
    let now = tx.now().to_owned();
    let outcome = grid::set_coverage(
        tx.conn,
        id,
        change.coverage,
        change.boundary,
        change.clip,
        if_match,
        leaf,
        &now,
    )?;
    record(
        tx,
        &outcome.unit,
        "coverage_changed",
        Some(&current.path),
        false,
        true,
        json!({
            "cell_count": outcome.record.cell_count,
            "leaf_cell_count": outcome.record.leaf_cell_count,
            "trimmed_leaf_cells": outcome.trimmed_leaf_cells,
            "households_moved": outcome.households_moved.len(),
        }),
    )?;
    households::record_moved(tx, &outcome.households_moved)?;
    Ok(outcome)
}

/// Checks, before parsing and tiling a file, that the caller may import into the grid.
///
/// # Errors
/// 403 unless the caller administers the whole grid.
pub fn authorize_import(caller: &Caller) -> Result<(), AppError> {
    caller.require_grid_write(None)
}

/// Imports units, all or nothing, each recorded like a unit created by hand; the import
/// itself is one audit event.
///
/// # Errors
/// 403; `import_rejected` listing every problem.
pub fn import(
    tx: &mut Tx<'_>,
    batch: ImportBatch,
    clip: bool,
    progress: impl FnMut(usize),
) -> Result<ImportReport, AppError> {
    authorize_import(tx.caller)?;
    let leaf = tx.svc.config.leaf;
    let now = tx.now().to_owned();
    let report = grid::import_units(tx.conn, batch, clip, leaf, &now, new_id, progress)?;
    for u in &report.units {
        record(
            tx,
            u,
            "created",
            None,
            false,
            false,
            json!({ "code": u.code, "name": u.name, "level": u.level, "parent_id": u.parent_id, "source": "import" }),
        )?;
    }
    households::record_moved(tx, &report.households_moved)?;
    tx.audit(Audit {
        action: "units.imported",
        subject_type: Some(WHAT),
        subject_id: None,
        unit_path: None,
        details: json!({
            "created": report.created,
            "with_coverage": report.with_coverage,
            "trimmed_leaf_cells": report.trimmed_leaf_cells,
        }),
    })?;
    Ok(report)
}
