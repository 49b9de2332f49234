//! The command centre's figures (domain.md, "Measures the command centre reads"): per unit
//! with its children and categories, per department, and a heat map of reports by H3 cell.
//! The definitions are the contract's (`Measures`); the sums are `persistence::stats`.

pub mod fold;

use crate::caller::Caller;
use crate::error::AppError;
use crate::incidents::UnitBrief;
use crate::tx::{Reader, stored_time};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use wangge_domain::calendar::CST;
use wangge_domain::{Action, Reach, UnitId};
use wangge_geo::{CellIndex, Resolution, cell_feature, parent_masks};
use wangge_persistence::AnyConnection;
use wangge_persistence::daily;
use wangge_persistence::grid::{self, UnitFilter, UnitRecord};
use wangge_persistence::stats::{self as store, Grouping, Period, Sums};

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
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| CST.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| invalid(format!("{field}: not a day")));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(format!("{field}: a date (2026-01-31) or an RFC 3339 time")))
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

/// A period cut where the sums kept per day can answer it: the whole days inside it (as
/// `[from_day, to_day)`), and the partial days at its ends summed from the cases, each added
/// or (`-1`) taken away. A partial day longer than half a day is read as its whole day less
/// the rest, so no end reads more than twelve hours of cases; so is a last day that runs to
/// now or later, whose rest holds only deadlines still to come.
struct Cut {
    days: Option<(String, String)>,
    windows: Vec<(String, String, i64)>,
}

fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.with_timezone(&CST).date_naive();
    day.and_hms_opt(0, 0, 0)
        .and_then(|m| CST.from_local_datetime(&m).single())
        .map_or(t, |m| m.with_timezone(&Utc))
}

impl Cut {
    fn of(span: Span, now: DateTime<Utc>) -> Self {
        let day = Duration::days(1);
        let half = Duration::hours(12);
        let floor = midnight(span.from);
        let mut lo = if floor == span.from {
            floor
        } else {
            floor + day
        };
        let mut hi = midnight(span.to);
        let window = |a, b, sign| (stored_time(a), stored_time(b), sign);
        if lo > hi {
            // Inside one day.
            return Self {
                days: None,
                windows: vec![window(span.from, span.to, 1)],
            };
        }
        let mut windows = Vec::new();
        if span.from < lo {
            if lo - span.from > half {
                lo -= day;
                windows.push(window(lo, span.from, -1));
            } else {
                windows.push(window(span.from, lo, 1));
            }
        }
        if hi < span.to {
            if span.to - hi > half || span.to >= now {
                windows.push(window(span.to, hi + day, -1));
                hi += day;
            } else {
                windows.push(window(hi, span.to, 1));
            }
        }
        Self {
            days: (lo < hi).then(|| (fold::day_of(lo), fold::day_of(hi))),
            windows,
        }
    }
}

/// `s` taken `sign` times (1 or -1).
fn times(s: &Sums, sign: i64) -> Sums {
    let mut t = daily::tally_of(s);
    for v in &mut t.0 {
        *v *= sign;
    }
    let mut out = daily::sums_of(s.grp.clone(), &t);
    out.overdue_now = s.overdue_now * sign;
    out
}

/// One unit's figures: all of them, its own cases', each child's and each category's.
#[derive(Default)]
struct UnitSums {
    total: Sums,
    own: Sums,
    per_child: HashMap<String, Sums>,
    per_category: BTreeMap<String, Sums>,
}

impl UnitSums {
    /// Adds the sums of cases owned at `owner_path` (under `unit`).
    fn add_owned(&mut self, unit: &UnitRecord, owner_path: &str, s: &Sums) {
        self.total.add(s);
        match child_of(unit, owner_path) {
            None => self.own.add(s),
            Some(c) => self.per_child.entry(c.to_owned()).or_default().add(s),
        }
    }

