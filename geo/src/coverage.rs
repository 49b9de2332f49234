//! A unit's coverage: a canonical set of H3 cells.

use geo::MultiPolygon;
use h3o::geom::{ContainmentMode, SolventBuilder, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};

use crate::GeoError;

/// Bytes per cell in [`Coverage::to_bytes`].
const CELL_BYTES: usize = 8;

/// A unit's coverage: a compacted, sorted, deduplicated set of H3 cells whose finest resolution
/// is at most the configured leaf resolution.
///
/// The representation is canonical: no cell lies inside another, no complete set of siblings
/// is left uncompacted, and cells are in [`CellIndex`] order (a parent sorts right after its
/// descendants). Two coverages of the same area are therefore equal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Coverage {
    cells: Vec<CellIndex>,
}

/// Most leaf cells one polygon may tile into: five times Dianbai's 972,554 at resolution 11.
pub const MAX_TILED_LEAF_CELLS: u64 = 5_000_000;

impl Coverage {
    /// Builds a coverage from cells of mixed resolutions, in any order, possibly repeated or
    /// nested: drops cells inside others and compacts complete sibling sets.
    ///
    /// # Errors
    ///
    /// [`GeoError::CellTooFine`] for the first cell finer than `leaf`.
    ///
    /// # Example
    ///
    /// ```
    /// use wangge_geo::{Coverage, LatLng, Resolution};
    ///
    /// let parent = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Nine);
    /// // All seven children and, redundantly, one of them again: compacts to the parent.
    /// let mut cells: Vec<_> = parent.children(Resolution::Ten).collect();
    /// cells.push(cells[3]);
    /// let coverage = Coverage::from_cells(cells, Resolution::Eleven)?;
    /// assert_eq!(coverage.cells(), &[parent]);
    /// assert_eq!(coverage.leaf_cell_count(Resolution::Eleven), 49);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_cells(
        cells: impl IntoIterator<Item = CellIndex>,
        leaf: Resolution,
    ) -> Result<Self, GeoError> {
        let cells = cells
            .into_iter()
            .map(|cell| check_leaf(cell, leaf))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            cells: normalize(cells),
        })
    }

    /// Tiles polygons (in WGS-84 degrees, x = longitude) into cells at `leaf`, keeping a cell
    /// when its centroid lies inside, so two adjacent polygons never share a cell; then
    /// compacts.
    ///
    /// # Errors
    ///
    /// [`GeoError::Tiling`] if the tiler rejects a polygon (e.g. a ring with fewer than four
    /// positions or a non-finite coordinate). Validate input with
    /// [`parse_polygons`](crate::parse_polygons) first for better messages.
    ///
    /// # Example
    ///
    /// ```
    /// use geo::{MultiPolygon, polygon};
    /// use wangge_geo::{Coverage, Resolution};
    ///
    /// // About 1.1 km x 1.1 km near Shuidong.
    /// let square = polygon![
    ///     (x: 111.00, y: 21.50), (x: 111.01, y: 21.50), (x: 111.01, y: 21.51),
    ///     (x: 111.00, y: 21.51), (x: 111.00, y: 21.50),
    /// ];
    /// let coverage = Coverage::from_polygons(&MultiPolygon::new(vec![square]), Resolution::Nine)?;
    /// // 1.1 km² / 0.105 km² per resolution-9 cell.
    /// assert!((8..=14).contains(&coverage.leaf_cell_count(Resolution::Nine)));
    /// # Ok::<(), wangge_geo::GeoError>(())
    /// ```
    pub fn from_polygons(shape: &MultiPolygon<f64>, leaf: Resolution) -> Result<Self, GeoError> {
        // Refuse before tiling: a polygon spanning a continent would take minutes and gigabytes.
        let area_m2 = geo::ChamberlainDuquetteArea::chamberlain_duquette_unsigned_area(shape);
        let estimate_cells = area_m2 / leaf.area_m2();
        if estimate_cells > MAX_TILED_LEAF_CELLS as f64 {
            return Err(GeoError::InvalidGeometry(format!(
                "the shape covers about {:.0} km², about {estimate_cells:.0} cells at resolution {}; \
                 at most {MAX_TILED_LEAF_CELLS} cells are tiled at once",
                area_m2 / 1e6,
                u8::from(leaf)
            )));
        }
        let mut tiler = TilerBuilder::new(leaf)
            .containment_mode(ContainmentMode::ContainsCentroid)
            .build();
        for (index, polygon) in shape.0.iter().enumerate() {
            tiler
                .add(polygon.clone())
                .map_err(|err| GeoError::Tiling(format!("polygon {index}: {err}")))?;
        }
        let mut cells: Vec<CellIndex> = tiler.into_coverage().collect();
        // Overlapping input polygons yield duplicates, which `compact` refuses.
        cells.sort_unstable();
        cells.dedup();
        Ok(Self::from_sorted_leaf_cells(cells))
    }

    /// Compacts distinct cells that all have the same resolution, sorted.
    pub(crate) fn from_sorted_leaf_cells(mut cells: Vec<CellIndex>) -> Self {
        if CellIndex::compact(&mut cells).is_err() {
            // Only reachable if the caller broke the contract; the general path is correct
            // for any input, just slower.
            return Self {
                cells: normalize(cells),
            };
        }
        cells.sort_unstable();
        Self { cells }
    }

    /// Wraps cells already known to be canonical.
    pub(crate) const fn from_canonical(cells: Vec<CellIndex>) -> Self {
        Self { cells }
    }

    /// The compacted cells, in [`CellIndex`] order.
    #[must_use]
    pub fn cells(&self) -> &[CellIndex] {
        &self.cells
    }

    /// Whether the coverage holds no cell.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The number of compacted cells (what [`to_bytes`](Self::to_bytes) stores).
    #[must_use]
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// The number of cells at `leaf` this coverage stands for (7 per resolution step below
    /// each cell, 6 for the first step below a pentagon). Cells finer than `leaf` count 0.
    #[must_use]
    pub fn leaf_cell_count(&self, leaf: Resolution) -> u64 {
        CellIndex::uncompact_size(self.cells.iter().copied(), leaf)
    }

    /// The area of the cells, in km².
    #[must_use]
    pub fn area_km2(&self) -> f64 {
        self.cells.iter().map(|cell| cell.area_km2()).sum()
    }

    /// All cells at `leaf`, sorted; cells finer than `leaf` are left out. A district at
    /// resolution 11 gives about a million cells (8 MB).
    #[must_use]
    pub fn uncompacted(&self, leaf: Resolution) -> Vec<CellIndex> {
        let capacity = usize::try_from(self.leaf_cell_count(leaf)).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        out.extend(CellIndex::uncompact(self.cells.iter().copied(), leaf));
        out
    }

    /// Whether `cell` lies entirely inside this coverage (binary searches over its ancestors).
    #[must_use]
    pub fn contains_cell(&self, cell: CellIndex) -> bool {
        Resolution::range(Resolution::Zero, cell.resolution())
            .rev()
            .filter_map(|res| cell.parent(res))
            .any(|ancestor| self.cells.binary_search(&ancestor).is_ok())
    }

    /// Whether the point's cell at `leaf` lies inside this coverage.
    #[must_use]
    pub fn contains_point(&self, ll: LatLng, leaf: Resolution) -> bool {
        self.contains_cell(ll.to_cell(leaf))
    }

    /// This coverage less some cells at `leaf`, compacted: what is left of a unit once the
    /// cells walked are taken out. Cells at another resolution, and cells outside, take
    /// nothing. A cell of the coverage is split only where a taken cell lies inside it, so the
    /// work follows the cells taken, not the size of the coverage.
    ///
    /// # Example
    ///
    /// ```
    /// use wangge_geo::{Coverage, LatLng, Resolution};
    ///
    /// let leaf = Resolution::Ten;
    /// let parent = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Nine);
    /// let coverage = Coverage::from_cells([parent], leaf)?;
    /// let walked = parent.center_child(leaf).unwrap();
    /// let rest = coverage.without(&[walked], leaf);
    /// assert_eq!(rest.leaf_cell_count(leaf), 6);
    /// assert!(!rest.contains_cell(walked));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn without(&self, taken: &[CellIndex], leaf: Resolution) -> Self {
        let mut keys: Vec<i64> = taken
            .iter()
            .filter(|cell| cell.resolution() == leaf)
            .map(|cell| u64::from(*cell).cast_signed())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        // The taken cells inside `cell`: its leaf descendants are one range of indexes.
        let inside = |cell: CellIndex| -> u64 {
            crate::cells::leaf_range(cell, leaf).map_or(0, |(lo, hi)| {
                let from = keys.partition_point(|k| *k < lo);
                let to = keys.partition_point(|k| *k <= hi);
                (to - from) as u64
            })
        };
        let mut kept = Vec::with_capacity(self.cells.len());
        let mut todo = self.cells.clone();
        while let Some(cell) = todo.pop() {
            let n = inside(cell);
            if n == 0 {
                kept.push(cell);
            } else if n < cell.children_count(leaf)
                && let Some(finer) = cell.resolution().succ()
            {
                todo.extend(cell.children(finer));
            }
            // Otherwise every leaf cell of it is taken.
        }
        // Disjoint, nothing nested, and no complete set of siblings (their parent held a taken
        // cell): canonical once sorted.
        kept.sort_unstable();
        Self::from_canonical(kept)
    }

    /// Storage form: 8 bytes little-endian per cell, in order (a coverage of 20,000 compacted
    /// cells is 160 kB).
    ///
    /// # Example
    ///
    /// ```
    /// use wangge_geo::{Coverage, LatLng, Resolution};
    ///
    /// let cell = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Nine);
    /// let coverage = Coverage::from_cells([cell], Resolution::Eleven)?;
    /// let bytes = coverage.to_bytes();
    /// assert_eq!(bytes.len(), 8);
    /// assert_eq!(Coverage::from_bytes(&bytes, Resolution::Eleven)?, coverage);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.cells.len() * CELL_BYTES);
        for &cell in &self.cells {
            out.extend_from_slice(&u64::from(cell).to_le_bytes());
        }
        out
    }

    /// Decodes [`to_bytes`](Self::to_bytes), checking that every cell is valid and no finer than
    /// `leaf` and that the whole is canonical (sorted, nothing nested, nothing left to compact):
    /// stored bytes that are not are corrupt, not something to silently repair.
    ///
    /// # Errors
    ///
    /// [`GeoError::InvalidCoverage`] for a length that is not a multiple of 8, an invalid cell,
    /// or a non-canonical order; [`GeoError::CellTooFine`] for a cell finer than `leaf`.
    pub fn from_bytes(bytes: &[u8], leaf: Resolution) -> Result<Self, GeoError> {
        let chunks = bytes.chunks_exact(CELL_BYTES);
        if !chunks.remainder().is_empty() {
            return Err(GeoError::InvalidCoverage(format!(
                "{} bytes is not a multiple of {CELL_BYTES}",
                bytes.len()
            )));
        }
        let mut cells = Vec::with_capacity(bytes.len() / CELL_BYTES);
        for (index, chunk) in chunks.enumerate() {
            let mut word = [0; CELL_BYTES];
            word.copy_from_slice(chunk);
            let raw = u64::from_le_bytes(word);
            let cell = CellIndex::try_from(raw).map_err(|err| {
                GeoError::InvalidCoverage(format!("cell {index} ({raw:#x}): {}", err.reason))
            })?;
            cells.push(check_leaf(cell, leaf)?);
        }
        if let Some(index) = cells.windows(2).position(|pair| pair[0] >= pair[1]) {
            return Err(GeoError::InvalidCoverage(format!(
                "cells {index} and {} ({} then {}) are not in strictly increasing order",
                index + 1,
                cells[index],
                cells[index + 1],
            )));
        }
        let canonical = normalize(cells.clone());
        if canonical != cells {
            return Err(GeoError::InvalidCoverage(
                "cells overlap or are not fully compacted".to_owned(),
            ));
        }
        Ok(Self { cells })
    }

    /// The dissolved outline of the cells, in WGS-84 degrees, for GeoJSON export.
    ///
    /// # Errors
    ///
    /// [`GeoError::Outline`] if h3o cannot dissolve the cells (not expected for a canonical
    /// coverage).
    ///
    /// # Example
    ///
    /// ```
    /// use wangge_geo::{Coverage, LatLng, Resolution};
    ///
    /// let cell = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Nine);
    /// let coverage = Coverage::from_cells([cell], Resolution::Eleven)?;
    /// let outline = coverage.outline()?;
    /// assert_eq!(outline.0.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn outline(&self) -> Result<MultiPolygon<f64>, GeoError> {
        let Some(finest) = self.cells.iter().map(|cell| cell.resolution()).max() else {
            return Ok(MultiPolygon::new(Vec::new()));
        };
        SolventBuilder::new()
            .enable_heterogeneous_support(finest)
            .build()
            .dissolve(self.cells.iter().copied())
            .map_err(|err| GeoError::Outline(err.to_string()))
    }
}

