//! `POST /incidents/{id}/attachments?kind=` (multipart, one part named `file`) and
//! `GET /incidents/{id}/attachments/{hash}`. Who may attach is asked before a byte of the
//! upload is read.

use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use wangge_app::incidents::attachments::{self as uc, MAX_BYTES};
use wangge_domain::IncidentId;
use wangge_domain::incident::AttachmentKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    kind: Option<String>,
}

fn malformed(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("malformed_body", m)
}

/// The bytes of the part named `file`, within the limit.
async fn file_part(mut parts: Multipart) -> Result<Vec<u8>, ApiError> {
    let mut file: Option<Vec<u8>> = None;
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(|e| malformed(format!("not a multipart body: {e}")))?;
        let name = part
            .content_disposition()
            .and_then(|d| d.get_name())
            .unwrap_or_default()
            .to_owned();
        if name != "file" || file.is_some() {
            return Err(malformed("send exactly one part, named file"));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| malformed(format!("the upload broke off: {e}")))?;
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err(http::too_large(MAX_BYTES));
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some(bytes);
    }
    file.ok_or_else(|| malformed("send exactly one part, named file"))
}

pub async fn upload(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<UploadQuery>,
    parts: Multipart,
) -> Result<HttpResponse, ApiError> {
    let id: IncidentId = http::id(&id, WHAT)?;
    let kind = query
        .kind
        .as_deref()
        .map_or(Ok(AttachmentKind::Evidence), AttachmentKind::parse)
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    state
        .read(user.who(), move |r| {
            uc::authorize(r.conn, &r.caller, id, kind)
        })
        .await?;
    let bytes = file_part(parts).await?;
    let (a, created) = state
        .write(user.who(), move |tx| uc::attach(tx, id, kind, &bytes))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status)
        .insert_header(("location", a.url.clone()))
        .json(a))
}

pub async fn download(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, hash) = path.into_inner();
    let id: IncidentId = http::id(&id, WHAT)?;
    if !wangge_app::blobs::is_hash(&hash) {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("{hash:?} is not a content hash (64 hex digits)"),
        ));
    }
    let blobs = state.svc.blobs.clone();
    let (media, bytes) = state
        .read(user.who(), move |r| {
            uc::fetch(r.conn, &r.caller, id, &hash, blobs.as_ref())
        })
        .await?;
    Ok(HttpResponse::Ok().content_type(media.mime()).body(bytes))
}
