use crate::helpers::{SmallGrid, TestApp, rect};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn feature(
    code: &str,
    name: &str,
    level: i64,
    parent: Option<&str>,
    ring: Option<Vec<[f64; 2]>>,
) -> Value {
    json!({
        "type": "Feature",
        "geometry": ring.map(|r| json!({"type": "Polygon", "coordinates": [r]})),
        "properties": {"code": code, "name": name, "level": level, "parent_code": parent},
    })
}

async fn cells_by_code(app: &TestApp) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let units = app.get("/api/v1/units?limit=500").await.json();
    for u in units["items"].as_array().unwrap() {
        let cov = app
            .get(&format!(
                "/api/v1/units/{}/coverage",
                u["id"].as_str().unwrap()
            ))
            .await
            .json();
        out.insert(
            u["code"].as_str().unwrap().to_owned(),
            json!([u["name"], u["level"], cov["cells"]]),
        );
    }
    out
}

#[actix_web::test]
async fn import_creates_a_tree_in_one_go() {
    let app = TestApp::spawn().await;
    // Children before parents in the file: order does not matter.
    let fc = json!({"type": "FeatureCollection", "features": [
        feature("440904001", "西街道", 2, Some("440904"), Some(rect(111.0, 21.5, 111.1, 21.7))),
        feature("440904", "电白区", 1, None, Some(rect(111.0, 21.5, 111.2, 21.7))),
        feature("440904001001", "一社区", 3, Some("440904001"), None),
    ]});
    let r = app.post("/api/v1/units/import", fc).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"created": 3, "with_coverage": 2, "trimmed_leaf_cells": 0})
    );
    assert_eq!(
        app.locate(21.6, 111.05, "wgs84").await.json()["units"][0]["code"],
        "440904001"
    );
}

#[actix_web::test]
async fn a_bad_import_reports_every_error_and_writes_nothing() {
    let app = TestApp::spawn().await;
    SmallGrid::build(&app).await;
    let before = app.unit_count().await;
    let fc = json!({"type": "FeatureCollection", "features": [
        feature("440904003", "好街道", 2, Some("440904"), None),
        feature("440904", "重复", 1, None, None),
        feature("440904009", "无父", 2, Some("999999"), None),
        feature("44090400x", "坏码", 2, Some("440904"), None),
        json!({"type": "Feature", "geometry": null, "properties": {"code": "440904010", "level": 2, "parent_code": "440904"}}),
        feature("440904011", "自交", 2, Some("440904"), Some(vec![[111.0, 21.5], [111.1, 21.6], [111.1, 21.5], [111.0, 21.6], [111.0, 21.5]])),
    ]});
    let r = app.post("/api/v1/units/import", fc).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.code(), "import_rejected");
    let errors = r.json()["errors"].as_array().unwrap().clone();
    let indexes: std::collections::BTreeSet<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    // Parse problems (3 bad code, 4 no name, 5 self-intersecting) and relational ones (1 a
    // taken code, 2 a missing parent) are all reported at once.
    assert_eq!(indexes, [1, 2, 3, 4, 5].into_iter().collect(), "{errors:?}");

    let fc = json!({"type": "FeatureCollection", "features": [
        feature("440904003", "好街道", 2, Some("440904"), None),
        feature("440904", "重复", 1, None, None),
        feature("440904009", "无父", 2, Some("999999"), None),
        feature("440904001002", "错级", 2, Some("440904001"), None),
    ]});
    let r = app.post("/api/v1/units/import", fc).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let errors = r.json()["errors"].as_array().unwrap().clone();
    let indexes: std::collections::BTreeSet<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3].into_iter().collect(), "{errors:?}");
    assert_eq!(app.unit_count().await, before, "all or nothing");
}

#[actix_web::test]
async fn a_spatial_conflict_rolls_back_the_whole_import() {
    let app = TestApp::spawn().await;
    SmallGrid::build(&app).await;
    let before = app.unit_count().await;
    let fc = json!({"type": "FeatureCollection", "features": [
        feature("440904001002", "二社区", 3, Some("440904001"), Some(rect(111.0, 21.5, 111.01, 21.51))),
        feature("440904001003", "越界", 3, Some("440904001"), Some(rect(111.09, 21.5, 111.15, 21.51))),
    ]});
    let r = app.post("/api/v1/units/import", fc.clone()).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.json()["errors"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("outside its parent")
    );
    assert_eq!(app.unit_count().await, before);
    // With clip_to_parent the same file goes in, trimmed.
    let r = app
        .post("/api/v1/units/import?clip_to_parent=true", fc)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["trimmed_leaf_cells"].as_u64().unwrap() > 0);
}

#[actix_web::test]
async fn export_then_import_round_trips() {
    let a = TestApp::spawn().await;
    let g = SmallGrid::build(&a).await;
    // A unit with cells but no boundary exports as its cell outline.
    let c2 = a
        .create_unit(
            "440904002001",
            "东一社区",
            3,
            Some(crate::helpers::id(&g.east)),
        )
        .await;
    let cells: Vec<String> = h3o::LatLng::new(21.6, 111.15)
        .unwrap()
        .to_cell(h3o::Resolution::Nine)
        .grid_disk::<Vec<_>>(2)
        .into_iter()
        .map(|c| c.to_string())
        .collect();
    let r = a
        .put(
            &format!("/api/v1/units/{}/coverage", crate::helpers::id(&c2)),
            json!({"cells": cells}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = a.get("/api/v1/units/export").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/geo+json")
    );
    let exported = r.json();
    assert_eq!(exported["features"].as_array().unwrap().len(), 5);

    let b = TestApp::spawn().await;
    let r = b.post("/api/v1/units/import", exported).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(cells_by_code(&a).await, cells_by_code(&b).await);

    // A subtree exports with its root's parent named, so it can be imported under it.
    let sub = a
        .get(&format!(
            "/api/v1/units/export?root_id={}",
            crate::helpers::id(&g.west)
        ))
        .await
        .json();
    let codes: Vec<&str> = sub["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["440904001", "440904001001"]);
    assert_eq!(sub["features"][0]["properties"]["parent_code"], "440904");
}
