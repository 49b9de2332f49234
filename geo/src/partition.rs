//! Synthetic partitions for the demo seed (no real polygons exist below district level).

use h3o::{CellIndex, LatLng, Resolution};

use crate::coverage::check_leaf;
use crate::{Coverage, GeoError};

/// Lloyd relaxation steps after the initial seeding: two turn the first, stripy Voronoi
/// regions into plausible compact blobs; more barely changes the look and costs a pass each.
const LLOYD_STEPS: usize = 2;
/// Mean Earth radius, in metres (for a local equirectangular projection).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Splits `parent` into `n` non-overlapping children that exactly cover it.
///
/// `n` seeds are taken evenly spaced through the parent's leaf cells in H3 order (which keeps
/// neighbours together), every leaf cell goes to its nearest seed, and two Lloyd steps move
/// each seed to the leaf cell nearest its region's centroid; so the parts are compact blobs
/// of similar size. Deterministic: the same input gives the same parts in the same order.
/// Every part is non-empty (each seed keeps its own cell).
///
/// Cost is linear in the number of leaf cells (a grid over the seeds finds each cell's nearest
/// seed), about a second for a district of a million resolution-11 cells.
///
/// # Errors
///
/// [`GeoError::TooFewCells`] if `n` is 0 or exceeds the number of leaf cells;
/// [`GeoError::CellTooFine`] if `parent` has a cell finer than `leaf`.
///
/// # Example
///
/// ```
/// use wangge_geo::{Coverage, CoverageSet, LatLng, Resolution, partition};
///
/// let leaf = Resolution::Ten;
/// let village = Coverage::from_cells([LatLng::new(21.5, 111.0)?.to_cell(Resolution::Seven)], leaf)?;
/// let groups = partition(&village, 11, leaf)?;
/// assert_eq!(groups.len(), 11);
/// let total: u64 = groups.iter().map(|g| g.leaf_cell_count(leaf)).sum();
/// assert_eq!(total, village.leaf_cell_count(leaf));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn partition(parent: &Coverage, n: usize, leaf: Resolution) -> Result<Vec<Coverage>, GeoError> {
    for &cell in parent.cells() {
        check_leaf(cell, leaf)?;
    }
    let total = parent.leaf_cell_count(leaf);
    if n == 0 || n as u64 > total {
        return Err(GeoError::TooFewCells {
            parts: n,
            cells: total,
        });
    }
    if n == 1 {
        return Ok(vec![parent.clone()]);
    }

    let cells = parent.uncompacted(leaf);
    let points = project(&cells);
    // Evenly spaced through the cells: distinct since there are at least n cells.
    let mut seeds: Vec<usize> = (0..n)
        .map(|i| (2 * i + 1) * cells.len() / (2 * n))
        .collect();
    let mut owners = vec![0_u32; cells.len()];
    for step in 0..=LLOYD_STEPS {
        let grid = SeedGrid::new(&points, &seeds);
        for (owner, &point) in owners.iter_mut().zip(&points) {
            *owner = grid.nearest(point);
        }
        if step < LLOYD_STEPS {
            seeds = relax(&points, &owners, n);
        }
    }

    let mut parts: Vec<Vec<CellIndex>> = vec![Vec::with_capacity(cells.len() / n); n];
    for (&cell, &owner) in cells.iter().zip(&owners) {
        parts[owner as usize].push(cell);
    }
    // Cells were visited in order, so each part is sorted.
    Ok(parts
        .into_iter()
        .map(Coverage::from_sorted_leaf_cells)
        .collect())
}

/// Cell centres in a local equirectangular projection, in metres (fine at district scale).
fn project(cells: &[CellIndex]) -> Vec<[f64; 2]> {
    let centers: Vec<LatLng> = cells.iter().map(|&cell| LatLng::from(cell)).collect();
    let mean_lat = centers.iter().map(|ll| ll.lat_radians()).sum::<f64>() / centers.len() as f64;
    let x_scale = EARTH_RADIUS_M * mean_lat.cos();
    centers
        .iter()
        .map(|ll| {
            [
                ll.lng_radians() * x_scale,
                ll.lat_radians() * EARTH_RADIUS_M,
            ]
        })
        .collect()
}

