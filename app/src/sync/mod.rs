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
//! The caller's tasks travel as one record (`tasks`) on the page that ends a sync, when the
//! list differs from the one the phone holds: the feed's cursor carries the list's digest and
//! the moment the clock next changes it, so an idle phone's poll does not recompute it. A
//! page that brings anything of the scope, or a visit in it, or a changed visit rule, has it
//! checked again.

mod crossing;
mod feed;
mod rescope;
pub mod scopes;
mod sight;
mod units;
pub mod upload;
mod whole;

use feed::feed;
use sight::Sight;
use whole::{whole, whole_incidents};

use crate::calendar::Day;
use crate::caller::Caller;
use crate::categories::Category;
use crate::error::AppError;
use crate::tx::{Entity, Reader};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use wangge_domain::{Action, Reach};
use wangge_persistence::AnyConnection;
use wangge_persistence::changes;
use wangge_persistence::grid::UnitRecord;
use wangge_persistence::households::{Household, HouseholdCursor};
use wangge_persistence::patrols::PatrolRecord;
use wangge_persistence::residents::ResidentRecord;
use wangge_persistence::visits::VisitRecord;

/// Where a phone is: in a first sync (at a feed position, after a household), reading the
/// feed after a position, or moving from the scope it had at a position to its account's
/// scope now (`from` the old scope's tag, unit by unit after `after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Whole {
        at: i64,
        stage: Stage,
    },
    Feed {
        at: i64,
        tasks: Option<TasksMark>,
    },
    Rescope {
        at: i64,
        from: String,
        after: Option<String>,
    },
}

/// The tasks a phone holds: their digest, and when to look again (Unix seconds; 0 at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TasksMark {
    pub digest: i64,
    pub until: i64,
}

/// A cursor with the tag of the scope the phone's copy stands for ([`scopes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub cursor: Cursor,
    pub scope: String,
}

/// Where a first sync is: households (after one, or from the start, where the shared kinds
/// come first), then incidents (after one, or from the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Households(Option<HouseholdCursor>),
    Incidents(Option<String>),
    /// Units (after one, or from the first, where the units above the scope come first).
    Units(Option<String>),
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
    /// A visit the caller recorded (an upload's result; not downloaded).
    Visit(VisitRecord),
    /// A patrol the caller walks (an upload's result; not downloaded).
    Patrol(PatrolRecord),
    /// A unit, with its coverage's cells when it lies in the scope.
    Unit {
        record: UnitRecord,
        coverage: Option<Vec<String>>,
    },
    /// The caller's tasks (`crate::tasks::Synced::items`), under the caller's id.
    Tasks {
        id: String,
        digest: i64,
        items: Vec<Value>,
    },
    /// Deleted, or out of the caller's scope now.
    Gone {
        entity: Entity,
        id: String,
        version: i64,
    },
}

