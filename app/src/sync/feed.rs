//! The feed after a position, as seen from the caller's scope.

use super::sight::Sight;
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

/// A page of the feed after `at`, as seen from the caller's scope, and whether it saw
/// anything that may change the caller's tasks: a change it brings, a visit in the scope, a
/// visit rule.
pub(super) fn feed(
    conn: &mut AnyConnection,
    caller: &Caller,
    at: i64,
    limit: i64,
) -> Result<(Page, bool), AppError> {
    let reach = caller.reach(Action::ReadHousehold);
    let scan = limit.saturating_mul(SCAN_PER_ITEM);
    let rows = changes::after(conn, at, scan)?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) == scan;
    let next = Cursor::Feed {
        at: rows.last().and_then(|c| c.position).unwrap_or(at),
        tasks: None,
    };
    let sight = Sight::of(reach);
    let inside = |p: &Option<String>| sight.holds(p.as_ref());
    let mine: Vec<&ChangeRow> = rows
        .iter()
        .filter(|c| SYNCED.contains(&c.entity.as_str()))
        .filter(|c| {
            SHARED.contains(&c.entity.as_str())
                || inside(&c.unit_path_before)
                || inside(&c.unit_path_after)
        })
        .collect();
    // Units first: a unit crossing the edge of the scope takes its records away (or brings
    // them) as of its move, and the records' own later changes in this page must follow.
    // Every record below is sent only if it is in the scope now, so an earlier change of
    // one that left with its unit does not bring it back.
    let cases_sight = viewer(caller).map(Sight::of).unwrap_or_default();
    let units: Vec<&ChangeRow> = rows.iter().filter(|c| c.entity == "unit").collect();
    let mut items = super::units::feed_units(conn, caller, &units, &sight, &cases_sight)?;
    // A record a crossing brought whole has not changed since its unit crossed; a tombstone
    // of it below comes from an earlier change in this page and must not undo it.
    let crossed: HashSet<(&'static str, String)> = items
        .iter()
        .filter(|i| !matches!(i, Item::Gone { .. } | Item::Unit { .. }))
        .map(|i| {
            let (e, id, _) = i.key();
            (e, id)
        })
        .collect();
    let from_crossings = items.len();
    for c in mine.iter().filter(|c| SHARED.contains(&c.entity.as_str())) {
        if let Some(item) = shared(conn, c)? {
            items.push(item);
        }
    }
    let cases: Vec<&ChangeRow> = rows.iter().filter(|c| c.entity == "incident").collect();
    items.extend(incidents(conn, caller, &cases)?);
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
    // Where the residents' households are now.
    let their_homes: HashSet<String> = {
        let ids: Vec<&str> = people.values().map(|p| p.household_id.as_str()).collect();
        households::by_ids(conn, &ids)?
            .into_iter()
            .filter(|h| sight.contains(&h.unit.path))
            .map(|h| h.record.id)
            .collect()
    };
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
                    .filter(|h| h.record.version == c.version && sight.contains(&h.unit.path));
                if let Some(h) = current {
                    items.push(Item::Household(h.clone()));
                }
                // Its residents come with it if it is still in the scope, each as it is now
                // unless a later change of its own will send it.
                let still_in = homes
                    .get(&c.entity_id)
                    .is_some_and(|h| sight.contains(&h.unit.path));
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
                if let Some(p) = people
                    .get(&c.entity_id)
                    .filter(|p| p.version == c.version && their_homes.contains(&p.household_id))
                {
                    items.push(Item::Resident(p.clone()));
                }
            }
        }
    }
    let mut n = 0;
    items.retain(|i| {
        n += 1;
        n <= from_crossings
            || !matches!(i, Item::Gone { entity, id, .. } if crossed.contains(&(entity.as_str(), id.clone())))
    });
    // Visits and their rules count where the caller's tasks list visits.
    let visits = caller.reach(Action::RecordVisit);
    let visit_sight = Sight::of(visits);
    let touched = !items.is_empty()
        || (visits != Reach::Nothing
            && rows.iter().any(|c| {
                c.entity == Entity::VisitRule.as_str()
                    || (c.entity == Entity::Visit.as_str()
                        && visit_sight.holds(c.unit_path_after.as_ref()))
            }));
    Ok((Page { items, next, more }, touched))
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
    let sight = Sight::of(reach);
    let inside = |p: &Option<String>| sight.holds(p.as_ref());
    let now = chrono::Utc::now();
    let kept = |c: &ChangeRow| !c.deleted && (!by_units || inside(&c.unit_path_after));
    let ids: Vec<&str> = cases
        .iter()
        .filter(|c| kept(c))
        .map(|c| c.entity_id.as_str())
        .collect();
    // Each case once, however many of its changes the page holds; in four statements.
    let loaded: HashMap<String, crate::incidents::Loaded> =
        crate::incidents::load_many(conn, caller, &ids)?
            .into_iter()
            .map(|l| (l.record.id.clone(), l))
            .collect();
    let mut items = Vec::new();
    for c in cases {
        if !kept(c) {
            if by_units && inside(&c.unit_path_before) {
                items.push(Item::Gone {
                    entity: Entity::Incident,
                    id: c.entity_id.clone(),
                    version: c.version,
                });
            }
            continue;
        }
        let Some(l) = loaded.get(&c.entity_id) else {
            // Seen as a department: a case dispatched elsewhere or escalated away leaves the
            // phones of the departments it was with (those its history names).
            if !by_units && was_with(conn, caller, &c.entity_id)? {
                items.push(Item::Gone {
                    entity: Entity::Incident,
                    id: c.entity_id.clone(),
                    version: c.version,
                });
            }
            continue;
        };
        let current = l.record.version == c.version
            && (!by_units || sight.contains(&l.owner.path) || l.standing.department.is_some());
        if current {
            let owner = crate::incidents::UnitBrief::from(&l.owner);
            items.push(Item::Incident(crate::incidents::summary(
                &l.record, &owner, now,
            )));
        }
    }
    Ok(items)
}

/// Whether the case was ever dispatched or summoned to the caller's department.
fn was_with(conn: &mut AnyConnection, caller: &Caller, id: &str) -> Result<bool, AppError> {
    let Some(d) = crate::incidents::caller_department(caller) else {
        return Ok(false);
    };
    Ok(wangge_persistence::journal::history_mentions(
        conn,
        "incident",
        id,
        &d.to_string(),
    )?)
}
