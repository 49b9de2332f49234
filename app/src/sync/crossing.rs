//! A unit crossing the edge of what a phone holds: its unit moved into or out of the scope,
//! or the account was given other units. Its records then leave the phone (tombstones) or
//! come to it whole, as a household moving between groups does.
//!
//! A crossing happens at a position of the change feed, `at`. Leaving takes away every record
//! in the unit now and every one that passed through it after `at` (the phone may hold any of
//! them; a tombstone for one it lacks is harmless, and one that is in the scope again comes
//! back with its own later change). Entering brings the records in the unit now, or that
//! passed through it after `at` and are in the scope now, except those changed after `at`:
//! their own changes bring them, so each state travels once.

use super::Item;
use super::sight::Sight;
use crate::caller::Caller;
use crate::error::AppError;
use crate::tx::Entity;
use std::collections::{BTreeMap, HashMap, HashSet};
use wangge_persistence::AnyConnection;
use wangge_persistence::changes::{self, ChangeRow};
use wangge_persistence::households;
use wangge_persistence::incidents as store;
use wangge_persistence::residents;

/// Which way a unit's records go for one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Move {
    Stay,
    Enter,
    Leave,
}

impl Move {
    #[must_use]
    pub(super) fn of(before: bool, after: bool) -> Self {
        match (before, after) {
            (false, true) => Self::Enter,
            (true, false) => Self::Leave,
            _ => Self::Stay,
        }
    }
}

/// The unit's households (with their residents) and cases, moving as `homes` and `cases` say.
///
/// # Errors
/// Database errors.
pub(super) fn crossing(
    conn: &mut AnyConnection,
    caller: &Caller,
    unit_id: &str,
    at: i64,
    (homes, homes_sight): (Move, &Sight),
    (cases, cases_sight): (Move, &Sight),
) -> Result<Vec<Item>, AppError> {
    if homes == Move::Stay && cases == Move::Stay {
        return Ok(Vec::new());
    }
    // Every change since `at` that touched the unit, read once for both kinds.
    let passed =
        changes::through_unit_after(conn, at, &["household", "resident", "incident"], unit_id)?;
    let mut items = households_crossing(conn, unit_id, at, &passed, homes, homes_sight)?;
    items.extend(cases_crossing(
        conn,
        caller,
        unit_id,
        at,
        &passed,
        cases,
        cases_sight,
    )?);
    Ok(items)
}

/// Each record's last version among change rows, by id (for tombstones of records gone).
fn last_versions<'a>(rows: impl Iterator<Item = &'a ChangeRow>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for c in rows {
        let v = out.entry(c.entity_id.clone()).or_insert(c.version);
        *v = (*v).max(c.version);
    }
    out
}

/// The records of `entity` that were in the unit at `at` (so a phone may hold them), by
/// their last version known: those whose first change since that touched the unit started in
/// it, and those in it now (`now_in`) that have not touched it since. A record that came into
/// the unit only later is not named: the phone never saw it.
fn there_then(
    passed: &[ChangeRow],
    entity: &str,
    unit_id: &str,
    now_in: impl IntoIterator<Item = (String, i64)>,
) -> BTreeMap<String, i64> {
    let tail = format!("/{unit_id}/");
    let mut first: HashMap<&str, (i64, bool)> = HashMap::new();
    for c in passed.iter().filter(|c| c.entity == entity) {
        let p = c.position.unwrap_or(i64::MAX);
        let began_in = c
            .unit_path_before
            .as_deref()
            .is_some_and(|b| b.ends_with(&tail));
        let e = first.entry(c.entity_id.as_str()).or_insert((p, began_in));
        if p < e.0 {
            *e = (p, began_in);
        }
    }
    let mut out: BTreeMap<String, i64> =
        last_versions(passed.iter().filter(|c| c.entity == entity))
            .into_iter()
            .filter(|(id, _)| first.get(id.as_str()).is_some_and(|f| f.1))
            .collect();
    for (id, version) in now_in {
        if !first.contains_key(id.as_str()) {
            out.insert(id, version);
        }
    }
    out
}

fn gone(entity: Entity, versions: BTreeMap<String, i64>) -> impl Iterator<Item = Item> {
    versions.into_iter().map(move |(id, version)| Item::Gone {
        entity,
        id,
        version,
    })
}

