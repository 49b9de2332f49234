//! Containment and overlap queries over coverages.

use std::fmt;

use h3o::{CellIndex, Resolution};

use crate::Coverage;
use crate::coverage::normalize;
use crate::hash::{CellMap, table_heap_bytes};

/// A query structure over coverages, each tagged with an owner (e.g. a sibling unit's index).
///
/// It answers, for a cell of any resolution, "is it wholly inside the set?" and "whose cells
/// does it overlap?" in a handful of hash look-ups: one per ancestor, plus a walk down only
/// where the set's cells are finer than the query cell. Used to check that a child's coverage
/// lies inside its parent's and that siblings never overlap.
///
/// # Example
///
/// ```
/// use wangge_geo::{Coverage, CoverageSet, LatLng, Resolution};
///
/// let leaf = Resolution::Eleven;
/// let town = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Eight);
/// let villages: Vec<_> = town.children(Resolution::Nine).collect();
/// let a = Coverage::from_cells(villages[..3].iter().copied(), leaf)?;
/// let b = Coverage::from_cells(villages[3..].iter().copied(), leaf)?;
///
/// let mut siblings = CoverageSet::new();
/// siblings.insert(0_u32, &a);
/// siblings.insert(1_u32, &b);
/// assert!(siblings.contains_cell(town)); // a and b together cover the town
/// assert_eq!(siblings.overlap(villages[4]), Some((1, villages[4])));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CoverageSet<T = ()> {
    /// Every member cell and its owner (the first owner inserted wins).
    members: CellMap<T>,
    /// Every strict ancestor of a member, with one owner and member below it (a sample for
    /// error messages).
    ancestors: CellMap<(T, CellIndex)>,
}

/// How a cell relates to a set.
enum Relation<T> {
    /// The cell lies inside one member: this owner's.
    Inside(T),
    /// No member meets the cell.
    Outside,
    /// Some members lie strictly inside the cell (a sample owner and member).
    Partial(T, CellIndex),
}

impl<T: Copy> CoverageSet<T> {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self {
            members: CellMap::default(),
            ancestors: CellMap::default(),
        }
    }

    /// Adds a coverage under `owner`. Cells already present keep their first owner.
    pub fn insert(&mut self, owner: T, coverage: &Coverage) {
        self.members.reserve(coverage.len());
        for &cell in coverage.cells() {
            self.members.entry(cell.into()).or_insert(owner);
            for res in Resolution::range(Resolution::Zero, cell.resolution())
                .rev()
                .skip(1)
            {
                let Some(ancestor) = cell.parent(res) else {
                    break;
                };
                if self.ancestors.contains_key(&u64::from(ancestor)) {
                    // Its own ancestors were recorded when it was.
                    break;
                }
                self.ancestors.insert(ancestor.into(), (owner, cell));
            }
        }
    }

    /// Whether the set holds no cell.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The number of member cells.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Estimated heap bytes held.
    #[must_use]
    pub fn heap_size_bytes(&self) -> usize {
        table_heap_bytes(self.members.capacity(), size_of::<(u64, T)>())
            + table_heap_bytes(
                self.ancestors.capacity(),
                size_of::<(u64, (T, CellIndex))>(),
            )
    }

    fn relation(&self, cell: CellIndex) -> Relation<T> {
        // The cell itself or one of its ancestors is a member.
        for res in Resolution::range(Resolution::Zero, cell.resolution()).rev() {
            if let Some(owner) = cell
                .parent(res)
                .and_then(|ancestor| self.members.get(&u64::from(ancestor)))
            {
                return Relation::Inside(*owner);
            }
        }
        match self.ancestors.get(&u64::from(cell)) {
            Some(&(owner, member)) => Relation::Partial(owner, member),
            None => Relation::Outside,
        }
    }

    /// Whether `cell` (any resolution) lies wholly inside the union of the set's cells.
    #[must_use]
    pub fn contains_cell(&self, cell: CellIndex) -> bool {
        match self.relation(cell) {
            Relation::Inside(_) => true,
            Relation::Outside => false,
            // Finer members may still tile it completely: check each child.
            Relation::Partial(..) => cell
                .resolution()
                .succ()
                .is_some_and(|finer| cell.children(finer).all(|child| self.contains_cell(child))),
        }
    }

    /// Whether every cell of `coverage` lies inside the set.
    #[must_use]
    pub fn contains(&self, coverage: &Coverage) -> bool {
        coverage
            .cells()
            .iter()
            .all(|&cell| self.contains_cell(cell))
    }

    /// The first owner found whose cells meet `cell`, with one cell of the overlap (the
    /// smaller of the two cells), for a sample in error messages.
    #[must_use]
    pub fn overlap(&self, cell: CellIndex) -> Option<(T, CellIndex)> {
        match self.relation(cell) {
            Relation::Inside(owner) => Some((owner, cell)),
            Relation::Outside => None,
            Relation::Partial(owner, member) => Some((owner, member)),
        }
    }

    /// The first overlap between the set and any cell of `coverage`.
    #[must_use]
    pub fn overlap_with(&self, coverage: &Coverage) -> Option<(T, CellIndex)> {
        coverage.cells().iter().find_map(|&cell| self.overlap(cell))
    }

    /// Splits `cell` into its parts inside and outside the set.
    fn split(&self, cell: CellIndex, inside: &mut Vec<CellIndex>, outside: &mut Vec<CellIndex>) {
        match self.relation(cell) {
            Relation::Inside(_) => inside.push(cell),
            Relation::Outside => outside.push(cell),
            Relation::Partial(..) => match cell.resolution().succ() {
                Some(finer) => {
                    for child in cell.children(finer) {
                        self.split(child, inside, outside);
                    }
                }
                // A resolution-15 cell has no strict descendants, so this is unreachable.
                None => outside.push(cell),
            },
        }
    }
}

