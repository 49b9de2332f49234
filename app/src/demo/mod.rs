//! The Dianbai District demo: the real district, its 28 township-level units and 409
//! village-level units (National Bureau of Statistics codes, 2023; see demo/README.md), the
//! real district outline as the district's coverage, and SYNTHETIC coverage below it plus
//! synthetic resident and household groups at the reported scale (4,641 and 9,443). No public
//! polygons exist below district level, so towns, villages and groups are partitions of the
//! district's cells around spread seed points, not real boundaries.

mod incidents;
mod people;

use crate::caller::Who;
use crate::error::AppError;
use crate::services::Services;
pub use incidents::INCIDENTS;
use people::PlaceUnit;
pub use people::{HOUSEHOLDS, WORKERS};
use serde::Deserialize;
use wangge_domain::{Level, UnitCode, UnitName};
use wangge_geo::{Coverage, Resolution};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid::{self, ImportItem};

const DIVISIONS: &str = include_str!("../../demo/dianbai_divisions.json");
const BOUNDARY: &str = include_str!("../../demo/dianbai_boundary.geojson");

/// Reported grid counts for Dianbai (domain.md).
pub const RESIDENT_GROUPS: usize = 4_641;
pub const HOUSEHOLD_GROUPS: usize = 9_443;

#[derive(Deserialize)]
struct Division {
    code: String,
    name: String,
    parent_code: String,
    level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the embedded demo data is unreadable: {0}")]
    Data(String),
    #[error(transparent)]
    Geo(#[from] wangge_geo::GeoError),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<wangge_persistence::StoreError> for DemoError {
    fn from(e: wangge_persistence::StoreError) -> Self {
        Self::App(e.into())
    }
}

fn data_err(e: impl std::fmt::Display) -> DemoError {
    DemoError::Data(e.to_string())
}

/// Splits `total` among parts in proportion to their weights, each at least 1 and at most its
/// cap (largest remainder), so groups follow area and never exceed the cells available.
fn apportion(total: usize, weights: &[u64], caps: &[usize]) -> Vec<usize> {
    let sum: u64 = weights.iter().sum::<u64>().max(1);
    let mut out: Vec<usize> = weights
        .iter()
        .zip(caps)
        .map(|(w, cap)| {
            let share = (u128::from(*w) * total as u128 / u128::from(sum)) as usize;
            share.clamp(1, (*cap).max(1))
        })
        .collect();
    let mut assigned: usize = out.iter().sum();
    // Hand out what rounding left, largest parts first, within the caps.
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    let mut progress = true;
    while assigned < total && progress {
        progress = false;
        for &i in &order {
            if assigned >= total {
                break;
            }
            if out[i] < caps[i] {
                out[i] += 1;
                assigned += 1;
                progress = true;
            }
        }
    }
    out
}

fn item(
    index: usize,
    code: String,
    name: String,
    level: Level,
    parent: Option<&str>,
    cov: Coverage,
    boundary: Option<String>,
) -> Result<ImportItem, DemoError> {
    Ok(ImportItem {
        index,
        code: UnitCode::parse(&code).map_err(data_err)?,
        name: UnitName::parse(&name).map_err(data_err)?,
        level,
        parent_code: parent.map(UnitCode::parse).transpose().map_err(data_err)?,
        coverage: Some(cov),
        boundary,
    })
}

/// Builds every unit of the demo with its coverage, parents first.
///
/// # Errors
/// Unreadable embedded data or a partition that cannot be made.
pub fn build(leaf: Resolution) -> Result<Vec<ImportItem>, DemoError> {
    let divisions: Vec<Division> = serde_json::from_str(DIVISIONS).map_err(data_err)?;
    let outline: serde_json::Value = serde_json::from_str(BOUNDARY).map_err(data_err)?;
    let geometry = outline
        .pointer("/features/0/geometry")
        .ok_or_else(|| data_err("the boundary file has no geometry"))?;
    let shape = wangge_geo::parse_polygons(geometry)?;
    let district_cov = Coverage::from_polygons(&shape, leaf)?;
    let district = divisions
        .iter()
        .find(|d| d.level == "county")
        .ok_or_else(|| data_err("no county in the divisions"))?;
    let mut items = Vec::new();
    items.push(item(
        0,
        district.code.clone(),
        district.name.clone(),
        Level::District,
        None,
        district_cov.clone(),
        Some(wangge_geo::polygons_to_geojson(&shape).to_string()),
    )?);

    let towns: Vec<&Division> = divisions
        .iter()
        .filter(|d| d.level == "township" && d.parent_code == district.code)
        .collect();
    let town_covs = wangge_geo::partition(&district_cov, towns.len(), leaf)?;
    // (village division, its coverage), gathered for apportioning groups by area.
    let mut villages: Vec<(&Division, Coverage)> = Vec::new();
    for (town, cov) in towns.iter().zip(town_covs) {
        items.push(item(
            items.len(),
            town.code.clone(),
            town.name.clone(),
            Level::Subdistrict,
            Some(&district.code),
            cov.clone(),
            None,
        )?);
        let vs: Vec<&Division> = divisions
            .iter()
            .filter(|d| d.level == "village" && d.parent_code == town.code)
            .collect();
        let vcovs = wangge_geo::partition(&cov, vs.len(), leaf)?;
        for (v, vc) in vs.into_iter().zip(vcovs) {
            items.push(item(
                items.len(),
                v.code.clone(),
                v.name.clone(),
                Level::Community,
                Some(&town.code),
                vc.clone(),
                None,
            )?);
            villages.push((v, vc));
        }
    }

    let weights: Vec<u64> = villages
        .iter()
        .map(|(_, c)| c.leaf_cell_count(leaf))
        .collect();
    let caps: Vec<usize> = weights
        .iter()
        .map(|w| usize::try_from(*w).unwrap_or(usize::MAX))
        .collect();
    let rg_counts = apportion(RESIDENT_GROUPS, &weights, &caps);
    let mut groups: Vec<(String, String, Coverage)> = Vec::with_capacity(RESIDENT_GROUPS);
    for ((v, vc), n) in villages.iter().zip(rg_counts) {
        for (k, gc) in wangge_geo::partition(vc, n, leaf)?.into_iter().enumerate() {
            let code = format!("{}{:03}", v.code, k + 1);
            let name = format!("{}第{}居民小组", v.name, k + 1);
            items.push(item(
                items.len(),
                code.clone(),
                name.clone(),
                Level::ResidentGroup,
                Some(&v.code),
                gc.clone(),
                None,
            )?);
            groups.push((code, name, gc));
        }
    }

    let weights: Vec<u64> = groups
        .iter()
        .map(|(_, _, c)| c.leaf_cell_count(leaf))
        .collect();
    let caps: Vec<usize> = weights
        .iter()
        .map(|w| usize::try_from(*w).unwrap_or(usize::MAX))
        .collect();
    let hg_counts = apportion(HOUSEHOLD_GROUPS, &weights, &caps);
    for ((code, name, gc), n) in groups.iter().zip(hg_counts) {
        for (k, hc) in wangge_geo::partition(gc, n, leaf)?.into_iter().enumerate() {
            items.push(item(
                items.len(),
                format!("{code}{:03}", k + 1),
                format!("{name}第{}住户小组", k + 1),
                Level::HouseholdGroup,
                Some(code),
                hc,
                None,
            )?);
        }
    }
    Ok(items)
}

/// The functional departments of a district, seeded with the demo: (code, name).
pub const DEPARTMENTS: [(&str, &str); 12] = [
    ("housing", "住房和城乡建设局"),
    ("urban_management", "城市管理和综合执法局"),
    ("public_security", "公安分局"),
    ("health", "卫生健康局"),
    ("emergency", "应急管理局"),
    ("market_regulation", "市场监督管理局"),
    ("civil_affairs", "民政局"),
    ("natural_resources", "自然资源分局"),
    ("ecology_environment", "生态环境分局"),
    ("water", "水务局"),
    ("transport", "交通运输局"),
    ("human_resources", "人力资源和社会保障局"),
];

/// How the seed reports progress: a stage name, what is done, the total.
pub type Progress<'a> = dyn FnMut(&'static str, usize, usize) + 'a;

