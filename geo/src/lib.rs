//! Coordinates and H3 for Wangge: CRS conversion, polygon tiling, coverage sets, the locate
//! index, GeoJSON.
//!
//! Every grid unit owns a [`Coverage`]: a compacted set of H3 cells whose finest resolution is
//! the configured leaf resolution. Boundaries arrive as GeoJSON ([`parse_polygons`]) and are
//! tiled into cells ([`Coverage::from_polygons`]); they leave as GeoJSON
//! ([`Coverage::outline`], [`polygons_to_geojson`]). [`CoverageSet`] checks nesting and
//! overlap between units; [`LocateIndex`] finds the deepest unit holding a point. Points from
//! phones are converted to WGS-84 first ([`to_wgs84`]).
//!
//! The crate is pure: no I/O, no clock, no global state.
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use wangge_geo::{Coverage, Crs, LocateIndex, Resolution, parse_polygons, to_wgs84};
//!
//! let leaf = Resolution::Ten;
//! let boundary = parse_polygons(&json!({"type": "Polygon", "coordinates": [[
//!     [111.00, 21.50], [111.02, 21.50], [111.02, 21.52], [111.00, 21.52], [111.00, 21.50]
//! ]]}))?;
//! let coverage = Coverage::from_polygons(&boundary, leaf)?;
//!
//! let mut builder = LocateIndex::builder(leaf);
//! builder.add(42, 1, &coverage);
//! let index = builder.build();
//!
//! // A phone on Amap reports GCJ-02.
//! let (lat, lng) = wangge_geo::from_wgs84(wangge_geo::LatLng::new(21.51, 111.01)?, Crs::Gcj02);
//! let point = to_wgs84(lat, lng, Crs::Gcj02)?;
//! assert_eq!(index.locate(point).map(|(_, owner)| owner), Some(42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cells;
mod coverage;
mod crs;
mod error;
mod geometry;
mod hash;
mod locate;
mod partition;
mod set;
mod track;

pub use h3o::{CellIndex, LatLng, Resolution};

pub use cells::{cell_feature, leaf_range, parent_masks};
pub use coverage::{Coverage, MAX_TILED_LEAF_CELLS};
pub use crs::{
    Crs, bd09_to_gcj02, from_wgs84, gcj02_to_bd09, gcj02_to_wgs84, out_of_china, to_wgs84,
    wgs84_to_gcj02,
};
pub use error::GeoError;
pub use geometry::{MAX_POSITIONS, parse_polygons, polygons_to_geojson};
pub use locate::{LocateIndex, LocateIndexBuilder};
pub use partition::partition;
pub use set::CoverageSet;
pub use track::{Fix, Flag, FlagReason, TrackLimits, TrackSummary, analyse};

/// Maximum length of a cell string we accept (canonical H3 cell strings have 15 hex digits).
const MAX_CELL_STRING: usize = 16;

/// Parses an H3 cell from its hexadecimal string (`"8b4b3c..."`, case-insensitive).
///
/// # Errors
///
/// [`GeoError::InvalidCell`] naming the string and why it is not a cell index.
///
/// # Example
///
/// ```
/// use wangge_geo::{LatLng, Resolution, parse_cell};
///
/// let cell = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Eleven);
/// assert_eq!(parse_cell(&cell.to_string())?, cell);
/// assert!(parse_cell("8b4b3c").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_cell(s: &str) -> Result<CellIndex, GeoError> {
    let shown = || {
        format!(
            "{:?}",
            s.chars().take(MAX_CELL_STRING + 4).collect::<String>()
        )
    };
    // `from_str_radix` would also take a sign or be fooled by a huge string: check first.
    if s.is_empty() || s.len() > MAX_CELL_STRING || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GeoError::InvalidCell(format!(
            "{}: expected up to {MAX_CELL_STRING} hexadecimal digits",
            shown()
        )));
    }
    s.parse::<CellIndex>()
        .map_err(|err| GeoError::InvalidCell(format!("{}: {}", shown(), err.reason)))
}

