//! A tiny, fast hasher for maps keyed by H3 indexes (`u64`).
//!
//! SipHash (the std default) resists hash flooding, which we do not need for keys we build
//! ourselves, and costs ~4x more per look-up. Plain identity hashing would be a disaster here:
//! an H3 index of resolution r has its unused low digits all set to 7, so the low bits, which
//! pick the bucket, are constant. One multiply by an odd constant plus an xor-fold of the high
//! half into the low half spreads every input bit into the bits the table uses.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hasher for `u64` keys: multiply by 2^64/φ, then fold the high half into the low half.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CellHasher(u64);

impl Hasher for CellHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let x = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 32)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used for `u64` keys; kept correct for any other key type.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = self.0.rotate_left(29) ^ value;
    }
}

pub(crate) type BuildCellHasher = BuildHasherDefault<CellHasher>;
pub(crate) type CellMap<V> = HashMap<u64, V, BuildCellHasher>;

/// Heap bytes of a `HashMap`/`HashSet` with `capacity` and entries of `entry_size` bytes:
/// hashbrown keeps `buckets = capacity * 8 / 7` (a power of two) entries plus one control byte
/// per bucket and one 16-byte group of trailing control bytes.
pub(crate) fn table_heap_bytes(capacity: usize, entry_size: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * (entry_size + 1) + 16
}
