//! `GET /stats/coverage`: how much of a unit was walked and how many of its households were
//! visited in a period, in all and per worker, and the cells nobody walked.
//!
//! - Cells are counted at the leaf resolution of the unit's coverage. A patrol counts when it
//!   started in the period, in the unit's subtree or in a unit above it (a community's staff
//!   walk its grids); only the cells it walked inside the unit's coverage count, and a patrol
//!   placed above the unit counts only if it walked one. A finished patrol's cells are those
//!   stored when it finished; a patrol still walked is summarised from its fixes as finishing
//!   it now would. Either way implausible segments (`analyse`'s flags) add no cell.
//! - Households are those of the subtree now; one is visited when it has a visit in the
//!   period.
//! - Workers: every account that walked a cell of the unit or visited one of its households in
//!   the period, and the active accounts with capture scope at the unit or below whose roles
//!   record visits, with zeros.

use super::{MAX_CELLS, Span, invalid, rate};
use crate::error::AppError;
use crate::incidents::UnitBrief;
use crate::patrols::{fix_of, summarise};
use crate::tx::{Reader, stored_time};
use chrono::Duration;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use wangge_domain::{Action, Role, UnitId};
use wangge_geo::{CellIndex, Coverage, Fix, Resolution, cell_feature, parse_cell};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid::{self, UnitRecord};
use wangge_persistence::stats::coverage::{self as store, Account, WalkedPatrol};

/// The longest period a coverage is read over: every patrol of the period is read, so a year
/// of a district's is the most one request may ask for.
pub const MAX_DAYS: i64 = 366;
/// Patrols read per query.
const PAGE: i64 = 500;

/// One account's share of the figures.
#[derive(Default)]
struct Worker {
    cells: HashSet<CellIndex>,
    patrols: i64,
    households: i64,
    visits: i64,
}

/// What the period came to, before it is written out.
struct Figures {
    leaf: Resolution,
    coverage: Coverage,
    walked: HashSet<CellIndex>,
    patrols: i64,
    households_total: i64,
    households_visited: i64,
    visits: i64,
    /// By account id.
    workers: HashMap<String, Worker>,
    accounts: HashMap<String, Account>,
}

/// `GET /stats/coverage`: the unit's cells walked and households visited in the period, in
/// all and per worker, and the cells not walked as GeoJSON.
///
/// # Errors
/// `invalid_query` for a period over [`MAX_DAYS`]; 403 for a caller who reads no unit's
/// households; 404 for an unknown unit or one outside the caller's sight.
pub fn coverage(r: &mut Reader<'_>, unit: UnitId, span: Span) -> Result<Value, AppError> {
    if span.to - span.from > Duration::days(MAX_DAYS) {
        return Err(invalid(format!(
            "from: a coverage period is at most {MAX_DAYS} days"
        )));
    }
    // Before anything is read: patrols and visits are read by those who read households.
    r.caller.require_some(
        Action::ReadHousehold,
        "coverage is read by those who read a unit's households",
    )?;
    let unit = crate::units::get(r.conn, unit)?;
    r.caller.check(Action::ReadHousehold, &unit.path, "unit")?;
    let leaf = r.svc.config.leaf;
    let figures = wangge_persistence::report_transaction(r.conn, |conn| {
        Figures::read(conn, &unit, span, leaf)
    })?;
    figures.render(&unit, span)
}

/// `cell` at `leaf`: itself, or its parent when finer; none when coarser (it does not say
/// which leaf cells were walked).
fn at_leaf(cell: CellIndex, leaf: Resolution) -> Option<CellIndex> {
    if cell.resolution() >= leaf {
        cell.parent(leaf)
    } else {
        None
    }
}

