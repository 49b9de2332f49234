//! Reading the registry: the scoped list (a worker's phone pages it all day), one household,
//! its history.

use super::{WHAT, household_for};
use crate::error::AppError;
use crate::locate::Snapshot;
use crate::pii::PiiKind;
use crate::tx::{Audit, Reader, audit_row};
use serde_json::json;
use std::sync::Arc;
use wangge_domain::{
    Action, HouseholdId, IdCardNumber, PhoneNumber, Reach, SearchText, Tag, UnitId,
};
use wangge_persistence::audit;
use wangge_persistence::households::{
    self as store, Household, HouseholdCursor, HouseholdFilter, HouseholdRecord, Near, UnitBrief,
};
use wangge_persistence::journal::{self, HistoryRow};

/// The households list's filters and page.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub unit: Option<UnitId>,
    pub tag: Option<Tag>,
    pub text: Option<SearchText>,
    pub id_card: Option<IdCardNumber>,
    pub phone: Option<PhoneNumber>,
    pub near: Option<Near>,
    pub after: Option<HouseholdCursor>,
    /// Rows to read: the page size plus one (which tells whether more follow).
    pub limit: i64,
}

/// A page of households, with what names their units: the locate snapshot (which every change
/// to a unit's name or code refreshes) and the few units it does not hold yet.
pub struct Page {
    pub rows: Vec<HouseholdRecord>,
    pub fetched: Vec<UnitBrief>,
    pub snapshot: Arc<Snapshot>,
}

/// Households in the caller's scope. A search by identity number or phone says whether that
/// person lives here: it is audited as `pii.searched`, and counted in a per-account limit.
///
/// # Errors
/// 403 for roles that do not read households; `invalid_query` for an unknown unit;
/// `too_many_searches` past the limit.
pub fn list(r: &mut Reader<'_>, q: ListQuery) -> Result<Page, AppError> {
    let reach = r.caller.reach(Action::ReadHousehold);
    if reach == Reach::Nothing {
        return Err(AppError::forbidden(
            "reading households needs a staff role and assigned units",
        ));
    }
    let under_path = match q.unit {
        Some(id) => Some(
            crate::units::get_or(r.conn, id, || {
                AppError::bad_request("invalid_query", "unit_id names no unit")
            })?
            .path,
        ),
        None => None,
    };
    let searched = q.id_card.is_some() || q.phone.is_some();
    if searched {
        crate::households::residents::check_search_limit(r.conn, &r.caller, &r.svc.config)?;
    }
    let filter = HouseholdFilter {
        under_path,
        tag: q.tag.map(|t| t.as_str().to_owned()),
        text: q.text.map(|t| t.as_str().to_owned()),
        id_card_hash: q
            .id_card
            .as_ref()
            .map(|n| r.svc.pii.hash(PiiKind::IdCard, n.expose())),
        phone_hash: q
            .phone
            .as_ref()
            .map(|p| r.svc.pii.hash(PiiKind::Phone, p.expose())),
        near: q.near,
    };
    let snapshot = r.svc.locator.snapshot();
    let rows = store::list(r.conn, reach, &filter, q.after.as_ref(), q.limit)?;
    if searched {
        let row = audit_row(
            &r.caller,
            Audit {
                action: "pii.searched",
                subject_type: Some(WHAT),
                subject_id: None,
                unit_path: None,
                details: json!({
                    "id_card": filter.id_card_hash.is_some(),
                    "phone": filter.phone_hash.is_some(),
                    "found": rows.len(),
                    "via": "households.list",
                }),
            },
        );
        audit::record(r.conn, &row)?;
    }
    let mut missing: Vec<&str> = rows
        .iter()
        .map(|h| h.unit_id.as_str())
        .filter(|id| snapshot.unit(id).is_none())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    let fetched = if missing.is_empty() {
        Vec::new()
    } else {
        store::unit_briefs(r.conn, &missing)?
    };
    Ok(Page {
        rows,
        fetched,
        snapshot,
    })
}

/// One household.
///
/// # Errors
/// 404 outside view scope.
pub fn get(r: &mut Reader<'_>, id: HouseholdId) -> Result<Household, AppError> {
    household_for(r.conn, &r.caller, id, Action::ReadHousehold)
}

/// What happened to a household (its residents and visits included), oldest first.
///
/// # Errors
/// 404 outside view scope.
pub fn history(
    r: &mut Reader<'_>,
    id: HouseholdId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<HistoryRow>, AppError> {
    household_for(r.conn, &r.caller, id, Action::ReadHousehold)?;
    Ok(journal::history_of(
        r.conn,
        crate::tx::Entity::Household.as_str(),
        &id.to_string(),
        after,
        limit,
    )?)
}
