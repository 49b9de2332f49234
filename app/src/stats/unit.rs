//! `GET /stats/units/{id}`: a unit's figures over a period, read from the sums kept ahead
//! (`fold`) for whole days and months, from the cases for partial days, and "overdue now"
//! from the overdue counts and the cases the clock has not reached yet.

use super::{Span, authorize, category_names, child_of, fold, measures, target};
use crate::error::AppError;
use crate::incidents::UnitBrief;
use crate::tx::{Reader, stored_time};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use wangge_domain::UnitId;
use wangge_domain::calendar::CST;
use wangge_persistence::AnyConnection;
use wangge_persistence::daily;
use wangge_persistence::grid::{self, UnitFilter, UnitRecord};
use wangge_persistence::stats::{self as store, Sums};

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
