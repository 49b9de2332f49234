//! The working-day calendar as data: the dates that differ from the plain week. Everyone reads
//! it; administrators who reach every unit keep it (the next year's arrangement, a local
//! day off). Deadlines are computed by the domain from what is stored here.

use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Tx};
use crate::versions;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use wangge_domain::UnitName;
use wangge_domain::calendar::{DayKind, TimeLimit, WorkCalendar};
use wangge_persistence::AnyConnection;
use wangge_persistence::calendar::{self as store, DayRecord};
use wangge_persistence::locks::Locked;

const WHAT: &str = "calendar day";

/// The years the calendar keeps: a date outside is a typo, not a plan.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// One date that differs from the plain week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: String,
    pub kind: String,
    pub name: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<DayRecord> for Day {
    fn from(r: DayRecord) -> Self {
        Self {
            date: r.day,
            kind: r.kind,
            name: r.name,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

fn key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// # Errors
/// `date` outside [`YEARS`].
pub fn check_date(date: NaiveDate) -> Result<NaiveDate, AppError> {
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(AppError::field("date", "must be in the years 2000 to 2100"))
    }
}

/// The overrides from `from` to `to` (inclusive), or all.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<Day>, AppError> {
    let (from, to) = (from.map(key), to.map(key));
    Ok(store::list(conn, from.as_deref(), to.as_deref())?
        .into_iter()
        .map(Day::from)
        .collect())
}

/// The calendar as stored.
///
/// # Errors
/// Internal, for a stored row that does not parse.
pub fn load(conn: &mut AnyConnection) -> Result<WorkCalendar, AppError> {
    let days = store::list(conn, None, None)?;
    let parsed = days
        .iter()
        .map(|d| {
            let date = NaiveDate::parse_from_str(&d.day, "%Y-%m-%d")
                .map_err(|e| AppError::internal(format!("calendar day {}: {e}", d.day)))?;
            Ok((date, DayKind::parse(&d.kind)?))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(WorkCalendar::new(parsed))
}

/// When a period of `limit` starting at `start` ends, by the stored calendar.
///
/// # Errors
/// Database errors.
pub fn deadline(
    conn: &mut AnyConnection,
    start: DateTime<Utc>,
    limit: TimeLimit,
) -> Result<DateTime<Utc>, AppError> {
    // Hours and seconds run on the clock: no need to read the calendar for them.
    let calendar = match limit {
        TimeLimit::WorkingDays(_) => load(conn)?,
        TimeLimit::Hours(_) | TimeLimit::Seconds(_) => WorkCalendar::default(),
    };
    Ok(limit.deadline(&calendar, start))
}

fn record(tx: &mut Tx<'_>, d: &Day, kind: &'static str) -> Result<(), AppError> {
    let event = match kind {
        "created" => "calendar.day_set",
        "deleted" => "calendar.day_removed",
        _ => "calendar.day_changed",
    };
    let details = json!({ "date": d.date, "kind": d.kind, "name": d.name });
    tx.history(
        Entity::CalendarDay,
        &d.date,
        kind,
        Some(d.version),
        details.clone(),
    )?;
    tx.audit(Audit {
        action: event,
        subject_type: Some("calendar_day"),
        subject_id: Some(d.date.clone()),
        unit_path: None,
        details: details.clone(),
    })?;
    tx.event(event, Entity::CalendarDay, &d.date, d.version, details)?;
    tx.change(Change {
        entity: Entity::CalendarDay,
        id: d.date.clone(),
        version: d.version,
        deleted: kind == "deleted",
        unit_path_before: None,
        unit_path_after: None,
    })
}

/// Sets how `date` differs from the plain week: creates the override or changes it.
/// Returns the day and whether it was new.
///
/// # Errors
/// 403 unless the caller administers the whole grid; `date` out of range; `VersionMismatch`;
/// 404 for an `If-Match` on a date without an override (there is nothing to match).
pub fn set(
    tx: &mut Tx<'_>,
    date: NaiveDate,
    kind: DayKind,
    name: &UnitName,
    if_match: Option<i64>,
) -> Result<(Day, bool), AppError> {
    tx.caller.require_grid_write(None)?;
    let date = key(check_date(date)?);
    versions::hold_unless_matched(tx, Locked::CalendarDay, &date, if_match)?;
    let mut row = DayRecord {
        day: date.clone(),
        kind: kind.as_str().to_owned(),
        name: name.as_str().to_owned(),
        updated_at: tx.now().to_owned(),
        version: 1,
    };
    let Some(current) = store::get(tx.conn, &date)? else {
        if if_match.is_some() {
            // There is no version to match: as for any record that is not there.
            return Err(AppError::not_found(WHAT));
        }
        if !store::insert(tx.conn, &row)? {
            return Err(AppError::Raced);
        }
        let day = Day::from(row);
        record(tx, &day, "created")?;
        return Ok((day, true));
    };
    let version = versions::expect(current.version, if_match)?;
    if current.kind == row.kind && current.name == row.name {
        // The same PUT again: nothing changes, nothing is recorded.
        return Ok((Day::from(current), false));
    }
    row.version = version + 1;
    if !store::update(tx.conn, version, &row)? {
        let now_version = store::get(tx.conn, &date)?.map(|d| d.version);
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let day = Day::from(row);
    record(tx, &day, "updated")?;
    Ok((day, false))
}

/// Removes the override of `date`: the day follows the plain week again.
///
/// # Errors
/// 403, 404 (no override), `VersionMismatch`.
pub fn remove(tx: &mut Tx<'_>, date: NaiveDate, if_match: Option<i64>) -> Result<(), AppError> {
    tx.caller.require_grid_write(None)?;
    let date = key(date);
    versions::hold_unless_matched(tx, Locked::CalendarDay, &date, if_match)?;
    let current = store::get(tx.conn, &date)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let version = versions::expect(current.version, if_match)?;
    if !store::delete(tx.conn, &date, version)? {
        let now_version = store::get(tx.conn, &date)?.map(|d| d.version);
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let gone = Day {
        version: current.version + 1,
        ..Day::from(current)
    };
    record(tx, &gone, "deleted")
}
