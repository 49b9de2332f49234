//! Patrols (巡查): a grid worker walks their grid with a phone recording a GPS track. The
//! patrol starts in a unit the walker has capture scope over, gathers fixes in batches (sent
//! late, out of order or twice when the phone was offline), and is summarised when it
//! finishes: distance, time and the cells walked, with implausible movements flagged rather
//! than counted (`wangge_geo::analyse`).
//!
//! Only the walker adds fixes and finishes; the walker and anyone who may read the
//! households of the patrol's unit (`Action::ReadHousehold`) read it. Outside that a patrol
//! answers 404, like one that does not exist; inside it, another's patrol is 403 to write.

use crate::caller::Caller;
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::tx::{Change, Entity, Reader, Tx, new_id, stored_time};
use crate::versions::Created;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use wangge_domain::patrol as rules;
use wangge_domain::{Action, PatrolId, UnitId, UserId};
use wangge_geo::{Crs, Fix, Flag, FlagReason, Resolution, TrackLimits, TrackSummary, analyse};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid::UnitRecord;
use wangge_persistence::patrols::{
    self as store, Patrol, PatrolFilter, PatrolRecord, PointRow, StoredFix, Summary,
};

const WHAT: &str = "patrol";

/// Fixes one patrol holds: a day's walk at one fix every two seconds is 20,000 or so; its
/// summary is computed from all of them in one transaction.
pub const MAX_FIXES: usize = 30_000;

/// A patrol to start.
#[derive(Debug, Clone)]
pub struct NewPatrol {
    /// A client-made id (UUIDv7), for patrols started offline.
    pub id: Option<PatrolId>,
    /// Where it is walked; by default the walker's first unit with capture scope.
    pub unit: Option<UnitId>,
    /// When it started (RFC 3339), if not now.
    pub started_at: Option<String>,
}

/// A fix as the phone sent it, in the batch's datum.
#[derive(Debug, Clone)]
pub struct NewFix {
    pub lat: f64,
    pub lng: f64,
    pub accuracy_m: f64,
    /// RFC 3339.
    pub at: String,
}

/// A batch of fixes and the datum they are in.
#[derive(Debug, Clone)]
pub struct Batch {
    pub crs: Crs,
    pub points: Vec<NewFix>,
}

/// What became of a batch: fixes stored, and fixes dropped because the patrol has one of
/// that time already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    pub accepted: usize,
    pub duplicates: usize,
}

/// The patrols list's filters and page.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub unit: Option<UnitId>,
    pub walker: Option<UserId>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
    pub before: Option<PatrolId>,
    /// Rows to read: the page size plus one (which tells whether more follow).
    pub limit: i64,
}

/// The unit a patrol is walked in: the one named, which the caller must see (else 404) and
/// have capture scope over (else 403), or the caller's first assigned unit with capture.
fn patrol_unit(
    conn: &mut AnyConnection,
    caller: &Caller,
    unit: Option<UnitId>,
) -> Result<UnitRecord, AppError> {
    if let Some(id) = unit {
        let u = crate::units::get_or(conn, id, || AppError::not_found("unit"))?;
        caller.check(Action::ReadHousehold, &u.path, "unit")?;
        caller.require(Action::RecordVisit, &u.path, "unit")?;
        return Ok(u);
    }
    let first = caller.account.as_ref().and_then(|a| {
        a.assignments
            .iter()
            .find(|u| u.capture && caller.permits(Action::RecordVisit, &u.unit_path))
    });
    let Some(first) = first else {
        return Err(AppError::forbidden(
            "patrols are walked by grid workers, group leaders and community staff in units they have capture scope over",
        ));
    };
    let id = UnitId::parse(&first.unit_id)?;
    crate::units::get_or(conn, id, || AppError::not_found("unit"))
}

/// Whether the caller may read the patrol: the walker always, others with view scope over
/// its unit.
fn may_read(caller: &Caller, p: &Patrol) -> bool {
    caller.account_id() == Some(p.record.walker_id.as_str())
        || p.unit_path
            .as_deref()
            .is_some_and(|path| caller.permits(Action::ReadHousehold, path))
}

/// The patrol, if the caller may read it (404 otherwise).
fn readable(conn: &mut AnyConnection, caller: &Caller, id: PatrolId) -> Result<Patrol, AppError> {
    store::get(conn, &id.to_string())?
        .filter(|p| may_read(caller, p))
        .ok_or_else(|| AppError::not_found(WHAT))
}

