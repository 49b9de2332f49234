//! The grid: units, their coverage, imports and exports. The grid is readable by every role;
//! its changes are administrators' (`Action::ManageGrid`), audited, and serialised by the
//! grid lock in `persistence::grid`, which also holds the spatial invariants.

mod exchange;
mod read;
mod write;

pub use exchange::{Sink, export, parse_feature_collection, unit_feature, unit_geometry};
pub use read::{ancestors, children, coverage_of, get, get_or, history, list, path_of};
pub use write::{
    CoverageChange, authorize_coverage, authorize_import, create, delete, import, set_coverage,
    update,
};

use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Tx};
use serde_json::{Value, json};
use wangge_persistence::grid::UnitRecord;

pub(crate) const WHAT: &str = "unit";

/// The outbox payload of a unit: what subscribers need to place it.
fn payload(u: &UnitRecord) -> Value {
    json!({
        "id": u.id,
        "code": u.code,
        "name": u.name,
        "level": u.level,
        "parent_id": u.parent_id,
        "version": u.version,
    })
}

/// Records a change of a unit: its history, the audit log (grid writes are audited; an import
/// as one event of its own, so `audited` is false for its units), the outbox and the change
/// feed.
fn record(
    tx: &mut Tx<'_>,
    u: &UnitRecord,
    kind: &'static str,
    path_before: Option<&str>,
    deleted: bool,
    audited: bool,
    details: Value,
) -> Result<(), AppError> {
    let event = match kind {
        "created" => "unit.created",
        "deleted" => "unit.deleted",
        "coverage_changed" => "coverage.changed",
        _ => "unit.changed",
    };
    tx.history(Entity::Unit, &u.id, kind, Some(u.version), details.clone())?;
    if audited {
        tx.audit(Audit {
            action: event,
            subject_type: Some(WHAT),
            subject_id: Some(u.id.clone()),
            unit_path: Some(u.path.clone()),
            details,
        })?;
    }
    tx.event(event, Entity::Unit, &u.id, u.version, payload(u))?;
    tx.change(Change {
        entity: Entity::Unit,
        id: u.id.clone(),
        version: u.version,
        deleted,
        unit_path_before: path_before.map(str::to_owned),
        unit_path_after: (!deleted).then(|| u.path.clone()),
    })
}
