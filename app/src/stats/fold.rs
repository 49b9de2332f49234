//! The figures summed ahead per day: what one case adds (its share), moved by the
//! transaction that changes the case, and summed again from every case when asked. The
//! share counts exactly what `persistence::stats::window_sums` counts from the raw rows; the
//! crafted-data test reads the figures both ways.

use crate::error::AppError;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use std::collections::BTreeMap;
use wangge_domain::calendar::CST;
use wangge_persistence::AnyConnection;
use wangge_persistence::daily::{self, CategoryDay, OverdueKey, Tally, UnitDay};
use wangge_persistence::grid::{self, UnitFilter};
use wangge_persistence::incidents::{IncidentRecord, Measures};

// Positions in a `Tally`.
const REGISTERED: usize = 0;
const DUE: usize = 1;
const CLOSED: usize = 2;
const CLOSED_ON_TIME: usize = 3;
const CLOSED_IN_PERIOD: usize = 4;
const REPLIED: usize = 5;
const SATISFIED: usize = 6;
const SIGNED: usize = 7;
const SIGN_SECONDS: usize = 8;
const CLOSE_SECONDS: usize = 9;

/// What one case adds to the figures: under which units (top first, the owner last), in
/// which category, and on which days (in China's time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Share {
    units: Vec<String>,
    category: String,
    days: BTreeMap<String, Tally>,
    /// Open (not on hold) and past a running deadline the clock has noted.
    overdue: bool,
}

/// The day a stored time falls on in China, as `YYYY-MM-DD`.
fn day(stored: &str) -> Result<String, AppError> {
    DateTime::parse_from_rfc3339(stored)
        .map(|t| t.with_timezone(&CST).format("%Y-%m-%d").to_string())
        .map_err(|_| AppError::internal(format!("stored time {stored:?} does not parse")))
}

/// The key of the month a day (`YYYY-MM-DD`) is in: `MYYYY-MM`, which sorts after every day.
fn month_key(day: &str) -> String {
    format!("M{}", day.get(..7).unwrap_or(day))
}

/// The key ranges `[lo, hi)` that sum the days `[from_day, to_day)`, each added or (`-1`)
/// taken away: whole months as months, the days before and after them as days, and a
/// partial month with more days in than out as its month less the days out.
#[must_use]
pub fn key_ranges(from_day: &str, to_day: &str) -> Vec<(String, String, i64)> {
    let parse = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let (Some(from), Some(to)) = (parse(from_day), parse(to_day)) else {
        return vec![(from_day.to_owned(), to_day.to_owned(), 1)];
    };
    let first_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let next_month = |d: NaiveDate| d.checked_add_months(Months::new(1)).unwrap_or(d);
    let text = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let month = |d: NaiveDate| month_key(&text(d));
    // The months wholly inside, [m1, m2).
    let mut m1 = if from.day() == 1 {
        from
    } else {
        next_month(first_of(from))
    };
    let mut m2 = first_of(to);
    if m1 >= m2 {
        return vec![(from_day.to_owned(), to_day.to_owned(), 1)];
    }
    let mut out = Vec::new();
    if from < m1 {
        let m0 = first_of(from);
        if (from - m0) < (m1 - from) {
            out.push((text(m0), from_day.to_owned(), -1));
            m1 = m0;
        } else {
            out.push((from_day.to_owned(), text(m1), 1));
        }
    }
    if m2 < to {
        let m3 = next_month(m2);
        if (m3 - to) < (to - m2) {
            out.push((to_day.to_owned(), text(m3), -1));
            m2 = m3;
        } else {
            out.push((text(m2), to_day.to_owned(), 1));
        }
    }
    out.push((month(m1), month(m2), 1));
    out
}

/// The day a moment falls on in China.
#[must_use]
pub fn day_of(t: DateTime<Utc>) -> String {
    t.with_timezone(&CST).format("%Y-%m-%d").to_string()
}

