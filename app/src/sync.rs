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
//! Categories and the working-day calendar are the same for everyone: a first sync begins
//! with all of them, and every change of one is in every scope.
//!
//! This first part covers those, households and residents (masked, as in lists).

use crate::calendar::{self, Day};
use crate::caller::Caller;
use crate::categories::{self, Category};
use crate::error::AppError;
use crate::services::Services;
use crate::tx::{Entity, Reader};
use serde_json::Value;
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
    Whole { at: i64, stage: Stage },
    Feed { at: i64 },
}

/// Where a first sync is: households (after one, or from the start, where the shared kinds
/// come first), then incidents (after one, or from the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Households(Option<HouseholdCursor>),
    Incidents(Option<String>),
}

/// One change for the phone.
#[derive(Debug, Clone)]
pub enum Item {
    Category(Category),
    CalendarDay(Day),
    Household(Household),
    Resident(ResidentRecord),
    /// A case as the command centre's list shows it.
    Incident(Value),
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

const SYNCED: [&str; 5] = [
    "category",
    "calendar_day",
    "household",
    "resident",
    "incident",
];

/// Kinds that are the same in every scope (their changes carry no unit).
const SHARED: [&str; 2] = ["category", "calendar_day"];

/// Categories read per statement by a first sync (the seeded tree has fifty).
const CATEGORY_PAGE: i64 = 500;

/// A change row's record, as the set of what changed after a position knows it.
type Key = (String, String);

/// The next page of the caller's sync from `cursor` (a first sync without one).
///
/// # Errors
/// 403 without units or a department; `cursor_expired` (410) for a cursor below the last
/// pruned position (what follows it is gone) or beyond the feed's end, or a first sync
/// during which too much changed.
pub fn download(r: &mut Reader<'_>, cursor: Option<Cursor>, limit: i64) -> Result<Page, AppError> {
    let conn = &mut *r.conn;
    let (caller, svc) = (&r.caller, r.svc);
    let homes = caller.reach(Action::ReadHousehold);
    if homes == Reach::Nothing && viewer(caller).is_none() {
        return Err(AppError::forbidden(
            "sync needs a scope: assigned units, or a department",
        ));
    }
    let (last, pruned) = changes::extent(conn)?;
    let cursor = cursor.unwrap_or(Cursor::Whole {
        at: last,
        stage: Stage::Households(None),
    });
    let at = match &cursor {
        Cursor::Whole { at, .. } | Cursor::Feed { at } => *at,
    };
    if at < pruned || at > last {
        return Err(expired(
            "this cursor is older than the kept change feed (or not one it gave); sync again from the start",
        ));
    }
    let page = match cursor {
        Cursor::Whole {
            at,
            stage: Stage::Households(after),
        } => whole(conn, homes, at, after.as_ref(), limit)?,
        Cursor::Whole {
            at,
            stage: Stage::Incidents(after),
        } => whole_incidents(conn, caller, svc, at, after.as_deref(), limit)?,
        Cursor::Feed { at } => feed(conn, caller, at, limit)?,
    };
    // Pruned while this page was read: what it read may have lost rows it needed.
    if changes::extent(conn)?.1 > at {
        return Err(expired(
            "the change feed was pruned past this cursor; sync again from the start",
        ));
    }
    Ok(page)
}

/// How the caller sees cases: by units (their reach), or as a department; `None` if not.
fn viewer(caller: &Caller) -> Option<Reach<'_>> {
    let reach = caller.reach(Action::ReadIncident);
    if reach != Reach::Nothing {
        return Some(reach);
    }
    crate::incidents::caller_department(caller).map(|_| Reach::Nothing)
}

