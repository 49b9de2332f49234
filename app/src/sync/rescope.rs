//! A phone whose account was given other units (or roles) since its last sync: what left its
//! scope goes as tombstones, what entered comes whole, then the feed goes on from where the
//! phone was, now in the new scope.
//!
//! The phone holds its old scope as of the cursor's position `at`. Unit by unit (in id
//! order, page by page), each unit whose place differs between the old scope then and the
//! new scope now crosses: its own record comes or goes, and its households, residents and
//! cases cross as at a unit's move ([`super::crossing`]), at `at`. The feed after `at`, read
//! in the new scope, then brings everything changed since.

use super::crossing::{Move, crossing};
use super::sight::{Sight, Standing};
use super::{Cursor, Item, MAX_CHANGED_DURING_WHOLE, Page, expired, scopes::ScopeKey};
use crate::caller::Caller;
use crate::error::AppError;
use crate::tx::Entity;
use std::collections::{BTreeSet, HashMap};
use wangge_domain::{Action, Reach, Scope, UnitId};
use wangge_persistence::grid::{self, UnitRecord};
use wangge_persistence::{AnyConnection, StoreError, changes};

/// What a scope shows of each kind, by unit.
struct Sights {
    homes: Sight,
    cases: Sight,
    units: Sight,
}

impl Sights {
    fn of(scope: &Scope) -> Self {
        Self {
            homes: Sight::of(scope.reach(Action::ReadHousehold)),
            cases: Sight::of(scope.reach(Action::ReadIncident)),
            units: Sight::of(super::units::unit_reach(scope)),
        }
    }
}

/// The reach's subtrees (`None` for every unit), for listing the units inside it.
fn subtrees(reach: Reach<'_>) -> Option<Option<&[String]>> {
    match reach {
        Reach::Nothing => None,
        Reach::Everything => Some(None),
        Reach::Subtrees(p) => Some(Some(p)),
    }
}

