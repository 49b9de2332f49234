//! Locate benchmark on a demo-like hierarchy of Dianbai at resolution 11.
//!
//! Setup: tile the district, partition it 28 → 15 → 11 → 2 (about 14,300 units), build the
//! index; then time `locate` and, as a baseline, `LatLng → cell` alone, over pseudo-random
//! points in the district's bounding box. Run with
//! `cargo bench -p wangge-geo --bench locate`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use wangge_geo::{Coverage, LatLng, LocateIndex, Resolution, parse_polygons, partition};

const LEAF: Resolution = Resolution::Eleven;
const POINTS: usize = 4_096;
/// Children per unit at each level below the district: towns, villages, groups, household
/// groups.
const FAN_OUT: [usize; 4] = [28, 15, 11, 2];

/// Pseudo-random points in the district's bounding box (SplitMix64, fixed seed).
fn points() -> Vec<LatLng> {
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    };
    (0..POINTS)
        .map(|_| {
            let lng = 110.8625 + next() * (111.4544 - 110.8625);
            let lat = 21.3735 + next() * (21.9916 - 21.3735);
            LatLng::new(lat, lng).unwrap()
        })
        .collect()
}

fn build_index() -> LocateIndex {
    let collection: serde_json::Value =
        serde_json::from_str(include_str!("../../app/demo/dianbai_boundary.geojson")).unwrap();
    let shape = parse_polygons(&collection["features"][0]["geometry"]).unwrap();

    let started = Instant::now();
    let district = Coverage::from_polygons(&shape, LEAF).unwrap();
    eprintln!(
        "tiled the district at resolution {LEAF}: {} leaf cells, {} compacted, in {:.2?}",
        district.leaf_cell_count(LEAF),
        district.len(),
        started.elapsed()
    );

    let mut builder = LocateIndex::builder(LEAF);
    let mut next_owner = 0_u32;
    builder.add(next_owner, 1, &district);
    let mut level_units = vec![district];
    for (depth, &fan_out) in FAN_OUT.iter().enumerate() {
        let started = Instant::now();
        let mut children = Vec::new();
        for unit in &level_units {
            let n = fan_out.min(usize::try_from(unit.leaf_cell_count(LEAF)).unwrap());
            children.extend(partition(unit, n, LEAF).unwrap());
        }
        let level = u8::try_from(depth).unwrap() + 2;
        for child in &children {
            next_owner += 1;
            builder.add(next_owner, level, child);
        }
        let compacted: usize = children.iter().map(Coverage::len).sum();
        eprintln!(
            "level {level}: {} units ({compacted} compacted cells), partitioned in {:.2?}",
            children.len(),
            started.elapsed()
        );
        level_units = children;
    }

    let started = Instant::now();
    let index = builder.build();
    eprintln!(
        "locate index: {} units, {} entries, ~{:.1} MB heap, built in {:.2?}",
        next_owner + 1,
        index.len(),
        index.heap_size_bytes() as f64 / 1e6,
        started.elapsed()
    );
    index
}

fn bench(c: &mut Criterion) {
    let index = build_index();
    let points = points();
    let hits = points
        .iter()
        .filter(|&&p| index.locate(p).is_some())
        .count();
    eprintln!("{hits} of {POINTS} bench points fall inside the district");

    let mut i = 0;
    c.bench_function("locate (res 11, ~14k units)", |b| {
        b.iter(|| {
            i = (i + 1) % POINTS;
            black_box(index.locate(black_box(points[i])))
        });
    });
    let mut i = 0;
    c.bench_function("LatLng -> cell (res 11)", |b| {
        b.iter(|| {
            i = (i + 1) % POINTS;
            black_box(black_box(points[i]).to_cell(LEAF))
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