impl<T: Copy> Default for CoverageSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for CoverageSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoverageSet")
            .field("members", &self.members.len())
            .field("ancestors", &self.ancestors.len())
            .finish()
    }
}

impl From<&Coverage> for CoverageSet<()> {
    fn from(coverage: &Coverage) -> Self {
        let mut set = Self::new();
        set.insert((), coverage);
        set
    }
}

impl Coverage {
    /// The part of `self` not inside `other`, compacted.
    ///
    /// # Example
    ///
    /// ```
    /// use wangge_geo::{Coverage, CoverageSet, LatLng, Resolution};
    ///
    /// let leaf = Resolution::Eleven;
    /// let cell = LatLng::new(21.5, 111.0)?.to_cell(Resolution::Eight);
    /// let whole = Coverage::from_cells([cell], leaf)?;
    /// let hole = Coverage::from_cells(cell.children(Resolution::Ten).take(5), leaf)?;
    ///
    /// let rest = whole.difference(&CoverageSet::from(&hole));
    /// assert_eq!(rest.leaf_cell_count(leaf), 343 - 35);
    /// assert_eq!(whole.intersection(&CoverageSet::from(&hole)), hole);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn difference<T: Copy>(&self, other: &CoverageSet<T>) -> Self {
        let (_, outside) = self.split(other);
        outside
    }

    /// The part of `self` inside `other`, compacted.
    #[must_use]
    pub fn intersection<T: Copy>(&self, other: &CoverageSet<T>) -> Self {
        let (inside, _) = self.split(other);
        inside
    }

    /// The parts of `self` inside and outside `other`.
    #[must_use]
    pub fn split<T: Copy>(&self, other: &CoverageSet<T>) -> (Self, Self) {
        let mut inside = Vec::new();
        let mut outside = Vec::new();
        for &cell in self.cells() {
            other.split(cell, &mut inside, &mut outside);
        }
        // Pieces from different members may complete a sibling set: recompact.
        (
            Self::from_canonical(normalize(inside)),
            Self::from_canonical(normalize(outside)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use h3o::LatLng;

    const LEAF: Resolution = Resolution::Eleven;

    fn cell(res: Resolution) -> CellIndex {
        LatLng::new(21.5, 111.0).unwrap().to_cell(res)
    }

    #[test]
    fn contains_and_overlap_with_mixed_resolutions() {
        let town = cell(Resolution::Seven);
        let villages: Vec<_> = town.children(Resolution::Eight).collect();
        // Owner 1: village 0 whole plus half of village 1 at resolution 10.
        let fine: Vec<_> = villages[1].children(Resolution::Ten).take(20).collect();
        let mut cells = vec![villages[0]];
        cells.extend(&fine);
        let one = Coverage::from_cells(cells, LEAF).unwrap();
        // Owner 2: village 2 at resolution 9.
        let two = Coverage::from_cells(villages[2].children(Resolution::Nine), LEAF).unwrap();
        assert_eq!(two.cells(), &[villages[2]]);

        let mut set = CoverageSet::new();
        set.insert(1_u8, &one);
        set.insert(2_u8, &two);
        assert_eq!(set.len(), one.len() + 1);

        // Coarser query cells.
        assert!(!set.contains_cell(town));
        assert!(set.contains_cell(villages[0]));
        assert!(!set.contains_cell(villages[1]));
        assert!(!set.contains_cell(villages[3]));
        // Finer query cells.
        let deep = villages[2].children(Resolution::Eleven).nth(100).unwrap();
        assert!(set.contains_cell(deep));
        assert_eq!(set.overlap(deep), Some((2, deep)));
        assert!(set.contains_cell(fine[3]));
        assert!(set.contains_cell(fine[3].children(LEAF).next().unwrap()));

        // Overlap of a coarse cell with fine members names a member inside it.
        let (owner, sample) = set.overlap(villages[1]).unwrap();
        assert_eq!(owner, 1);
        assert!(one.cells().contains(&sample));
        assert_eq!(sample.parent(Resolution::Eight), Some(villages[1]));
        assert_eq!(set.overlap(villages[3]), None);
        assert_eq!(set.overlap(town).map(|(o, _)| o), Some(1));
        assert!(set.contains(&two) && !set.contains(&Coverage::from_cells([town], LEAF).unwrap()));
    }

    #[test]
    fn union_of_owners_can_contain_a_cell_none_holds_alone() {
        let village = cell(Resolution::Eight);
        let mut set = CoverageSet::new();
        for (owner, child) in village.children(Resolution::Nine).enumerate() {
            set.insert(owner, &Coverage::from_cells([child], LEAF).unwrap());
        }
        assert!(set.contains_cell(village));
        assert!(!set.contains_cell(village.parent(Resolution::Seven).unwrap()));
    }

    #[test]
    fn difference_and_intersection_partition_self() {
        let town = cell(Resolution::Seven);
        let whole = Coverage::from_cells([town], LEAF).unwrap();
        let villages: Vec<_> = town.children(Resolution::Eight).collect();
        let mut cells = vec![villages[0]];
        cells.extend(villages[1].children(Resolution::Ten).take(10));
        let part = Coverage::from_cells(cells, LEAF).unwrap();
        let set = CoverageSet::from(&part);

        let inside = whole.intersection(&set);
        let outside = whole.difference(&set);
        assert_eq!(inside, part);
        assert_eq!(
            inside.leaf_cell_count(LEAF) + outside.leaf_cell_count(LEAF),
            whole.leaf_cell_count(LEAF)
        );
        assert!(CoverageSet::from(&outside).overlap_with(&inside).is_none());
        // Recombining gives back the whole.
        let mut all = inside.cells().to_vec();
        all.extend(outside.cells());
        assert_eq!(Coverage::from_cells(all, LEAF).unwrap(), whole);

        // Against an empty set and against itself.
        let empty = CoverageSet::<()>::new();
        assert_eq!(whole.difference(&empty), whole);
        assert!(whole.intersection(&empty).is_empty());
        assert!(whole.difference(&CoverageSet::from(&whole)).is_empty());
    }
}