/// The share of a case owned by the unit at `owner_path`, with its measures `m`.
///
/// # Errors
/// A stored time that does not parse (a bug, 500).
pub fn share(row: &IncidentRecord, m: &Measures, owner_path: &str) -> Result<Share, AppError> {
    let mut days: BTreeMap<String, Tally> = BTreeMap::new();
    let mut add = |at: &str, what: &[(usize, i64)]| -> Result<(), AppError> {
        let t = days.entry(day(at)?).or_default();
        for (i, v) in what {
            t.0[*i] += v;
        }
        Ok(())
    };
    // Rejected reports and merged duplicates count in nothing but `registered`.
    let counted = row.status != "rejected" && row.merged_into.is_none();
    let closed = row.status == "closed" && row.merged_into.is_none();
    if let Some(at) = &m.registered_at {
        add(at, &[(REGISTERED, 1)])?;
    }
    if let (Some(at), true) = (&m.due_at, counted) {
        let on_time = closed && m.on_time == Some(true);
        add(
            at,
            &[
                (DUE, 1),
                (CLOSED, i64::from(closed)),
                (CLOSED_ON_TIME, i64::from(on_time)),
            ],
        )?;
    }
    if let (Some(at), true) = (&row.closed_at, closed) {
        let replied = m.callback_at.is_some();
        add(
            at,
            &[
                (CLOSED_IN_PERIOD, 1),
                (CLOSE_SECONDS, m.close_seconds.unwrap_or(0)),
                (REPLIED, i64::from(replied)),
                (SATISFIED, i64::from(replied && row.satisfied == Some(true))),
            ],
        )?;
    }
    if let (Some(at), Some(s), true) = (&m.signed_at, m.sign_seconds, counted) {
        add(at, &[(SIGNED, 1), (SIGN_SECONDS, s)])?;
    }
    days.retain(|_, t| !t.is_zero());
    Ok(Share {
        units: units_of(owner_path),
        category: row.category_code.clone(),
        days,
        overdue: noted_overdue(row),
    })
}

/// Whether the case counts in `incident_overdue`: open, not on hold, and its earliest
/// running deadline is one the clock has noted as passed. A case past a deadline the clock
/// has not reached yet is counted live (`stats::overdue_unnoted`); together they are the
/// contract's `overdue_now`.
fn noted_overdue(row: &IncidentRecord) -> bool {
    if matches!(row.status.as_str(), "closed" | "rejected" | "on_hold") {
        return false;
    }
    let earliest = [&row.register_due, &row.sign_due, &row.close_due]
        .into_iter()
        .flatten()
        .min();
    matches!((earliest, &row.clock_noted), (Some(d), Some(n)) if d <= n)
}

