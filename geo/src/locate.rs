//! The in-memory locate index: point → deepest unit covering it.

use std::fmt;

use h3o::{CellIndex, LatLng, Resolution};

use crate::Coverage;
use crate::hash::{CellMap, table_heap_bytes};

/// For a point, the deepest unit whose coverage holds it.
///
/// Every compacted cell of every unit maps to its owner; where a parent and a child share a
/// cell, the deeper level wins. Because coverages nest and are canonical, a cell of a parent
/// is never finer than a cell of its child covering the same place, so walking from the
/// point's leaf cell to coarser parents and stopping at the first hit finds the deepest unit.
/// That is at most 16 look-ups in a table of `u64 → u32`.
///
/// # Example
///
/// ```
/// use wangge_geo::{Coverage, LatLng, LocateIndex, Resolution};
///
/// let leaf = Resolution::Eleven;
/// let point = LatLng::new(21.5, 111.0)?;
/// let town = point.to_cell(Resolution::Seven);
/// let village = point.to_cell(Resolution::Nine);
///
/// let mut builder = LocateIndex::builder(leaf);
/// builder.add(1, 2, &Coverage::from_cells([town], leaf)?);
/// builder.add(7, 3, &Coverage::from_cells([village], leaf)?);
/// let index = builder.build();
///
/// assert_eq!(index.locate(point), Some((point.to_cell(leaf), 7)));
/// assert_eq!(index.locate(LatLng::new(21.0, 110.0)?), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LocateIndex {
    leaf: Resolution,
    owners: CellMap<u32>,
}

/// Collects `(owner, level, coverage)` triples for a [`LocateIndex`].
#[derive(Debug, Clone)]
pub struct LocateIndexBuilder {
    leaf: Resolution,
    /// `(cell, level, owner)`: sorted and deduplicated at build time.
    entries: Vec<(u64, u8, u32)>,
}

impl LocateIndex {
    /// Starts an index whose points are located at `leaf`.
    #[must_use]
    pub fn builder(leaf: Resolution) -> LocateIndexBuilder {
        LocateIndexBuilder {
            leaf,
            entries: Vec::new(),
        }
    }

    /// The point's cell at the leaf resolution and the deepest owner covering it, if any.
    #[must_use]
    pub fn locate(&self, ll: LatLng) -> Option<(CellIndex, u32)> {
        let cell = ll.to_cell(self.leaf);
        self.locate_cell(cell).map(|owner| (cell, owner))
    }

    /// The deepest owner covering `cell` (of any resolution up to the leaf).
    #[must_use]
    pub fn locate_cell(&self, cell: CellIndex) -> Option<u32> {
        Resolution::range(Resolution::Zero, cell.resolution())
            .rev()
            .find_map(|res| {
                cell.parent(res)
                    .and_then(|ancestor| self.owners.get(&u64::from(ancestor)).copied())
            })
    }

    /// The resolution points are located at.
    #[must_use]
    pub const fn leaf(&self) -> Resolution {
        self.leaf
    }

    /// The number of entries (distinct cells).
    #[must_use]
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether the index has no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Estimated heap bytes held (hash table slots plus control bytes), for metrics.
    #[must_use]
    pub fn heap_size_bytes(&self) -> usize {
        table_heap_bytes(self.owners.capacity(), size_of::<(u64, u32)>())
    }
}

impl fmt::Debug for LocateIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocateIndex")
            .field("leaf", &self.leaf)
            .field("entries", &self.owners.len())
            .finish()
    }
}

impl LocateIndexBuilder {
    /// Adds a unit's coverage. `level` orders nested units (deeper = larger); on a cell two
    /// units share, the deeper one wins, and between equal levels the one added first.
    /// Cells finer than the leaf resolution are never reached by [`LocateIndex::locate`].
    pub fn add(&mut self, owner: u32, level: u8, coverage: &Coverage) -> &mut Self {
        self.entries.reserve(coverage.len());
        self.entries.extend(
            coverage
                .cells()
                .iter()
                .map(|&cell| (u64::from(cell), level, owner)),
        );
        self
    }

    /// Builds the index.
    #[must_use]
    pub fn build(mut self) -> LocateIndex {
        // Deepest level first within each cell, then the first added (stable sort).
        self.entries
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
        self.entries.dedup_by_key(|entry| entry.0);
        let mut owners = CellMap::with_capacity_and_hasher(self.entries.len(), Default::default());
        owners.extend(self.entries.iter().map(|&(cell, _, owner)| (cell, owner)));
        LocateIndex {
            leaf: self.leaf,
            owners,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LEAF: Resolution = Resolution::Eleven;

    #[test]
    fn returns_the_deepest_owner_of_three_nested_levels() {
        let center = LatLng::new(21.5, 111.0).unwrap();
        let town = center.to_cell(Resolution::Six);
        let villages: Vec<_> = town.children(Resolution::Seven).collect();
        let groups: Vec<_> = villages[0].children(Resolution::Nine).collect();

        let mut builder = LocateIndex::builder(LEAF);
        // Added out of order on purpose: levels decide, not insertion.
        let group_cov = Coverage::from_cells(groups[..10].iter().copied(), LEAF).unwrap();
        builder.add(300, 3, &group_cov);
        builder.add(100, 1, &Coverage::from_cells([town], LEAF).unwrap());
        builder.add(200, 2, &Coverage::from_cells([villages[0]], LEAF).unwrap());
        builder.add(201, 2, &Coverage::from_cells([villages[1]], LEAF).unwrap());
        // A child covering exactly its parent's cell: same key, deeper level wins.
        builder.add(202, 2, &Coverage::from_cells([villages[2]], LEAF).unwrap());
        builder.add(302, 3, &Coverage::from_cells([villages[2]], LEAF).unwrap());
        let index = builder.build();
        assert_eq!(index.leaf(), LEAF);
        assert_eq!(index.len(), 1 + 3 + group_cov.len());
        assert!(index.heap_size_bytes() >= index.len() * 16);

        let at = |cell: CellIndex| index.locate(LatLng::from(cell)).map(|(_, owner)| owner);
        assert_eq!(at(groups[3]), Some(300));
        assert_eq!(at(groups[30]), Some(200));
        assert_eq!(at(villages[1]), Some(201));
        assert_eq!(at(villages[2]), Some(302));
        assert_eq!(at(villages[5]), Some(100));
        let (leaf_cell, owner) = index.locate(LatLng::from(groups[3])).unwrap();
        assert_eq!(leaf_cell.resolution(), LEAF);
        assert_eq!(owner, 300);
        // Outside the town.
        assert_eq!(index.locate(LatLng::new(22.5, 112.0).unwrap()), None);
        assert_eq!(
            index.locate_cell(town.parent(Resolution::Five).unwrap()),
            None
        );
    }

    #[test]
    fn empty_index_finds_nothing() {
        let index = LocateIndex::builder(LEAF).build();
        assert!(index.is_empty());
        assert_eq!(index.locate(LatLng::new(21.5, 111.0).unwrap()), None);
    }
}
