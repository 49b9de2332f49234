//! The command centre's figures (domain.md, "Measures the command centre reads"): per unit
//! with its children and categories, per department, a heat map of reports by H3 cell, and
//! the coverage of a unit by patrols and visits.
//! The definitions are the contract's (`Measures`); the sums are `persistence::stats`.

mod coverage;
pub mod fold;
mod unit;

pub use coverage::coverage;
pub use unit::unit;

use crate::caller::Caller;
use crate::error::AppError;
use crate::incidents::UnitBrief;
use crate::tx::{Reader, stored_time};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use wangge_domain::calendar::CST;
use wangge_domain::{Action, Reach, UnitId};
use wangge_geo::{CellIndex, Resolution, cell_feature, parent_masks};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid::{self, UnitFilter, UnitRecord};
use wangge_persistence::stats::{self as store, Period, Sums};

/// The longest period one request may sum over.
const MAX_DAYS: i64 = 366 * 5;
/// Cells one heat map may hold before a coarser resolution is asked for.
pub const MAX_CELLS: usize = 20_000;

/// A query that cannot be answered as asked (400 `invalid_query`).
fn invalid(m: impl Into<String>) -> AppError {
    AppError::bad_request("invalid_query", m)
}

/// A period as asked: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A bound as written in a query: a date (the start of that day in China) or an RFC 3339
/// instant.
fn bound(field: &'static str, s: &str) -> Result<DateTime<Utc>, AppError> {
    if let Some(d) = wangge_domain::instant::parse_date(s) {
        return d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| CST.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| invalid(format!("{field}: not a day")));
    }
    wangge_domain::instant::parse_instant(s)
        .ok_or_else(|| invalid(format!("{field}: a date (2026-01-31) or an RFC 3339 time")))
}

impl Span {
    /// Parses `from` and `to`; without `to` the period ends now, without `from` it is the 30
    /// days before `to`. A date `to` ends the period at the start of that day.
    ///
    /// # Errors
    /// `invalid_query` for a bad bound, `from` not before `to`, or a span over five years.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, AppError> {
        let to = to.map(|s| bound("to", s)).transpose()?.unwrap_or(now);
        let from = from
            .map(|s| bound("from", s))
            .transpose()?
            .unwrap_or(to - Duration::days(30));
        if from >= to {
            return Err(invalid("from: must be before to"));
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(invalid("from: a period is at most five years"));
        }
        Ok(Self { from, to })
    }

    fn period(self, now: DateTime<Utc>) -> Period {
        Period {
            from: stored_time(self.from),
            to: stored_time(self.to),
            now: stored_time(now),
        }
    }

    fn shown(self) -> Value {
        json!({ "from": stored_time(self.from), "to": stored_time(self.to) })
    }
}

/// A share, or nothing when there is nothing to share (the field is then left out).
fn rate(part: i64, whole: i64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)] // counts stay far below 2^52
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(total: i64, n: i64) -> Option<i64> {
    (n > 0).then(|| total / n)
}

/// The figures of one group, with rates and means; absent values are left out.
#[must_use]
pub fn measures(s: &Sums) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("registered", s.registered),
        ("due", s.due),
        ("closed", s.closed),
        ("closed_on_time", s.closed_on_time),
        ("closed_in_period", s.closed_in_period),
        ("replied", s.replied),
        ("satisfied", s.satisfied),
        ("overdue_now", s.overdue_now),
        ("signed", s.signed),
    ] {
        m.insert(k.into(), json!(v));
    }
    for (k, v) in [
        ("closure_rate", rate(s.closed, s.due)),
        ("on_time_rate", rate(s.closed_on_time, s.due)),
        ("reply_rate", rate(s.replied, s.closed_in_period)),
        ("satisfaction_rate", rate(s.satisfied, s.replied)),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [
        ("mean_sign_seconds", mean(s.sign_seconds, s.signed)),
        (
            "mean_close_seconds",
            mean(s.close_seconds, s.closed_in_period),
        ),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m
}

/// The unit the figures are asked for, or the caller's own top unit when none is named.
fn target(
    conn: &mut AnyConnection,
    caller: &Caller,
    unit: Option<UnitId>,
) -> Result<UnitRecord, AppError> {
    let unit = match unit {
        Some(id) => crate::units::get(conn, id)?,
        None => match caller.reach(Action::ReadIncident) {
            Reach::Everything => {
                let roots = grid::list_units(conn, &UnitFilter::default(), None, 2)?
                    .into_iter()
                    .filter(|u| u.parent_id.is_none())
                    .collect::<Vec<_>>();
                match roots.as_slice() {
                    [root] => root.clone(),
                    _ => return Err(invalid("unit_id: name the unit")),
                }
            }
            Reach::Subtrees([path]) => {
                let id = path
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                grid::get_unit(conn, UnitId::parse(id)?)?
            }
            Reach::Subtrees(_) => {
                return Err(invalid("unit_id: you reach several units; name one"));
            }
            Reach::Nothing => return Err(AppError::forbidden("your roles do not read incidents")),
        },
    };
    caller.check(Action::ReadIncident, &unit.path, "unit")?;
    Ok(unit)
}

/// 403 for a caller who reads no unit's cases (a department account reads its own cases, not
/// a unit's figures): checked before any query.
fn authorize(caller: &Caller) -> Result<(), AppError> {
    if caller.reach(Action::ReadIncident) == Reach::Nothing {
        return Err(AppError::forbidden(
            "figures are read by those who read a unit's cases",
        ));
    }
    Ok(())
}

/// The child of `unit` a case owned at `owner_path` falls under, or none for the unit itself.
fn child_of<'p>(unit: &UnitRecord, owner_path: &'p str) -> Option<&'p str> {
    owner_path
        .strip_prefix(unit.path.as_str())?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