/// The patrol, if the caller walks it: 404 when they may not read it, 403 when it is
/// another's.
fn walked_by_caller(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: PatrolId,
) -> Result<Patrol, AppError> {
    let p = readable(conn, caller, id)?;
    if caller.account_id() == Some(p.record.walker_id.as_str()) {
        Ok(p)
    } else {
        Err(AppError::forbidden(
            "only the walker of a patrol adds to it or finishes it",
        ))
    }
}

/// 409 `patrol_finished`.
fn finished(id: &str) -> AppError {
    AppError::conflict(
        "patrol_finished",
        format!("patrol {id} is finished; start a new patrol to go on"),
        json!({ "id": id }),
    )
}

/// Starts a patrol.
///
/// # Errors
/// `validation_failed` for a time outside the window; 404 for a unit outside view scope;
/// 403 without capture scope there (or anywhere, when no unit is named); `id_taken`.
pub fn start(tx: &mut Tx<'_>, new: &NewPatrol) -> Result<Created<PatrolRecord>, AppError> {
    let started_at = stored_time(rules::started_at(new.started_at.as_deref(), tx.now_utc())?);
    let walker = tx
        .caller
        .account_id()
        .ok_or_else(|| AppError::forbidden("patrols are walked by accounts"))?
        .to_owned();
    let unit = patrol_unit(tx.conn, tx.caller, new.unit)?;
    let id = match new.id {
        Some(id) => {
            // What was sent: a patrol started "now" is the same patrol when sent again later.
            let content = json!({
                "unit_id": new.unit.map(|u| u.to_string()),
                "walker_id": walker,
                "started_at": new.started_at,
            });
            if client_id::claim(tx, Entity::Patrol, &id.to_string(), &content)? == Claimed::Again {
                let p = store::get(tx.conn, &id.to_string())?
                    .filter(|p| p.record.walker_id == walker)
                    .ok_or_else(|| client_id::taken(&id.to_string()))?;
                return Ok(Created {
                    record: p.record,
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    let now = tx.now().to_owned();
    store::insert(
        tx.conn,
        &store::NewPatrol {
            id: &id,
            unit_id: &unit.id,
            walker_id: &walker,
            started_at: &started_at,
        },
        &now,
    )?;
    let p = store::get(tx.conn, &id)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let r = &p.record;
    tx.history(
        Entity::Patrol,
        &r.id,
        "started",
        Some(r.version),
        json!({ "unit_id": r.unit_id, "started_at": r.started_at }),
    )?;
    tx.event(
        "patrol.started",
        Entity::Patrol,
        &r.id,
        r.version,
        // No account id: outbox payloads name records and places, never people.
        json!({ "id": r.id, "unit_id": r.unit_id, "started_at": r.started_at }),
    )?;
    tx.change(Change {
        entity: Entity::Patrol,
        id: r.id.clone(),
        version: r.version,
        deleted: false,
        unit_path_before: None,
        unit_path_after: Some(unit.path),
    })?;
    Ok(Created {
        record: p.record,
        again: false,
    })
}

/// Adds a batch of fixes to the caller's patrol, converted to WGS-84. A fix at a time the
/// patrol has already is dropped and counted as a duplicate.
///
/// # Errors
/// `validation_failed` for an empty or oversized batch, a coordinate, accuracy or time that
/// is not one; 404/403 as [`walked_by_caller`]; `patrol_finished`.
pub fn add_points(tx: &mut Tx<'_>, id: PatrolId, batch: &Batch) -> Result<Added, AppError> {
    // Whose patrol it is is asked before any fix is read.
    let p = walked_by_caller(tx.conn, tx.caller, id)?;
    let patrol_id = id.to_string();
    if p.record.finished_at.is_some() {
        return Err(finished(&patrol_id));
    }
    rules::batch_size(batch.points.len())?;
    let held = usize::try_from(p.record.points).unwrap_or(usize::MAX);
    if held.saturating_add(batch.points.len()) > MAX_FIXES {
        return Err(AppError::field(
            "points",
            format!("a patrol holds at most {MAX_FIXES} fixes: finish this one and start another"),
        ));
    }
    let now = tx.now().to_owned();
    let mut rows = Vec::with_capacity(batch.points.len());
    for (i, f) in batch.points.iter().enumerate() {
        let at = rules::phone_time("points", &format!("points[{i}].at"), &f.at, tx.now_utc())?;
        let accuracy_m = rules::accuracy_m(&format!("points[{i}].accuracy_m"), f.accuracy_m)?;
        let ll = wangge_geo::to_wgs84(f.lat, f.lng, batch.crs)
            .map_err(|e| AppError::field("points", format!("points[{i}]: {e}")))?;
        rows.push(PointRow {
            patrol_id: patrol_id.clone(),
            at: stored_time(at),
            lon: ll.lng(),
            lat: ll.lat(),
            accuracy_m,
            received_at: now.clone(),
        });
    }
    let accepted = store::insert_points(tx.conn, &rows)?;
    let duplicates = rows.len().saturating_sub(accepted);
    let version = store::count_points(
        tx.conn,
        &patrol_id,
        i64::try_from(accepted).unwrap_or(i64::MAX),
        i64::try_from(duplicates).unwrap_or(i64::MAX),
        &now,
    )?
    // Finished while this batch waited for it: nothing of the batch is kept.
    .ok_or_else(|| finished(&patrol_id))?;
    tx.history(
        Entity::Patrol,
        &patrol_id,
        "points_added",
        Some(version),
        json!({ "accepted": accepted, "duplicates": duplicates }),
    )?;
    tx.change(Change {
        entity: Entity::Patrol,
        id: patrol_id,
        version,
        deleted: false,
        unit_path_before: p.unit_path.clone(),
        unit_path_after: p.unit_path,
    })?;
    Ok(Added {
        accepted,
        duplicates,
    })
}

/// A flagged segment as stored and shown: its times, why, in words and in figures.
fn flag_json(f: &Flag) -> Value {
    let time = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).map(stored_time);
    let mut v = json!({
        "from_at": time(f.from_at_ms),
        "to_at": time(f.to_at_ms),
        "reason": f.reason.to_string(),
    });
    match f.reason {
        FlagReason::Jump { distance_m } => {
            v["kind"] = json!("jump");
            v["distance_m"] = json!(round_to(distance_m, 1));
        }
        FlagReason::TooFast { speed_m_per_s } => {
            v["kind"] = json!("too_fast");
            v["speed_m_per_s"] = json!(round_to(speed_m_per_s, 2));
        }
    }
    v
}

/// `x` rounded to `digits` decimals (metres to the decimetre are plenty for a walk).
fn round_to(x: f64, digits: i32) -> f64 {
    let scale = 10_f64.powi(digits);
    (x * scale).round() / scale
}

/// A stored fix of patrol `id`, as the analysis takes it.
pub(crate) fn fix_of(id: &str, f: &StoredFix) -> Result<Fix, AppError> {
    let at = DateTime::parse_from_rfc3339(&f.at)
        .map_err(|_| AppError::internal(format!("patrol {id}: stored time {:?}", f.at)))?;
    Ok(Fix {
        lat: f.lat,
        lng: f.lon,
        accuracy_m: f.accuracy_m,
        at_ms: at.timestamp_millis(),
    })
}

/// The stored fixes, as the analysis takes them.
fn fixes_of(conn: &mut AnyConnection, id: &str) -> Result<Vec<Fix>, AppError> {
    store::fixes(conn, id)?
        .iter()
        .map(|f| fix_of(id, f))
        .collect()
}

/// What a track comes to: the one analysis a finished patrol stores and the coverage figures
/// make of a patrol still walked.
pub(crate) fn summarise(fixes: &[Fix], leaf: Resolution) -> TrackSummary {
    analyse(fixes, leaf, &TrackLimits::default())
}

/// Finishes the caller's patrol and stores what its track came to. A finished patrol is
/// answered as it is (finishing is idempotent).
///
/// # Errors
/// `validation_failed` for a `finished_at` outside the window or before the start; 404/403
/// as [`walked_by_caller`].
pub fn finish(
    tx: &mut Tx<'_>,
    id: PatrolId,
    finished_at: Option<&str>,
) -> Result<PatrolRecord, AppError> {
    let p = walked_by_caller(tx.conn, tx.caller, id)?;
    if p.record.finished_at.is_some() {
        return Ok(p.record);
    }
    let patrol_id = id.to_string();
    let started = DateTime::parse_from_rfc3339(&p.record.started_at)
        .map_err(|_| AppError::internal(format!("patrol {patrol_id}: stored start")))?
        .with_timezone(&Utc);
    let finished_at = stored_time(rules::finished_at(finished_at, started, tx.now_utc())?);
    let now = tx.now().to_owned();
    if !store::hold_unfinished(tx.conn, &patrol_id, &now)? {
        // Another finish committed while this one waited: answer what it made.
        return store::get(tx.conn, &patrol_id)?
            .map(|p| p.record)
            .ok_or_else(|| AppError::not_found(WHAT));
    }
    let fixes = fixes_of(tx.conn, &patrol_id)?;
    let s = summarise(&fixes, tx.svc.config.leaf);
    let cells: Vec<String> = s.cells.iter().map(ToString::to_string).collect();
    let flags = Value::Array(s.flags.iter().map(flag_json).collect()).to_string();
    let fix_time = |ms: Option<i64>| {
        ms.and_then(DateTime::<Utc>::from_timestamp_millis)
            .map(stored_time)
    };
    let (first_fix_at, last_fix_at) = (fix_time(s.started_at_ms), fix_time(s.ended_at_ms));
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    store::finish(
        tx.conn,
        &patrol_id,
        &Summary {
            finished_at: &finished_at,
            distance_m: round_to(s.distance_m, 1),
            duration_s: s.duration_s,
            cells: &cells.join(","),
            flags: &flags,
            accepted: count(s.accepted),
            ignored: count(s.ignored),
            more_duplicates: count(s.duplicates),
            first_fix_at: first_fix_at.as_deref(),
            last_fix_at: last_fix_at.as_deref(),
        },
        &now,
    )?;
    let done = store::get(tx.conn, &patrol_id)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let r = &done.record;
    let figures = json!({
        "finished_at": r.finished_at,
        "distance_m": r.distance_m,
        "duration_s": r.duration_s,
        "cells": cells.len(),
        "flags": s.flags.len(),
    });
    tx.history(
        Entity::Patrol,
        &r.id,
        "finished",
        Some(r.version),
        figures.clone(),
    )?;
    let mut payload = json!({ "id": r.id, "unit_id": r.unit_id });
    if let (Some(o), Some(f)) = (payload.as_object_mut(), figures.as_object()) {
        o.extend(f.clone());
    }
    tx.event("patrol.finished", Entity::Patrol, &r.id, r.version, payload)?;
    tx.change(Change {
        entity: Entity::Patrol,
        id: r.id.clone(),
        version: r.version,
        deleted: false,
        unit_path_before: done.unit_path.clone(),
        unit_path_after: done.unit_path.clone(),
    })?;
    Ok(done.record)
}

/// The patrol as stored, for a use case that has just changed it.
///
/// # Errors
/// 404 when it is gone; database errors.
pub(crate) fn record(conn: &mut AnyConnection, id: PatrolId) -> Result<PatrolRecord, AppError> {
    store::get(conn, &id.to_string())?
        .map(|p| p.record)
        .ok_or_else(|| AppError::not_found(WHAT))
}

/// One patrol, if the caller may read it.
///
/// # Errors
/// 404 otherwise.
pub fn get(r: &mut Reader<'_>, id: PatrolId) -> Result<PatrolRecord, AppError> {
    Ok(readable(r.conn, &r.caller, id)?.record)
}

/// Patrols the caller may read (their own, and those in units where they read households),
/// newest first.
///
/// # Errors
/// `invalid_query` for a unit that does not exist.
pub fn list(r: &mut Reader<'_>, q: &ListQuery) -> Result<Vec<PatrolRecord>, AppError> {
    let under_path = match q.unit {
        Some(id) => Some(
            crate::units::get_or(r.conn, id, || {
                AppError::bad_request("invalid_query", "unit_id names no unit")
            })?
            .path,
        ),
        None => None,
    };
    let filter = PatrolFilter {
        under_path,
        walker_id: q.walker.map(|w| w.to_string()),
        from: q.from.map(stored_time),
        to: q.to.map(stored_time),
    };
    Ok(store::list(
        r.conn,
        r.caller.reach(Action::ReadHousehold),
        r.caller.account_id(),
        &filter,
        q.before.map(|b| b.to_string()).as_deref(),
        q.limit,
    )?)
}

/// The cells of a finished patrol, as stored.
#[must_use]
pub fn cells(r: &PatrolRecord) -> Vec<&str> {
    r.cells
        .as_deref()
        .map(|c| c.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// The flags of a finished patrol, as stored.
#[must_use]
pub fn flags(r: &PatrolRecord) -> Value {
    r.flags
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_else(|| Value::Array(Vec::new()))
}