/// The ids of the units that may stand differently in the two scopes: those inside or
/// above either now, and those that moved after `at` from a place the old scope saw.
fn candidates(
    conn: &mut AnyConnection,
    old: &Scope,
    new: &Scope,
    moved: &HashMap<String, String>,
    old_units: &Sight,
) -> Result<BTreeSet<String>, AppError> {
    let mut ids = BTreeSet::new();
    for scope in [old, new] {
        let reach = super::units::unit_reach(scope);
        if let Some(paths) = subtrees(reach) {
            for u in grid::units_within(conn, paths, None, i64::MAX)? {
                ids.insert(u.id);
            }
        }
        if let Reach::Subtrees(paths) = reach {
            for p in paths {
                ids.extend(p.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
            }
        }
    }
    for (id, path) in moved {
        if old_units.standing(path) != Standing::Outside {
            ids.insert(id.clone());
        }
    }
    Ok(ids)
}

/// The grid's changes after `at`: where each unit that moved was then (the path before its
/// first change since), and each unit deleted since, with where it was when deleted and
/// the deletion's version.
struct GridSince {
    then: HashMap<String, String>,
    deleted: HashMap<String, (String, i64)>,
}

fn places_then(conn: &mut AnyConnection, at: i64) -> Result<GridSince, AppError> {
    let rows = changes::changed_after(conn, at, &["unit"], MAX_CHANGED_DURING_WHOLE)?;
    if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= MAX_CHANGED_DURING_WHOLE {
        return Err(expired(
            "too much of the grid changed since this cursor; sync again from the start",
        ));
    }
    let mut first: HashMap<String, (i64, String)> = HashMap::new();
    let mut deleted = HashMap::new();
    for c in rows {
        let (Some(before), p) = (c.unit_path_before, c.position.unwrap_or(i64::MAX)) else {
            continue;
        };
        if c.deleted {
            deleted.insert(c.entity_id.clone(), (before.clone(), c.version));
        }
        let e = first.entry(c.entity_id).or_insert((p, before.clone()));
        if p < e.0 {
            *e = (p, before);
        }
    }
    Ok(GridSince {
        then: first
            .into_iter()
            .map(|(id, (_, path))| (id, path))
            .collect(),
        deleted,
    })
}

/// A page of the move from the scope `old` (the phone's, as of `at`) to the caller's, after
/// the unit `after`; the last page hands over to the feed after `at`.
///
/// # Errors
/// 410 `cursor_expired` when the department whose cases it sees changed (they are not kept
/// by unit) or too much of the grid moved since; database errors.
pub(super) fn rescope(
    conn: &mut AnyConnection,
    caller: &Caller,
    old: &ScopeKey,
    old_tag: &str,
    at: i64,
    after: Option<&str>,
    limit: i64,
) -> Result<Page, AppError> {
    let department = crate::incidents::caller_department(caller).map(|d| d.to_string());
    if old.department_seen() != department.as_deref() {
        return Err(expired(
            "your department changed; sync again from the start",
        ));
    }
    let user_id = caller.account_id().unwrap_or_default().to_owned();
    let old_scope = old.to_scope(conn, &user_id)?;
    let (then, now) = (Sights::of(&old_scope), Sights::of(&caller.scope));
    let GridSince {
        then: moved,
        deleted,
    } = places_then(conn, at)?;
    let ids = candidates(conn, &old_scope, &caller.scope, &moved, &then.units)?;
    let mut items = Vec::new();
    let mut last: Option<String> = None;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    for id in ids
        .iter()
        .filter(|id| after.is_none_or(|a| id.as_str() > a))
    {
        if items.len() >= limit {
            break;
        }
        last = Some(id.clone());
        let unit = match grid::get_unit(conn, UnitId::parse(id)?) {
            Ok(u) => u,
            // Deleted since: the feed after `at` sends its tombstone where the new scope
            // sees where it was; where only the old one did, this must.
            Err(StoreError::NotFound { .. }) => {
                let seen = |s: &Sights, p: &str| s.units.standing(p) != Standing::Outside;
                if let (Some(p), Some((gone_from, version))) = (moved.get(id), deleted.get(id))
                    && seen(&then, p)
                    && !seen(&now, gone_from)
                {
                    items.push(Item::Gone {
                        entity: Entity::Unit,
                        id: id.clone(),
                        version: *version,
                    });
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let path_then = moved.get(id).unwrap_or(&unit.path).clone();
        items.extend(cross(conn, caller, &unit, at, &path_then, &then, &now)?);
    }
    let done = last.is_none() || ids.iter().next_back() == last.as_ref();
    let next = if done {
        Cursor::Feed { at, tasks: None }
    } else {
        Cursor::Rescope {
            at,
            from: old_tag.to_owned(),
            after: last,
        }
    };
    Ok(Page {
        items,
        next,
        more: true,
    })
}

/// What one unit brings when the phone's sight of it goes from `then` (at `path_then`) to
/// `now` (where the unit is now).
fn cross(
    conn: &mut AnyConnection,
    caller: &Caller,
    unit: &UnitRecord,
    at: i64,
    path_then: &str,
    then: &Sights,
    now: &Sights,
) -> Result<Vec<Item>, AppError> {
    let mut items = Vec::new();
    let (was, is) = (
        then.units.standing(path_then),
        now.units.standing(&unit.path),
    );
    if was != is {
        items.push(if is == Standing::Outside {
            Item::Gone {
                entity: Entity::Unit,
                id: unit.id.clone(),
                version: unit.version,
            }
        } else {
            super::units::item(conn, super::units::unit_reach(&caller.scope), unit.clone())?
        });
    }
    let homes = Move::of(
        then.homes.contains(path_then),
        now.homes.contains(&unit.path),
    );
    let cases = Move::of(
        then.cases.contains(path_then),
        now.cases.contains(&unit.path),
    );
    items.extend(crossing(
        conn,
        caller,
        &unit.id,
        at,
        (homes, &now.homes),
        (cases, &now.cases),
    )?);
    Ok(items)
}
