//! Holds real responses to `openapi.yaml`. Every response the helpers receive passes through
//! [`check`], so the whole suite tests the contract:
//!
//! - the operation exists; a path the contract does not know must be the `404 not_found`
//!   problem, and a method it does not list the `405 method_not_allowed` problem whose `Allow`
//!   names exactly the methods the contract lists;
//! - the status is documented;
//! - every documented header is present when required, and every documented header present
//!   holds a value its schema allows (the ETag pattern, `Retry-After` bounds,
//!   `WWW-Authenticate`, `Location`);
//! - the conventions of `info.description` hold on every answer: `X-Content-Type-Options:
//!   nosniff`, `X-Request-Id`, and `Cache-Control: no-store` on `/api/v1`;
//! - the content type is documented and a JSON body validates against the schema, `format`
//!   included (`uuid`, `date-time`, `date`).
//!
//! The checker has tests of its own below: it must refuse what breaks the contract.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = include_str!("../../openapi.yaml");
        serde_yaml_ng::from_str(text).expect("openapi.yaml parses")
    })
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

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
                !s.is_empty()
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

type Compiled = Arc<jsonschema::Validator>;

/// The schema without its `required` lists: what a sparse fieldset (`fields=`) answers
/// still has the documented types, but only the members asked for.
fn without_required(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("required").is_some_and(Value::is_array) {
                o.remove("required");
            }
            o.values_mut().for_each(without_required);
        }
        Value::Array(a) => a.iter_mut().for_each(without_required),
        _ => {}
    }
}

/// Compiles a schema with the contract's components, `format` checked; cached by a key
/// (a key ending in `sparse` compiles it [`without_required`]).
fn validator(key: &str, schema: &Value) -> Result<Compiled, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(key) {
        return Ok(v.clone());
    }
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec()["components"].clone(),
    });
    if let (Some(obj), Some(s)) = (root.as_object_mut(), schema.as_object()) {
        for (k, v) in s {
            obj.insert(k.clone(), v.clone());
        }
    }
    if key.ends_with(" sparse") {
        without_required(&mut root);
    }
    let v = Arc::new(
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("{key}: schema does not compile: {e}"))?,
    );
    cache.lock().unwrap().insert(key.to_owned(), v.clone());
    Ok(v)
}

fn validate(key: &str, schema: &Value, instance: &Value) -> Result<(), String> {
    let v = validator(key, schema)?;
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .take(5)
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{key}: {errors:?}"))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The problem body of an answer the contract describes only by convention (404 of an
/// unknown path, 405 of an unlisted method).
fn check_problem(body: &str, status: u16, code: &str, ctx: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("{ctx}: not JSON ({e})"))?;
    validate(
        "#Problem",
        &json!({ "$ref": "#/components/schemas/Problem" }),
        &v,
    )?;
    if v["status"] != status || v["code"] != code {
        return Err(format!(
            "{ctx}: expected a {status} {code} problem, got {v}"
        ));
    }
    Ok(())
}

