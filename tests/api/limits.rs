//! Every error code the contract documents is provoked somewhere, and every documented limit
//! holds at its boundary: the last value in, the first one out.

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

/// Every `code` an error response of the contract may carry.
fn documented_codes() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(code) = m.get("code") {
                    for key in ["enum", "const"] {
                        match code.get(key) {
                            Some(Value::Array(a)) => {
                                out.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
                            }
                            Some(Value::String(s)) => out.push(s.clone()),
                            _ => {}
                        }
                    }
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let spec: Value = serde_yaml_ng::from_str(include_str!("../../openapi.yaml")).unwrap();
    let mut out = Vec::new();
    walk(&spec, &mut out);
    out.sort();
    out.dedup();
    out
}

/// A test that provokes a code asserts it by name; scripts run by CI (`scripts/`) count too.
#[test]
fn every_documented_error_code_is_asserted_by_a_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = String::new();
    for dir in ["tests/api", "scripts"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n != "limits.rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let codes = documented_codes();
    assert!(codes.len() > 40, "{codes:?}");
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| {
            !sources.contains(&format!("\"{c}\"")) && !sources.contains(&format!("code\":\"{c}"))
        })
        .collect();
    assert!(missing.is_empty(), "no test asserts {missing:?}");
}

#[actix_web::test]
async fn page_sizes_stop_at_five_hundred() {
    let app = TestApp::spawn().await;
    for (limit, status) in [(0, 400), (1, 200), (500, 200), (501, 400)] {
        for path in [
            "/api/v1/units",
            "/api/v1/users",
            "/api/v1/departments",
            "/api/v1/audit",
            "/api/v1/changes",
        ] {
            let r = app.get(&format!("{path}?limit={limit}")).await;
            assert_eq!(r.status, status, "{path} limit={limit}: {}", r.text);
        }
    }
}

#[actix_web::test]
async fn json_bodies_stop_at_256_kib() {
    let app = TestApp::spawn().await;
    // A department whose name pads the body to exactly the limit: in (and refused for its
    // name), one byte more: too large.
    let body = |n: usize| {
        let skeleton = json!({ "code": "pad", "name": "" }).to_string();
        let pad = "a".repeat(n - skeleton.len());
        json!({ "code": "pad", "name": pad })
            .to_string()
            .into_bytes()
    };
    let at = app
        .send_raw(
            Method::POST,
            "/api/v1/departments",
            Some(&app.admin_token),
            "application/json",
            body(256 * 1024),
        )
        .await;
    assert_eq!(
        (at.status, at.code().as_str()),
        (422, "validation_failed"),
        "read, then refused for its name"
    );
    let over = app
        .send_raw(
            Method::POST,
            "/api/v1/departments",
            Some(&app.admin_token),
            "application/json",
            body(256 * 1024 + 1),
        )
        .await;
    assert_eq!((over.status, over.code().as_str()), (413, "body_too_large"));
}

/// Builds a request body around the text under test.
type BodyOf = Box<dyn Fn(String) -> Value>;

#[actix_web::test]
async fn text_fields_stop_at_their_documented_lengths() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("limit.staff", &grid).await;
    let h = app.household(&staff, "边界路 1 号", 21.6, 111.05).await;
    let hid = h["id"].as_str().unwrap();
    let cases: Vec<(Method, String, &str, usize, BodyOf)> = vec![
        (
            Method::PATCH,
            format!("/api/v1/households/{hid}"),
            "address",
            200,
            Box::new(|s| json!({ "address": s })),
        ),
        (
            Method::PATCH,
            format!("/api/v1/households/{hid}"),
            "notes",
            2000,
            Box::new(|s| json!({ "notes": s })),
        ),
        (
            Method::POST,
            format!("/api/v1/households/{hid}/residents"),
            "name",
            64,
            Box::new(|s| json!({ "name": s, "relation": "other" })),
        ),
        (
            Method::PATCH,
            format!("/api/v1/units/{}", id(&grid.east)),
            "name",
            100,
            Box::new(|s| json!({ "name": s })),
        ),
        (
            Method::POST,
            format!("/api/v1/households/{hid}/visits"),
            "notes",
            2000,
            Box::new(|s| json!({ "notes": s })),
        ),
    ];
    let worker = app
        .user(
            "limit.worker",
            &["grid_worker"],
            &[(id(&grid.district), true)],
        )
        .await
        .1;
    for (method, path, field, max, body) in cases {
        let token = if path.contains("/units/") {
            app.admin_token.clone()
        } else if path.ends_with("visits") {
            worker.clone()
        } else {
            staff.clone()
        };
        let ok = app
            .send(
                method.clone(),
                &path,
                Some(&token),
                Some(body("字".repeat(max))),
                &[],
            )
            .await;
        assert!(ok.status < 300, "{field} of {max}: {}", ok.text);
        let over = app
            .send(
                method,
                &path,
                Some(&token),
                Some(body("字".repeat(max + 1))),
                &[],
            )
            .await;
        assert_eq!(
            (over.status, over.json()["field"].as_str()),
            (422, Some(field)),
            "{field} of {}",
            max + 1
        );
    }
}

#[actix_web::test]
async fn search_radius_assignments_and_visit_dates_stop_at_their_bounds() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("bound.staff", &grid).await;
    for (radius, status) in [(1, 200), (5000, 200), (5001, 400), (0, 400)] {
        let r = app
            .get_as(
                &staff,
                &format!("/api/v1/households?lat=21.6&lng=111.05&radius_m={radius}"),
            )
            .await;
        assert_eq!(r.status, status, "radius {radius}");
    }
    // An account holds at most 100 assignments.
    let (user, _) = app.user("bound.user", &["grid_worker"], &[]).await;
    let mut units = Vec::new();
    for k in 0..101 {
        let u = app
            .create_unit(
                &format!("4409040019{k:02}"),
                &format!("组{k}"),
                3,
                Some(id(&grid.west)),
            )
            .await;
        units.push(json!({ "unit_id": u["id"], "capture": false }));
    }
    let path = format!("/api/v1/users/{user}/assignments");
    assert_eq!(
        app.put(&path, json!({ "assignments": units[..100] }))
            .await
            .status,
        200
    );
    let over = app.put(&path, json!({ "assignments": units })).await;
    assert_eq!(
        (over.status, over.json()["field"].as_str()),
        (422, Some("assignments"))
    );
    // Visits may be dated up to 90 days back, and not ahead of the server's clock.
    let worker = app
        .user(
            "bound.worker",
            &["grid_worker"],
            &[(id(&grid.district), true)],
        )
        .await
        .1;
    let h = app.household(&staff, "边界路 2 号", 21.6, 111.05).await;
    let visits = format!("/api/v1/households/{}/visits", h["id"].as_str().unwrap());
    let at = |days: i64| (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
    for (when, status) in [(at(89), 201), (at(91), 422), (at(-1), 422)] {
        let r = app
            .send(
                Method::POST,
                &visits,
                Some(&worker),
                Some(json!({ "notes": "走访", "visited_at": when })),
                &[],
            )
            .await;
        assert_eq!(r.status, status, "{when}: {}", r.text);
    }
}
