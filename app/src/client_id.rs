//! Client-made ids: a phone creates records offline under UUIDv7 ids of its own, refers to
//! them before they reach the server, and may send the same create again. The same id with
//! the same content is the same record (answered as it is now, 200); with other content the
//! id is taken (409). What was created is remembered as a digest of the create's content.

use crate::error::AppError;
use crate::tx::{Entity, Tx};
use serde_json::Value;
use wangge_persistence::client_ids;

/// What became of a client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// First use: create the record.
    New,
    /// The same create again: answer the record as it is.
    Again,
}

/// SHA-256 of the canonical JSON of a create's content (object keys sorted, as
/// `serde_json`'s map keeps them).
#[must_use]
pub fn digest(content: &Value) -> String {
    use std::fmt::Write as _;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content.to_string().as_bytes());
    d.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Claims `id` for a new `entity` record with this content.
///
/// # Errors
/// `id_taken` (409) when the id names another record, or this one created otherwise.
pub fn claim(
    tx: &mut Tx<'_>,
    entity: Entity,
    id: &str,
    content: &Value,
) -> Result<Claimed, AppError> {
    let digest = digest(content);
    let now = tx.now().to_owned();
    if client_ids::insert(tx.conn, id, entity.as_str(), &digest, &now)? {
        return Ok(Claimed::New);
    }
    match client_ids::find(tx.conn, id)? {
        Some((e, d)) if e == entity.as_str() && d == digest => Ok(Claimed::Again),
        _ => Err(taken(id)),
    }
}

/// 409 `id_taken`.
#[must_use]
pub fn taken(id: &str) -> AppError {
    AppError::conflict(
        "id_taken",
        format!("id {id} names another record, or one created with other content; make a new id"),
        serde_json::json!({ "id": id }),
    )
}