/// What the demo loaded.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub units: usize,
    pub households: usize,
    pub residents: usize,
    pub workers: usize,
}

/// Loads the demo into an empty grid, in one transaction, through the same use cases as the
/// API and the command line: departments, the grid import, the household import, one account
/// per worker. The actor is `system:demo`.
///
/// # Errors
/// As [`build`], or when a use case refuses (e.g. units already present).
pub fn seed(
    conn: &mut AnyConnection,
    svc: &Services,
    households: usize,
    progress: &mut Progress<'_>,
) -> Result<DemoReport, DemoError> {
    let leaf = svc.config.leaf;
    let items = build(leaf)?;
    let total = items.len();
    // People are placed in the groups' coverage; keep it before the import consumes the items.
    let places = |level: Level| -> Vec<(String, Coverage)> {
        items
            .iter()
            .filter(|i| i.level == level)
            .filter_map(|i| Some((i.code.as_str().to_owned(), i.coverage.clone()?)))
            .collect()
    };
    let household_groups = places(Level::HouseholdGroup);
    let resident_groups = places(Level::ResidentGroup);
    let who = Who::System { name: "demo" };
    let mut report = DemoReport::default();
    // The use case runs once; its closure may be called again only after a lost race.
    let mut items = Some(items);
    crate::tx::write(conn, svc, &who, |tx| {
        for (code, name) in DEPARTMENTS {
            crate::departments::create(
                tx,
                &crate::departments::NewDepartment {
                    id: None,
                    code: wangge_domain::DepartmentCode::parse(code)?,
                    name: UnitName::parse(name)?,
                },
            )?;
        }
        let batch = items
            .take()
            .ok_or_else(|| AppError::internal("the demo seed ran twice"))?;
        let started = std::time::Instant::now();
        let units = crate::units::import(tx, batch.into(), false, |n| {
            progress("units", n, total);
        })?;
        tracing::info!(
            demo.units = units.created,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "demo units stored"
        );
        report.units = units.created;
        // The new units are not committed yet: locate against a snapshot of this
        // transaction's own grid.
        let locator = crate::locate::Locator::new(leaf);
        locator.refresh(tx.conn)?;
        let ids: std::collections::HashMap<String, String> = grid::all_units(tx.conn)?
            .into_iter()
            .map(|u| (u.code, u.id))
            .collect();
        let with_ids = |v: &[(String, Coverage)]| -> Vec<PlaceUnit> {
            v.iter()
                .filter_map(|(code, coverage)| {
                    Some(PlaceUnit {
                        id: ids.get(code)?.clone(),
                        code: code.clone(),
                        coverage: coverage.clone(),
                    })
                })
                .collect()
        };
        let started = std::time::Instant::now();
        let parsed = people::households(leaf, &with_ids(&household_groups), households);
        let stored =
            crate::households::import::import(tx, parsed, "demo", &locator.snapshot(), |n| {
                progress("people", n, households)
            })?;
        report.households = stored.households;
        report.residents = stored.residents;
        tracing::info!(
            demo.households = stored.households,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "demo households stored"
        );
        let started = std::time::Instant::now();
        report.workers = people::workers(tx, &with_ids(&resident_groups), &mut |n| {
            progress("workers", n, WORKERS);
        })?;
        tracing::info!(
            demo.workers = report.workers,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "demo workers stored"
        );
        Ok(())
    })?;
    Ok(report)
}