/// One Lloyd step: each part's new seed is its member nearest the part's centroid (a member,
/// so the seed keeps at least its own cell in the next assignment).
fn relax(points: &[[f64; 2]], owners: &[u32], n: usize) -> Vec<usize> {
    let mut sums = vec![[0.0_f64; 3]; n];
    for (&[x, y], &owner) in points.iter().zip(owners) {
        let sum = &mut sums[owner as usize];
        sum[0] += x;
        sum[1] += y;
        sum[2] += 1.0;
    }
    let centroids: Vec<[f64; 2]> = sums
        .iter()
        .map(|&[x, y, count]| [x / count.max(1.0), y / count.max(1.0)])
        .collect();
    let mut best = vec![(f64::INFINITY, 0_usize); n];
    for (index, (&point, &owner)) in points.iter().zip(owners).enumerate() {
        let d2 = distance2(point, centroids[owner as usize]);
        let slot = &mut best[owner as usize];
        if d2 < slot.0 {
            *slot = (d2, index);
        }
    }
    best.into_iter().map(|(_, index)| index).collect()
}

fn distance2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// Seeds bucketed in a uniform grid of about one seed per square, for nearest-seed queries
/// that look at a few squares instead of every seed.
struct SeedGrid {
    seeds: Vec<[f64; 2]>,
    min: [f64; 2],
    size_m: f64,
    nx: usize,
    ny: usize,
    /// `starts[b]..starts[b + 1]` indexes `items` for square `b`.
    starts: Vec<usize>,
    items: Vec<u32>,
}

impl SeedGrid {
    fn new(points: &[[f64; 2]], seed_indexes: &[usize]) -> Self {
        let seeds: Vec<[f64; 2]> = seed_indexes.iter().map(|&i| points[i]).collect();
        let mut min = [f64::INFINITY; 2];
        let mut max = [f64::NEG_INFINITY; 2];
        for point in points {
            for axis in 0..2 {
                min[axis] = min[axis].min(point[axis]);
                max[axis] = max[axis].max(point[axis]);
            }
        }
        let (width, height) = (max[0] - min[0], max[1] - min[1]);
        let n = seeds.len() as f64;
        // About one seed per square, and no more than ~n squares along a thin strip.
        let size_m = (width * height / n)
            .sqrt()
            .max(width.max(height) / n)
            .max(1.0);
        let nx = (width / size_m) as usize + 1;
        let ny = (height / size_m) as usize + 1;
        let mut grid = Self {
            seeds,
            min,
            size_m,
            nx,
            ny,
            starts: vec![0; nx * ny + 1],
            items: Vec::new(),
        };
        let squares: Vec<usize> = grid.seeds.iter().map(|&s| grid.square_of(s)).collect();
        for &square in &squares {
            grid.starts[square + 1] += 1;
        }
        for square in 0..nx * ny {
            grid.starts[square + 1] += grid.starts[square];
        }
        let mut fill = grid.starts.clone();
        grid.items = vec![0; squares.len()];
        for (seed, &square) in squares.iter().enumerate() {
            grid.items[fill[square]] = seed as u32;
            fill[square] += 1;
        }
        grid
    }

    fn coords_of(&self, point: [f64; 2]) -> (usize, usize) {
        let gx = ((point[0] - self.min[0]) / self.size_m) as usize;
        let gy = ((point[1] - self.min[1]) / self.size_m) as usize;
        (gx.min(self.nx - 1), gy.min(self.ny - 1))
    }

    fn square_of(&self, point: [f64; 2]) -> usize {
        let (gx, gy) = self.coords_of(point);
        gy * self.nx + gx
    }

    /// Updates `best` (squared distance, seed) with the seeds of one square.
    fn visit(&self, point: [f64; 2], best: &mut (f64, u32), gx: usize, gy: usize) {
        let square = gy * self.nx + gx;
        for &seed in &self.items[self.starts[square]..self.starts[square + 1]] {
            let candidate = (distance2(point, self.seeds[seed as usize]), seed);
            if candidate < *best {
                *best = candidate;
            }
        }
    }

