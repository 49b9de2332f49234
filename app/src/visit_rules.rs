//! How often a household with a tag is due a visit (走访): read by everyone (a worker's tasks
//! come from them), changed by the administrators of the whole grid.

use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Reader, Tx};
use crate::versions;
use serde_json::json;
use wangge_domain::Tag;
use wangge_persistence::visit_rules::{self as store, VisitRule};

/// The longest interval a rule may set.
pub const MAX_DAYS: i32 = 365;

/// Every rule.
///
/// # Errors
/// Database errors.
pub fn list(r: &mut Reader<'_>) -> Result<Vec<VisitRule>, AppError> {
    Ok(store::all(r.conn)?)
}

/// A rule's change in the feed: not synced itself, but every phone's tasks follow it.
fn change(tx: &mut Tx<'_>, tag: Tag, version: i64, deleted: bool) -> Result<(), AppError> {
    tx.change(Change {
        entity: Entity::VisitRule,
        id: tag.as_str().to_owned(),
        version,
        deleted,
        unit_path_before: None,
        unit_path_after: None,
    })
}

fn audit(tx: &mut Tx<'_>, tag: Tag, details: serde_json::Value) -> Result<(), AppError> {
    tx.audit(Audit {
        action: "visit_rule.changed",
        subject_type: Some("visit_rule"),
        subject_id: Some(tag.as_str().to_owned()),
        unit_path: None,
        details,
    })
}

/// Sets how often households with `tag` are due a visit: a new rule, or over the version
/// `if_match` names (any, without it).
///
/// # Errors
/// 403 unless the caller administers the whole grid; `validation_failed` for an interval
/// outside 1 to 365 days; `VersionMismatch`.
pub fn put(
    tx: &mut Tx<'_>,
    tag: Tag,
    every_days: i32,
    if_match: Option<i64>,
) -> Result<VisitRule, AppError> {
    tx.caller.require_grid_write(None)?;
    if !(1..=MAX_DAYS).contains(&every_days) {
        return Err(AppError::field(
            "every_days",
            format!("a visit is due every 1 to {MAX_DAYS} days"),
        ));
    }
    let current = store::get(tx.conn, tag.as_str())?;
    let base = match (&current, if_match) {
        (Some(c), m) => Some(versions::expect(c.version, m)?),
        (None, Some(m)) => {
            return Err(AppError::VersionMismatch {
                expected: m,
                current: 0,
            });
        }
        (None, None) => None,
    };
    let now = tx.now().to_owned();
    if !store::put(tx.conn, tag.as_str(), every_days, base, &now)? {
        return Err(AppError::Raced);
    }
    let rule = store::get(tx.conn, tag.as_str())?.ok_or(AppError::Raced)?;
    let details = json!({ "every_days": every_days,
                          "before": current.as_ref().map(|c| c.every_days) });
    tx.history(
        Entity::VisitRule,
        tag.as_str(),
        if current.is_some() {
            "updated"
        } else {
            "created"
        },
        Some(rule.version),
        details.clone(),
    )?;
    change(tx, tag, rule.version, false)?;
    audit(tx, tag, details)?;
    Ok(rule)
}

/// Removes the rule of `tag`: its households are no longer due visits by it.
///
/// # Errors
/// 403 as [`put`]; 404 when there is none; `VersionMismatch`.
pub fn delete(tx: &mut Tx<'_>, tag: Tag, if_match: Option<i64>) -> Result<(), AppError> {
    tx.caller.require_grid_write(None)?;
    let current =
        store::get(tx.conn, tag.as_str())?.ok_or_else(|| AppError::not_found("visit rule"))?;
    let version = versions::expect(current.version, if_match)?;
    if !store::delete(tx.conn, tag.as_str(), version)? {
        return Err(AppError::Raced);
    }
    let details = json!({ "deleted": true, "every_days": current.every_days });
    tx.history(
        Entity::VisitRule,
        tag.as_str(),
        "deleted",
        Some(version + 1),
        details.clone(),
    )?;
    change(tx, tag, version + 1, true)?;
    audit(tx, tag, details)
}
