//! Reading the grid. Every role reads it (the map of units is administrative information,
//! not personal data); the HTTP layer checks that the caller holds a role at all.

use super::WHAT;
use crate::error::AppError;
use wangge_domain::UnitId;
use wangge_persistence::grid::{self, CoverageRecord, UnitFilter, UnitRecord};
use wangge_persistence::{AnyConnection, StoreError};

/// The unit, or `missing()` when no unit has this id. Any other failure (the database away)
/// stays what it is: it is not "no such unit".
///
/// # Errors
/// `missing()`; database errors.
pub fn get_or(
    conn: &mut AnyConnection,
    id: UnitId,
    missing: impl FnOnce() -> AppError,
) -> Result<UnitRecord, AppError> {
    grid::get_unit(conn, id).map_err(|e| match e {
        StoreError::NotFound { .. } => missing(),
        other => other.into(),
    })
}

/// # Errors
/// 404 for an unknown id.
pub fn get(conn: &mut AnyConnection, id: UnitId) -> Result<UnitRecord, AppError> {
    get_or(conn, id, || AppError::not_found(WHAT))
}

/// The unit's materialised path, or `None` when no unit has this id.
///
/// # Errors
/// Database errors.
pub fn path_of(conn: &mut AnyConnection, id: UnitId) -> Result<Option<String>, AppError> {
    match grid::get_unit(conn, id) {
        Ok(u) => Ok(Some(u.path)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One page of units in id order, after the cursor.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    filter: &UnitFilter,
    after: Option<UnitId>,
    limit: i64,
) -> Result<Vec<UnitRecord>, AppError> {
    Ok(grid::list_units(conn, filter, after, limit)?)
}

/// One page of a unit's children.
///
/// # Errors
/// 404 for an unknown unit.
pub fn children(
    conn: &mut AnyConnection,
    id: UnitId,
    after: Option<UnitId>,
    limit: i64,
) -> Result<Vec<UnitRecord>, AppError> {
    get(conn, id)?;
    let filter = UnitFilter {
        parent_id: Some(id),
        ..UnitFilter::default()
    };
    Ok(grid::list_units(conn, &filter, after, limit)?)
}

/// The unit's ancestors, nearest first.
///
/// # Errors
/// 404 for an unknown unit.
pub fn ancestors(conn: &mut AnyConnection, id: UnitId) -> Result<Vec<UnitRecord>, AppError> {
    let unit = get(conn, id)?;
    Ok(grid::ancestors(conn, &unit)?)
}

/// A unit, its stored coverage, and its parent's code (for the exchange format).
///
/// # Errors
/// 404 for an unknown unit.
pub fn coverage_of(
    conn: &mut AnyConnection,
    id: UnitId,
) -> Result<(UnitRecord, Option<CoverageRecord>, Option<String>), AppError> {
    let unit = get(conn, id)?;
    let rec = grid::get_coverage(conn, &unit.id)?;
    let parent_code = match &unit.parent_id {
        Some(p) => Some(grid::get_unit(conn, UnitId::parse(p)?)?.code),
        None => None,
    };
    Ok((unit, rec, parent_code))
}

/// What happened to a unit, oldest first, after the cursor (an entry id).
///
/// # Errors
/// 404 for an unknown unit.
pub fn history(
    conn: &mut AnyConnection,
    id: UnitId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<wangge_persistence::journal::HistoryRow>, AppError> {
    get(conn, id)?;
    Ok(wangge_persistence::journal::history_of(
        conn,
        crate::tx::Entity::Unit.as_str(),
        &id.to_string(),
        after,
        limit,
    )?)
}
