//! The first sync: the scope as it is now, page by page, less what the feed will bring.

use super::{CATEGORY_PAGE, Cursor, Item, Page, SYNCED, Stage, since, viewer};
use crate::calendar;
use crate::caller::Caller;
use crate::categories;
use crate::error::AppError;
use crate::services::Services;
use serde_json::Value;
use std::collections::HashMap;
use wangge_domain::Reach;
use wangge_persistence::AnyConnection;
use wangge_persistence::households::{self, Household, HouseholdCursor, HouseholdFilter};
use wangge_persistence::residents::{self, ResidentRecord};

/// A page of the first sync's cases: those the command centre's list shows the caller, less
/// those the feed after `at` will bring.
pub(super) fn whole_incidents(
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
            next: Cursor::Whole {
                at,
                stage: Stage::Units(None),
            },
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
    let next = Cursor::Whole {
        at,
        stage: match (more, rows.last()) {
            (true, Some(v)) => Stage::Incidents(Some(id_of(v))),
            _ => Stage::Units(None),
        },
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

/// A page of the first sync: households in the scope now, with their residents, less those
/// the feed after `at` will bring. `limit` counts changes: a household with its residents
/// counts one each and never splits, and a first page counts the shared kinds too (all of
/// which it carries, whatever the limit).
pub(super) fn whole(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    at: i64,
    after: Option<&HouseholdCursor>,
    limit: i64,
) -> Result<Page, AppError> {
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
    let budget = limit
        .saturating_sub(i64::try_from(items.len()).unwrap_or(i64::MAX))
        .max(1);
    let mut rows = if reach == Reach::Nothing {
        Vec::new()
    } else {
        households::list(conn, reach, &HouseholdFilter::default(), after, budget + 1)?
    };
    let more = fit(conn, &mut rows, budget)?;
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

/// Keeps the households whose changes (one each, and one per resident) fit in `budget`, the
/// first always; says whether any were left for the next page.
fn fit(
    conn: &mut AnyConnection,
    rows: &mut Vec<households::HouseholdRecord>,
    budget: i64,
) -> Result<bool, AppError> {
    let ids: Vec<&str> = rows.iter().map(|h| h.id.as_str()).collect();
    let counts: HashMap<String, i64> = residents::counts_of_households(conn, &ids)?
        .into_iter()
        .collect();
    let mut used = 0_i64;
    let keep = rows
        .iter()
        .take_while(|h| {
            let cost = 1 + counts.get(&h.id).copied().unwrap_or(0);
            let first = used == 0;
            used += cost;
            first || used <= budget
        })
        .count();
    let more = keep < rows.len();
    rows.truncate(keep);
    Ok(more)
}