/// The units on a path (`/a/b/c/`), top first.
fn units_of(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Additions to both tables, kept sorted so writers lock rows in one order: gather every
/// move of a transaction here and write it once, last.
#[derive(Default)]
pub struct Moves {
    units: BTreeMap<UnitDay, Tally>,
    categories: BTreeMap<CategoryDay, Tally>,
    overdue: BTreeMap<OverdueKey, i64>,
}

impl Moves {
    /// Records a case's share going from `before` to `after`.
    pub fn record(&mut self, before: &Share, after: &Share) {
        if before != after {
            self.add(before, -1);
            self.add(after, 1);
        }
    }

    fn add(&mut self, s: &Share, sign: i64) {
        let owner = s.units.last();
        if s.overdue {
            for u in &s.units {
                let k = OverdueKey {
                    unit_id: u.clone(),
                    category_code: s.category.clone(),
                    own: Some(u) == owner,
                };
                *self.overdue.entry(k).or_default() += sign;
            }
        }
        for (day, t) in &s.days {
            // Each day's share also goes to its month, so a year is read as twelve rows.
            for key in [day.clone(), month_key(day)] {
                for u in &s.units {
                    let k = UnitDay {
                        unit_id: u.clone(),
                        day: key.clone(),
                        own: Some(u) == owner,
                    };
                    self.units.entry(k).or_default().add(t, sign);
                    let k = CategoryDay {
                        unit_id: u.clone(),
                        day: key.clone(),
                        category_code: s.category.clone(),
                    };
                    self.categories.entry(k).or_default().add(t, sign);
                }
            }
        }
    }

    /// The additions that change something, per table.
    #[allow(clippy::type_complexity)]
    fn nonzero(
        self,
    ) -> (
        Vec<(UnitDay, Tally)>,
        Vec<(CategoryDay, Tally)>,
        Vec<(OverdueKey, i64)>,
    ) {
        (
            self.units
                .into_iter()
                .filter(|(_, t)| !t.is_zero())
                .collect(),
            self.categories
                .into_iter()
                .filter(|(_, t)| !t.is_zero())
                .collect(),
            self.overdue.into_iter().filter(|(_, n)| *n != 0).collect(),
        )
    }

    /// Writes the sums gathered into tables just emptied (a rebuild: no row is there yet).
    fn write_fresh(self, conn: &mut AnyConnection) -> Result<(), AppError> {
        let (units, categories, overdue) = self.nonzero();
        daily::insert_fresh(conn, &units, &categories, &overdue)?;
        Ok(())
    }

    /// Writes the additions gathered.
    ///
    /// # Errors
    /// Database errors.
    pub fn write(self, conn: &mut AnyConnection) -> Result<(), AppError> {
        let (units, categories, overdue) = self.nonzero();
        daily::add_units(conn, &units)?;
        daily::add_categories(conn, &categories)?;
        daily::add_overdue(conn, &overdue)?;
        Ok(())
    }
}

/// Moves a case's share from what it was to what it is, in the caller's transaction.
///
/// # Errors
/// Database errors.
pub fn moved(conn: &mut AnyConnection, before: &Share, after: &Share) -> Result<(), AppError> {
    let mut moves = Moves::default();
    moves.record(before, after);
    moves.write(conn)
}

/// A unit moved from `before` to `after` (its paths): the share of its whole subtree leaves
/// the ancestors it had and joins the ones it has.
///
/// # Errors
/// Database errors.
pub fn unit_moved(
    conn: &mut AnyConnection,
    unit_id: &str,
    before: &str,
    after: &str,
) -> Result<(), AppError> {
    let old = units_of(before);
    let new = units_of(after);
    let above = |path: &[String]| -> Vec<String> {
        path.iter().filter(|u| *u != unit_id).cloned().collect()
    };
    let (old, new) = (above(&old), above(&new));
    let mut sums = Moves::default();
    for row in daily::unit_rows(conn, unit_id)? {
        let t = daily::tally_of(&row);
        for (units, sign) in [(&old, -1), (&new, 1)] {
            for u in units {
                let k = UnitDay {
                    unit_id: u.clone(),
                    day: row.grp.clone(),
                    own: false,
                };
                sums.units.entry(k).or_default().add(&t, sign);
            }
        }
    }
    for row in daily::category_rows(conn, unit_id)? {
        let t = daily::tally_of(&row);
        let (day, code) = row.grp.split_once(' ').unwrap_or_default();
        for (units, sign) in [(&old, -1), (&new, 1)] {
            for u in units {
                let k = CategoryDay {
                    unit_id: u.clone(),
                    day: day.to_owned(),
                    category_code: code.to_owned(),
                };
                sums.categories.entry(k).or_default().add(&t, sign);
            }
        }
    }
    for row in daily::overdue_of(conn, unit_id)? {
        for (units, sign) in [(&old, -1), (&new, 1)] {
            for u in units {
                let k = OverdueKey {
                    unit_id: u.clone(),
                    category_code: row.key.category_code.clone(),
                    own: false,
                };
                *sums.overdue.entry(k).or_default() += row.n * sign;
            }
        }
    }
    sums.write(conn)
}

/// Sums every day (and counts the overdue) again from the cases, unit by unit in path order so only the units on one
/// path are held at a time. Returns how many cases were summed. Holds writers of the sums
/// (not readers) until the caller's transaction ends.
///
/// # Errors
/// Database errors; a stored time that does not parse.
pub fn rebuild(conn: &mut AnyConnection) -> Result<u64, AppError> {
    daily::lock(conn)?;
    daily::clear(conn)?;

    let owners = daily::owners(conn)?;
    let mut units = grid::list_units(conn, &UnitFilter::default(), None, i64::MAX)?;
    units.sort_by(|a, b| a.path.cmp(&b.path));
    // The units whose sums are still open, top first (path, id, sums): each case adds to
    // all of them, and a unit's rows are written once the walk leaves its subtree.
    let mut open: Vec<(String, String, Moves)> = Vec::new();
    let mut cases = 0_u64;
    for u in &units {
        while open
            .last()
            .is_some_and(|(p, _, _)| !u.path.starts_with(p.as_str()))
        {
            if let Some((_, _, s)) = open.pop() {
                s.write_fresh(conn)?;
            }
        }
        open.push((u.path.clone(), u.id.to_string(), Moves::default()));
        if !owners.contains(u.id.as_str()) {
            continue;
        }
        let mut mine = Moves::default();
        for (row, m) in daily::cases_of(conn, u.id.as_str())? {
            cases += 1;
            mine.add(&share(&row, &m, &u.path)?, 1);
        }
        for (k, t) in mine.units {
            if let Some((_, _, s)) = open.iter_mut().find(|(_, id, _)| *id == k.unit_id) {
                s.units.entry(k).or_default().add(&t, 1);
            }
        }
        for (k, t) in mine.categories {
            if let Some((_, _, s)) = open.iter_mut().find(|(_, id, _)| *id == k.unit_id) {
                s.categories.entry(k).or_default().add(&t, 1);
            }
        }
        for (k, n) in mine.overdue {
            if let Some((_, _, s)) = open.iter_mut().find(|(_, id, _)| *id == k.unit_id) {
                *s.overdue.entry(k).or_default() += n;
            }
        }
    }
    while let Some((_, _, s)) = open.pop() {
        s.write_fresh(conn)?;
    }
    Ok(cases)
}

/// Sums the days from the cases if they have never been summed (a database from before
/// the sums, or cases written in bulk): at start-up, before serving.
///
/// # Errors
/// As [`rebuild`].
pub fn ensure(conn: &mut AnyConnection) -> Result<Option<u64>, AppError> {
    if daily::any(conn)? || !wangge_persistence::stats::any_measured(conn)? {
        return Ok(None);
    }
    rebuild(conn).map(Some)
}

#[cfg(test)]
mod tests {
    use super::key_ranges;

    fn r(a: &str, b: &str, sign: i64) -> (String, String, i64) {
        (a.to_owned(), b.to_owned(), sign)
    }

    #[test]
    fn whole_months_are_read_as_months_and_the_rest_as_days() {
        // 27 days of December in, 4 out: December less its first four days; five days of
        // December 2026 in, 26 out: those five days.
        assert_eq!(
            key_ranges("2025-12-05", "2026-12-06"),
            vec![
                r("2025-12-01", "2025-12-05", -1),
                r("2026-12-01", "2026-12-06", 1),
                r("M2025-12", "M2026-12", 1),
            ]
        );
        assert_eq!(
            key_ranges("2026-01-01", "2026-03-01"),
            vec![r("M2026-01", "M2026-03", 1)]
        );
        assert_eq!(
            key_ranges("2026-01-10", "2026-02-20"),
            vec![r("2026-01-10", "2026-02-20", 1)]
        );
        assert_eq!(
            key_ranges("2026-01-31", "2026-03-30"),
            vec![
                r("2026-01-31", "2026-02-01", 1),
                r("2026-03-30", "2026-04-01", -1),
                r("M2026-02", "M2026-04", 1),
            ]
        );
    }
}
