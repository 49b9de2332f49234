//! Holds real responses to `openapi.yaml`: the operation must exist, the status must be
//! documented, and a JSON body must validate against the documented schema. Every response
//! the helpers receive passes through `check`, so the whole suite tests the contract.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::sync::OnceLock;

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = include_str!("../../openapi.yaml");
        serde_yaml_ng::from_str(text).expect("openapi.yaml parses")
    })
}

/// Finds the path template matching a concrete path (ignoring the query string).
fn match_path(path: &str) -> Option<(&'static str, &'static Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let paths = spec()["paths"].as_object()?;
    // Prefer literal matches over templated ones (e.g. /units/import over /units/{id}).
    let mut best: Option<(usize, &'static str, &'static Value)> = None;
    for (tpl, item) in paths {
        let tsegs: Vec<&str> = tpl.trim_end_matches('/').split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                true
            } else {
                literal += 1;
                t == s
            }
        });
        if ok && best.is_none_or(|(l, _, _)| literal > l) {
            best = Some((literal, tpl.as_str(), item));
        }
    }
    best.map(|(_, t, i)| (t, i))
}

fn resolve(v: &Value) -> &Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r.trim_start_matches('#');
            resolve(
                spec()
                    .pointer(ptr)
                    .unwrap_or_else(|| panic!("dangling $ref {r}")),
            )
        }
        None => v,
    }
}

/// Panics with a clear message when the response breaks the contract: undocumented
/// operation or status, a missing required header, an undocumented content type, or a body
/// that does not validate against the schema.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some((tpl, item)) = match_path(path) else {
        // Unknown routes answer the default 404 problem; nothing to hold it to.
        assert_eq!(
            status, 404,
            "{method} {path}: no such path in openapi.yaml but status {status}"
        );
        return;
    };
    if status == 405 && item.get(method.to_ascii_lowercase()).is_none() {
        // A method the path does not offer: the contract lists what it offers, and the
        // answer is a problem like every error.
        assert!(
            content_type.starts_with("application/problem+json"),
            "{method} {tpl} 405 without problem+json"
        );
        return;
    }
    let op = item
        .get(method.to_ascii_lowercase())
        .unwrap_or_else(|| panic!("openapi.yaml has no {method} {tpl}"));
    let responses = &op["responses"];
    let resp = responses
        .get(status.to_string())
        .or_else(|| responses.get(format!("{}XX", status / 100)))
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| {
            panic!("{method} {tpl}: status {status} is not documented (body: {body})")
        });
    let resp = resolve(resp);
    if let Some(hs) = resp.get("headers").and_then(Value::as_object) {
        for (name, h) in hs {
            let h = resolve(h);
            if h.get("required").and_then(Value::as_bool) == Some(true) {
                assert!(
                    headers.contains_key(name.to_ascii_lowercase().as_str()),
                    "{method} {tpl} {status}: required header {name} is missing"
                );
            }
        }
    }
    let Some(content) = resp.get("content").and_then(Value::as_object) else {
        assert!(
            body.is_empty(),
            "{method} {tpl} {status}: documented without a body, got {body}"
        );
        return;
    };
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let media = content.get(mime).unwrap_or_else(|| {
        panic!(
            "{method} {tpl} {status}: content type {mime:?} is not documented (have {:?})",
            content.keys().collect::<Vec<_>>()
        )
    });
    let Some(schema) = media.get("schema") else {
        return;
    };
    if !(mime.ends_with("json")) {
        return;
    }
    let instance: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{method} {tpl} {status}: body is not JSON ({e}): {body}"));
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec()["components"].clone(),
    });
    if let (Some(obj), Some(s)) = (root.as_object_mut(), schema.as_object()) {
        for (k, v) in s {
            obj.insert(k.clone(), v.clone());
        }
    }
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("{method} {tpl} {status}: schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {tpl} {status}: response does not match openapi.yaml: {errors:?}\nbody: {}",
        body.chars().take(2000).collect::<String>()
    );
}
