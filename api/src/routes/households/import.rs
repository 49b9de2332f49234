//! Bulk import (CSV or NDJSON, by `Content-Type`): the right first, then parsing, then every
//! row stored in one transaction, or nothing with a report of every rejected row.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey};
use crate::startup::{AppState, StateExt};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use wangge_app::households::import::{self as uc, Format};

/// Household imports: 250,000 rows of CSV are about 40 MB.
pub const IMPORT_LIMIT_BYTES: usize = 64 * 1024 * 1024;

pub async fn import(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: IdempotencyKey,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match mime.as_str() {
        "text/csv" => Format::Csv,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Format::Ndjson,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send text/csv or application/x-ndjson",
            ));
        }
    };
    // The right before reading and parsing what may be 64 MB.
    state.read(user.who(), |r| uc::authorize(&r.caller)).await?;
    let body = http::read_body(payload.into_inner(), IMPORT_LIMIT_BYTES)
        .await
        .map_err(|e| {
            if e.code == "body_too_large" {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "an import may be at most {} MiB; split the file",
                        IMPORT_LIMIT_BYTES >> 20
                    ),
                )
            } else {
                e
            }
        })?;
    let keyed = key.0.as_ref().map(|k| wangge_app::idempotency::Keyed {
        key: k.clone(),
        request_hash: http::request_hash(&req, &body),
    });
    let leaf = state.settings.leaf;
    let parsed = web::block(move || uc::parse(&body, format, leaf))
        .await?
        .map_err(|rows| ApiError::from(uc::rejected(rows)))?;
    let mut parsed = Some(parsed);
    let locator = state.locator.clone();
    state
        .answer(
            user.who(),
            keyed,
            move |tx| {
                let rows = parsed
                    .take()
                    .ok_or_else(|| wangge_app::AppError::internal("an import ran twice"))?;
                uc::import(tx, rows, "api", &locator.snapshot(), |_| {})
            },
            |summary| http::answer(StatusCode::CREATED, summary, None, None),
        )
        .await
}
