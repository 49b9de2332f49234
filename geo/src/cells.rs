//! H3 cells as a database can group them: the parent of a stored cell index by bit arithmetic
//! alone, so counting per coarser cell is one `GROUP BY` rather than a row per leaf cell.

use h3o::{CellIndex, Resolution};
use serde_json::{Value, json};

/// Where an H3 index keeps its resolution (4 bits from bit 52).
const RES_SHIFT: u32 = 52;
const RES_BITS: u64 = 0xF << RES_SHIFT;
/// Each resolution's digit takes 3 bits; resolution 15's is the lowest.
const DIGIT_BITS: u32 = 3;

/// The masks that turn any cell at resolution `res` or finer into its parent at `res`:
/// `parent = (cell & keep) | set`. The parent's resolution bits say `res`, and the digits of
/// every finer resolution are 7 (unused), as H3 writes a coarser cell.
///
/// # Example
///
/// ```
/// use wangge_geo::{LatLng, Resolution, parent_masks};
///
/// let leaf = LatLng::new(21.55, 111.05)?.to_cell(Resolution::Eleven);
/// let (keep, set) = parent_masks(Resolution::Seven);
/// let parent = (u64::from(leaf) as i64 & keep) | set;
/// assert_eq!(parent as u64, u64::from(leaf.parent(Resolution::Seven).unwrap()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn parent_masks(res: Resolution) -> (i64, i64) {
    let r = u8::from(res);
    let unused_digits = (1u64 << (DIGIT_BITS * u32::from(15 - r))) - 1;
    let keep = !(RES_BITS | unused_digits);
    let set = (u64::from(r) << RES_SHIFT) | unused_digits;
    // H3 indexes leave bit 63 clear, so both fit a signed 64-bit column; `keep` has it set,
    // which as i64 is a negative number with the same bits.
    (keep.cast_signed(), set.cast_signed())
}

/// The stored leaf cells (at `leaf`) inside `cell`, as an inclusive range of their indexes:
/// a descendant keeps the cell's digits, says `leaf` in its resolution bits, and differs only
/// in the digits below, so `lo <= index <= hi` holds exactly for the descendants among valid
/// leaf cells. None when `cell` is finer than `leaf`.
///
/// # Example
///
/// ```
/// use wangge_geo::{LatLng, Resolution, leaf_range};
///
/// let leaf = LatLng::new(21.55, 111.05)?.to_cell(Resolution::Eleven);
/// let parent = leaf.parent(Resolution::Eight).unwrap();
/// let (lo, hi) = leaf_range(parent, Resolution::Eleven).unwrap();
/// assert!((lo..=hi).contains(&(u64::from(leaf) as i64)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn leaf_range(cell: CellIndex, leaf: Resolution) -> Option<(i64, i64)> {
    let (r, l) = (u8::from(cell.resolution()), u8::from(leaf));
    if r > l {
        return None;
    }
    let below_cell = (1u64 << (DIGIT_BITS * u32::from(15 - r))) - 1;
    let below_leaf = (1u64 << (DIGIT_BITS * u32::from(15 - l))) - 1;
    let base = (u64::from(cell) & !(RES_BITS | below_cell)) | (u64::from(l) << RES_SHIFT);
    let lo = base | below_leaf;
    let hi = base | below_cell;
    Some((lo.cast_signed(), hi.cast_signed()))
}

/// A cell as a GeoJSON Feature a map draws as is: its boundary polygon (WGS-84, closed ring),
/// with `properties` as given.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use wangge_geo::{LatLng, Resolution, cell_feature};
///
/// let cell = LatLng::new(21.55, 111.05)?.to_cell(Resolution::Eight);
/// let f = cell_feature(cell, json!({"count": 3}));
/// let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
/// assert_eq!(ring.first(), ring.last());
/// assert_eq!(ring.len(), 7); // a hexagon, closed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn cell_feature(cell: CellIndex, properties: Value) -> Value {
    let mut ring: Vec<[f64; 2]> = cell
        .boundary()
        .iter()
        .map(|ll| [round6(ll.lng()), round6(ll.lat())])
        .collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    json!({
        "type": "Feature",
        "id": cell.to_string(),
        "geometry": { "type": "Polygon", "coordinates": [ring] },
        "properties": properties,
    })
}

/// Six decimals of a degree: about 0.1 m, finer than any cell edge a map draws.
fn round6(deg: f64) -> f64 {
    (deg * 1e6).round() / 1e6
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use h3o::LatLng;

    #[test]
    fn a_leaf_range_holds_exactly_the_descendants() {
        let leaf = Resolution::Eleven;
        let cell = LatLng::new(21.55, 111.05)
            .unwrap()
            .to_cell(Resolution::Nine);
        let (lo, hi) = leaf_range(cell, leaf).unwrap();
        let inside: Vec<CellIndex> = cell.children(leaf).collect();
        assert_eq!(inside.len(), 49);
        for c in &inside {
            assert!((lo..=hi).contains(&i64::try_from(u64::from(*c)).unwrap()));
        }
        // Neighbours' descendants fall outside.
        for n in cell
            .grid_disk::<Vec<_>>(1)
            .into_iter()
            .filter(|n| *n != cell)
        {
            for c in n.children(leaf) {
                assert!(
                    !(lo..=hi).contains(&i64::try_from(u64::from(c)).unwrap()),
                    "{c}"
                );
            }
        }
        assert_eq!(leaf_range(cell, Resolution::Eight), None);
        let (a, b) = leaf_range(inside[0], leaf).unwrap();
        assert_eq!((a, b), {
            let v = i64::try_from(u64::from(inside[0])).unwrap();
            (v, v)
        });
    }

    #[test]
    fn masks_give_h3os_parent_at_every_coarser_resolution() {
        for (lat, lng) in [
            (21.55, 111.05),
            (21.4975, 111.015),
            (-33.9, 151.2),
            (64.1, -21.9),
        ] {
            let leaf = LatLng::new(lat, lng).unwrap().to_cell(Resolution::Fifteen);
            for r in 0..=15u8 {
                let res = Resolution::try_from(r).unwrap();
                let (keep, set) = parent_masks(res);
                let bits = (i64::try_from(u64::from(leaf)).unwrap() & keep) | set;
                let parent = CellIndex::try_from(u64::try_from(bits).unwrap()).unwrap();
                assert_eq!(Some(parent), leaf.parent(res), "res {r} at {lat},{lng}");
            }
        }
    }
}