/// Checks one response; `Err` says how it breaks the contract.
///
/// # Errors
/// As described in the module documentation.
pub fn verify(
    method: &str,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: &str,
) -> Result<(), String> {
    let ctx = format!("{method} {path} {status}");
    // The conventions every answer keeps.
    if header(headers, "x-content-type-options") != Some("nosniff") {
        return Err(format!("{ctx}: X-Content-Type-Options is not nosniff"));
    }
    if header(headers, "x-request-id").is_none_or(str::is_empty) {
        return Err(format!("{ctx}: no X-Request-Id"));
    }
    if path.starts_with("/api/v1") && header(headers, "cache-control") != Some("no-store") {
        return Err(format!(
            "{ctx}: Cache-Control is {:?}, not no-store",
            header(headers, "cache-control")
        ));
    }
    let content_type = header(headers, "content-type").unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let Some((tpl, item)) = match_path(path) else {
        if status != 404 || mime != "application/problem+json" {
            return Err(format!("{ctx}: no such path in openapi.yaml"));
        }
        return check_problem(body, 404, "not_found", &ctx);
    };
    let lower = method.to_ascii_lowercase();
    let Some(op) = item.get(&lower) else {
        if status != 405 {
            return Err(format!("{ctx}: openapi.yaml has no {method} {tpl}"));
        }
        let mut listed: Vec<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_ascii_uppercase())
            .collect();
        let mut allow: Vec<String> = header(headers, "allow")
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        listed.sort();
        allow.sort();
        if allow != listed {
            return Err(format!(
                "{ctx}: Allow {allow:?} is not the listed {listed:?}"
            ));
        }
        return check_problem(body, 405, "method_not_allowed", &ctx);
    };
    let responses = &op["responses"];
    let resp = responses
        .get(status.to_string())
        .or_else(|| responses.get(format!("{}XX", status / 100)))
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("{method} {tpl}: status {status} is not documented ({body})"))?;
    let resp = resolve(resp);
    if let Some(hs) = resp.get("headers").and_then(Value::as_object) {
        for (name, h) in hs {
            let h = resolve(h);
            let value = header(headers, &name.to_ascii_lowercase());
            let Some(value) = value else {
                if h.get("required").and_then(Value::as_bool) == Some(true) {
                    return Err(format!(
                        "{method} {tpl} {status}: required header {name} is missing"
                    ));
                }
                continue;
            };
            let schema = h.get("schema").cloned().unwrap_or(json!({}));
            let instance = if schema["type"] == "integer" {
                value
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(value.to_owned()), Value::from)
            } else {
                Value::String(value.to_owned())
            };
            validate(
                &format!("{method} {tpl} {status} header {name}"),
                &schema,
                &instance,
            )?;
        }
    }
    let Some(content) = resp.get("content").and_then(Value::as_object) else {
        if !body.is_empty() {
            return Err(format!(
                "{method} {tpl} {status}: documented without a body, got {body}"
            ));
        }
        return Ok(());
    };
    let media = content.get(mime).ok_or_else(|| {
        format!(
            "{method} {tpl} {status}: content type {mime:?} is not documented (have {:?})",
            content.keys().collect::<Vec<_>>()
        )
    })?;
    let Some(schema) = media.get("schema") else {
        return Ok(());
    };
    if !mime.ends_with("json") {
        return Ok(());
    }
    let instance: Value = serde_json::from_str(body)
        .map_err(|e| format!("{method} {tpl} {status}: body is not JSON ({e}): {body}"))?;
    let sparse = path
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("fields=")));
    validate(
        &format!(
            "{method} {tpl} {status} {mime}{}",
            if sparse { " sparse" } else { "" }
        ),
        schema,
        &instance,
    )
    .map_err(|e| {
        format!(
            "response does not match openapi.yaml: {e}\nbody: {}",
            body.chars().take(2000).collect::<String>()
        )
    })
}

/// Panics unless `instance` fits the component schema `name` (for what is not a whole
/// response body, such as the data of one server-sent event).
pub fn check_schema(name: &str, instance: &Value) {
    let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    if let Err(e) = validate(&format!("#{name}"), &schema, instance) {
        panic!("{name} does not match openapi.yaml: {e}\ninstance: {instance}");
    }
}

/// Panics with a clear message when the response breaks the contract.
pub fn check(method: &str, path: &str, status: u16, headers: &HeaderMap, body: &str) {
    if let Err(e) = verify(method, path, status, headers, body) {
        panic!("{e}");
    }
}

#[cfg(test)]
mod checker {
    //! The checker refuses what breaks the contract: bodies, formats, headers, paths.

    use super::verify;
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::json;