    fn add_category(&mut self, code: &str, s: &Sums) {
        self.per_category.entry(code.to_owned()).or_default().add(s);
    }

    /// Sums the unit's period: whole days from the sums kept per day, partial days and
    /// `overdue_now` from the cases.
    fn read(
        conn: &mut AnyConnection,
        unit: &UnitRecord,
        children: &[UnitRecord],
        span: Span,
        now: DateTime<Utc>,
    ) -> Result<Self, AppError> {
        let child_ids: Vec<String> = children.iter().map(|c| c.id.to_string()).collect();
        let mut out = Self::default();
        let cut = Cut::of(span, now);
        let id = unit.id.as_str();
        if let Some((from, to)) = &cut.days {
            let ranges = fold::key_ranges(from, to);
            for s in daily::unit_and_children(conn, id, &child_ids, &ranges)? {
                match s.grp.as_str() {
                    "own" => {
                        out.total.add(&s);
                        out.own.add(&s);
                    }
                    "below" => out.total.add(&s),
                    g => match g.strip_prefix("category ") {
                        Some(code) => out.add_category(code, &s),
                        None => out.per_child.entry(g.to_owned()).or_default().add(&s),
                    },
                }
            }
        }
        for (from, to, sign) in &cut.windows {
            let w = (from.as_str(), to.as_str());
            for s in store::window_sums(conn, w, &unit.path)? {
                let (path, code) = s.grp.split_once('|').unwrap_or_default();
                let s = times(&s, *sign);
                out.add_owned(unit, path, &s);
                out.add_category(code, &s);
            }
        }
        for o in daily::overdue_here_and_below(conn, id, &child_ids)? {
            let s = Sums {
                overdue_now: o.n,
                ..Sums::default()
            };
            let k = &o.key;
            if k.unit_id == id {
                out.total.add(&s);
                out.add_category(&k.category_code, &s);
                if k.own {
                    out.own.add(&s);
                }
            } else {
                out.per_child.entry(k.unit_id.clone()).or_default().add(&s);
            }
        }
        for o in store::overdue_unnoted(conn, &stored_time(now), &unit.path)? {
            let s = Sums {
                overdue_now: o.count,
                ..Sums::default()
            };
            out.add_owned(unit, &o.path, &s);
            out.add_category(&o.category_code, &s);
        }
        Ok(out)
    }
}

