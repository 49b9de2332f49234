//! Photos by content hash, for phones on bad networks: `POST /uploads/missing` says which
//! the server lacks and how much of each has arrived; `PUT /uploads/{hash}` takes a content
//! whole or in pieces (`Content-Range: bytes <first>-<last>/<size>`). Who may upload is asked
//! before a byte of the body is read.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use wangge_app::incidents::attachments::MAX_BYTES;
use wangge_app::uploads::{self as uc, Piece};
use wangge_domain::incident::media::MediaType;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingBody {
    hashes: Vec<String>,
}

/// Which of these contents the caller has not uploaded whole.
pub async fn missing(
    user: AuthUser,
    state: web::Data<AppState>,
    body: JsonBody<MissingBody>,
) -> Result<HttpResponse, ApiError> {
    let hashes = body.into_inner().hashes;
    let lacking = state
        .read(user.who(), move |r| uc::missing(r, &hashes))
        .await?;
    let missing: Vec<_> = lacking
        .into_iter()
        .map(|(hash, received)| json!({ "hash": hash, "received_bytes": received }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "missing": missing })))
}

/// `bytes <first>-<last>/<size>`: the piece's offset and the content's size.
fn content_range(req: &HttpRequest, len: usize) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(v) = req.headers().get("content-range") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "invalid_content_range",
            "Content-Range must be bytes <first>-<last>/<size>, the piece's own bytes",
        )
    };
    let s = v.to_str().map_err(|_| bad())?;
    let (range, size) = s
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let num = |x: &str| x.trim().parse::<u64>().map_err(|_| bad());
    let (first, last, size) = (num(first)?, num(last)?, num(size)?);
    if last < first || (last - first).checked_add(1) != Some(len as u64) {
        return Err(bad());
    }
    Ok(Some((first, size)))
}

/// Takes a content, or one piece of it.
pub async fn put(
    user: AuthUser,
    state: web::Data<AppState>,
    hash: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let hash = hash.into_inner();
    if !wangge_app::blobs::is_hash(&hash) {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("{hash:?} is not a SHA-256 in lower-case hex"),
        ));
    }
    // Asked before the body is read.
    state
        .read(user.who(), |r| uc::authorize(&r.caller).map(|_| ()))
        .await?;
    let bytes = http::read_body(payload.into_inner(), MAX_BYTES).await?;
    let (offset, total) = content_range(&req, bytes.len())?.unwrap_or((0, bytes.len() as u64));
    let r = state
        .write(user.who(), move |tx| {
            uc::receive(
                tx,
                &hash,
                Piece {
                    offset,
                    total_bytes: total,
                    bytes: &bytes,
                },
            )
        })
        .await?;
    let status = match (&r.media_type, r.already) {
        (Some(_), true) => StatusCode::OK,
        (Some(_), false) => StatusCode::CREATED,
        (None, _) => StatusCode::ACCEPTED,
    };
    let mut body = json!({
        "hash": r.hash,
        "total_bytes": r.total_bytes,
        "received_bytes": r.received_bytes,
        "complete": r.media_type.is_some(),
    });
    let mime = r
        .media_type
        .as_deref()
        .and_then(|m| MediaType::parse(m).ok());
    if let (Some(m), Some(o)) = (mime, body.as_object_mut()) {
        o.insert("media_type".into(), json!(m.mime()));
    }
    Ok(HttpResponse::build(status).json(body))
}
