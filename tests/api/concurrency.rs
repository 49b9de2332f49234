//! Writers racing each other: the grid's invariants and the locate index must hold, and no
//! request may fail with a 5xx.

use crate::helpers::{SmallGrid, TestApp, id, rect};
use futures_util::future::join_all;
use serde_json::json;

#[actix_web::test]
async fn racing_siblings_cannot_both_take_the_same_cells() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    for round in 0..5 {
        let a = app
            .create_unit(&format!("44090400200{round}"), "甲", 3, Some(id(&g.east)))
            .await;
        let b = app
            .create_unit(&format!("44090400201{round}"), "乙", 3, Some(id(&g.east)))
            .await;
        // Each round claims a fresh strip of the east subdistrict for both siblings at once.
        let lat0 = 21.5 + 0.03 * f64::from(round);
        let ring = rect(111.12, lat0, 111.18, lat0 + 0.02);
        let (ra, rb) = futures_util::join!(
            app.set_polygon(id(&a), &ring, false),
            app.set_polygon(id(&b), &ring, false)
        );
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {} / {}",
            ra.text,
            rb.text
        );
    }
}

#[actix_web::test]
async fn racing_writers_all_reach_the_locate_index() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let mut units = Vec::new();
    for k in 0..6 {
        units.push(
            app.create_unit(
                &format!("4409040020{k:02}"),
                &format!("东{k}"),
                3,
                Some(id(&g.east)),
            )
            .await,
        );
    }
    // Six disjoint strips written at once: every one must locate afterwards.
    let writes = units.iter().enumerate().map(|(k, u)| {
        let lat0 = 21.5 + 0.03 * k as f64;
        let ring = rect(111.12, lat0, 111.18, lat0 + 0.02);
        let app = &app;
        async move { app.set_polygon(id(u), &ring, false).await }
    });
    for r in join_all(writes).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for (k, u) in units.iter().enumerate() {
        let lat = 21.5 + 0.03 * k as f64 + 0.01;
        let located = app.locate(lat, 111.15, "wgs84").await.json();
        assert_eq!(located["units"][0]["code"], u["code"], "strip {k}");
    }
}

#[actix_web::test]
async fn concurrent_edits_never_fail_with_a_server_error() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let path = format!("/api/v1/units/{}", id(&g.community));
    let before = app.get(&path).await.json()["version"].as_i64().unwrap();
    let edits = (0..24).map(|k| {
        let (app, path) = (&app, &path);
        async move { app.patch(path, json!({ "name": format!("社区{k}") })).await }
    });
    for r in join_all(edits).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(
        app.get(&path).await.json()["version"],
        before + 24,
        "no edit was lost"
    );
}
