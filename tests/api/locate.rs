use crate::helpers::{Options, SmallGrid, TestApp, id, rect};
use std::time::{Duration, Instant};

#[actix_web::test]
async fn locate_returns_the_chain_from_the_deepest_unit_to_the_district() {
    let app = TestApp::spawn().await;
    SmallGrid::build(&app).await;
    let r = app.locate(21.6, 111.05, "wgs84").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    let codes: Vec<&str> = body["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["440904001001", "440904001", "440904"]);
    let cell: h3o::CellIndex = body["cell"].as_str().unwrap().parse().unwrap();
    assert_eq!(cell.resolution(), h3o::Resolution::Nine);
    // Outside the community but inside the east subdistrict.
    let east = app.locate(21.6, 111.15, "wgs84").await.json();
    assert_eq!(east["units"][0]["code"], "440904002");
    assert_eq!(east["units"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn gcj02_and_bd09_points_are_converted_before_locating() {
    let app = TestApp::spawn().await;
    SmallGrid::build(&app).await;
    let (lat, lng) = (21.6, 111.05);
    let wgs = app.locate(lat, lng, "wgs84").await.json();
    let (glat, glng) = wangge_geo::wgs84_to_gcj02(lat, lng);
    let (blat, blng) = wangge_geo::gcj02_to_bd09(glat, glng);
    let gcj = app.locate(glat, glng, "gcj02").await.json();
    let bd = app.locate(blat, blng, "bd09").await.json();
    assert_eq!(gcj["cell"], wgs["cell"]);
    assert_eq!(bd["cell"], wgs["cell"]);
    assert!((gcj["wgs84"]["lat"].as_f64().unwrap() - lat).abs() < 1e-5);
    // Read as WGS-84 the GCJ-02 coordinates land hundreds of metres away: a different cell.
    let naive = app.locate(glat, glng, "wgs84").await.json();
    assert_ne!(naive["cell"], wgs["cell"]);
}

#[actix_web::test]
async fn uncovered_and_invalid_points() {
    let app = TestApp::spawn().await;
    SmallGrid::build(&app).await;
    let r = app.locate(30.0, 120.0, "wgs84").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_covered");
    for (q, code) in [
        ("lat=91&lng=111", "invalid_coordinate"),
        ("lat=21&lng=181", "invalid_coordinate"),
        ("lat=NaN&lng=111", "invalid_coordinate"),
        ("lat=21.6&lng=111.05&crs=epsg4326", "invalid_crs"),
        ("lat=abc&lng=111", "invalid_query"),
        ("lng=111", "invalid_query"),
    ] {
        let r = app.get(&format!("/api/v1/locate?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert_eq!(r.code(), code, "{q}");
    }
}

#[actix_web::test]
async fn the_index_follows_coverage_changes_at_once() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let c2 = app
        .create_unit("440904002001", "东一社区", 3, Some(id(&g.east)))
        .await;
    assert_eq!(
        app.locate(21.6, 111.15, "wgs84").await.json()["units"][0]["code"],
        "440904002"
    );
    let r = app
        .set_polygon(id(&c2), &rect(111.12, 21.55, 111.18, 21.65), false)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        app.locate(21.6, 111.15, "wgs84").await.json()["units"][0]["code"],
        "440904002001"
    );
}

/// Another instance on the same database learns of a change: through Redis when it is
/// configured (the poll interval is then an hour, so only the notification can explain it),
/// otherwise through its poll of the coverage generation.
#[actix_web::test]
async fn coverage_changes_reach_every_instance() {
    let redis = std::env::var("TEST_REDIS_URL").is_ok_and(|s| !s.is_empty());
    let opts = Options {
        locate_poll_s: if redis { 3600 } else { 1 },
        ..Options::default()
    };
    let a = TestApp::spawn_with(opts.clone()).await;
    let g = SmallGrid::build(&a).await;
    let b = TestApp::spawn_on(a.db.clone(), opts).await;
    a.wait_for_subscribers(2).await;
    assert_eq!(
        b.locate(21.6, 111.15, "wgs84").await.json()["units"][0]["code"],
        "440904002"
    );
    let c2 = a
        .create_unit("440904002001", "东一社区", 3, Some(id(&g.east)))
        .await;
    assert_eq!(
        a.set_polygon(id(&c2), &rect(111.12, 21.55, 111.18, 21.65), false)
            .await
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let code = b.locate(21.6, 111.15, "wgs84").await.json()["units"][0]["code"].clone();
        if code == "440904002001" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "instance b never saw the change (redis: {redis})"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
