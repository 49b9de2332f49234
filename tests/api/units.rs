use crate::helpers::{SmallGrid, TestApp, id};
use serde_json::json;

#[actix_web::test]
async fn create_and_read_a_unit() {
    let app = TestApp::spawn().await;
    let d = app.create_unit("440904", "电白区", 1, None).await;
    assert_eq!(d["level"], 1);
    assert_eq!(d["level_name"], "district");
    assert!(d["parent_id"].is_null());
    let uuid = uuid::Uuid::parse_str(id(&d)).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "ids are UUIDv7");
    let r = app.get(&format!("/api/v1/units/{}", id(&d))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["code"], "440904");
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
}

#[actix_web::test]
async fn the_level_rule_is_enforced() {
    let app = TestApp::spawn().await;
    let d = app.create_unit("440904", "电白区", 1, None).await;
    for (body, why) in [
        (
            json!({"code": "1", "name": "x", "level": 2}),
            "level 2 without parent",
        ),
        (
            json!({"code": "2", "name": "x", "level": 3, "parent_id": id(&d)}),
            "level 3 under level 1",
        ),
        (
            json!({"code": "3", "name": "x", "level": 1, "parent_id": id(&d)}),
            "district with a parent",
        ),
        (json!({"code": "4", "name": "x", "level": 6}), "level 6"),
        (
            json!({"code": "5", "name": "x", "level": 2, "parent_id": "01936f3e-0000-7000-8000-000000000000"}),
            "missing parent",
        ),
    ] {
        let r = app.post("/api/v1/units", body).await;
        assert_eq!(r.status, 422, "{why}: {}", r.text);
        assert_eq!(r.code(), "validation_failed", "{why}");
    }
    assert_eq!(app.unit_count().await, 1, "nothing was written");
}

#[actix_web::test]
async fn codes_are_unique() {
    let app = TestApp::spawn().await;
    app.create_unit("440904", "电白区", 1, None).await;
    let r = app
        .post(
            "/api/v1/units",
            json!({"code": "440904", "name": "again", "level": 1}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "duplicate_code");
}

#[actix_web::test]
async fn rename_with_if_match_and_stale_versions_are_refused() {
    let app = TestApp::spawn().await;
    let d = app.create_unit("440904", "电白区", 1, None).await;
    let path = format!("/api/v1/units/{}", id(&d));
    let token = app.admin_token.clone();
    let r = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "电白"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "电白");
    assert_eq!(r.json()["version"], 2);
    let stale = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "旧"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.code(), "version_mismatch");
    assert_eq!(app.get(&path).await.json()["name"], "电白");
    let not_modified = app
        .send(
            reqwest::Method::GET,
            &path,
            Some(&token),
            None,
            &[("if-none-match", "\"2\"")],
        )
        .await;
    assert_eq!(not_modified.status, 304);
}

#[actix_web::test]
async fn moving_a_unit_keeps_the_tree_and_coverage_consistent() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    // The community lies inside the west subdistrict: moving it east would put it outside
    // its new parent.
    let r = app
        .patch(
            &format!("/api/v1/units/{}", id(&g.community)),
            json!({"parent_id": id(&g.east)}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "coverage_outside_parent");
    assert_eq!(r.json()["unit"]["id"], g.east["id"]);
    assert!(!r.json()["sample_cells"].as_array().unwrap().is_empty());

    // A community without coverage moves freely, and its ancestors follow.
    let c2 = app
        .create_unit("440904001002", "二社区", 3, Some(id(&g.west)))
        .await;
    let rg = app
        .create_unit("440904001002001", "一组", 4, Some(id(&c2)))
        .await;
    let r = app
        .patch(
            &format!("/api/v1/units/{}", id(&c2)),
            json!({"parent_id": id(&g.east)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let anc = app
        .get(&format!("/api/v1/units/{}/ancestors", id(&rg)))
        .await
        .json();
    let codes: Vec<&str> = anc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["440904001002", "440904002", "440904"]);

    // A parent at the wrong level is refused.
    let r = app
        .patch(
            &format!("/api/v1/units/{}", id(&c2)),
            json!({"parent_id": id(&g.district)}),
        )
        .await;
    assert_eq!(r.status, 422);
}

#[actix_web::test]
async fn deleting_a_unit_with_children_is_refused() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let r = app.delete(&format!("/api/v1/units/{}", id(&g.west))).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "unit_has_children");
    let r = app
        .delete(&format!("/api/v1/units/{}", id(&g.community)))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get(&format!("/api/v1/units/{}", id(&g.community)))
            .await
            .status,
        404
    );
    // Its cells no longer locate to it.
    let located = app.locate(21.6, 111.05, "wgs84").await.json();
    assert_eq!(located["units"][0]["code"], "440904001");
}

#[actix_web::test]
async fn list_filters_and_cursor_pagination() {
    let app = TestApp::spawn().await;
    let d = app.create_unit("440904", "电白区", 1, None).await;
    for i in 0..7 {
        app.create_unit(
            &format!("44090410{i}"),
            &format!("第{i}镇"),
            2,
            Some(id(&d)),
        )
        .await;
    }
    app.create_unit("440904200", "水东街道", 2, Some(id(&d)))
        .await;

    let mut seen = Vec::new();
    let mut path = "/api/v1/units?level=2&limit=3".to_owned();
    loop {
        let page = app.get(&path).await.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|u| u["code"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/units?level=2&limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 8, "no unit appears twice across pages");

    let by_code = app.get("/api/v1/units?code=440904103").await.json();
    assert_eq!(by_code["items"].as_array().unwrap().len(), 1);
    let by_name = app.get("/api/v1/units?q=%E6%B0%B4%E4%B8%9C").await.json(); // 水东
    assert_eq!(by_name["items"][0]["code"], "440904200");
    let wildcard = app.get("/api/v1/units?q=%25").await.json(); // a literal %
    assert_eq!(wildcard["items"].as_array().unwrap().len(), 0);
    let by_parent = app
        .get(&format!("/api/v1/units?parent_id={}&limit=500", id(&d)))
        .await
        .json();
    assert_eq!(by_parent["items"].as_array().unwrap().len(), 8);
    let by_level_name = app.get("/api/v1/units?level=district").await.json();
    assert_eq!(by_level_name["items"].as_array().unwrap().len(), 1);
    let children = app
        .get(&format!("/api/v1/units/{}/children?limit=5", id(&d)))
        .await
        .json();
    assert_eq!(children["items"].as_array().unwrap().len(), 5);
    assert!(children["next_cursor"].is_string());
}

#[actix_web::test]
async fn page_size_and_cursor_are_validated() {
    let app = TestApp::spawn().await;
    for q in [
        "limit=0",
        "limit=501",
        "limit=abc",
        "cursor=xyz",
        "level=7",
        "code=12a",
    ] {
        let r = app.get(&format!("/api/v1/units?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
}
