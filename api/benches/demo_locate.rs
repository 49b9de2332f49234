//! The locate index over the Dianbai demo's own cells (the units `wangge seed demo` stores), at
//! the default resolution 11: build time, size, and `locate` against `LatLng → cell` alone.
//! Run with `cargo bench -p wangge-api --bench demo_locate`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;
use wangge_geo::{LatLng, LocateIndex, Resolution};

const LEAF: Resolution = Resolution::Eleven;

/// Points on a 64 × 64 lattice over the district's bounding box that some unit covers.
fn points_inside(index: &LocateIndex) -> Vec<LatLng> {
    let n = 64;
    let mut pts = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let lat = 21.3735 + (21.9916 - 21.3735) * (f64::from(i) + 0.5) / f64::from(n);
            let lng = 110.8625 + (111.4544 - 110.8625) * (f64::from(j) + 0.5) / f64::from(n);
            let ll = LatLng::new(lat, lng).unwrap();
            if index.locate(ll).is_some() {
                pts.push(ll);
            }
        }
    }
    pts
}

fn bench(c: &mut Criterion) {
    let started = Instant::now();
    let items = wangge_app::demo::build(LEAF).unwrap();
    eprintln!(
        "demo built: {} units in {:.2?}",
        items.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let mut builder = LocateIndex::builder(LEAF);
    for (owner, item) in items.iter().enumerate() {
        if let Some(cov) = &item.coverage {
            builder.add(
                u32::try_from(owner).unwrap(),
                u8::try_from(item.level.number()).unwrap(),
                cov,
            );
        }
    }
    let index = builder.build();
    eprintln!(
        "locate index: {} entries, {:.1} MB heap, built in {:.2?}",
        index.len(),
        index.heap_size_bytes() as f64 / 1e6,
        started.elapsed()
    );
    let pts = points_inside(&index);
    eprintln!("{} lattice points inside the district", pts.len());

    let mut k = 0;
    c.bench_function("demo locate (res 11, 14,522 units)", |b| {
        b.iter(|| {
            k = (k + 1) % pts.len();
            black_box(index.locate(black_box(pts[k])))
        });
    });
    let mut k = 0;
    c.bench_function("LatLng -> cell (res 11), baseline", |b| {
        b.iter(|| {
            k = (k + 1) % pts.len();
            black_box(black_box(pts[k]).to_cell(LEAF))
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
