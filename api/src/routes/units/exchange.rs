//! The grid in the GeoJSON exchange format: a whole import (all or nothing), and an export
//! that streams, so the server's memory stays flat for the whole district (about 65 MB).

use super::WHAT;
use super::coverage::ClipQuery;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use wangge_domain::UnitId;
use wangge_persistence::StoreError;

/// Imports a FeatureCollection: the right first, then parsing and tiling, then one write.
pub async fn import(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ClipQuery>,
    key: IdempotencyKey,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    state
        .read(user.who(), |r| {
            wangge_app::units::authorize_import(&r.caller)
        })
        .await?;
    let clip = query.clip_to_parent.unwrap_or(false);
    let leaf = state.settings.leaf;
    let keyed = body.keyed(&key);
    let doc = body.into_inner();
    let batch = web::block(move || wangge_app::units::parse_feature_collection(&doc, leaf, |_| {}))
        .await?
        .map_err(|p| ApiError::from(StoreError::ImportRejected(p)))?;
    let mut batch = Some(batch);
    let res = state
        .answer(
            user.who(),
            keyed,
            move |tx| {
                let b = batch
                    .take()
                    .ok_or_else(|| wangge_app::AppError::internal("an import ran twice"))?;
                wangge_app::units::import(tx, b, clip, |_| {})
            },
            |report| http::answer(StatusCode::CREATED, report, None, None),
        )
        .await?;
    state.coverage_changed().await;
    Ok(res)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    root_id: Option<String>,
}

/// Bytes sent to the client per chunk.
const CHUNK: usize = 64 * 1024;

/// Exports the grid (or a subtree), streamed feature by feature.
pub async fn export(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let root = query
        .root_id
        .as_deref()
        .map(|r| http::id::<UnitId>(r, WHAT))
        .transpose()?;
    // An unknown root is a 404 before the stream starts.
    let root = state
        .db(move |conn| Ok(root.map(|r| wangge_app::units::get(conn, r)).transpose()?))
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, ApiError>>(4);
    let st = state.clone();
    // A long read on a connection of its own, off the database threads that serve requests.
    tokio::task::spawn_blocking(move || {
        let mut conn = match st.pool.get() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.blocking_send(Err(ApiError::unavailable(&e)));
                return;
            }
        };
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut sink = |b: &[u8]| -> Result<(), StoreError> {
            buf.extend_from_slice(b);
            if buf.len() >= CHUNK {
                let chunk =
                    web::Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(CHUNK)));
                tx.blocking_send(Ok(chunk))
                    .map_err(|_| StoreError::Lost("the client went away".into()))?;
            }
            Ok(())
        };
        let done = wangge_app::units::export(&mut conn, root.as_ref(), &mut sink);
        match done {
            Ok(_) => {
                let _ = tx.blocking_send(Ok(web::Bytes::from(buf)));
            }
            Err(StoreError::Lost(_)) => {}
            Err(e) => {
                tracing::error!(error.cause = %e, "the export failed midway");
                let _ = tx.blocking_send(Err(ApiError::from(e)));
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .streaming(body))
}