    fn headers(extra: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-content-type-options", "nosniff"),
            ("x-request-id", "abc"),
            ("cache-control", "no-store"),
            ("content-type", "application/json"),
        ]
        .iter()
        .chain(extra)
        {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn department(id: &str, at: &str) -> String {
        json!({ "id": id, "code": "housing", "name": "住建", "created_at": at,
                "updated_at": at, "version": 1 })
        .to_string()
    }

    const ID: &str = "01900000-0000-7000-8000-000000000001";
    const AT: &str = "2026-12-01T08:00:00.000Z";
    const PATH: &str = "/api/v1/departments/01900000-0000-7000-8000-000000000001";

    #[test]
    fn a_conforming_answer_passes() {
        let h = headers(&[("etag", "\"1\"")]);
        verify("GET", PATH, 200, &h, &department(ID, AT)).unwrap();
    }

    #[test]
    fn formats_are_checked() {
        let h = headers(&[("etag", "\"1\"")]);
        assert!(verify("GET", PATH, 200, &h, &department("not-a-uuid", AT)).is_err());
        assert!(verify("GET", PATH, 200, &h, &department(ID, "yesterday")).is_err());
    }

    #[test]
    fn header_values_are_checked() {
        let body = department(ID, AT);
        assert!(
            verify("GET", PATH, 200, &headers(&[("etag", "3")]), &body).is_err(),
            "ETag pattern"
        );
        assert!(
            verify("GET", PATH, 200, &headers(&[]), &body).is_err(),
            "ETag required"
        );
        let mut no_cache = headers(&[("etag", "\"1\"")]);
        no_cache.insert("cache-control", HeaderValue::from_static("max-age=60"));
        assert!(
            verify("GET", PATH, 200, &no_cache, &body).is_err(),
            "no-store on /api/v1"
        );
        let mut sniff = headers(&[("etag", "\"1\"")]);
        sniff.remove("x-content-type-options");
        assert!(
            verify("GET", PATH, 200, &sniff, &body).is_err(),
            "nosniff everywhere"
        );
        let problem =
            json!({ "type": "urn:wangge:problem:rate_limited", "title": "Too Many Requests",
            "status": 429, "code": "rate_limited", "detail": "slow down" })
            .to_string();
        let mut h = headers(&[("retry-after", "5000")]);
        h.insert(
            "content-type",
            HeaderValue::from_static("application/problem+json"),
        );
        assert!(
            verify("GET", PATH, 429, &h, &problem).is_err(),
            "Retry-After bound"
        );
        h.insert("retry-after", HeaderValue::from_static("30"));
        verify("GET", PATH, 429, &h, &problem).unwrap();
        let unauthorized =
            json!({ "type": "urn:wangge:problem:unauthorized", "title": "Unauthorized",
            "status": 401, "code": "unauthorized", "detail": "no token" })
            .to_string();
        h.insert("www-authenticate", HeaderValue::from_static("Basic"));
        assert!(
            verify("GET", PATH, 401, &h, &unauthorized).is_err(),
            "WWW-Authenticate"
        );
    }

    #[test]
    fn undocumented_paths_methods_and_statuses_are_refused() {
        let h = headers(&[("etag", "\"1\"")]);
        let body = department(ID, AT);
        assert!(verify("GET", "/api/v1/nowhere", 200, &h, &body).is_err());
        assert!(verify("GET", PATH, 418, &h, &body).is_err());
        let mut p = headers(&[("allow", "GET, PATCH, DELETE")]);
        p.insert(
            "content-type",
            HeaderValue::from_static("application/problem+json"),
        );
        let not_allowed = json!({ "type": "urn:wangge:problem:method_not_allowed",
            "title": "Method Not Allowed", "status": 405, "code": "method_not_allowed",
            "detail": "no" })
        .to_string();
        verify("PUT", PATH, 405, &p, &not_allowed).unwrap();
        p.insert("allow", HeaderValue::from_static("GET"));
        assert!(
            verify("PUT", PATH, 405, &p, &not_allowed).is_err(),
            "Allow must list all"
        );
        p.remove("allow");
        assert!(
            verify("PUT", PATH, 405, &p, &not_allowed).is_err(),
            "Allow is required"
        );
        assert!(
            verify("PUT", PATH, 200, &h, &body).is_err(),
            "an unlisted method answered"
        );
    }

    #[test]
    fn bodies_that_break_the_schema_are_refused() {
        let h = headers(&[("etag", "\"1\"")]);
        let mut extra: serde_json::Value = serde_json::from_str(&department(ID, AT)).unwrap();
        extra["secret"] = json!("x");
        assert!(verify("GET", PATH, 200, &h, &extra.to_string()).is_err());
        assert!(verify("GET", PATH, 200, &h, "{}").is_err());
        assert!(verify("GET", PATH, 200, &h, "not json").is_err());
        let mut empty = headers(&[]);
        empty.remove("content-type");
        assert!(
            verify("DELETE", PATH, 204, &empty, "surprise").is_err(),
            "a 204 carries no body"
        );
    }
}