fn households_crossing(
    conn: &mut AnyConnection,
    unit_id: &str,
    at: i64,
    passed: &[ChangeRow],
    way: Move,
    sight: &Sight,
) -> Result<Vec<Item>, AppError> {
    if way == Move::Stay {
        return Ok(Vec::new());
    }
    if way == Move::Leave {
        let in_unit = households::ids_in_unit(conn, unit_id)?;
        let in_unit: Vec<&str> = in_unit.iter().map(String::as_str).collect();
        let now_in = households::by_ids(conn, &in_unit)?
            .into_iter()
            .map(|h| (h.record.id, h.record.version));
        let homes = there_then(passed, "household", unit_id, now_in);
        let ids: Vec<&str> = homes.keys().map(String::as_str).collect();
        let people = residents::of_households(conn, &ids)?
            .into_iter()
            .map(|p| (p.id, p.version));
        let people = there_then(passed, "resident", unit_id, people);
        let mut items: Vec<Item> = gone(Entity::Household, homes).collect();
        items.extend(gone(Entity::Resident, people));
        return Ok(items);
    }
    let mut homes = last_versions(passed.iter().filter(|c| c.entity == "household"));
    for id in households::ids_in_unit(conn, unit_id)? {
        homes.entry(id).or_insert(0);
    }
    let ids: Vec<&str> = homes.keys().map(String::as_str).collect();
    let current = households::by_ids(conn, &ids)?;
    let people = residents::of_households(conn, &ids)?;
    let ids: Vec<&str> = current.iter().map(|h| h.record.id.as_str()).collect();
    let changed: HashSet<String> = changes::changed_ids_after(conn, at, "household", &ids)?
        .into_iter()
        .collect();
    let people_ids: Vec<&str> = people.iter().map(|p| p.id.as_str()).collect();
    let changed_people: HashSet<String> =
        changes::changed_ids_after(conn, at, "resident", &people_ids)?
            .into_iter()
            .collect();
    let inside: HashSet<&str> = current
        .iter()
        .filter(|h| sight.contains(&h.unit.path))
        .map(|h| h.record.id.as_str())
        .collect();
    let mut items: Vec<Item> = current
        .iter()
        .filter(|h| inside.contains(h.record.id.as_str()) && !changed.contains(&h.record.id))
        .cloned()
        .map(Item::Household)
        .collect();
    items.extend(
        people
            .iter()
            .filter(|p| inside.contains(p.household_id.as_str()) && !changed_people.contains(&p.id))
            .cloned()
            .map(Item::Resident),
    );
    Ok(items)
}

fn cases_crossing(
    conn: &mut AnyConnection,
    caller: &Caller,
    unit_id: &str,
    at: i64,
    passed: &[ChangeRow],
    way: Move,
    sight: &Sight,
) -> Result<Vec<Item>, AppError> {
    if way == Move::Stay {
        return Ok(Vec::new());
    }
    if way == Move::Leave {
        let owned = store::ids_owned_by(conn, unit_id)?;
        let owned: Vec<&str> = owned.iter().map(String::as_str).collect();
        let now_in = store::versions(conn, &owned)?;
        return Ok(gone(
            Entity::Incident,
            there_then(passed, "incident", unit_id, now_in),
        )
        .collect());
    }
    let mut cases = last_versions(passed.iter().filter(|c| c.entity == "incident"));
    for id in store::ids_owned_by(conn, unit_id)? {
        cases.entry(id).or_insert(0);
    }
    let ids: Vec<&str> = cases.keys().map(String::as_str).collect();
    let changed: HashSet<String> = changes::changed_ids_after(conn, at, "incident", &ids)?
        .into_iter()
        .collect();
    let now = chrono::Utc::now();
    let unchanged: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !changed.contains(*id))
        .collect();
    let mut items = Vec::new();
    // Those the caller may see, in four statements, by id.
    let mut loaded = crate::incidents::load_many(conn, caller, &unchanged)?;
    loaded.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    for seen in loaded {
        if sight.contains(&seen.owner.path) {
            let owner = crate::incidents::UnitBrief::from(&seen.owner);
            items.push(Item::Incident(crate::incidents::summary(
                &seen.record,
                &owner,
                now,
            )));
        }
    }
    Ok(items)
}
