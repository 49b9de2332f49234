//! Incidents as tests make and move them: one report, one action, each asserted to succeed.

use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

/// A case of `category` reported at a point; 201 asserted.
pub async fn report(app: &TestApp, token: &str, category: &str, (lat, lng): (f64, f64)) -> Value {
    let r = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(token),
            Some(json!({"category": category, "description": "路边堆放垃圾",
                        "location": {"lat": lat, "lng": lng}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

/// An action on the case at the version the test holds; 200 asserted, the case returned.
pub async fn act(app: &TestApp, token: &str, case: &Value, b: Value) -> Value {
    let path = format!(
        "/api/v1/incidents/{}/transitions",
        case["id"].as_str().unwrap()
    );
    let etag = format!("\"{}\"", case["version"]);
    let r = app
        .send(
            Method::POST,
            &path,
            Some(token),
            Some(b.clone()),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{b}: {}", r.text);
    r.json()
}
