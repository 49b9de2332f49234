//! Units in sync: the units of the caller's scope with their coverage (so a phone can tell
//! offline which unit holds a point), and the units above it, without coverage (names for
//! the owner chains it shows).

use super::crossing::{Move, crossing};
use super::sight::{Sight, Standing};
use super::{Cursor, Item, Page, Stage, since};
use crate::caller::Caller;
use crate::error::AppError;
use crate::tx::Entity;
use wangge_domain::{Action, Reach, Scope, UnitId};
use wangge_persistence::changes::{self, ChangeRow};
use wangge_persistence::grid::{self, UnitRecord};
use wangge_persistence::{AnyConnection, StoreError};

/// The reach units are synced for: the scope's households, else the cases it sees.
pub(super) fn unit_reach(scope: &Scope) -> Reach<'_> {
    match scope.reach(Action::ReadHousehold) {
        Reach::Nothing => scope.reach(Action::ReadIncident),
        r => r,
    }
}

/// Whether the unit at `path` lies above the scope (an ancestor of one of its subtrees).
fn above(reach: Reach<'_>, path: &str) -> bool {
    match reach {
        Reach::Subtrees(paths) => paths.iter().any(|p| p.starts_with(path) && p != path),
        _ => false,
    }
}

/// A unit as sync sends it: with its coverage's cells inside the scope.
pub(super) fn item(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    record: UnitRecord,
) -> Result<Item, AppError> {
    let coverage = if reach.contains(&record.path) {
        grid::get_coverage(conn, &record.id)?
            .map(|c| c.coverage())
            .transpose()?
            .map(|c| c.cells().iter().map(ToString::to_string).collect())
    } else {
        None
    };
    Ok(Item::Unit { record, coverage })
}

/// A page of the first sync's units: on its first page the units above the scope, then the
/// scope's units in id order; less those the feed after `at` will bring. The feed follows.
pub(super) fn whole_units(
    conn: &mut AnyConnection,
    caller: &Caller,
    at: i64,
    after: Option<&str>,
    limit: i64,
) -> Result<Page, AppError> {
    let reach = unit_reach(&caller.scope);
    let paths = match reach {
        Reach::Nothing => {
            return Ok(Page {
                items: Vec::new(),
                next: Cursor::Feed { at, tasks: None },
                more: true,
            });
        }
        Reach::Everything => None,
        Reach::Subtrees(p) => Some(p),
    };
    let mut rows = Vec::new();
    if after.is_none() {
        let mut ids: Vec<&str> = paths
            .into_iter()
            .flatten()
            .flat_map(|p| p.split('/').filter(|s| !s.is_empty()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let u = grid::get_unit(conn, UnitId::parse(id)?)?;
            if above(reach, &u.path) && !reach.contains(&u.path) {
                rows.push(u);
            }
        }
    }
    let mut inside = grid::units_within(conn, paths, after, limit + 1)?;
    let more = inside.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    inside.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = match (more, inside.last()) {
        (true, Some(u)) => Cursor::Whole {
            at,
            stage: Stage::Units(Some(u.id.clone())),
        },
        _ => Cursor::Feed { at, tasks: None },
    };
    rows.extend(inside);
    // Read after the page: whatever changed before it was read is in it.
    let changed = since(conn, reach, at, &["unit"])?;
    let mut items = Vec::with_capacity(rows.len());
    for u in rows {
        if !changed.contains("unit", &u.id) {
            items.push(item(conn, reach, u)?);
        }
    }
    Ok(Page {
        items,
        next,
        more: true,
    })
}

/// The feed's unit changes as the caller's phone takes them: a unit of the scope or above
/// it as it is now (at the change's version only), a tombstone for one deleted or moved out
/// of the caller's sight; and when a unit moved across the edge of the scope, its records
/// with it (`homes` and `cases`: the caller's sight of households and of cases).
pub(super) fn feed_units(
    conn: &mut AnyConnection,
    caller: &Caller,
    changes: &[&ChangeRow],
    homes: &Sight,
    cases: &Sight,
) -> Result<Vec<Item>, AppError> {
    let reach = unit_reach(&caller.scope);
    let sight = Sight::of(reach);
    let seen = |p: Option<&String>| p.is_some_and(|p| sight.standing(p) != Standing::Outside);
    let mut items = Vec::new();
    for c in changes {
        let (before, after) = (c.unit_path_before.as_ref(), c.unit_path_after.as_ref());
        if !c.deleted && seen(after) {
            match grid::get_unit(conn, UnitId::parse(&c.entity_id)?) {
                Ok(u) if u.version == c.version => items.push(item(conn, reach, u)?),
                // Changed again since, or deleted: a later change brings it.
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        } else if seen(before) {
            items.push(Item::Gone {
                entity: Entity::Unit,
                id: c.entity_id.clone(),
                version: c.version,
            });
        }
        if c.deleted {
            continue;
        }
        let (Some(before), Some(after)) = (before, after) else {
            continue;
        };
        if before != after && sight.anchors(&c.entity_id) {
            items.extend(new_ancestors(conn, reach, &sight, c, before, after)?);
        }
        let (before, after) = (Some(before), Some(after));
        let h = Move::of(homes.holds(before), homes.holds(after));
        let k = Move::of(cases.holds(before), cases.holds(after));
        if h != Move::Stay || k != Move::Stay {
            let at = c.position.unwrap_or(i64::MAX);
            items.extend(crossing(
                conn,
                caller,
                &c.entity_id,
                at,
                (h, homes),
                (k, cases),
            )?);
        }
    }
    Ok(items)
}

/// A unit with the scope below it moved: the units above the scope are others now. Those it
/// left behind go (unless the scope still sees them), those it came under come, as they are
/// now unless a later change of theirs brings them.
fn new_ancestors(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    sight: &Sight,
    c: &ChangeRow,
    before: &str,
    after: &str,
) -> Result<Vec<Item>, AppError> {
    let chain = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty() && *s != c.entity_id)
            .map(str::to_owned)
            .collect()
    };
    let (old, new) = (chain(before), chain(after));
    let at = c.position.unwrap_or(i64::MAX);
    let mut items = Vec::new();
    for (id, came) in old
        .iter()
        .filter(|x| !new.contains(x))
        .map(|x| (x, false))
        .chain(new.iter().filter(|x| !old.contains(x)).map(|x| (x, true)))
    {
        let u = match grid::get_unit(conn, UnitId::parse(id)?) {
            Ok(u) => u,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let seen = sight.standing(&u.path) != Standing::Outside;
        if came && seen {
            if changes::changed_ids_after(conn, at, "unit", &[id.as_str()])?.is_empty() {
                items.push(item(conn, reach, u)?);
            }
        } else if !came && !seen {
            items.push(Item::Gone {
                entity: Entity::Unit,
                id: u.id,
                version: u.version,
            });
        }
    }
    Ok(items)
}