    /// The nearest seed; ties go to the lower seed number.
    fn nearest(&self, point: [f64; 2]) -> u32 {
        let (cx, cy) = self.coords_of(point);
        let mut best = (f64::INFINITY, u32::MAX);
        let max_ring = self.nx.max(self.ny);
        for ring in 0..=max_ring {
            // The squares at Chebyshev distance `ring` from the point's square, clipped.
            let (x0, x1) = (cx.saturating_sub(ring), (cx + ring).min(self.nx - 1));
            let (y0, y1) = (cy.saturating_sub(ring), (cy + ring).min(self.ny - 1));
            for gy in y0..=y1 {
                let on_edge_row = gy + ring == cy || gy == cy + ring;
                if on_edge_row {
                    for gx in x0..=x1 {
                        self.visit(point, &mut best, gx, gy);
                    }
                } else {
                    if cx >= ring {
                        self.visit(point, &mut best, cx - ring, gy);
                    }
                    if ring > 0 && cx + ring < self.nx {
                        self.visit(point, &mut best, cx + ring, gy);
                    }
                }
            }
            // Every seed not yet seen is at least `ring` squares away.
            let reach_m = ring as f64 * self.size_m;
            if best.0 <= reach_m * reach_m {
                break;
            }
        }
        best.1
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::CoverageSet;

    fn check_exact_partition(parent: &Coverage, parts: &[Coverage], leaf: Resolution) {
        let mut seen = CoverageSet::new();
        for (index, part) in parts.iter().enumerate() {
            assert!(!part.is_empty(), "part {index} is empty");
            assert_eq!(seen.overlap_with(part), None, "part {index} overlaps");
            seen.insert(index, part);
        }
        let total: u64 = parts.iter().map(|p| p.leaf_cell_count(leaf)).sum();
        assert_eq!(total, parent.leaf_cell_count(leaf));
        assert!(seen.contains(parent));
    }

    #[test]
    fn covers_the_parent_exactly_without_overlap() {
        let leaf = Resolution::Ten;
        let parent = Coverage::from_cells(
            LatLng::new(21.5, 111.0)
                .unwrap()
                .to_cell(Resolution::Six)
                .children(Resolution::Seven)
                .take(5),
            leaf,
        )
        .unwrap();
        for n in [2, 7, 28, 100] {
            let parts = partition(&parent, n, leaf).unwrap();
            assert_eq!(parts.len(), n);
            check_exact_partition(&parent, &parts, leaf);
            // Deterministic.
            assert_eq!(partition(&parent, n, leaf).unwrap(), parts);
        }
        // Sizes are of the same order.
        let parts = partition(&parent, 10, leaf).unwrap();
        let sizes: Vec<u64> = parts.iter().map(|p| p.leaf_cell_count(leaf)).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max / min < 4, "{sizes:?}");
    }

    #[test]
    fn every_cell_its_own_part() {
        let leaf = Resolution::Nine;
        let parent = Coverage::from_cells(
            [LatLng::new(21.5, 111.0).unwrap().to_cell(Resolution::Eight)],
            leaf,
        )
        .unwrap();
        let parts = partition(&parent, 7, leaf).unwrap();
        check_exact_partition(&parent, &parts, leaf);
        assert!(parts.iter().all(|p| p.leaf_cell_count(leaf) == 1));
        assert_eq!(partition(&parent, 1, leaf).unwrap(), vec![parent.clone()]);
    }

    #[test]
    fn rejects_too_many_or_zero_parts_and_too_fine_cells() {
        let leaf = Resolution::Nine;
        let parent = Coverage::from_cells(
            [LatLng::new(21.5, 111.0).unwrap().to_cell(Resolution::Eight)],
            leaf,
        )
        .unwrap();
        assert_eq!(
            partition(&parent, 8, leaf),
            Err(GeoError::TooFewCells { parts: 8, cells: 7 })
        );
        assert!(matches!(
            partition(&parent, 0, leaf),
            Err(GeoError::TooFewCells { parts: 0, .. })
        ));
        assert!(matches!(
            partition(&parent, 2, Resolution::Seven),
            Err(GeoError::CellTooFine { .. })
        ));
    }
}