/// The cells a patrol walked: as stored when finished, else from its fixes so far.
fn walked_cells(
    p: &WalkedPatrol,
    tracks: &HashMap<String, Vec<Fix>>,
    leaf: Resolution,
) -> Result<Vec<CellIndex>, AppError> {
    if p.finished_at.is_none() {
        let fixes = tracks.get(&p.id).map_or(&[][..], Vec::as_slice);
        return Ok(summarise(fixes, leaf).cells);
    }
    p.cells
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse_cell(s).map_err(|e| AppError::internal(format!("patrol {}: {e}", p.id))))
        .collect()
}

/// Whether an account's roles record visits (and so walk patrols).
fn records_visits(a: &Account) -> bool {
    a.roles
        .split(',')
        .filter_map(|r| r.parse::<Role>().ok())
        .any(|r| Action::RecordVisit.roles().contains(&r))
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Figures {
    fn read(
        conn: &mut AnyConnection,
        unit: &UnitRecord,
        span: Span,
        leaf: Resolution,
    ) -> Result<Self, AppError> {
        let (coverage, leaf) = match grid::get_coverage(conn, &unit.id)? {
            Some(rec) => {
                let leaf = u8::try_from(rec.resolution)
                    .ok()
                    .and_then(|r| Resolution::try_from(r).ok())
                    .ok_or_else(|| {
                        AppError::internal(format!("stored resolution {}", rec.resolution))
                    })?;
                (rec.coverage()?, leaf)
            }
            None => (Coverage::default(), leaf),
        };
        let mut f = Self {
            leaf,
            coverage,
            walked: HashSet::new(),
            patrols: 0,
            households_total: 0,
            households_visited: 0,
            visits: 0,
            workers: HashMap::new(),
            accounts: HashMap::new(),
        };
        let (from, to) = (stored_time(span.from), stored_time(span.to));
        let window = (from.as_str(), to.as_str());
        f.read_patrols(conn, unit, window)?;
        f.households_total = store::household_count(conn, &unit.path)?;
        f.households_visited = store::households_visited(conn, &unit.path, window)?;
        for v in store::visits_by_visitor(conn, &unit.path, window)? {
            f.visits += v.visits;
            let w = f.workers.entry(v.visitor_id).or_default();
            w.households = v.households;
            w.visits = v.visits;
        }
        for a in store::capture_assigned(conn, &unit.path)? {
            if records_visits(&a) {
                f.workers.entry(a.id.clone()).or_default();
                f.accounts.insert(a.id.clone(), a);
            }
        }
        let unnamed: Vec<String> = f
            .workers
            .keys()
            .filter(|id| !f.accounts.contains_key(*id))
            .cloned()
            .collect();
        for a in store::accounts(conn, &unnamed)? {
            f.accounts.insert(a.id.clone(), a);
        }
        Ok(f)
    }

    /// The patrols of the period, a page at a time: each one's cells inside the coverage.
    fn read_patrols(
        &mut self,
        conn: &mut AnyConnection,
        unit: &UnitRecord,
        window: (&str, &str),
    ) -> Result<(), AppError> {
        let above: Vec<&str> = unit
            .path_ids()
            .into_iter()
            .filter(|id| *id != unit.id)
            .collect();
        let mut after: Option<String> = None;
        loop {
            let page =
                store::patrols_started(conn, &unit.path, &above, window, after.as_deref(), PAGE)?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.id.clone());
            let walking: Vec<String> = page
                .iter()
                .filter(|p| p.finished_at.is_none())
                .map(|p| p.id.clone())
                .collect();
            let mut tracks: HashMap<String, Vec<Fix>> = HashMap::new();
            if !walking.is_empty() {
                for (id, fix) in store::fixes_of(conn, &walking)? {
                    let fix = fix_of(&id, &fix)?;
                    tracks.entry(id).or_default().push(fix);
                }
            }
            for p in &page {
                let inside: Vec<CellIndex> = walked_cells(p, &tracks, self.leaf)?
                    .into_iter()
                    .filter_map(|c| at_leaf(c, self.leaf))
                    .filter(|c| self.coverage.contains_cell(*c))
                    .collect();
                if inside.is_empty() && above.contains(&p.unit_id.as_str()) {
                    continue;
                }
                self.patrols += 1;
                let w = self.workers.entry(p.walker_id.clone()).or_default();
                w.patrols += 1;
                w.cells.extend(inside.iter().copied());
                self.walked.extend(inside);
            }
            if count(page.len()) < PAGE {
                break;
            }
        }
        Ok(())
    }

    fn render(&self, unit: &UnitRecord, span: Span) -> Result<Value, AppError> {
        let cells_total =
            i64::try_from(self.coverage.leaf_cell_count(self.leaf)).unwrap_or(i64::MAX);
        let mut m = Map::new();
        m.insert("unit".into(), json!(UnitBrief::from(unit)));
        m.insert("period".into(), span.shown());
        m.insert("res".into(), json!(u8::from(self.leaf)));
        m.insert("cells_total".into(), json!(cells_total));
        m.insert("households_total".into(), json!(self.households_total));
        Self::shares(
            &mut m,
            (count(self.walked.len()), cells_total),
            (self.households_visited, self.households_total),
        );
        m.insert("patrols".into(), json!(self.patrols));
        m.insert("visits".into(), json!(self.visits));
        let mut workers: Vec<(&String, &Worker)> = self.workers.iter().collect();
        // By username; accounts that are gone last, by id.
        workers.sort_by_key(|(id, _)| {
            let name = self.accounts.get(*id).map(|a| a.username.as_str());
            (name.is_none(), name, *id)
        });
        let workers: Vec<Value> = workers
            .into_iter()
            .map(|(id, w)| {
                let mut o = Map::new();
                o.insert("user_id".into(), json!(id));
                if let Some(a) = self.accounts.get(id) {
                    o.insert("username".into(), json!(a.username));
                    if !a.display_name.is_empty() {
                        o.insert("display_name".into(), json!(a.display_name));
                    }
                }
                Self::shares(
                    &mut o,
                    (count(w.cells.len()), cells_total),
                    (w.households, self.households_total),
                );
                o.insert("patrols".into(), json!(w.patrols));
                o.insert("visits".into(), json!(w.visits));
                Value::Object(o)
            })
            .collect();
        m.insert("workers".into(), Value::Array(workers));
        m.insert("not_walked".into(), self.not_walked()?);
        Ok(Value::Object(m))
    }

    /// Cells patrolled and households visited, each with its share when there is a whole to
    /// share (left out otherwise).
    fn shares(m: &mut Map<String, Value>, cells: (i64, i64), households: (i64, i64)) {
        m.insert("cells_patrolled".into(), json!(cells.0));
        if let Some(s) = rate(cells.0, cells.1) {
            m.insert("patrolled_share".into(), json!(s));
        }
        m.insert("households_visited".into(), json!(households.0));
        if let Some(s) = rate(households.0, households.1) {
            m.insert("visited_share".into(), json!(s));
        }
    }

    /// The cells of the coverage nobody walked, compacted (a coarser cell where none of its
    /// leaf cells was walked), as a FeatureCollection; above [`MAX_CELLS`] of them, one
    /// feature with their dissolved outline instead.
    fn not_walked(&self) -> Result<Value, AppError> {
        let walked: Vec<CellIndex> = self.walked.iter().copied().collect();
        let rest = self.coverage.without(&walked, self.leaf);
        let features: Vec<Value> = if rest.len() <= MAX_CELLS {
            rest.cells()
                .iter()
                .map(|c| {
                    cell_feature(
                        *c,
                        json!({ "cell": c.to_string(), "leaf_cells": c.children_count(self.leaf) }),
                    )
                })
                .collect()
        } else {
            let shape = rest
                .outline()
                .map_err(|e| AppError::internal(format!("not walked: {e}")))?;
            vec![json!({
                "type": "Feature",
                "geometry": wangge_geo::polygons_to_geojson(&shape),
                "properties": { "leaf_cells": rest.leaf_cell_count(self.leaf) },
            })]
        };
        Ok(json!({ "type": "FeatureCollection", "features": features }))
    }
}
