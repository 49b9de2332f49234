//! What every JSON read gets alike, for phones on slow links: sparse fieldsets (`fields=`),
//! and conditional reads (an `ETag` on every `200`: the record's version where the route
//! gives one, else a hash of the body; `If-None-Match` with a current tag is `304` with no body). Compression
//! (gzip, brotli by `Accept-Encoding`) wraps this, so the tag is the uncompressed body's;
//! except for a body its route compressed itself (a large sync page, `crate::compressed`),
//! whose tag is that encoding's (RFC 9110 allows a tag per representation).

use crate::error::ApiError;
use actix_web::body::{BodySize, BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH, VARY,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;

/// Names asked for in one `fields=`.
const MAX_FIELDS: usize = 50;

/// The `fields` query parameter's names (comma-separated, repeatable), if it has one.
///
/// # Errors
/// `400 invalid_query` for a name that is not a member name, or too many.
pub fn fields(query: &str) -> Result<Option<Vec<String>>, ApiError> {
    let mut names: Option<Vec<String>> = None;
    for (k, v) in form_pairs(query) {
        if k != "fields" {
            continue;
        }
        let all = names.get_or_insert_with(Vec::new);
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("fields: {name:?} is not a member name"),
                ));
            }
            all.push(name.to_owned());
        }
    }
    match names {
        Some(n) if n.is_empty() || n.len() > MAX_FIELDS => Err(ApiError::bad_request(
            "invalid_query",
            format!("fields names 1 to {MAX_FIELDS} members, separated by commas"),
        )),
        other => Ok(other),
    }
}

/// The query's pairs, decoded; a pair that does not decode is skipped (the route's own
/// parsing refuses it).
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The query without its `fields` pairs, for the route's own parsing.
#[must_use]
pub fn without_fields(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("fields"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Keeps the named members (and `id`) of each list item, or of the object when it is not a
/// list (`{items: [...]}`).
fn sparse(body: &[u8], names: &[String]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let keep = |o: &mut Value| {
        if let Some(o) = o.as_object_mut() {
            o.retain(|k, _| k == "id" || names.iter().any(|n| n == k));
        }
    };
    match v.get_mut("items").and_then(Value::as_array_mut) {
        Some(items) => items.iter_mut().for_each(keep),
        None => keep(&mut v),
    }
    serde_json::to_vec(&v).ok()
}

/// A weak tag of a body: the first 16 bytes of its SHA-256.
fn body_tag(body: &[u8]) -> String {
    let hex = wangge_app::blobs::sha256_hex(body);
    format!("W/\"{}\"", &hex[..32])
}

/// Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for it).
fn matches(if_none_match: Option<&HeaderValue>, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let tag = opaque(tag);
    if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || opaque(t) == tag))
}

/// The middleware: see the module's description.
///
/// # Errors
/// The route's own.
pub async fn shape(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::GET {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let names = match fields(req.query_string()) {
        Ok(n) => n,
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    let res = next.call(req).await?;
    let json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    // Only whole bodies: streams (CSV exports, event streams) go as they are.
    let whole = matches!(res.response().body().size(), BodySize::Sized(_));
    if res.status() != StatusCode::OK || !json || !whole {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let mut bytes = to_bytes(body)
        .await
        .map_err(|e| ApiError::internal(&e.into()))?
        .to_vec();
    if let Some(names) = &names
        && let Some(b) = sparse(&bytes, names)
    {
        bytes = b;
    }
    // A record's own tag is its version: it still tells whether the record changed.
    let tag = head
        .headers()
        .get(ETAG)
        .and_then(|t| t.to_str().ok())
        .map_or_else(|| body_tag(&bytes), str::to_owned);
    if let Ok(v) = HeaderValue::from_str(&tag) {
        head.headers_mut().insert(ETAG, v);
    }
    if matches(req.headers().get(IF_NONE_MATCH), &tag) {
        let mut not_modified = HttpResponse::NotModified();
        // A 304 carries what the 200 would have said of caching (RFC 9110 §15.4.5); every
        // JSON read varies by encoding, whether `Compress` or its route compressed it.
        for name in [ETAG, CACHE_CONTROL] {
            if let Some(v) = head.headers().get(&name) {
                not_modified.insert_header((name, v.clone()));
            }
        }
        not_modified.insert_header((VARY, HeaderValue::from_static("accept-encoding")));
        return Ok(ServiceResponse::new(req, not_modified.finish()));
    }
    Ok(ServiceResponse::new(req, head.set_body(bytes)).map_into_boxed_body())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_member_names_and_leave_the_rest_of_the_query_alone() {
        assert_eq!(
            fields("limit=5&fields=name%2Cversion&fields=tags").ok(),
            Some(Some(vec!["name".into(), "version".into(), "tags".into()]))
        );
        assert_eq!(fields("limit=5").ok(), Some(None));
        for bad in ["fields=", "fields=Name", "fields=a.b", "fields=1a"] {
            assert!(fields(bad).is_err(), "{bad}");
        }
        assert_eq!(
            without_fields("limit=5&fields=a,b&cursor=x"),
            "limit=5&cursor=x"
        );
    }

    #[test]
    fn sparse_keeps_the_named_members_and_the_id() {
        let list = br#"{"items":[{"id":"1","name":"a","tags":[]}],"next_cursor":"c"}"#;
        let out: Value = serde_json::from_slice(&sparse(list, &["name".into()]).unwrap()).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"items":[{"id":"1","name":"a"}],"next_cursor":"c"})
        );
        let one = br#"{"id":"1","name":"a","tags":[]}"#;
        let out: Value = serde_json::from_slice(&sparse(one, &["tags".into()]).unwrap()).unwrap();
        assert_eq!(out, serde_json::json!({"id":"1","tags":[]}));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(matches(Some(&h("W/\"ab\"")), "W/\"ab\""));
        assert!(matches(Some(&h("\"x\", \"ab\"")), "W/\"ab\""));
        assert!(matches(Some(&h("*")), "\"3\""));
        assert!(!matches(Some(&h("\"abc\"")), "W/\"ab\""));
        assert!(!matches(None, "\"3\""));
    }
}