/// Parses an H3 cell like [`parse_cell`] and requires it to be no finer than `leaf`.
///
/// # Errors
///
/// [`GeoError::InvalidCell`] for a string that is not a cell index;
/// [`GeoError::CellTooFine`] for a cell finer than `leaf`.
///
/// # Example
///
/// ```
/// use wangge_geo::{GeoError, LatLng, Resolution, parse_cell_at_most};
///
/// let cell = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Twelve);
/// assert!(matches!(
///     parse_cell_at_most(&cell.to_string(), Resolution::Eleven),
///     Err(GeoError::CellTooFine { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_cell_at_most(s: &str, leaf: Resolution) -> Result<CellIndex, GeoError> {
    coverage::check_leaf(parse_cell(s)?, leaf)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_cell_accepts_canonical_strings_only() {
        let cell = LatLng::new(21.5, 111.0)
            .unwrap()
            .to_cell(Resolution::Eleven);
        let text = cell.to_string();
        assert_eq!(text.len(), 15);
        assert_eq!(parse_cell(&text).unwrap(), cell);
        assert_eq!(parse_cell(&text.to_uppercase()).unwrap(), cell);
        assert_eq!(parse_cell_at_most(&text, Resolution::Eleven).unwrap(), cell);
        for bad in [
            "",
            "+8b4b3c",
            "xyz",
            "0",
            "ffffffffffffffff",
            "8b4b3c0a6adffff00000",
        ] {
            let err = parse_cell(bad).unwrap_err();
            assert!(matches!(err, GeoError::InvalidCell(_)), "{bad}: {err}");
        }
        let msg = parse_cell("0").unwrap_err().to_string();
        assert!(msg.starts_with("invalid H3 cell index \"0\": "), "{msg}");
        let err = parse_cell_at_most(&text, Resolution::Ten).unwrap_err();
        assert_eq!(
            err,
            GeoError::CellTooFine {
                cell,
                resolution: Resolution::Eleven,
                leaf: Resolution::Ten
            }
        );
    }

    #[test]
    fn tiles_the_district_at_resolution_9() {
        let collection: serde_json::Value =
            serde_json::from_str(include_str!("../../app/demo/dianbai_boundary.geojson")).unwrap();
        let shape = parse_polygons(&collection["features"][0]["geometry"]).unwrap();
        let leaf = Resolution::Nine;
        let district = Coverage::from_polygons(&shape, leaf).unwrap();
        let count = district.leaf_cell_count(leaf);
        // 972,554 cells at resolution 11 (measured) is about 19,850 at resolution 9.
        assert!((19_000..20_800).contains(&count), "{count}");
        // ~2,141 km².
        let area_km2 = district.area_km2();
        assert!((2_000.0..2_300.0).contains(&area_km2), "{area_km2}");
        assert!(district.len() < usize::try_from(count).unwrap() / 2);
        // The bytes round trip; the outline is the mainland plus islands.
        assert_eq!(
            Coverage::from_bytes(&district.to_bytes(), leaf).unwrap(),
            district
        );
        assert!(district.outline().unwrap().0.len() >= 2);
        // Shuidong town centre is inside, the sea south of it is not.
        assert!(district.contains_point(LatLng::new(21.4975, 111.0150).unwrap(), leaf));
        assert!(!district.contains_point(LatLng::new(21.30, 111.00).unwrap(), leaf));

        // A demo-like two-level hierarchy located through the index.
        let towns = partition(&district, 28, leaf).unwrap();
        let mut builder = LocateIndex::builder(leaf);
        builder.add(0, 1, &district);
        let mut siblings = CoverageSet::new();
        for (index, town) in towns.iter().enumerate() {
            assert!(siblings.overlap_with(town).is_none());
            siblings.insert(index, town);
            builder.add(u32::try_from(index).unwrap() + 1, 2, town);
        }
        assert!(siblings.contains(&district));
        let index = builder.build();
        for cell in district.uncompacted(leaf).into_iter().step_by(97) {
            let (_, owner) = index.locate(LatLng::from(cell)).unwrap();
            assert!(owner >= 1);
            assert!(towns[owner as usize - 1].contains_cell(cell));
        }
    }
}
