//! Deleting a household, with its residents and visits; its history stays.

use super::{WHAT, household_for, record};
use crate::error::AppError;
use crate::tx::{Change, Entity, Tx};
use crate::versions;
use serde_json::json;
use wangge_domain::{Action, HouseholdId};
use wangge_persistence::households as store;
use wangge_persistence::locks::Locked;
use wangge_persistence::{residents, visits};

/// Deletes a household under optimistic concurrency. Its residents and visits go with it,
/// each with a tombstone in the change feed.
///
/// # Errors
/// 404 outside scope, 403 without the right to delete, `VersionMismatch`.
pub fn delete(tx: &mut Tx<'_>, id: HouseholdId, if_match: Option<i64>) -> Result<(), AppError> {
    versions::hold_unless_matched(tx, Locked::Household, &id.to_string(), if_match)?;
    let current = household_for(tx.conn, tx.caller, id, Action::DeleteHousehold)?;
    let version = versions::expect(current.record.version, if_match)?;
    let key = id.to_string();
    let gone_residents = residents::versions_of_household(tx.conn, &key)?;
    let gone_visits = visits::ids_of_household(tx.conn, &key)?;
    if !store::delete(tx.conn, &key, version)? {
        let now_version = store::version_of(tx.conn, &key)?;
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let path = current.unit.path.clone();
    let mut tombstone = current.clone();
    tombstone.record.version += 1;
    record(
        tx,
        &tombstone,
        "deleted",
        Some(&path),
        true,
        json!({
            "unit_id": current.record.unit_id,
            "address": current.record.address,
            "residents": gone_residents.len(),
            "visits": gone_visits.len(),
        }),
    )?;
    let gone: Vec<(Entity, String, i64)> = gone_residents
        .into_iter()
        .map(|(id, v)| (Entity::Resident, id, v + 1))
        .chain(gone_visits.into_iter().map(|id| (Entity::Visit, id, 2)))
        .collect();
    for (entity, id, version) in gone {
        tx.change(Change {
            entity,
            id,
            version,
            deleted: true,
            unit_path_before: Some(path.clone()),
            unit_path_after: None,
        })?;
    }
    Ok(())
}
