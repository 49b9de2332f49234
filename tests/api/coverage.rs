use crate::helpers::{SmallGrid, TestApp, id, rect};
use serde_json::{Value, json};
use std::collections::HashSet;

fn cells(body: &Value) -> HashSet<String> {
    body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn adjacent_polygons_share_no_cell_and_children_nest() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let west = app
        .get(&format!("/api/v1/units/{}/coverage", id(&g.west)))
        .await
        .json();
    let east = app
        .get(&format!("/api/v1/units/{}/coverage", id(&g.east)))
        .await
        .json();
    let district = app
        .get(&format!("/api/v1/units/{}/coverage", id(&g.district)))
        .await
        .json();
    assert!(west["leaf_cell_count"].as_i64().unwrap() > 0);
    assert_eq!(west["resolution"], 9);
    // Leaf counts add up: the two halves tile the district exactly.
    assert_eq!(
        west["leaf_cell_count"].as_i64().unwrap() + east["leaf_cell_count"].as_i64().unwrap(),
        district["leaf_cell_count"].as_i64().unwrap()
    );
    assert!(cells(&west).is_disjoint(&cells(&east)));
}

#[actix_web::test]
async fn a_child_outside_its_parent_is_refused_or_clipped() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let c2 = app
        .create_unit("440904001002", "二社区", 3, Some(id(&g.west)))
        .await;
    // Half of this square lies in the east subdistrict.
    let ring = rect(111.085, 21.52, 111.13, 21.56);
    let r = app.set_polygon(id(&c2), &ring, false).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "coverage_outside_parent");
    assert_eq!(r.json()["unit"]["code"], "440904001");
    let sample = r.json()["sample_cells"].as_array().unwrap().len();
    assert!((1..=10).contains(&sample));
    let before = app
        .get(&format!("/api/v1/units/{}/coverage", id(&c2)))
        .await
        .json();
    assert_eq!(before["cell_count"], 0, "nothing was written");

    let r = app.set_polygon(id(&c2), &ring, true).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert!(body["trimmed_leaf_cells"].as_u64().unwrap() > 0);
    assert!(body["leaf_cell_count"].as_u64().unwrap() > 0);
    // The polygon no longer describes the kept cells, so it is not kept as the boundary.
    assert_eq!(body["has_boundary"], false);
    // The response's ETag is the unit's new version.
    let version = app.get(&format!("/api/v1/units/{}", id(&c2))).await.json()["version"].clone();
    assert_eq!(r.header("etag"), Some(format!("\"{version}\"")));
    // What was kept locates to the new community; what was trimmed still to the east.
    assert_eq!(
        app.locate(21.54, 111.09, "wgs84").await.json()["units"][0]["code"],
        "440904001002"
    );
    assert_eq!(
        app.locate(21.54, 111.12, "wgs84").await.json()["units"][0]["code"],
        "440904002"
    );
}

#[actix_web::test]
async fn siblings_never_overlap() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let c2 = app
        .create_unit("440904001002", "二社区", 3, Some(id(&g.west)))
        .await;
    let r = app
        .set_polygon(id(&c2), &rect(111.05, 21.55, 111.09, 21.6), false)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "coverage_overlaps_sibling");
    assert_eq!(r.json()["unit"]["code"], "440904001001");
    // Clipping to the parent does not license overlapping a sibling.
    let r = app
        .set_polygon(id(&c2), &rect(111.05, 21.55, 111.09, 21.6), true)
        .await;
    assert_eq!(r.status, 409);
}

#[actix_web::test]
async fn shrinking_a_parent_may_not_strand_a_child() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let r = app
        .set_polygon(id(&g.west), &rect(111.0, 21.5, 111.05, 21.7), false)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "coverage_excludes_child");
    assert_eq!(r.json()["unit"]["code"], "440904001001");
}

#[actix_web::test]
async fn coverage_from_cells_is_compacted_and_validated() {
    let app = TestApp::spawn().await;
    let d = app.create_unit("440904", "电白区", 1, None).await;
    let parent = h3o::LatLng::new(21.6, 111.1)
        .unwrap()
        .to_cell(h3o::Resolution::Seven);
    let children: Vec<String> = parent
        .children(h3o::Resolution::Nine)
        .map(|c| c.to_string())
        .collect();
    assert_eq!(children.len(), 49);
    let r = app
        .put(
            &format!("/api/v1/units/{}/coverage", id(&d)),
            json!({ "cells": children }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["cell_count"],
        1,
        "49 res-9 children compact to their res-7 parent"
    );
    assert_eq!(r.json()["leaf_cell_count"], 49);
    let got = app
        .get(&format!("/api/v1/units/{}/coverage", id(&d)))
        .await
        .json();
    assert_eq!(got["cells"], json!([parent.to_string()]));

    let too_fine = h3o::LatLng::new(21.6, 111.1)
        .unwrap()
        .to_cell(h3o::Resolution::Ten)
        .to_string();
    for (bad, why) in [
        (json!([too_fine]), "finer than the leaf"),
        (json!(["zz"]), "not hex"),
        (json!(["8f"]), "not a cell"),
    ] {
        let r = app
            .put(
                &format!("/api/v1/units/{}/coverage", id(&d)),
                json!({ "cells": bad }),
            )
            .await;
        assert_eq!(r.status, 422, "{why}: {}", r.text);
    }
    let still = app
        .get(&format!("/api/v1/units/{}/coverage", id(&d)))
        .await
        .json();
    assert_eq!(
        still["cells"],
        json!([parent.to_string()]),
        "bad updates changed nothing"
    );
}

#[actix_web::test]
async fn coverage_as_geojson_gives_the_boundary_or_the_cell_outline() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let r = app
        .get(&format!(
            "/api/v1/units/{}/coverage?format=geojson",
            id(&g.west)
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/geo+json")
    );
    let fc = r.json();
    assert_eq!(fc["type"], "FeatureCollection");
    let f = &fc["features"][0];
    assert_eq!(f["properties"]["geometry_source"], "boundary");
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    assert_eq!(f["geometry"]["coordinates"][0][0][0], json!([111.0, 21.5]));

    let outline = app
        .get(&format!(
            "/api/v1/units/{}/coverage?format=geojson&source=cells",
            id(&g.west)
        ))
        .await
        .json();
    assert_eq!(
        outline["features"][0]["properties"]["geometry_source"],
        "cells"
    );
    let ring = outline["features"][0]["geometry"]["coordinates"][0][0]
        .as_array()
        .unwrap();
    assert!(ring.len() > 10, "a dissolved outline of many hexagons");
}
