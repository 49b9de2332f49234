//! Bad input gets a clear 4xx problem+json answer and changes nothing.

use crate::helpers::{SmallGrid, TestApp, id};
use serde_json::json;

/// A new category's body whose every close limit is `close`.
fn category(close: &str) -> Vec<u8> {
    let stage =
        format!(r#"{{"register": {{"hours": 1}}, "sign": {{"hours": 1}}, "close": {close}}}"#);
    format!(
        r#"{{"code": "0199", "parent_code": "01", "name": "x", "key": "probe_k", "lowest_level": 3,
            "routing": "locality", "time_limits": {{"urgent": {stage}, "normal": {stage}, "complex": {stage}}}}}"#
    )
    .into_bytes()
}

#[actix_web::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let g = SmallGrid::build(&app).await;
    let before = app.unit_count().await;
    let token = app.admin_token.clone();
    let cov_path = format!("/api/v1/units/{}/coverage", id(&g.community));
    let unit_path = format!("/api/v1/units/{}", id(&g.community));
    let cov_before = app.get(&cov_path).await.json();
    let unit_before = app.get(&unit_path).await.json();
    // (what, path, content type, body, status, problem code)
    type Case<'a> = (&'a str, String, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("malformed JSON", "/api/v1/units".into(), "application/json", b"{\"code\": ".to_vec(), 400, "malformed_json"),
        ("wrong type", "/api/v1/units".into(), "application/json", br#"{"code": 1, "name": "x", "level": 1}"#.to_vec(), 422, "invalid_body"),
        ("unknown field", "/api/v1/units".into(), "application/json", br#"{"code": "1", "name": "x", "level": 1, "admin": true}"#.to_vec(), 422, "invalid_body"),
        ("not JSON at all", "/api/v1/units".into(), "text/plain", b"code=1".to_vec(), 415, "unsupported_media_type"),
        ("huge body", "/api/v1/units".into(), "application/json", vec![b' '; 300 * 1024], 413, "body_too_large"),
        ("invalid GeoJSON", cov_path.clone(), "application/json", br#"{"geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}"#.to_vec(), 422, "invalid_geometry"),
        ("a point", cov_path.clone(), "application/json", br#"{"geometry": {"type": "Point", "coordinates": [111.05, 21.6]}}"#.to_vec(), 422, "invalid_geometry"),
        ("self-intersecting", cov_path.clone(), "application/json", br#"{"geometry": {"type": "Polygon", "coordinates": [[[111.03,21.55],[111.07,21.65],[111.07,21.55],[111.03,21.65],[111.03,21.55]]]}}"#.to_vec(), 422, "invalid_geometry"),
        ("unclosed ring", cov_path.clone(), "application/json", br#"{"geometry": {"type": "Polygon", "coordinates": [[[111.03,21.55],[111.07,21.65],[111.07,21.55],[111.03,21.65]]]}}"#.to_vec(), 422, "invalid_geometry"),
        ("out of range", cov_path.clone(), "application/json", br#"{"geometry": {"type": "Polygon", "coordinates": [[[181,21.55],[111.07,21.65],[111.07,21.55],[181,21.55]]]}}"#.to_vec(), 422, "invalid_geometry"),
        ("both cells and geometry", cov_path.clone(), "application/json", br#"{"cells": [], "geometry": {"type": "Polygon", "coordinates": [[[111.03,21.55],[111.07,21.55],[111.07,21.65],[111.03,21.55]]]}}"#.to_vec(), 422, "validation_failed"),
        ("neither", cov_path.clone(), "application/json", b"{}".to_vec(), 422, "validation_failed"),
        ("empty name", "/api/v1/units".into(), "application/json", br#"{"code": "9", "name": "  ", "level": 1}"#.to_vec(), 422, "validation_failed"),
        ("a continent", cov_path.clone(), "application/json", br#"{"geometry": {"type": "Polygon", "coordinates": [[[70,10],[140,10],[140,50],[70,50],[70,10]]]}}"#.to_vec(), 422, "invalid_geometry"),
        ("bad code", "/api/v1/units".into(), "application/json", br#"{"code": "12-3", "name": "x", "level": 1}"#.to_vec(), 422, "validation_failed"),
        // Valid JSON that serde_json calls a syntax error: still a misfit, not malformed.
        ("a time limit of no unit", "/api/v1/incident-categories".into(), "application/json", category(r#"{}"#), 422, "invalid_body"),
        ("a time limit of two units", "/api/v1/incident-categories".into(), "application/json", category(r#"{"hours": 1, "seconds": 5}"#), 422, "invalid_body"),
    ];
    for (what, path, ct, body, status, code) in cases {
        let method = if path.ends_with("/coverage") {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let r = app.send_raw(method, &path, Some(&token), ct, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{what}"
        );
        assert_eq!(r.code(), code, "{what}");
        assert!(
            !r.json()["detail"].as_str().unwrap().is_empty(),
            "{what}: a human message"
        );
    }
    assert_eq!(app.unit_count().await, before);
    assert_eq!(
        app.get(&cov_path).await.json(),
        cov_before,
        "coverage unchanged"
    );
    assert_eq!(
        app.get(&unit_path).await.json(),
        unit_before,
        "unit and its version unchanged"
    );
}

#[actix_web::test]
async fn malformed_ids_are_400() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/units/not-a-uuid",
        "/api/v1/units/123/children",
        "/api/v1/units/x/coverage",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.code(), "invalid_id");
    }
    let r = app
        .get("/api/v1/units/01936f3e-0000-7000-8000-000000000000")
        .await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn requests_beyond_the_rate_limit_get_429_with_retry_after() {
    // The forwarded address (from a trusted peer) gives each attempt a client of its own,
    // so the count starts at zero.
    let app = TestApp::spawn_with(crate::helpers::Options {
        rate_limit_per_min: 30,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Default::default()
    })
    .await;
    let minute = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60
    };
    let mut attempt = 0;
    let r = loop {
        attempt += 1;
        let client = format!("198.51.100.{attempt}");
        let started = minute();
        let mut statuses = Vec::new();
        for _ in 0..31 {
            let r = app
                .send(
                    reqwest::Method::GET,
                    "/api/v1/units",
                    Some(&app.admin_token.clone()),
                    None,
                    &[("x-forwarded-for", &client)],
                )
                .await;
            statuses.push((r.status, r));
        }
        if minute() != started && attempt < 3 {
            continue; // the window turned over mid-way: the count started again
        }
        let (under, over) = statuses.split_at(30);
        assert!(
            under.iter().all(|(s, _)| *s == 200),
            "every request under the limit succeeds: {:?}",
            under.iter().map(|(s, _)| s).collect::<Vec<_>>()
        );
        break over.first().map(|(_, r)| r.clone()).unwrap();
    };
    assert_eq!(r.status, 429, "the 31st of 30 a minute");
    assert_eq!(r.code(), "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Health checks are outside the limited scope.
    assert_eq!(
        app.send(reqwest::Method::GET, "/healthz", None, None, &[])
            .await
            .status,
        200
    );
    let _ = json!(null);
}

#[actix_web::test]
async fn control_characters_never_reach_the_database() {
    let app = TestApp::spawn().await;
    let grid = crate::helpers::SmallGrid::build(&app).await;
    let (_, staff) = app.staff("ctl.staff", &grid).await;
    // Each attempt carries a marker, so the database can be searched for it afterwards.
    let r = app.get("/api/v1/units?q=a%00bCTLMARK").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "invalid_query"),
        "{}",
        r.text
    );
    let r = app.login("adm\u{0}inCTLMARK", "whatever-Pass-1").await;
    assert_eq!(r.status, 401);
    let attempts = [
        (
            "/api/v1/households",
            json!({ "address": "路\u{1}CTLMARK", "location": { "lat": 21.6, "lng": 111.05 } }),
        ),
        (
            "/api/v1/households",
            json!({ "address": "路", "notes": "\u{0}CTLMARK", "location": { "lat": 21.6, "lng": 111.05 } }),
        ),
        (
            "/api/v1/units",
            json!({ "code": "440904009", "name": "街\u{7}CTLMARK", "level": 2, "parent_id": grid.district["id"] }),
        ),
        (
            "/api/v1/departments",
            json!({ "code": "ctl", "name": "局\u{1b}CTLMARK" }),
        ),
    ];
    for (path, body) in attempts {
        let token = if path.contains("households") {
            staff.clone()
        } else {
            app.admin_token.clone()
        };
        let r = app
            .send(reqwest::Method::POST, path, Some(&token), Some(body), &[])
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "validation_failed"),
            "{path}: {}",
            r.text
        );
    }
    let r = app.get("/api/v1/units?unknown=1").await;
    assert_eq!(r.status, 400, "unknown query parameters are refused");
    // Nothing of any of it is stored, not even in the audit log of the failed login.
    crate::households::assert_no_plain_text(&app, &["CTLMARK"]);
}