/// Rejects a cell finer than `leaf`.
pub(crate) fn check_leaf(cell: CellIndex, leaf: Resolution) -> Result<CellIndex, GeoError> {
    let resolution = cell.resolution();
    if resolution > leaf {
        return Err(GeoError::CellTooFine {
            cell,
            resolution,
            leaf,
        });
    }
    Ok(cell)
}

/// Makes any bag of cells canonical: sorted, without duplicates or nested cells, compacted.
pub(crate) fn normalize(mut cells: Vec<CellIndex>) -> Vec<CellIndex> {
    cells.sort_unstable();
    cells.dedup();
    compact_mixed(remove_nested(cells))
}

/// Drops every cell that lies inside another one. Input sorted.
///
/// In [`CellIndex`] order a cell's descendants form a contiguous run right before it, so a
/// backward scan only has to remember the last cell it kept.
fn remove_nested(sorted: Vec<CellIndex>) -> Vec<CellIndex> {
    let mut kept: Vec<CellIndex> = Vec::with_capacity(sorted.len());
    for cell in sorted.into_iter().rev() {
        if let Some(&last) = kept.last()
            && cell.parent(last.resolution()) == Some(last)
        {
            continue;
        }
        kept.push(cell);
    }
    kept.reverse();
    kept
}

/// Replaces every complete set of siblings by their parent, from the finest resolution up.
/// Input: distinct, none inside another. Output sorted.
fn compact_mixed(cells: Vec<CellIndex>) -> Vec<CellIndex> {
    let mut by_res: [Vec<CellIndex>; 16] = Default::default();
    for cell in cells {
        by_res[usize::from(cell.resolution())].push(cell);
    }
    let mut out = Vec::new();
    for res in Resolution::range(Resolution::One, Resolution::Fifteen).rev() {
        let mut level = std::mem::take(&mut by_res[usize::from(res)]);
        let Some(parent_res) = res.pred() else {
            continue;
        };
        if level.is_empty() {
            continue;
        }
        // Parents promoted from the finer level were appended after the original cells.
        level.sort_unstable();
        // Siblings are contiguous among the cells of one resolution.
        for group in level.chunk_by(|a, b| a.parent(parent_res) == b.parent(parent_res)) {
            match group[0].parent(parent_res) {
                Some(parent) if group.len() as u64 == parent.children_count(res) => {
                    by_res[usize::from(parent_res)].push(parent);
                }
                _ => out.extend_from_slice(group),
            }
        }
    }
    out.append(&mut by_res[0]);
    out.sort_unstable();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geo::polygon;

    fn cell(lat: f64, lng: f64, res: Resolution) -> CellIndex {
        LatLng::new(lat, lng).unwrap().to_cell(res)
    }

    #[test]
    fn compacts_dedups_and_drops_nested_cells() {
        let parent = cell(21.5, 111.0, Resolution::Eight);
        let mut cells: Vec<_> = parent.children(Resolution::Ten).collect();
        // Duplicates, a nested finer cell, and the children in reverse order.
        cells.reverse();
        cells.push(cells[0]);
        cells.push(cells[5].children(Resolution::Eleven).next().unwrap());
        let coverage = Coverage::from_cells(cells, Resolution::Eleven).unwrap();
        assert_eq!(coverage.cells(), &[parent]);
        assert_eq!(coverage.leaf_cell_count(Resolution::Eleven), 343);

        // Six children of nine plus one grand-child set: stays partly uncompacted.
        let children: Vec<_> = parent.children(Resolution::Nine).collect();
        let mut cells = children[..6].to_vec();
        cells.extend(children[6].children(Resolution::Ten).take(6));
        let coverage = Coverage::from_cells(cells.clone(), Resolution::Eleven).unwrap();
        assert_eq!(coverage.len(), 12);
        assert!(coverage.cells().windows(2).all(|w| w[0] < w[1]));
        assert_eq!(coverage.leaf_cell_count(Resolution::Ten), 6 * 7 + 6);
        assert_eq!(
            coverage.uncompacted(Resolution::Ten).len(),
            usize::try_from(coverage.leaf_cell_count(Resolution::Ten)).unwrap()
        );
        // Containing the missing one compacts all the way up.
        cells.push(children[6].children(Resolution::Ten).nth(6).unwrap());
        let coverage = Coverage::from_cells(cells, Resolution::Eleven).unwrap();
        assert_eq!(coverage.cells(), &[parent]);
    }

    #[test]
    fn compacts_across_several_levels() {
        let grand = cell(21.5, 111.0, Resolution::Seven);
        let cells: Vec<_> = grand.children(Resolution::Ten).collect();
        let coverage = Coverage::from_cells(cells, Resolution::Ten).unwrap();
        assert_eq!(coverage.cells(), &[grand]);
        assert!(
            Coverage::from_cells([], Resolution::Ten)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn without_takes_out_exactly_the_leaf_cells_inside() {
        let leaf = Resolution::Eleven;
        let a = cell(21.5, 111.0, Resolution::Eight);
        let b = cell(21.6, 111.1, Resolution::Nine);
        let coverage = Coverage::from_cells([a, b], leaf).unwrap();
        let all = coverage.uncompacted(leaf);
        // A few leaf cells of each, one twice, one at another resolution, one outside.
        let mut taken: Vec<CellIndex> = all.iter().copied().step_by(97).collect();
        taken.push(taken[0]);
        taken.push(b.center_child(Resolution::Ten).unwrap());
        taken.push(cell(22.0, 112.0, leaf));
        let rest = coverage.without(&taken, leaf);
        let expected: Vec<CellIndex> = all.iter().copied().filter(|c| !taken.contains(c)).collect();
        assert_eq!(rest, Coverage::from_cells(expected, leaf).unwrap());
        assert_eq!(
            rest.leaf_cell_count(leaf),
            coverage.leaf_cell_count(leaf) - all.iter().step_by(97).count() as u64
        );
        // Nothing taken leaves it whole; everything taken leaves nothing.
        assert_eq!(coverage.without(&[], leaf), coverage);
        assert!(coverage.without(&all, leaf).is_empty());
    }

    #[test]
    fn compacts_pentagon_children() {
        let pentagon = Resolution::Three.pentagons().next().unwrap();
        let children: Vec<_> = pentagon.children(Resolution::Four).collect();
        assert_eq!(children.len(), 6);
        let coverage = Coverage::from_cells(children, Resolution::Five).unwrap();
        assert_eq!(coverage.cells(), &[pentagon]);
    }

    #[test]
    fn rejects_cells_finer_than_leaf() {
        let fine = cell(21.5, 111.0, Resolution::Twelve);
        let ok = cell(21.6, 111.1, Resolution::Nine);
        let err = Coverage::from_cells([ok, fine], Resolution::Eleven).unwrap_err();
        assert_eq!(
            err,
            GeoError::CellTooFine {
                cell: fine,
                resolution: Resolution::Twelve,
                leaf: Resolution::Eleven
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&fine.to_string()) && msg.contains("12"),
            "{msg}"
        );
    }

    #[test]
    fn adjacent_squares_share_no_cell() {
        let left = polygon![
            (x: 111.00, y: 21.50), (x: 111.02, y: 21.50), (x: 111.02, y: 21.52),
            (x: 111.00, y: 21.52), (x: 111.00, y: 21.50),
        ];
        let right = polygon![
            (x: 111.02, y: 21.50), (x: 111.04, y: 21.50), (x: 111.04, y: 21.52),
            (x: 111.02, y: 21.52), (x: 111.02, y: 21.50),
        ];
        let leaf = Resolution::Ten;
        let a = Coverage::from_polygons(&MultiPolygon::new(vec![left.clone()]), leaf).unwrap();
        let b = Coverage::from_polygons(&MultiPolygon::new(vec![right.clone()]), leaf).unwrap();
        let a_cells = a.uncompacted(leaf);
        let b_cells = b.uncompacted(leaf);
        assert!(a_cells.len() > 100 && b_cells.len() > 100);
        assert!(a_cells.iter().all(|c| b_cells.binary_search(c).is_err()));
        // Both together tile to the union.
        let both = Coverage::from_polygons(&MultiPolygon::new(vec![left, right]), leaf).unwrap();
        assert_eq!(
            both.leaf_cell_count(leaf),
            a.leaf_cell_count(leaf) + b.leaf_cell_count(leaf)
        );
        assert!(both.contains_point(LatLng::new(21.51, 111.01).unwrap(), leaf));
        assert!(!both.contains_point(LatLng::new(21.51, 111.05).unwrap(), leaf));
    }

    #[test]
    fn bytes_round_trip_and_reject_corruption() {
        let parent = cell(21.5, 111.0, Resolution::Eight);
        let children: Vec<_> = parent.children(Resolution::Ten).take(40).collect();
        let coverage = Coverage::from_cells(children, Resolution::Eleven).unwrap();
        let bytes = coverage.to_bytes();
        assert_eq!(bytes.len(), coverage.len() * 8);
        assert_eq!(
            Coverage::from_bytes(&bytes, Resolution::Eleven).unwrap(),
            coverage
        );
        assert_eq!(
            Coverage::from_bytes(&[], Resolution::Eleven).unwrap(),
            Coverage::default()
        );

        assert!(matches!(
            Coverage::from_bytes(&bytes[..7], Resolution::Eleven),
            Err(GeoError::InvalidCoverage(_))
        ));
        assert!(matches!(
            Coverage::from_bytes(&bytes, Resolution::Nine),
            Err(GeoError::CellTooFine { .. })
        ));
        let mut garbage = bytes.clone();
        garbage[..8].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
        assert!(matches!(
            Coverage::from_bytes(&garbage, Resolution::Eleven),
            Err(GeoError::InvalidCoverage(_))
        ));
        // Swapped order.
        let mut swapped = bytes[8..16].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert!(matches!(
            Coverage::from_bytes(&swapped, Resolution::Eleven),
            Err(GeoError::InvalidCoverage(_))
        ));
        // Uncompacted: all seven children stored instead of the parent.
        let uncompacted: Vec<u8> = parent
            .children(Resolution::Nine)
            .flat_map(|c| u64::from(c).to_le_bytes())
            .collect();
        let err = Coverage::from_bytes(&uncompacted, Resolution::Eleven).unwrap_err();
        assert!(err.to_string().contains("compacted"), "{err}");
    }

    #[test]
    fn outline_dissolves_cells() {
        let parent = cell(21.5, 111.0, Resolution::Eight);
        let coverage = Coverage::from_cells(
            parent.children(Resolution::Ten).take(30),
            Resolution::Eleven,
        )
        .unwrap();
        let outline = coverage.outline().unwrap();
        assert!(!outline.0.is_empty());
        assert!(Coverage::default().outline().unwrap().0.is_empty());
        // The outline tiles back to the same cells.
        let again = Coverage::from_polygons(&outline, Resolution::Ten).unwrap();
        assert_eq!(again, coverage);
    }
}
