//! The HTTP conventions every route shares, defined once: ids from paths, `If-Match` and
//! `ETag`, paging, JSON bodies (kept whole so an idempotent request can be hashed), the
//! `Idempotency-Key` header, and answers.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use wangge_app::idempotency::{Answer, Keyed};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// An object id from a path: a UUID, or `400 invalid_id` naming what was expected.
///
/// # Errors
/// As described.
pub fn id<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, ApiError> {
    s.parse::<T>().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{s:?} is not a {what} id (UUID)"))
    })
}

/// `limit`, checked: 1 to 500, default 50.
///
/// # Errors
/// `400 invalid_query` outside the range.
pub fn limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be from 1 to {MAX_PAGE}"),
        ))
    }
}

/// A cursor that is an id this API issued.
///
/// # Errors
/// `400 invalid_cursor` otherwise.
pub fn cursor<T: std::str::FromStr>(c: Option<&str>) -> Result<Option<T>, ApiError> {
    c.map(|c| {
        c.parse::<T>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "the cursor is not one this API issued")
        })
    })
    .transpose()
}

/// `{items, next_cursor}` from `limit + 1` rows: the extra row only says whether another page
/// follows; the cursor is the last item's.
pub fn page<T: Serialize>(
    mut rows: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> String,
) -> serde_json::Value {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(cursor_of)
    } else {
        None
    };
    json!({ "items": rows, "next_cursor": next })
}

/// A query string parsed into `T`, as `web::Query` does, less the `fields` parameter: the
/// representation middleware applies sparse fieldsets to every read alike.
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = crate::representation::without_fields(req.query_string());
        std::future::ready(
            web::Query::<T>::from_query(&query)
                .map(|q| Self(q.into_inner()))
                .map_err(|e| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("the query string is invalid: {e}"),
                    )
                }),
        )
    }
}

/// The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); `*` means any.
///
/// # Errors
/// `400 invalid_if_match` for anything else.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or_default().trim();
    if s == "*" {
        return Ok(None);
    }
    // Exactly the shapes the contract's pattern names: `"3"`, `W/"3"` or `3`, no leading zero.
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = match s.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').unwrap_or("\""),
        None => s,
    };
    let digits = s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    digits
        .then(|| s.parse::<i64>().ok())
        .flatten()
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match must be an ETag this API issued, like \"3\"",
            )
        })
}

/// An entity tag for a version.
#[must_use]
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `If-None-Match` names this version (or `*`): the client's copy is current.
#[must_use]
pub fn not_modified(req: &HttpRequest, version: i64) -> bool {
    let tag = etag(version);
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == tag)
        })
}

/// 304 with the tag.
#[must_use]
pub fn not_modified_response(version: i64) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, etag(version)))
        .finish()
}

