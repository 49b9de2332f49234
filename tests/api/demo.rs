//! The Dianbai demo at resolution 9 (the same code as the default 11, 49x fewer cells).

use crate::helpers::{Options, TestApp};
use h3o::Resolution;

#[actix_web::test]
async fn the_demo_has_the_real_scale_and_every_point_locates_to_a_household_group() {
    let app = TestApp::spawn_with(Options {
        leaf: Resolution::Nine,
        seed_demo: true,
        ..Options::default()
    })
    .await;
    let mut per_level = [0usize; 6];
    for (level, count) in per_level.iter_mut().enumerate().skip(1) {
        let mut path = format!("/api/v1/units?level={level}&limit=500");
        loop {
            let page = app.get(&path).await.json();
            *count += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/units?level={level}&limit=500&cursor={c}"),
                None => break,
            }
        }
    }
    assert_eq!(&per_level[1..], &[1, 28, 409, 4_641, 9_443]);

    // Points on a lattice over the district: those inside the real outline must all reach
    // a household group with a full chain of five.
    let boundary: serde_json::Value =
        serde_json::from_str(include_str!("../../api/demo/dianbai_boundary.geojson")).unwrap();
    let shape = wangge_geo::parse_polygons(&boundary["features"][0]["geometry"]).unwrap();
    let cov = wangge_geo::Coverage::from_polygons(&shape, Resolution::Nine).unwrap();
    let mut inside = 0;
    for i in 0..20 {
        for j in 0..20 {
            let lat = 21.3735 + (21.9916 - 21.3735) * (f64::from(i) + 0.5) / 20.0;
            let lng = 110.8625 + (111.4544 - 110.8625) * (f64::from(j) + 0.5) / 20.0;
            let ll = h3o::LatLng::new(lat, lng).unwrap();
            if !cov.contains_point(ll, Resolution::Nine) {
                continue;
            }
            inside += 1;
            let r = app.locate(lat, lng, "wgs84").await;
            assert_eq!(r.status, 200, "({lat}, {lng}): {}", r.text);
            let units = r.json()["units"].as_array().unwrap().clone();
            let levels: Vec<i64> = units.iter().map(|u| u["level"].as_i64().unwrap()).collect();
            assert_eq!(levels, vec![5, 4, 3, 2, 1], "({lat}, {lng})");
            assert_eq!(units[4]["code"], "440904");
        }
    }
    assert!(
        inside > 100,
        "the lattice samples the district ({inside} points inside)"
    );

    // The district's functional departments come with the demo.
    let departments = app.get("/api/v1/departments?limit=500").await.json();
    let codes: Vec<&str> = departments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 12);
    for code in [
        "housing",
        "urban_management",
        "public_security",
        "health",
        "emergency",
        "market_regulation",
    ] {
        assert!(codes.contains(&code), "{code} missing");
    }
}
