//! Changing a household. A new location moves it to the unit that covers it, unless staff name
//! the unit (with a reason); either way the history records the move.

use super::create::Location;
use super::{WHAT, household_for, locate_unit, record, stored_tags};
use crate::error::AppError;
use crate::tx::Tx;
use crate::versions;
use serde_json::{Map, Value, json};
use wangge_domain::{Action, Address, HouseholdId, Notes, Placement, Replacement, Tag, UnitId};
use wangge_persistence::grid;
use wangge_persistence::households::{self as store, Household, HouseholdChanges};
use wangge_persistence::locks::Locked;

/// What a change may set; `None` leaves a field alone.
#[derive(Debug, Clone)]
pub struct HouseholdPatch {
    pub address: Option<Address>,
    pub location: Option<Location>,
    /// `Override` names a unit with a reason; `Located` leaves placement to the location.
    pub placement: Placement,
    pub tags: Option<Vec<Tag>>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<Notes>>,
}

/// Changes a household under optimistic concurrency.
///
/// # Errors
/// 404 outside scope, 403 without the right (to change, or to place by hand, there and in
/// the target unit); `not_covered`; `VersionMismatch`.
pub fn update(
    tx: &mut Tx<'_>,
    id: HouseholdId,
    if_match: Option<i64>,
    patch: &HouseholdPatch,
) -> Result<Household, AppError> {
    versions::hold_unless_matched(tx, Locked::Household, &id.to_string(), if_match)?;
    let current = household_for(tx.conn, tx.caller, id, Action::WriteHousehold)?;
    let version = versions::expect(current.record.version, if_match)?;
    let point = patch
        .location
        .map(|l| l.resolve(tx.svc.config.leaf))
        .transpose()?;
    let mut changes = HouseholdChanges::default();
    match Replacement::of_change(point.is_some(), patch.placement.clone()) {
        Replacement::Stay => {}
        Replacement::Relocate => {
            let (lon, lat, _) = point.unwrap_or_default();
            let unit_id = locate_unit(tx.svc, lon, lat)?;
            let unit = grid::get_unit(tx.conn, UnitId::parse(&unit_id)?)?;
            if !tx.caller.permits(Action::WriteHousehold, &unit.path) {
                return Err(AppError::forbidden(
                    "the new location lies outside the units you may register households in",
                ));
            }
            changes.unit_id = Some(unit.id);
            changes.unit_reason = Some(None);
        }
        Replacement::Place { unit, reason } => {
            let target = crate::units::get_or(tx.conn, unit, || {
                AppError::field("unit_id", "names no unit")
            })?;
            tx.caller
                .require(Action::OverrideHouseholdUnit, &current.unit.path, WHAT)?;
            if !tx
                .caller
                .permits(Action::OverrideHouseholdUnit, &target.path)
            {
                return Err(AppError::forbidden(
                    "you may not place households in that unit",
                ));
            }
            changes.unit_id = Some(target.id);
            changes.unit_reason = Some(Some(reason.into_string()));
        }
    }
    if let Some((lon, lat, cell)) = point {
        changes.lon = Some(lon);
        changes.lat = Some(lat);
        changes.cell = Some(cell);
    }
    changes.address = patch.address.as_ref().map(|a| a.as_str().to_owned());
    changes.tags = patch.tags.as_deref().map(stored_tags);
    changes.notes = patch
        .notes
        .as_ref()
        .map(|n| n.as_ref().map(|n| n.as_str().to_owned()));
    let key = id.to_string();
    let now = tx.now().to_owned();
    if !store::update(tx.conn, &key, version, &changes, &now)? {
        let now_version = store::version_of(tx.conn, &key)?;
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let after = store::get(tx.conn, &key)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let (updated, moved) = diff(&current, &after);
    // A change of place is its own entry, with its reason; the rest is `updated`. One
    // version, one outbox event and one change-feed row either way.
    if let Some(moved) = moved {
        if updated["fields"].as_array().is_some_and(|f| !f.is_empty()) {
            tx.history(
                crate::tx::Entity::Household,
                &after.record.id,
                "updated",
                Some(after.record.version),
                updated,
            )?;
        }
        record(tx, &after, "moved", Some(&current.unit.path), false, moved)?;
    } else {
        record(
            tx,
            &after,
            "updated",
            Some(&current.unit.path),
            false,
            updated,
        )?;
    }
    Ok(after)
}

/// What changed, field by field (`fields` names them, `from` and `to` give the values), and
/// the move, when the household changed unit.
fn diff(before: &Household, after: &Household) -> (Value, Option<Value>) {
    let (b, a) = (&before.record, &after.record);
    let mut fields = Vec::new();
    let mut from = Map::new();
    let mut to = Map::new();
    let mut put = |name: &str, old: Value, new: Value| {
        if old != new {
            fields.push(name.to_owned());
            from.insert(name.to_owned(), old);
            to.insert(name.to_owned(), new);
        }
    };
    put("address", json!(b.address), json!(a.address));
    put(
        "location",
        json!({ "lat": b.lat, "lng": b.lon }),
        json!({ "lat": a.lat, "lng": a.lon }),
    );
    put("tags", json!(b.tag_names()), json!(a.tag_names()));
    put("notes", json!(b.notes), json!(a.notes));
    let moved = (b.unit_id != a.unit_id || b.unit_reason != a.unit_reason).then(|| {
        json!({
            "from_unit_id": b.unit_id,
            "to_unit_id": a.unit_id,
            "reason": a.unit_reason,
        })
    });
    (json!({ "fields": fields, "from": from, "to": to }), moved)
}
