//! Field sync, download: a phone's copy of its scope, first whole, then only what changed.
//!
//! A first sync pages through the scope as it is now, at position `P` of the change feed (the
//! last position numbered when it began). A record whose last change lies after `P`, or is
//! not numbered yet, is left out of it: the feed after `P` carries it. So the hand-over from
//! the whole to the changes has no gap (every change after `P` is read from the feed) and no
//! duplicate (a record comes from the whole only if nothing after `P` will bring it again).
//!
//! After that the phone reads the feed from its cursor. A change is sent as the record's
//! current state only when the record is still at that change's version (a later change will
//! send the later state, so each version travels once); a record deleted, or whose change
//! took it out of the caller's scope, is sent as a tombstone. A household that comes into the
//! scope comes with its residents; one that leaves takes theirs with it.
//!
//! This first part covers households and residents (masked, as in lists).

use crate::error::AppError;
use crate::tx::{Entity, Reader};
use std::collections::{HashMap, HashSet};
use wangge_domain::{Action, Reach};
use wangge_persistence::AnyConnection;
use wangge_persistence::changes::{self, ChangeRow};
use wangge_persistence::households::{self, Household, HouseholdCursor, HouseholdFilter};
use wangge_persistence::residents::{self, ResidentRecord};

/// Where a phone is: in a first sync (at a feed position, after a household), or reading the
/// feed after a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Whole {
        at: i64,
        after: Option<HouseholdCursor>,
    },
    Feed {
        at: i64,
    },
}

/// One change for the phone.
#[derive(Debug, Clone)]
pub enum Item {
    Household(Household),
    Resident(ResidentRecord),
    /// Deleted, or out of the caller's scope now.
    Gone {
        entity: Entity,
        id: String,
        version: i64,
    },
}

/// A page of changes and where to go on from.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Cursor,
    /// Whether the phone should ask again at once.
    pub more: bool,
}

/// Records changed after a first sync's position that it will still leave out; past this
/// the first sync is too old to finish and starts again.
const MAX_CHANGED_DURING_WHOLE: i64 = 50_000;

/// Change-feed rows read per page, per item asked for (most rows are outside a scope).
const SCAN_PER_ITEM: i64 = 4;

const SYNCED: [&str; 2] = ["household", "resident"];

/// The next page of the caller's sync from `cursor` (a first sync without one).
///
/// # Errors
/// 403 without a scope of households; `cursor_expired` (410) for a cursor at or below the
/// pruned part of the feed, or a first sync that took too long.
pub fn download(r: &mut Reader<'_>, cursor: Option<Cursor>, limit: i64) -> Result<Page, AppError> {
    let conn = &mut *r.conn;
    let reach = r.caller.reach(Action::ReadHousehold);
    if reach == Reach::Nothing {
        return Err(AppError::forbidden(
            "sync needs a scope of households: a staff role and assigned units",
        ));
    }
    let (last, pruned) = changes::extent(conn)?;
    let cursor = cursor.unwrap_or(Cursor::Whole {
        at: last,
        after: None,
    });
    let at = match &cursor {
        Cursor::Whole { at, .. } | Cursor::Feed { at } => *at,
    };
    if at < pruned || at > last {
        return Err(expired(
            "this cursor is older than the kept change feed (or not one it gave); sync again from the start",
        ));
    }
    match cursor {
        Cursor::Whole { at, after } => whole(conn, reach, at, after.as_ref(), limit),
        Cursor::Feed { at } => feed(conn, reach, at, limit),
    }
}

fn expired(message: &str) -> AppError {
    AppError::Gone {
        code: "cursor_expired",
        message: message.to_owned(),
    }
}

/// A page of the first sync: households in the scope now, with their residents, less those
/// the feed after `at` will bring.
fn whole(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    at: i64,
    after: Option<&HouseholdCursor>,
    limit: i64,
) -> Result<Page, AppError> {
    let mut rows = households::list(conn, reach, &HouseholdFilter::default(), after, limit + 1)?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let ids: Vec<&str> = rows.iter().map(|h| h.id.as_str()).collect();
    let people = residents::of_households(conn, &ids)?;
    let units: HashMap<String, households::UnitBrief> = {
        let mut unit_ids: Vec<&str> = rows.iter().map(|h| h.unit_id.as_str()).collect();
        unit_ids.sort_unstable();
        unit_ids.dedup();
        households::unit_briefs(conn, &unit_ids)?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect()
    };
    // Read after the page: whatever changed before the page was read is in it.
    let changed = changed_after(conn, at)?;
    let next = match (more, rows.last()) {
        (true, Some(h)) => Cursor::Whole {
            at,
            after: Some(HouseholdCursor {
                unit_id: h.unit_id.clone(),
                id: h.id.clone(),
            }),
        },
        _ => Cursor::Feed { at },
    };
    let mut by_household: HashMap<String, Vec<ResidentRecord>> = HashMap::new();
    for p in people {
        by_household
            .entry(p.household_id.clone())
            .or_default()
            .push(p);
    }
    let mut items = Vec::new();
    for record in rows {
        let theirs = by_household.remove(&record.id).unwrap_or_default();
        if let Some(unit) = units
            .get(&record.unit_id)
            .filter(|_| !changed.contains(&record.id))
            .cloned()
        {
            items.push(Item::Household(Household { record, unit }));
        }
        items.extend(
            theirs
                .into_iter()
                .filter(|p| !changed.contains(&p.id))
                .map(Item::Resident),
        );
    }
    // The end of the first sync hands over to the feed: ask again for what changed meanwhile.
    Ok(Page {
        items,
        next,
        more: true,
    })
}

/// Ids of households and residents changed after `at` (numbered or not).
fn changed_after(conn: &mut AnyConnection, at: i64) -> Result<HashSet<String>, AppError> {
    let rows = changes::changed_after(conn, at, &SYNCED, MAX_CHANGED_DURING_WHOLE)?;
    if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= MAX_CHANGED_DURING_WHOLE {
        return Err(expired(
            "too much changed since this first sync began; sync again from the start",
        ));
    }
    Ok(rows.into_iter().map(|(_, id)| id).collect())
}

/// A page of the feed after `at`, as seen from the caller's scope.
fn feed(conn: &mut AnyConnection, reach: Reach<'_>, at: i64, limit: i64) -> Result<Page, AppError> {
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
        .filter(|c| inside(&c.unit_path_before) || inside(&c.unit_path_after))
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
    let mut residents_of: HashMap<String, Vec<ResidentRecord>> = HashMap::new();
    for p in residents::of_households(conn, &moved)? {
        residents_of
            .entry(p.household_id.clone())
            .or_default()
            .push(p);
    }
    let mut items = Vec::new();
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
                    // It left the scope: its residents leave with it.
                    items.extend(
                        residents_of
                            .get(&c.entity_id)
                            .into_iter()
                            .flatten()
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
                if entered {
                    items.extend(
                        residents_of
                            .get(&c.entity_id)
                            .into_iter()
                            .flatten()
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
