//! History entries as every `…/history` route shows them.

use serde_json::{Value, json};
use wangge_persistence::journal::HistoryRow;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// `{items, next_cursor}`, oldest first.
pub fn page(rows: Vec<HistoryRow>, limit: u32) -> Value {
    let items: Vec<Value> = rows
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": e.at,
                "actor_id": e.actor_id,
                "actor_name": e.actor_name,
                "kind": e.kind,
                "version": e.version,
                "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
            })
        })
        .collect();
    crate::http::page(items, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })
}

/// A history cursor: an entry id.
///
/// # Errors
/// `400 invalid_cursor`.
pub fn cursor(c: Option<&str>) -> Result<Option<String>, crate::error::ApiError> {
    crate::http::cursor::<uuid::Uuid>(c).map(|c| c.map(|u| u.as_hyphenated().to_string()))
}