/// A page of the first sync's cases: those the command centre's list shows the caller, less
/// those the feed after `at` will bring.
fn whole_incidents(
    conn: &mut AnyConnection,
    caller: &Caller,
    svc: &Services,
    at: i64,
    after: Option<&str>,
    limit: i64,
) -> Result<Page, AppError> {
    if viewer(caller).is_none() {
        return Ok(Page {
            items: Vec::new(),
            next: Cursor::Feed { at },
            more: true,
        });
    }
    let mut rows = crate::incidents::list::list(
        conn,
        caller,
        &crate::incidents::list::ListQuery::default(),
        after,
        limit + 1,
        chrono::Utc::now(),
        svc.config.leaf,
    )?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let changed = since(conn, Reach::Nothing, at, &["incident"])?;
    let id_of = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    let next = match (more, rows.last()) {
        (true, Some(v)) => Cursor::Whole {
            at,
            stage: Stage::Incidents(Some(id_of(v))),
        },
        _ => Cursor::Feed { at },
    };
    let items = rows
        .into_iter()
        .filter(|v| !changed.contains("incident", &id_of(v)))
        .map(Item::Incident)
        .collect();
    Ok(Page {
        items,
        next,
        more: true,
    })
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
    let mut rows = if reach == Reach::Nothing {
        Vec::new()
    } else {
        households::list(conn, reach, &HouseholdFilter::default(), after, limit + 1)?
    };
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
    // The shared kinds begin a first sync: every category (page by page) and calendar day.
    let mut items = Vec::new();
    if after.is_none() {
        let mut from: Option<wangge_domain::incident::CategoryCode> = None;
        loop {
            let page = categories::list(conn, from.as_ref(), CATEGORY_PAGE, true)?;
            let full = i64::try_from(page.len()).unwrap_or(i64::MAX) == CATEGORY_PAGE;
            from = match page.last() {
                Some(c) if full => Some(wangge_domain::incident::CategoryCode::parse(&c.code)?),
                _ => None,
            };
            items.extend(page.into_iter().map(Item::Category));
            if from.is_none() {
                break;
            }
        }
        items.extend(
            calendar::list(conn, None, None)?
                .into_iter()
                .map(Item::CalendarDay),
        );
    }
    // Read after everything above: whatever changed before it was read is in it.
    let changed = since(conn, reach, at, &SYNCED)?;
    items.retain(|i| match i {
        Item::Category(c) => !changed.contains("category", &c.code),
        Item::CalendarDay(d) => !changed.contains("calendar_day", &d.date),
        _ => true,
    });
    let next = match (more, rows.last()) {
        (true, Some(h)) => Cursor::Whole {
            at,
            stage: Stage::Households(Some(HouseholdCursor {
                unit_id: h.unit_id.clone(),
                id: h.id.clone(),
            })),
        },
        _ => Cursor::Whole {
            at,
            stage: Stage::Incidents(None),
        },
    };
    let mut by_household: HashMap<String, Vec<ResidentRecord>> = HashMap::new();
    for p in people {
        by_household
            .entry(p.household_id.clone())
            .or_default()
            .push(p);
    }
    for record in rows {
        let theirs = by_household.remove(&record.id).unwrap_or_default();
        // A household that moved in after `at` brings its residents with that move.
        let moved_in = changed.moved_in.contains(&record.id);
        if let Some(unit) = units
            .get(&record.unit_id)
            .filter(|_| !changed.contains("household", &record.id))
            .cloned()
        {
            items.push(Item::Household(Household { record, unit }));
        }
        items.extend(
            theirs
                .into_iter()
                .filter(|p| !moved_in && !changed.contains("resident", &p.id))
                .map(Item::Resident),
        );
    }
    // The incidents follow; and the end of the first sync hands over to the feed.
    Ok(Page {
        items,
        next,
        more: true,
    })
}

/// What changed after a position: each record's last change (one not numbered yet counts
/// as after every position), and the households that moved into the scope meanwhile.
struct Since {
    last: HashMap<Key, i64>,
    moved_in: HashSet<String>,
}

impl Since {
    fn contains(&self, entity: &str, id: &str) -> bool {
        self.last.contains_key(&(entity.to_owned(), id.to_owned()))
    }

    /// Whether the record has a change after position `p`.
    fn changed_after(&self, entity: &str, id: &str, p: i64) -> bool {
        self.last
            .get(&(entity.to_owned(), id.to_owned()))
            .is_some_and(|last| *last > p)
    }
}

/// The records of `kinds` changed after `at` (numbered or not), as seen from `reach`.
fn since(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    at: i64,
    kinds: &[&str],
) -> Result<Since, AppError> {
    let rows = changes::changed_after(conn, at, kinds, MAX_CHANGED_DURING_WHOLE)?;
    if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= MAX_CHANGED_DURING_WHOLE {
        return Err(expired(
            "too much changed since this first sync began; sync again from the start",
        ));
    }
    let inside = |p: &Option<String>| p.as_deref().is_some_and(|p| reach.contains(p));
    let mut out = Since {
        last: HashMap::new(),
        moved_in: HashSet::new(),
    };
    for c in rows {
        if c.entity == "household" && c.unit_path_before.is_some() && !inside(&c.unit_path_before) {
            out.moved_in.insert(c.entity_id.clone());
        }
        let p = c.position.unwrap_or(i64::MAX);
        let last = out.last.entry((c.entity, c.entity_id)).or_insert(p);
        *last = (*last).max(p);
    }
    Ok(out)
}

/// A page of the feed after `at`, as seen from the caller's scope.
fn feed(conn: &mut AnyConnection, caller: &Caller, at: i64, limit: i64) -> Result<Page, AppError> {
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
    let mine: Vec<&ChangeRow> = mine
        .into_iter()
        .filter(|c| !SHARED.contains(&c.entity.as_str()) && c.entity != "incident")
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