impl Item {
    /// The record's kind, id and version, as a change names them.
    #[must_use]
    pub fn key(&self) -> (&'static str, String, i64) {
        match self {
            Self::Category(c) => ("category", c.code.clone(), c.version),
            Self::CalendarDay(d) => ("calendar_day", d.date.clone(), d.version),
            Self::Household(h) => ("household", h.record.id.clone(), h.record.version),
            Self::Resident(r) => ("resident", r.id.clone(), r.version),
            Self::Incident(v) => (
                "incident",
                v["id"].as_str().unwrap_or_default().to_owned(),
                v["version"].as_i64().unwrap_or_default(),
            ),
            Self::Visit(v) => ("visit", v.id.clone(), 1),
            Self::Patrol(p) => ("patrol", p.id.clone(), p.version),
            Self::Unit { record, .. } => ("unit", record.id.clone(), record.version),
            Self::Tasks { id, digest, .. } => ("tasks", id.clone(), *digest),
            Self::Gone {
                entity,
                id,
                version,
            } => (entity.as_str(), id.clone(), *version),
        }
    }
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

const SYNCED: [&str; 6] = [
    "category",
    "calendar_day",
    "household",
    "resident",
    "incident",
    "unit",
];

/// Kinds that are the same in every scope (their changes carry no unit).
const SHARED: [&str; 2] = ["category", "calendar_day"];

/// Categories read per statement by a first sync (the seeded tree has fifty).
const CATEGORY_PAGE: i64 = 500;

/// A change row's record, as the set of what changed after a position knows it.
type Key = (String, String);

/// The next page of the caller's sync from `cursor` (a first sync without one), with the
/// tag of the scope it leaves the phone in.
///
/// # Errors
/// 403 for a first sync without units or a department; `cursor_expired` (410) for a
/// cursor below the last pruned position (what follows it is gone) or beyond the feed's
/// end, a first sync during which too much changed or the caller's scope changed, and a
/// scope change the server cannot trace (the old scope not kept, or another department).
pub fn download(
    r: &mut Reader<'_>,
    cursor: Option<Tagged>,
    limit: i64,
) -> Result<(Page, String), AppError> {
    let conn = &mut *r.conn;
    let (caller, svc) = (&r.caller, r.svc);
    let homes = caller.reach(Action::ReadHousehold);
    // A phone whose account lost every unit goes on from its feed cursor, so that what it
    // holds leaves it as tombstones; only a first sync needs a scope.
    let goes_on = matches!(
        cursor,
        Some(Tagged {
            cursor: Cursor::Feed { .. } | Cursor::Rescope { .. },
            ..
        })
    );
    if !goes_on && homes == Reach::Nothing && viewer(caller).is_none() {
        return Err(AppError::forbidden(
            "sync needs a scope: assigned units, or a department",
        ));
    }
    let tag = scopes::tag_of(caller.account.as_ref());
    let (last, pruned) = changes::extent(conn)?;
    let cursor = match cursor {
        None => Cursor::Whole {
            at: last,
            stage: Stage::Households(None),
        },
        Some(t) if t.scope == tag => t.cursor,
        // The account's scope changed under a phone reading the feed: move it across.
        Some(Tagged {
            cursor: Cursor::Feed { at, .. },
            scope,
        }) => Cursor::Rescope {
            at,
            from: scope,
            after: None,
        },
        Some(_) => {
            return Err(expired(
                "your assignments changed while this sync was under way; sync again from the start",
            ));
        }
    };
    let at = match &cursor {
        Cursor::Whole { at, .. } | Cursor::Feed { at, .. } | Cursor::Rescope { at, .. } => *at,
    };
    if at < pruned || at > last {
        return Err(expired(
            "this cursor is older than the kept change feed (or not one it gave); sync again from the start",
        ));
    }
    let mut page = match cursor {
        Cursor::Whole {
            at,
            stage: Stage::Households(after),
        } => whole(conn, homes, at, after.as_ref(), limit)?,
        Cursor::Whole {
            at,
            stage: Stage::Incidents(after),
        } => whole_incidents(conn, caller, svc, at, after.as_deref(), limit)?,
        Cursor::Whole {
            at,
            stage: Stage::Units(after),
        } => units::whole_units(conn, caller, at, after.as_deref(), limit)?,
        Cursor::Feed { at, tasks } => {
            let (page, touched) = feed(conn, caller, at, limit)?;
            // Anything of the scope may change the tasks: look again on the last page.
            let tasks = tasks.map(|m| {
                if touched {
                    TasksMark { until: 0, ..m }
                } else {
                    m
                }
            });
            Page {
                next: match page.next {
                    Cursor::Feed { at, .. } => Cursor::Feed { at, tasks },
                    other => other,
                },
                ..page
            }
        }
        Cursor::Rescope { at, from, after } => {
            let old = caller
                .account_id()
                .map(|id| scopes::recall(conn, id, &from))
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    expired("your assignments changed since this cursor; sync again from the start")
                })?;
            rescope::rescope(conn, caller, &old, &from, at, after.as_deref(), limit)?
        }
    };
    // Pruned while this page was read: what it read may have lost rows it needed.
    if changes::extent(conn)?.1 > at {
        return Err(expired(
            "the change feed was pruned past this cursor; sync again from the start",
        ));
    }
    if !page.more
        && let Cursor::Feed { at, tasks } = page.next
    {
        let (item, mark) = tasks_for(r, tasks, chrono::Utc::now())?;
        page.items.extend(item);
        page.next = Cursor::Feed {
            at,
            tasks: Some(mark),
        };
    }
    Ok((page, tag))
}

/// The caller's tasks for the page that ends a sync: the record, unless the phone holds the
/// same list (`mark`), and the mark to hold now.
fn tasks_for(
    r: &mut Reader<'_>,
    mark: Option<TasksMark>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Option<Item>, TasksMark), AppError> {
    if let Some(m) = mark.filter(|m| now.timestamp() < m.until) {
        return Ok((None, m));
    }
    let t = crate::tasks::for_sync(r, now)?;
    let now_mark = TasksMark {
        digest: t.digest,
        until: t.until,
    };
    if mark.is_some_and(|m| m.digest == t.digest) {
        return Ok((None, now_mark));
    }
    let id = r.caller.account_id().unwrap_or("me").to_owned();
    let item = Item::Tasks {
        id,
        digest: t.digest,
        items: t.items,
    };
    Ok((Some(item), now_mark))
}

/// How the caller sees cases: by units (their reach), or as a department; `None` if not.
fn viewer(caller: &Caller) -> Option<Reach<'_>> {
    let reach = caller.reach(Action::ReadIncident);
    if reach != Reach::Nothing {
        return Some(reach);
    }
    crate::incidents::caller_department(caller).map(|_| Reach::Nothing)
}

fn expired(message: &str) -> AppError {
    AppError::Gone {
        code: "cursor_expired",
        message: message.to_owned(),
    }
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
    let sight = Sight::of(reach);
    let inside = |p: &Option<String>| sight.holds(p.as_ref());
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
