//! The feed after a position, as seen from the caller's scope.

use super::{Cursor, Item, Page, SCAN_PER_ITEM, SHARED, SYNCED, Since, since, viewer};
use crate::calendar::Day;
use crate::caller::Caller;
use crate::categories::Category;
use crate::error::AppError;
use crate::tx::Entity;
use std::collections::{HashMap, HashSet};
use wangge_domain::{Action, Reach};
use wangge_persistence::AnyConnection;
use wangge_persistence::changes::{self, ChangeRow};
use wangge_persistence::households::{self, Household};
use wangge_persistence::residents::{self, ResidentRecord};

/// A page of the feed after `at`, as seen from the caller's scope.
pub(super) fn feed(
    conn: &mut AnyConnection,
    caller: &Caller,
    at: i64,
    limit: i64,
) -> Result<Page, AppError> {
    let reach = caller.reach(Action::ReadHousehold);
    let scan = limit.saturating_mul(SCAN_PER_ITEM);
    let rows = changes::after(conn, at, scan)?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) == scan;
    let next = Cursor::Feed {
        at: rows.last().and_then(|c| c.position).unwrap_or(at),
    };
    let inside = |p: &Option<String>| p.as_deref().is_some_and(|p| reach.contains(p));
    let mine: Vec<&ChangeRow> = rows
        .iter()
        .filter(|c| SYNCED.contains(&c.entity.as_str()))
        .filter(|c| {
            SHARED.contains(&c.entity.as_str())
                || inside(&c.unit_path_before)
                || inside(&c.unit_path_after)
        })
        .collect();
    let mut items = Vec::new();
    for c in mine.iter().filter(|c| SHARED.contains(&c.entity.as_str())) {
        if let Some(item) = shared(conn, c)? {
            items.push(item);
        }
    }
    let cases: Vec<&ChangeRow> = rows.iter().filter(|c| c.entity == "incident").collect();
    items.extend(incidents(conn, caller, &cases)?);
    let units: Vec<&ChangeRow> = rows.iter().filter(|c| c.entity == "unit").collect();
    items.extend(super::units::feed_units(conn, caller, &units)?);
    let mine: Vec<&ChangeRow> = mine
        .into_iter()
        .filter(|c| {
            !SHARED.contains(&c.entity.as_str()) && c.entity != "incident" && c.entity != "unit"
        })
        .collect();
    let wanted = |e: &str, in_after: bool| -> Vec<&str> {
        mine.iter()
            .filter(|c| c.entity == e && (!c.deleted && inside(&c.unit_path_after)) == in_after)
            .map(|c| c.entity_id.as_str())
            .collect()
    };
    // Current states: of records kept in the scope, and residents of households that came
    // in or went out (a household's move writes no change of its residents).
    let homes: HashMap<String, Household> = households::by_ids(conn, &wanted("household", true))?
        .into_iter()
        .map(|h| (h.record.id.clone(), h))
        .collect();
    let people: HashMap<String, ResidentRecord> =
        residents::by_ids(conn, &wanted("resident", true))?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
    let moved: Vec<&str> = mine
        .iter()
        .filter(|c| c.entity == "household" && !c.deleted && c.unit_path_before.is_some())
        .filter(|c| inside(&c.unit_path_before) != inside(&c.unit_path_after))
        .map(|c| c.entity_id.as_str())
        .collect();
    // Residents changed after a move are sent by their own changes, not by the move.
    let first_move = mine
        .iter()
        .filter(|c| moved.contains(&c.entity_id.as_str()))
        .filter_map(|c| c.position)
        .min()
        .unwrap_or(i64::MAX);
    let later = if moved.is_empty() {
        Since {
            last: HashMap::new(),
            moved_in: HashSet::new(),
        }
    } else {
        since(conn, reach, first_move, &["resident"])?
    };
    let mut residents_of: HashMap<String, Vec<ResidentRecord>> = HashMap::new();
    for p in residents::of_households(conn, &moved)? {
        residents_of
            .entry(p.household_id.clone())
            .or_default()
            .push(p);
    }
    for c in mine {
        let gone = || Item::Gone {
            entity: if c.entity == "household" {
                Entity::Household
            } else {
                Entity::Resident
            },
            id: c.entity_id.clone(),
            version: c.version,
        };
        let kept = !c.deleted && inside(&c.unit_path_after);
        // Moved in (a creation's residents come with their own changes).
        let entered = kept && c.unit_path_before.is_some() && !inside(&c.unit_path_before);
        match (c.entity.as_str(), kept) {
            ("household", false) => {
                items.push(gone());
                if !c.deleted {
                    // It left the scope: its residents leave with it (those it had then).
                    items.extend(
                        residents_of
                            .get(&c.entity_id)
                            .into_iter()
                            .flatten()
                            .filter(|p| p.created_at <= c.at)
                            .map(|p| Item::Gone {
                                entity: Entity::Resident,
                                id: p.id.clone(),
                                version: p.version,
                            }),
                    );
                }
            }
            ("household", true) => {
                let current = homes
                    .get(&c.entity_id)
                    .filter(|h| h.record.version == c.version && reach.contains(&h.unit.path));
                if let Some(h) = current {
                    items.push(Item::Household(h.clone()));
                }
                // Its residents come with it if it is still in the scope, each as it is now
                // unless a later change of its own will send it.
                let still_in = homes
                    .get(&c.entity_id)
                    .is_some_and(|h| reach.contains(&h.unit.path));
                if entered && still_in {
                    let at_move = c.position.unwrap_or(i64::MAX);
                    items.extend(
                        residents_of
                            .get(&c.entity_id)
                            .into_iter()
                            .flatten()
                            .filter(|p| !later.changed_after("resident", &p.id, at_move))
                            .cloned()
                            .map(Item::Resident),
                    );
                }
            }
            (_, false) => items.push(gone()),
            (_, true) => {
                if let Some(p) = people.get(&c.entity_id).filter(|p| p.version == c.version) {
                    items.push(Item::Resident(p.clone()));
                }
            }
        }
    }
    Ok(Page { items, next, more })
}

