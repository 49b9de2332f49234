//! Visits (走访): a grid worker's record of calling on a household. A phone that was offline
//! sends a visit later than it happened, so it carries its own time (within a window).

use super::create::Location;
use super::household_for;
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::tx::{Change, Entity, Reader, Tx, new_id, stored_time};
use crate::versions::Created;
use serde_json::json;
use wangge_domain::{Action, HouseholdId, Notes, VisitId};
use wangge_persistence::visits::{self as store, NewVisit as Row, VisitRecord};

const VISIT: &str = "visit";

/// A visit to record.
#[derive(Debug, Clone)]
pub struct NewVisit {
    pub id: Option<VisitId>,
    /// When it happened (RFC 3339), if not now.
    pub visited_at: Option<String>,
    pub location: Option<Location>,
    pub notes: Notes,
}

/// Records a visit.
///
/// # Errors
/// 404/403 by scope; `validation_failed` for a time outside the window; `id_taken`.
pub fn create(
    tx: &mut Tx<'_>,
    household: HouseholdId,
    new: &NewVisit,
) -> Result<Created<VisitRecord>, AppError> {
    let visited_at = stored_time(wangge_domain::visit::visited_at(
        new.visited_at.as_deref(),
        tx.now_utc(),
    )?);
    let point = new
        .location
        .map(|l| l.resolve(tx.svc.config.leaf))
        .transpose()?
        .map(|(lon, lat, _)| (lon, lat));
    let h = household_for(tx.conn, tx.caller, household, Action::RecordVisit)?;
    let visitor = tx
        .caller
        .account_id()
        .ok_or_else(|| AppError::forbidden("visits are recorded by accounts"))?
        .to_owned();
    let id = match new.id {
        Some(id) => {
            // What was sent: a visit dated "now" is the same visit when sent again later.
            let content = json!({
                "household_id": h.record.id,
                "visitor_id": visitor,
                "visited_at": new.visited_at,
                "point": point,
                "notes": new.notes.as_str(),
            });
            if client_id::claim(tx, Entity::Visit, &id.to_string(), &content)? == Claimed::Again {
                let record = store::get(tx.conn, &id.to_string())?
                    .filter(|v| v.household_id == h.record.id)
                    .ok_or_else(|| client_id::taken(&id.to_string()))?;
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
    store::insert(
        tx.conn,
        &Row {
            id: &id,
            household_id: &h.record.id,
            unit_id: &h.unit.id,
            visitor_id: &visitor,
            visited_at: &visited_at,
            point,
            notes: new.notes.as_str(),
        },
        &now,
    )?;
    let v = store::get(tx.conn, &id)?.ok_or_else(|| AppError::not_found(VISIT))?;
    tx.history(
        Entity::Household,
        &h.record.id,
        "visited",
        Some(h.record.version),
        json!({ "visit_id": v.id, "visited_at": v.visited_at }),
    )?;
    tx.event(
        "visit.recorded",
        Entity::Visit,
        &v.id,
        1,
        json!({ "id": v.id, "household_id": v.household_id, "unit_id": v.unit_id, "visited_at": v.visited_at }),
    )?;
    tx.change(Change {
        entity: Entity::Visit,
        id: v.id.clone(),
        version: 1,
        deleted: false,
        unit_path_before: None,
        unit_path_after: Some(h.unit.path.clone()),
    })?;
    Ok(Created {
        record: v,
        again: false,
    })
}

/// Visits of a household, newest first, before the cursor (a visit id).
///
/// # Errors
/// 404 outside view scope.
pub fn list(
    r: &mut Reader<'_>,
    household: HouseholdId,
    before: Option<VisitId>,
    limit: i64,
) -> Result<Vec<VisitRecord>, AppError> {
    household_for(r.conn, &r.caller, household, Action::ReadHousehold)?;
    Ok(store::of_household(
        r.conn,
        &household.to_string(),
        before.map(|b| b.to_string()).as_deref(),
        limit,
    )?)
}
