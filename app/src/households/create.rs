//! Registering a household: placed where its location lies, or where staff name with a reason.

use super::{household_for, locate_unit, record, stored_tags};
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::tx::{Entity, Tx, new_id};
use crate::versions::Created;
use serde_json::json;
use wangge_domain::{Action, Address, HouseholdId, Notes, Placement, Tag, UnitId};
use wangge_geo::Crs;
use wangge_persistence::households::{self as store, Household, NewHousehold as Row, UnitBrief};

/// A point as a request gives it, in the datum it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lng: f64,
    pub crs: Crs,
}

impl Location {
    /// WGS-84 (lon, lat) and the leaf cell.
    ///
    /// # Errors
    /// `location` for a point that is not a coordinate.
    pub fn resolve(self, leaf: wangge_geo::Resolution) -> Result<(f64, f64, i64), AppError> {
        let ll = wangge_geo::to_wgs84(self.lat, self.lng, self.crs)
            .map_err(|e| AppError::field("location", e.to_string()))?;
        let cell = i64::try_from(u64::from(ll.to_cell(leaf))).unwrap_or_default();
        Ok((ll.lng(), ll.lat(), cell))
    }
}

/// A household to register, every field checked.
#[derive(Debug, Clone)]
pub struct NewHousehold {
    /// A client-made id (UUIDv7), for households created offline.
    pub id: Option<HouseholdId>,
    pub address: Address,
    pub location: Location,
    pub placement: Placement,
    pub tags: Vec<Tag>,
    pub notes: Option<Notes>,
}

/// Registers a household.
///
/// # Errors
/// `not_covered` for a located household nobody covers; `validation_failed` for a named unit
/// that does not exist; 403 outside what the caller may register; `id_taken`.
pub fn create(tx: &mut Tx<'_>, new: &NewHousehold) -> Result<Created<Household>, AppError> {
    let (lon, lat, cell) = new.location.resolve(tx.svc.config.leaf)?;
    let unit_id = match &new.placement {
        Placement::Located => locate_unit(tx.svc, lon, lat)?,
        Placement::Override { unit, .. } => unit.to_string(),
    };
    let unit = crate::units::get_or(tx.conn, UnitId::parse(&unit_id)?, || {
        AppError::field("unit_id", "names no unit")
    })?;
    if !tx.caller.permits(new.placement.action(), &unit.path) {
        return Err(AppError::forbidden(
            "your roles or assignments do not allow registering a household here",
        ));
    }
    let tags = stored_tags(&new.tags);
    let id = match new.id {
        Some(id) => {
            let content = json!({
                "address": new.address.as_str(),
                "lon": lon,
                "lat": lat,
                "unit_id": matches!(new.placement, Placement::Override { .. }).then_some(&unit.id),
                "unit_reason": new.placement.reason(),
                "tags": tags,
                "notes": new.notes.as_ref().map(Notes::as_str),
            });
            if client_id::claim(tx, Entity::Household, &id.to_string(), &content)? == Claimed::Again
            {
                let record = household_for(tx.conn, tx.caller, id, Action::ReadHousehold)
                    .map_err(|_| client_id::taken(&id.to_string()))?;
                return Ok(Created {
                    record,
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    let actor = tx.caller.account_id().map(str::to_owned);
    let now = tx.now().to_owned();
    let brief = UnitBrief {
        id: unit.id.clone(),
        code: unit.code.clone(),
        name: unit.name.clone(),
        path: unit.path.clone(),
    };
    let h = store::insert_one(
        tx.conn,
        &Row {
            id: &id,
            unit_id: &unit.id,
            address: new.address.as_str(),
            lon,
            lat,
            cell,
            unit_reason: new.placement.reason(),
            tags: &tags,
            notes: new.notes.as_ref().map(Notes::as_str),
            created_by: actor.as_deref(),
        },
        brief,
        &now,
    )?;
    record(
        tx,
        &h,
        "created",
        None,
        false,
        json!({ "unit_id": h.record.unit_id, "unit_reason": h.record.unit_reason }),
    )?;
    Ok(Created {
        record: h,
        again: false,
    })
}