fn category_names(conn: &mut AnyConnection) -> Result<HashMap<String, String>, AppError> {
    Ok(
        wangge_persistence::categories::list(conn, None, 10_000, true)?
            .into_iter()
            .map(|c| (c.code, c.name))
            .collect(),
    )
}

/// `GET /stats/departments`: for each department, the figures of the cases dispatched to it
/// and its answers to summonses, over the cases owned inside a unit (the caller's top unit
/// unless named).
///
/// # Errors
/// 403 for a caller who reads no cases; 404 for a unit outside the caller's sight.
pub fn departments(
    r: &mut Reader<'_>,
    unit: Option<UnitId>,
    span: Span,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    authorize(&r.caller)?;
    let unit = target(r.conn, &r.caller, unit)?;
    let period = span.period(now);
    let dispatched = store::department_sums(r.conn, &period, &unit.path)?;
    let summoned = store::summonses(r.conn, &period, &unit.path)?;
    let mut rows: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for d in wangge_persistence::departments::list(r.conn, None, 10_000)? {
        let mut m = measures(&Sums::default());
        m.insert(
            "department".into(),
            json!({ "id": d.id, "code": d.code, "name": d.name }),
        );
        m.insert(
            "summons".into(),
            summons_measures(&store::SummonsSums::default()),
        );
        rows.insert(d.id, m);
    }
    for s in &dispatched {
        if let Some(m) = rows.get_mut(&s.grp) {
            m.extend(measures(s));
        }
    }
    for s in &summoned {
        if let Some(m) = rows.get_mut(&s.department_id) {
            m.insert("summons".into(), summons_measures(s));
        }
    }
    Ok(json!({
        "unit": UnitBrief::from(&unit),
        "period": span.shown(),
        "departments": rows.into_values().map(Value::Object).collect::<Vec<_>>(),
    }))
}

fn summons_measures(s: &store::SummonsSums) -> Value {
    let mut m = Map::new();
    m.insert("summoned".into(), json!(s.summoned));
    m.insert("reported_in".into(), json!(s.reported_in));
    m.insert("reported_in_on_time".into(), json!(s.reported_in_on_time));
    m.insert("missed".into(), json!(s.missed));
    if let Some(v) = rate(s.reported_in_on_time, s.summoned) {
        m.insert("report_in_on_time_rate".into(), json!(v));
    }
    Value::Object(m)
}

/// How a heat map is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatmapFormat {
    Json,
    GeoJson,
}

/// A count per cell, JSON form.
#[derive(Debug, Serialize)]
struct CellCount {
    cell: String,
    count: i64,
}

/// `GET /stats/heatmap`: cases reported in the period inside a unit, counted per H3 cell at
/// `res` (no finer than the stored leaf cells).
///
/// # Errors
/// 403 / 404 as for the figures; `invalid_query` for a resolution finer than the leaf or
/// a map of more than [`MAX_CELLS`] cells.
pub fn heatmap(
    r: &mut Reader<'_>,
    unit: Option<UnitId>,
    res: Resolution,
    span: Span,
    format: HeatmapFormat,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    authorize(&r.caller)?;
    let leaf = r.svc.config.leaf;
    if res > leaf {
        return Err(invalid(format!(
            "res: cases are placed at resolution {leaf}; ask for {leaf} or coarser"
        )));
    }
    let unit = target(r.conn, &r.caller, unit)?;
    let period = span.period(now);
    let counts = store::cell_counts(r.conn, &period, &unit.path, parent_masks(res))?;
    if counts.len() > MAX_CELLS {
        return Err(invalid(format!(
            "res: more than {MAX_CELLS} cells; ask for a coarser resolution"
        )));
    }
    let mut cells = Vec::with_capacity(counts.len());
    for c in &counts {
        let cell = u64::try_from(c.cell)
            .ok()
            .and_then(|b| CellIndex::try_from(b).ok())
            .ok_or_else(|| AppError::internal(format!("stored cell {} is no H3 cell", c.cell)))?;
        cells.push((cell, c.count));
    }
    cells.sort_unstable_by_key(|(c, _)| *c);
    let total: i64 = cells.iter().map(|(_, n)| n).sum();
    Ok(match format {
        HeatmapFormat::Json => json!({
            "unit": UnitBrief::from(&unit),
            "period": span.shown(),
            "res": u8::from(res),
            "total": total,
            "cells": cells.iter().map(|(c, n)| CellCount { cell: c.to_string(), count: *n }).collect::<Vec<_>>(),
        }),
        HeatmapFormat::GeoJson => json!({
            "type": "FeatureCollection",
            "features": cells.iter().map(|(c, n)| cell_feature(*c, json!({ "cell": c.to_string(), "count": n }))).collect::<Vec<_>>(),
        }),
    })
}
