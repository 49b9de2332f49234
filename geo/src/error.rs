//! The one error type of this crate.
//!
//! Messages end up in the `detail` of problem+json responses, so each says what was wrong with
//! which value, in words an API client can act on.

use h3o::{CellIndex, Resolution};

/// Everything that can go wrong in this crate.
// Deliberately exhaustive: the API maps each variant to a status, and a new variant should
// fail its build until it does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// A latitude/longitude pair that is not a usable position.
    #[error("invalid coordinate (lat {lat}, lng {lng}): {reason}")]
    InvalidCoordinate {
        /// The latitude as received, in degrees.
        lat: f64,
        /// The longitude as received, in degrees.
        lng: f64,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A coordinate reference system name that is not one of ours.
    #[error("unknown coordinate reference system {0:?}: expected \"wgs84\", \"gcj02\" or \"bd09\"")]
    UnknownCrs(String),

    /// A string or integer that is not a valid H3 cell index (the message names it and why).
    #[error("invalid H3 cell index {0}")]
    InvalidCell(String),

    /// A cell finer than the configured leaf resolution.
    #[error(
        "H3 cell {cell} has resolution {resolution}, finer than the leaf resolution {leaf}: \
         use cells of resolution {leaf} or coarser"
    )]
    CellTooFine {
        /// The offending cell.
        cell: CellIndex,
        /// Its resolution.
        resolution: Resolution,
        /// The finest resolution allowed.
        leaf: Resolution,
    },

    /// A GeoJSON geometry that is malformed or not a valid (multi)polygon.
    #[error("invalid geometry: {0}")]
    InvalidGeometry(String),

    /// The H3 tiler refused a geometry.
    #[error("cannot tile the geometry into H3 cells: {0}")]
    Tiling(String),

    /// Cells could not be dissolved into an outline.
    #[error("cannot compute the outline of the cells: {0}")]
    Outline(String),

    /// Stored coverage bytes that do not decode to a canonical coverage.
    #[error("invalid stored coverage: {0}")]
    InvalidCoverage(String),

    /// A partition asked for zero parts, or for more parts than there are leaf cells.
    #[error(
        "cannot split {cells} leaf cells into {parts} non-empty parts \
         (the number of parts must be at least 1 and at most the number of cells)"
    )]
    TooFewCells {
        /// The number of parts asked for.
        parts: usize,
        /// The number of leaf cells available.
        cells: u64,
    },
}
