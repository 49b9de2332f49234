//! The household registry: households, their residents (personal data sealed, masked unless
//! revealed, every reveal audited) and visits. Every object is placed by its unit, and every
//! question about it is asked of the caller's scope.

mod create;
mod delete;
pub mod import;
mod read;
pub mod residents;
mod update;
pub mod visits;

pub use create::{Location, NewHousehold, create};
pub use delete::delete;
pub use read::{ListQuery, Page, get, history, list};
pub use update::{HouseholdPatch, update};

use crate::caller::Caller;
use crate::error::AppError;
use crate::services::Services;
use crate::tx::{Change, Entity, Tx};
use serde_json::{Value, json};
use std::collections::HashMap;
use wangge_domain::{Action, HouseholdId, Tag};
use wangge_persistence::AnyConnection;
use wangge_persistence::households::{self as store, Household, Moved, UnitBrief};

pub(crate) const WHAT: &str = "household";

/// The household, if the caller may take `action` on it: 404 outside view scope, 403 inside
/// view scope without the right to act.
///
/// # Errors
/// As described.
pub(crate) fn household_for(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: HouseholdId,
    action: Action,
) -> Result<Household, AppError> {
    let h = store::get(conn, &id.to_string())?.ok_or_else(|| AppError::not_found(WHAT))?;
    caller.check(Action::ReadHousehold, &h.unit.path, WHAT)?;
    if action != Action::ReadHousehold {
        caller.require(action, &h.unit.path, WHAT)?;
    }
    Ok(h)
}

/// Tags as stored: `,a,b,`, canonical order.
pub(crate) fn stored_tags(tags: &[Tag]) -> String {
    let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
    store::join_tags(&names)
}

/// The deepest unit covering a point, from the in-memory index; a point no unit covers
/// cannot hold a located household.
///
/// # Errors
/// 422 `not_covered`.
pub(crate) fn locate_unit(svc: &Services, lon: f64, lat: f64) -> Result<String, AppError> {
    let ll = wangge_geo::LatLng::new(lat, lon)
        .map_err(|e| AppError::field("location", e.to_string()))?;
    let snap = svc.locator.snapshot();
    let (_, chain) = snap.locate(ll).ok_or_else(|| AppError::Unprocessable {
        code: "not_covered",
        message: "no unit covers this location; check the point and its crs (community staff or a subdistrict officer may place the household by hand with unit_id and unit_reason)".into(),
        details: json!({ "field": "location" }),
    })?;
    chain
        .first()
        .map(|u| u.id.clone())
        .ok_or_else(|| AppError::internal("empty locate chain"))
}

/// The outbox payload of a household: no resident data.
fn payload(h: &Household) -> Value {
    json!({
        "id": h.record.id,
        "unit_id": h.record.unit_id,
        "unit_code": h.unit.code,
        "version": h.record.version,
        "tags": h.record.tag_names(),
    })
}

/// Records a change of a household: history, outbox, change feed.
pub(crate) fn record(
    tx: &mut Tx<'_>,
    h: &Household,
    kind: &'static str,
    path_before: Option<&str>,
    deleted: bool,
    details: Value,
) -> Result<(), AppError> {
    let event = match kind {
        "created" => "household.created",
        "deleted" => "household.deleted",
        _ => "household.changed",
    };
    tx.history(
        Entity::Household,
        &h.record.id,
        kind,
        Some(h.record.version),
        details,
    )?;
    tx.event(
        event,
        Entity::Household,
        &h.record.id,
        h.record.version,
        payload(h),
    )?;
    tx.change(Change {
        entity: Entity::Household,
        id: h.record.id.clone(),
        version: h.record.version,
        deleted,
        unit_path_before: path_before.map(str::to_owned),
        unit_path_after: (!deleted).then(|| h.unit.path.clone()),
    })
}

/// Records households that followed a change of coverage into another unit.
///
/// # Errors
/// Database errors.
pub(crate) fn record_moved(tx: &mut Tx<'_>, moves: &[Moved]) -> Result<(), AppError> {
    if moves.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = moves
        .iter()
        .flat_map(|m| [m.from_unit_id.as_str(), m.to_unit_id.as_str()])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let units: HashMap<String, UnitBrief> = store::unit_briefs(tx.conn, &ids)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let path = |id: &str| units.get(id).map(|u| u.path.clone());
    for m in moves {
        tx.history(
            Entity::Household,
            &m.id,
            "moved",
            Some(m.version),
            json!({ "from_unit_id": m.from_unit_id, "to_unit_id": m.to_unit_id, "reason": "coverage_changed" }),
        )?;
        tx.event(
            "household.changed",
            Entity::Household,
            &m.id,
            m.version,
            json!({
                "id": m.id,
                "unit_id": m.to_unit_id,
                "unit_code": units.get(&m.to_unit_id).map(|u| u.code.clone()),
                "version": m.version,
                "moved": true,
            }),
        )?;
        tx.change(Change {
            entity: Entity::Household,
            id: m.id.clone(),
            version: m.version,
            deleted: false,
            unit_path_before: path(&m.from_unit_id),
            unit_path_after: path(&m.to_unit_id),
        })?;
    }
    Ok(())
}