/// A JSON answer with the record's version as `ETag`.
pub fn with_etag(status: StatusCode, version: i64, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

/// An answer as the idempotency store keeps it: status, `Location` and `ETag` when given,
/// and the JSON body.
pub fn answer(
    status: StatusCode,
    body: &impl Serialize,
    location: Option<String>,
    version: Option<i64>,
) -> Answer {
    let mut headers = Vec::new();
    if let Some(l) = location {
        headers.push(("location".to_owned(), l));
    }
    if let Some(v) = version {
        headers.push(("etag".to_owned(), etag(v)));
    }
    Answer {
        status: status.as_u16(),
        headers,
        body: serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// The HTTP response of an answer, first or replayed: the same bytes either way.
#[must_use]
pub fn respond(a: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    res.insert_header(header::ContentType::json());
    for (k, v) in a.headers {
        res.insert_header((k, v));
    }
    res.body(a.body)
}

/// A JSON body, read whole (within the route's limit) so an idempotent request can be hashed.
pub struct JsonBody<T> {
    pub value: T,
    /// SHA-256 of method, path, query and body.
    hash: String,
}

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The request as the idempotency store knows it, when it carries a key.
    #[must_use]
    pub fn keyed(&self, key: &IdempotencyKey) -> Option<Keyed> {
        key.0.as_ref().map(|k| Keyed {
            key: k.clone(),
            request_hash: self.hash.clone(),
        })
    }
}

/// The body limit of a route: JSON bodies default to 256 KiB; coverage and imports raise it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// SHA-256, hex, of a request: method, path with query, and body.
#[must_use]
pub fn request_hash(req: &HttpRequest, body: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(req.method().as_str().as_bytes());
    ctx.update(b" ");
    ctx.update(req.uri().path().as_bytes());
    ctx.update(b"?");
    ctx.update(req.uri().query().unwrap_or_default().as_bytes());
    ctx.update(b"\n");
    ctx.update(body);
    ctx.finish()
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Reads a body whole, refusing it past `limit` with the same problem as everything else.
///
/// # Errors
/// `413 body_too_large`, `400 malformed_body` when the body cannot be read (a broken
/// chunked encoding).
pub async fn read_body(mut payload: Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("malformed_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[must_use]
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body exceeds the limit of {limit} bytes for this route"),
    )
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let json =
                req.mime_type().ok().flatten().is_some_and(|m| {
                    m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")
                });
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
            let limit = req
                .app_data::<BodyLimit>()
                .map_or(crate::startup::JSON_LIMIT_BYTES, |l| l.0);
            if let Some(n) = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                && n > limit
            {
                return Err(too_large(limit));
            }
            let body = read_body(payload, limit).await?;
            let value = serde_json::from_slice::<T>(&body).map_err(|e| {
                // serde_json reports some misfits of valid JSON as syntax (an enum given as
                // `{}` or with two members): malformed is only a body that is not JSON.
                if e.is_data() || serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
                    ApiError::unprocessable(
                        "invalid_body",
                        format!("the body does not fit the schema: {e}"),
                    )
                } else {
                    ApiError::bad_request(
                        "malformed_json",
                        format!("the body is not valid JSON: {e}"),
                    )
                }
            })?;
            Ok(Self {
                value,
                hash: request_hash(&req, &body),
            })
        })
    }
}

/// The `Idempotency-Key` header: a structured-field string (`"…"`) or the bare key, 1 to 255
/// visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    /// # Errors
    /// `400 invalid_idempotency_key`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(Self(None));
        };
        let t = raw.trim();
        let t = t
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(t);
        if (1..=255).contains(&t.len())
            && t.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"')
        {
            Ok(Self(Some(t.to_owned())))
        } else {
            Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ))
        }
    }
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.headers().get("idempotency-key").map(|v| v.to_str());
        std::future::ready(match raw {
            None => Ok(Self(None)),
            Some(Ok(s)) => Self::parse(Some(s)),
            Some(Err(_)) => Self::parse(Some("\u{0}")),
        })
    }
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)` (clear the field).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// An optional member that may be absent but not `null` (`null` would otherwise silently
/// mean "unchanged").
pub fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Whether the request's `Accept` header asks for `media_type` over JSON, the default: names
/// it with a weight above zero and no lower than `application/json`'s.
#[must_use]
pub fn accepts(req: &HttpRequest, media_type: &str) -> bool {
    let q = quality(req, media_type);
    q > 0.0 && q >= quality(req, "application/json")
}

/// The weight `Accept` gives `media_type` named exactly (0 when it is not named; 1 without
/// a `q`).
fn quality(req: &HttpRequest, media_type: &str) -> f32 {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            if !parts.next()?.eq_ignore_ascii_case(media_type) {
                return None;
            }
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            Some(q.clamp(0.0, 1.0))
        })
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::IdempotencyKey;

    #[test]
    fn idempotency_keys_are_visible_ascii_in_or_out_of_quotes() {
        let parse = |s: &str| IdempotencyKey::parse(Some(s)).map(|k| k.0);
        assert_eq!(
            parse("\"abc-123\"").ok().flatten().as_deref(),
            Some("abc-123")
        );
        assert_eq!(parse("abc-123").ok().flatten().as_deref(), Some("abc-123"));
        assert!(parse("").is_err());
        assert!(parse("a b").is_err());
        assert!(parse(&"k".repeat(256)).is_err());
        assert!(parse("\"a\"b\"").is_err());
    }
}
