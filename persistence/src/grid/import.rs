//! Importing units in bulk (`wangge units import`): each unit checked like one created alone.

use super::coverage::lock_grid;
use super::{NewUnit, UnitRecord, create_unit, find_by_code, set_coverage};
use crate::db::AnyConnection;
use crate::error::{ImportProblem, StoreError};
use wangge_domain::{Level, UnitCode, UnitName};
use wangge_geo::{Coverage, Resolution};

/// One unit of an import, parsed; `coverage` is already tiled.
#[derive(Debug, Clone)]
pub struct ImportItem {
    pub index: usize,
    pub code: UnitCode,
    pub name: UnitName,
    pub level: Level,
    pub parent_code: Option<UnitCode>,
    pub coverage: Option<Coverage>,
    pub boundary: Option<String>,
}

/// An import as parsed: the items that parsed, the problems of those that did not, and every
/// code the file names (so a parent that failed to parse is not reported missing as well).
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub items: Vec<ImportItem>,
    pub problems: Vec<ImportProblem>,
    pub codes_in_file: std::collections::HashSet<String>,
}

impl From<Vec<ImportItem>> for ImportBatch {
    fn from(items: Vec<ImportItem>) -> Self {
        Self {
            codes_in_file: items.iter().map(|i| i.code.to_string()).collect(),
            items,
            problems: Vec::new(),
        }
    }
}

/// What an import created.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub with_coverage: usize,
    pub trimmed_leaf_cells: u64,
    /// The units as stored (parents first), for the caller to record.
    #[serde(skip)]
    pub units: Vec<UnitRecord>,
    /// Households that followed the new coverage.
    #[serde(skip)]
    pub households_moved: Vec<crate::households::Moved>,
}

/// Imports units in one go: all or nothing. The batch's parse problems and the relational ones
/// (taken codes, missing or wrong-level parents) are reported together, for every item, before
/// anything is written; spatial ones as each unit is placed. Callers run this inside a
/// transaction and roll back on error.
///
/// # Errors
/// `ImportRejected` listing every problem found.
pub fn import_units(
    conn: &mut AnyConnection,
    batch: ImportBatch,
    clip: bool,
    leaf: Resolution,
    now: &str,
    mut new_id: impl FnMut() -> String,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, StoreError> {
    lock_grid(conn)?;
    let ImportBatch {
        mut items,
        mut problems,
        codes_in_file,
    } = batch;
    let problem = |i: &ImportItem, p: String| ImportProblem {
        index: i.index,
        code: Some(i.code.to_string()),
        problem: p,
    };
    // Parents first, so each item's parent exists when it is placed.
    items.sort_by_key(|i| (i.level, i.index));
    let mut in_file: std::collections::HashMap<String, Level> = std::collections::HashMap::new();
    for item in &items {
        if in_file.insert(item.code.to_string(), item.level).is_some() {
            problems.push(problem(
                item,
                format!("code {} appears twice in the file", item.code),
            ));
        }
    }
    for item in &items {
        if find_by_code(conn, item.code.as_str())?.is_some() {
            problems.push(problem(
                item,
                format!("a unit with code {} exists already", item.code),
            ));
        }
        let parent_level = match &item.parent_code {
            None => None,
            Some(pc) => match in_file.get(pc.as_str()) {
                Some(l) => Some(*l),
                // The parent is in the file but did not parse: its own problem says why.
                None if codes_in_file.contains(pc.as_str()) => continue,
                None => match find_by_code(conn, pc.as_str())? {
                    Some(p) => Some(p.level()?),
                    None => {
                        problems.push(problem(
                            item,
                            format!("parent_code {pc} is neither in the file nor stored"),
                        ));
                        continue;
                    }
                },
            },
        };
        if let Err(e) = item.level.check_parent(parent_level) {
            problems.push(problem(item, e.to_string()));
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.index);
        return Err(StoreError::ImportRejected(problems));
    }
    let mut report = ImportReport::default();
    for (n, item) in items.into_iter().enumerate() {
        let parent_id = match &item.parent_code {
            Some(pc) => Some(
                find_by_code(conn, pc.as_str())?
                    .ok_or_else(|| StoreError::Corrupt(format!("parent {pc} vanished")))?
                    .unit_id()?,
            ),
            None => None,
        };
        let unit = create_unit(
            conn,
            &new_id(),
            &NewUnit {
                code: item.code.clone(),
                name: item.name.clone(),
                level: item.level,
                parent_id,
            },
            now,
        )?;
        let mut stored = unit.clone();
        if let Some(cov) = item.coverage.clone() {
            match set_coverage(
                conn,
                unit.unit_id()?,
                cov,
                item.boundary.clone(),
                clip,
                None,
                leaf,
                now,
            ) {
                Ok(outcome) => {
                    report.with_coverage += 1;
                    report.trimmed_leaf_cells += outcome.trimmed_leaf_cells;
                    report.households_moved.extend(outcome.households_moved);
                    stored = outcome.unit;
                }
                Err(StoreError::Conflict { message, .. }) => problems.push(problem(&item, message)),
                Err(other) => return Err(other),
            }
        }
        report.created += 1;
        report.units.push(stored);
        progress(n + 1);
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(StoreError::ImportRejected(problems))
    }
}