/// `GET /stats/units/{id}`: the unit's figures, its own cases', each child's and each
/// category's.
///
/// # Errors
/// 403 for a caller who reads no cases; 404 for a unit outside the caller's sight.
pub fn unit(
    r: &mut Reader<'_>,
    id: UnitId,
    span: Span,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    authorize(&r.caller)?;
    let unit = target(r.conn, &r.caller, Some(id))?;
    let children = grid::list_units(
        r.conn,
        &UnitFilter {
            parent_id: Some(id),
            ..UnitFilter::default()
        },
        None,
        10_000,
    )?;
    let sums = wangge_persistence::report_transaction(r.conn, |conn| {
        UnitSums::read(conn, &unit, &children, span, now)
    })?;
    let by_child: Vec<Value> = children
        .iter()
        .map(|c| {
            let mut m = measures(
                sums.per_child
                    .get(c.id.as_str())
                    .unwrap_or(&Sums::default()),
            );
            m.insert("unit".into(), json!(UnitBrief::from(c)));
            Value::Object(m)
        })
        .collect();
    let names = category_names(r.conn)?;
    let by_category: Vec<Value> = sums
        .per_category
        .iter()
        // A category whose cases count in no figure of the period is left out.
        .filter(|(_, s)| s.overdue_now != 0 || !daily::tally_of(s).is_zero())
        .map(|(code, s)| {
            let mut m = measures(s);
            m.insert(
                "category".into(),
                json!({ "code": code, "name": names.get(code).cloned().unwrap_or_default() }),
            );
            Value::Object(m)
        })
        .collect();
    Ok(json!({
        "unit": UnitBrief::from(&unit),
        "period": span.shown(),
        "totals": measures(&sums.total),
        "own": measures(&sums.own),
        "by_child": by_child,
        "by_category": by_category,
    }))
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
    let dispatched = store::sums(r.conn, &period, &unit.path, Grouping::Department)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Cut, Span};
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    type Days = Option<(String, String)>;
    type Windows = Vec<(String, String, i64)>;

    fn cut(from: &str, to: &str) -> (Days, Windows) {
        let c = Cut::of(
            Span {
                from: at(from),
                to: at(to),
            },
            at("2030-01-01T00:00:00Z"),
        );
        (c.days, c.windows)
    }

    fn days(a: &str, b: &str) -> Days {
        Some((a.to_owned(), b.to_owned()))
    }

    fn w(a: &str, b: &str, sign: i64) -> (String, String, i64) {
        (a.to_owned(), b.to_owned(), sign)
    }

    #[test]
    fn whole_days_in_china_are_read_as_days_alone() {
        // Midnight in China is 16:00 UTC the day before.
        assert_eq!(
            cut("2026-01-31T16:00:00Z", "2026-02-28T16:00:00Z"),
            (days("2026-02-01", "2026-03-01"), vec![])
        );
    }

    #[test]
    fn short_partial_days_are_summed_from_the_cases() {
        // 08:00 to 10:00 of 2 Feb, and 20:00 of 5 Feb to 02:00 of 6 Feb, China's time.
        assert_eq!(
            cut("2026-02-02T00:00:00Z", "2026-02-02T02:00:00Z"),
            (
                None,
                vec![w("2026-02-02T00:00:00.000Z", "2026-02-02T02:00:00.000Z", 1)]
            )
        );
        assert_eq!(
            cut("2026-02-05T12:00:00Z", "2026-02-05T18:00:00Z"),
            (
                None,
                vec![
                    w("2026-02-05T12:00:00.000Z", "2026-02-05T16:00:00.000Z", 1),
                    w("2026-02-05T16:00:00.000Z", "2026-02-05T18:00:00.000Z", 1),
                ]
            )
        );
        // From 04:00 of 5 Feb (20 h of it) to 02:00 of 6 Feb: all of 5 Feb less its first 4 h.
        assert_eq!(
            cut("2026-02-04T20:00:00Z", "2026-02-05T18:00:00Z"),
            (
                days("2026-02-05", "2026-02-06"),
                vec![
                    w("2026-02-04T16:00:00.000Z", "2026-02-04T20:00:00.000Z", -1),
                    w("2026-02-05T16:00:00.000Z", "2026-02-05T18:00:00.000Z", 1),
                ]
            )
        );
    }

    #[test]
    fn a_period_to_now_reads_today_as_its_whole_day_less_what_is_to_come() {
        let now = at("2026-02-09T18:00:00Z");
        let c = Cut::of(
            Span {
                from: at("2026-02-01T16:00:00Z"),
                to: now,
            },
            now,
        );
        assert_eq!(
            (c.days, c.windows),
            (
                days("2026-02-02", "2026-02-11"),
                vec![w(
                    "2026-02-09T18:00:00.000Z",
                    "2026-02-10T16:00:00.000Z",
                    -1
                )]
            )
        );
    }

    #[test]
    fn long_partial_days_are_their_whole_day_less_the_rest() {
        // From 02:00 of 2 Feb (22 h of that day) to 23:00 of 9 Feb (23 h of that day).
        assert_eq!(
            cut("2026-02-01T18:00:00Z", "2026-02-09T15:00:00Z"),
            (
                days("2026-02-02", "2026-02-10"),
                vec![
                    w("2026-02-01T16:00:00.000Z", "2026-02-01T18:00:00.000Z", -1),
                    w("2026-02-09T15:00:00.000Z", "2026-02-09T16:00:00.000Z", -1),
                ]
            )
        );
    }
}