/// Adds `n` synthetic incidents over the year before `now` (see `incidents`), in one
/// transaction; returns how many. Needs the demo's households and the incident categories.
///
/// # Errors
/// Database errors.
pub fn seed_incidents(
    conn: &mut AnyConnection,
    n: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, DemoError> {
    Ok(wangge_persistence::write_transaction(conn, |conn| {
        let stored = incidents::seed(conn, n, now)?;
        // Written in bulk, around the use cases: their share of the figures is summed here.
        crate::stats::fold::rebuild(conn)?;
        Ok::<_, AppError>(stored)
    })?)
}

#[cfg(test)]
mod tests {
    use super::apportion;

    #[test]
    fn apportion_hits_the_total_within_caps() {
        let out = apportion(10, &[5, 3, 2], &[100, 100, 100]);
        assert_eq!(out.iter().sum::<usize>(), 10);
        assert_eq!(out, vec![5, 3, 2]);
        let capped = apportion(10, &[8, 1, 1], &[3, 100, 100]);
        assert!(capped[0] <= 3);
        assert_eq!(capped.iter().sum::<usize>(), 10);
        // Every part gets at least one.
        assert!(
            apportion(2, &[100, 1, 1], &[10, 10, 10])
                .iter()
                .all(|n| *n >= 1)
        );
    }
}