/// A change of a category or calendar day: the record if it is still at that version, a
/// tombstone if it was deleted.
fn shared(conn: &mut AnyConnection, c: &ChangeRow) -> Result<Option<Item>, AppError> {
    let entity = if c.entity == "category" {
        Entity::Category
    } else {
        Entity::CalendarDay
    };
    if c.deleted {
        return Ok(Some(Item::Gone {
            entity,
            id: c.entity_id.clone(),
            version: c.version,
        }));
    }
    Ok(match entity {
        Entity::Category => wangge_persistence::categories::get(conn, &c.entity_id)?
            .map(Category::from_record)
            .transpose()?
            .filter(|x| x.version == c.version)
            .map(Item::Category),
        _ => wangge_persistence::calendar::get(conn, &c.entity_id)?
            .map(Day::from)
            .filter(|d| d.version == c.version)
            .map(Item::CalendarDay),
    })
}

/// Changes of cases as the caller sees them. Seen by units: as households, by the owner's
/// place (a case escalated out of the caller's units leaves as a tombstone). Seen as a
/// department: the cases dispatched or summoned to it.
fn incidents(
    conn: &mut AnyConnection,
    caller: &Caller,
    cases: &[&ChangeRow],
) -> Result<Vec<Item>, AppError> {
    let Some(reach) = viewer(caller) else {
        return Ok(Vec::new());
    };
    let by_units = reach != Reach::Nothing;
    let inside = |p: &Option<String>| p.as_deref().is_some_and(|p| reach.contains(p));
    let now = chrono::Utc::now();
    let mut items = Vec::new();
    for c in cases {
        let kept = !c.deleted && (!by_units || inside(&c.unit_path_after));
        if !kept {
            if by_units && inside(&c.unit_path_before) {
                items.push(Item::Gone {
                    entity: Entity::Incident,
                    id: c.entity_id.clone(),
                    version: c.version,
                });
            }
            continue;
        }
        let seen = match crate::incidents::load(conn, caller, &c.entity_id) {
            Ok(l) => Some(l),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let current = seen.filter(|l| {
            l.record.version == c.version
                && (!by_units || reach.contains(&l.owner.path) || l.standing.department.is_some())
        });
        if let Some(l) = current {
            let owner = crate::incidents::UnitBrief::from(&l.owner);
            items.push(Item::Incident(crate::incidents::summary(
                &l.record, &owner, now,
            )));
        }
    }
    Ok(items)
}
