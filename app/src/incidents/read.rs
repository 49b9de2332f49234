//! Reading a case: the case itself, its deadlines and time left, its owner chain, the
//! departments on it, what the caller may do now, and its whole history.

use super::{Loaded, UnitBrief, deadlines, load, location};
use crate::caller::Caller;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use wangge_domain::IncidentId;
use wangge_persistence::AnyConnection;
use wangge_persistence::categories;
use wangge_persistence::grid;
use wangge_persistence::incidents::IncidentRecord;
use wangge_persistence::journal;

/// The longest history a case shows whole; beyond it the oldest entries are the ones kept
/// (how the case began), and `history_truncated` says so.
const HISTORY_LIMIT: i64 = 1_000;

/// A case as `GET /incidents/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub id: String,
    pub category: Value,
    pub priority: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_from: Option<String>,
    pub description: String,
    pub location: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household_id: Option<String>,
    pub owner_unit: UnitBrief,
    /// The owner's chain, district first.
    pub owner_chain: Vec<UnitBrief>,
    pub routing: Value,
    pub deadlines: Value,
    pub departments: Value,
    pub anonymous: bool,
    /// Who reported it, masked; left out of an anonymous report for all but its reporter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    pub extension_pending: bool,
    pub escalations: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satisfied: Option<bool>,
    pub attachments: Vec<super::attachments::AttachmentView>,
    pub allowed_actions: Vec<&'static str>,
    pub history: Vec<Value>,
    pub history_truncated: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    pub version: i64,
}

/// A history entry as a case shows it: when, who, the action, from and to, and the action's
/// own members.
#[must_use]
pub fn entry(at: &str, actor: Option<&str>, action: &str, details: Value) -> Value {
    let mut e = json!({ "at": at, "actor": actor, "action": action,
        "from": details.get("from"), "to": details.get("to") });
    if let (Some(o), Value::Object(d)) = (e.as_object_mut(), details) {
        for (k, v) in d {
            if !matches!(k.as_str(), "action" | "from" | "to") {
                o.insert(k, v);
            }
        }
    }
    e
}

/// The case as the caller sees it now.
///
/// # Errors
/// Database errors; internal for a corrupt row.
pub fn view(
    conn: &mut AnyConnection,
    caller: &Caller,
    l: &Loaded,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let r = &l.record;
    let category = categories::get(conn, &r.category_code)?
        .map(|c| json!({ "code": c.code, "name": c.name, "key": c.key }))
        .unwrap_or_else(|| json!({ "code": r.category_code }));
    let mut chain = Vec::new();
    for id in l.owner.path_ids() {
        let u = grid::get_unit(conn, wangge_domain::UnitId::parse(id)?)?;
        chain.push(UnitBrief::from(&u));
    }
    let rows = journal::history_of(conn, "incident", &r.id, None, HISTORY_LIMIT + 1)?;
    let truncated = i64::try_from(rows.len()).unwrap_or(i64::MAX) > HISTORY_LIMIT;
    let hidden = super::reporter::hidden_from(r, caller);
    let history = rows
        .into_iter()
        .take(usize::try_from(HISTORY_LIMIT).unwrap_or(usize::MAX))
        .map(|h| {
            let details: Value = serde_json::from_str(&h.details).unwrap_or(Value::Null);
            // Any step the reporter took (the report, evidence added later) would name them.
            let reporter_step = r.reporter_id.is_some() && h.actor_id == r.reporter_id;
            let actor = if hidden && reporter_step {
                Some(super::reporter::ANONYMOUS)
            } else {
                h.actor_name.as_deref()
            };
            entry(&h.at, actor, &h.kind, details)
        })
        .collect();
    let reporter = if hidden {
        None
    } else {
        let sealed = wangge_persistence::incidents::reporter_of(conn, &r.id)?;
        Some(super::reporter::masked(r, sealed.as_ref()))
    };
    let summoned: Vec<Value> = l
        .summoned
        .iter()
        .map(|s| {
            json!({ "department_id": s.department_id, "summoned_at": s.summoned_at,
                    "report_in_due": s.report_in_due, "reported_in_at": s.reported_in_at })
        })
        .collect();
    let mut departments = json!({ "summoned": summoned });
    if let (Some(d), Some(o)) = (&r.department_id, departments.as_object_mut()) {
        o.insert("dispatched_to".into(), json!(d));
    }
    Ok(IncidentView {
        id: r.id.clone(),
        category,
        priority: r.priority.clone(),
        status: r.status.clone(),
        held_from: r.held_from.clone(),
        description: r.description.clone(),
        location: location(r),
        household_id: r.household_id.clone(),
        owner_unit: UnitBrief::from(&l.owner),
        owner_chain: chain,
        routing: json!({ "unit_id": r.owner_unit_id, "locality_unit_id": r.locality_unit_id,
                         "rule": r.routing_rule, "explanation": r.routing_explanation }),
        deadlines: deadlines(r, now),
        departments,
        anonymous: r.anonymous,
        reporter,
        merged_into: r.merged_into.clone(),
        extension_pending: r.extension_pending,
        escalations: r.escalations,
        satisfied: r.satisfied,
        attachments: l
            .attachments
            .iter()
            .map(super::attachments::AttachmentView::from)
            .collect(),
        allowed_actions: l.allowed(caller)?.iter().map(|a| a.as_str()).collect(),
        history,
        history_truncated: truncated,
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
        closed_at: r.closed_at.clone(),
        version: r.version,
    })
}

/// A case just reported, from what the report has at hand (no attachments, no summons yet).
#[must_use]
pub fn fresh(
    r: &IncidentRecord,
    category: Value,
    owner_chain: Vec<UnitBrief>,
    history: Vec<Value>,
    allowed: Vec<wangge_domain::incident::Action>,
    now: DateTime<Utc>,
) -> IncidentView {
    let owner = owner_chain.last().cloned().unwrap_or(UnitBrief {
        id: r.owner_unit_id.clone(),
        code: String::new(),
        name: String::new(),
        level: 0,
    });
    let mut departments = json!({ "summoned": [] });
    if let (Some(d), Some(o)) = (&r.department_id, departments.as_object_mut()) {
        o.insert("dispatched_to".into(), json!(d));
    }
    IncidentView {
        id: r.id.clone(),
        category,
        priority: r.priority.clone(),
        status: r.status.clone(),
        held_from: None,
        description: r.description.clone(),
        location: location(r),
        household_id: r.household_id.clone(),
        owner_unit: owner,
        owner_chain,
        routing: json!({ "unit_id": r.owner_unit_id, "locality_unit_id": r.locality_unit_id,
                         "rule": r.routing_rule, "explanation": r.routing_explanation }),
        deadlines: deadlines(r, now),
        departments,
        anonymous: r.anonymous,
        reporter: None,
        merged_into: None,
        extension_pending: false,
        escalations: 0,
        satisfied: None,
        attachments: Vec::new(),
        allowed_actions: allowed.iter().map(|a| a.as_str()).collect(),
        history,
        history_truncated: false,
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
        closed_at: None,
        version: r.version,
    }
}

/// `GET /incidents/{id}`.
///
/// # Errors
/// 404 when missing or out of the caller's sight.
pub fn get(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: IncidentId,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let l = load(conn, caller, &id.to_string())?;
    view(conn, caller, &l, now)
}
