//! Acting on a case: one use case for every action of the loop. The domain's state machine
//! decides whether the caller may, and what state follows; this applies what else the action
//! changes (deadlines, owner, departments) and records it.

use super::{Loaded, load, read, status_of};
use crate::calendar;
use crate::categories;
use crate::error::AppError;
use crate::stats::fold;
use crate::tx::{Change, Entity, Tx, seconds_between, stored_time};
use crate::versions;
use serde_json::{Value, json};
use wangge_domain::incident::flow::{self, Refusal};
use wangge_domain::incident::{Action, Priority, Stage, Status};
use wangge_domain::{CaseNote, DepartmentId, IncidentId, UnitId};
use wangge_persistence::departments;
use wangge_persistence::grid;
use wangge_persistence::incidents::{self as store, Measures, Summons};
use wangge_persistence::locks::Locked;

/// An action and what it carries.
#[derive(Debug, Clone)]
pub struct Transition {
    pub action: Action,
    pub note: Option<CaseNote>,
    /// `dispatch`: the department to hand the case to (else its category's, or none).
    pub department: Option<DepartmentId>,
    /// `summon`: the departments to summon.
    pub departments: Vec<DepartmentId>,
    /// `callback`: whether the reporter was satisfied.
    pub satisfied: Option<bool>,
    /// `merge_into`: the case this one duplicates.
    pub into: Option<IncidentId>,
}

/// Actions that need a reason.
fn needs_note(a: Action) -> bool {
    matches!(
        a,
        Action::Reject
            | Action::Escalate
            | Action::Hold
            | Action::SendBack
            | Action::Reopen
            | Action::RefuseExtension
            | Action::RequestExtension
            | Action::MergeInto
    )
}

fn refusal(r: Refusal) -> AppError {
    match r {
        Refusal::Forbidden(m) => AppError::forbidden(m),
        Refusal::NotAllowed { allowed } => {
            let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            AppError::conflict(
                "transition_not_allowed",
                format!(
                    "not allowed in this state; you may now: {}",
                    if names.is_empty() {
                        "nothing".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
                json!({ "allowed": names }),
            )
        }
        Refusal::Missing { field, reason } => AppError::field(field, reason),
    }
}

/// Takes an action on a case.
///
/// # Errors
/// 404 (unseen), 403 (not the caller's action), `transition_not_allowed` (with `allowed`),
/// `validation_failed` (a missing reason or field), `VersionMismatch`.
pub fn transition(
    tx: &mut Tx<'_>,
    id: IncidentId,
    if_match: Option<i64>,
    t: &Transition,
) -> Result<read::IncidentView, AppError> {
    let key = id.to_string();
    versions::hold_unless_matched(tx, Locked::Incident, &key, if_match)?;
    let l = load(tx.conn, tx.caller, &key)?;
    let pairs = l.summoned_pairs();
    let case = l.case(&pairs)?;
    // A stale If-Match is told first: the caller's picture of the case is out of date.
    let version = versions::expect(l.record.version, if_match)?;
    let outcome =
        flow::decide(&case, &super::actor(tx.caller, &l.standing), t.action).map_err(refusal)?;
    if t.action == Action::RequestExtension
        && l.record.close_due.as_deref().is_some_and(|d| d < tx.now())
    {
        return Err(AppError::field(
            "action",
            "an extension is asked before the deadline passes; this one has passed",
        ));
    }
    if needs_note(t.action) && t.note.is_none() {
        return Err(AppError::field(
            "note",
            format!("{} needs a reason", t.action),
        ));
    }
    let from = case.status;
    let (to, extra) = apply(tx, &l, t, outcome.to)?;
    let mut row = l.record.clone();
    row.status = to.as_str().to_owned();
    let measured = store::measures_of(tx.conn, &key)?;
    let mut m = measured.clone();
    effects(tx, &l, t, from, to, &mut row, &mut m)?;
    if m != measured {
        store::put_measures(tx.conn, &m)?;
    }
    row.next_due = super::next_due(&row);
    row.updated_at = tx.now().to_owned();
    if !store::update(tx.conn, version, &row)? {
        let now_version = store::get(tx.conn, &key)?.map(|r| r.version);
        return Err(versions::lost(if_match, now_version, super::WHAT));
    }
    let new_version = version + 1;
    let mut details = json!({ "action": t.action.as_str(), "from": from.as_str(), "to": to.as_str(),
        "note": t.note.as_ref().map(CaseNote::as_str) });
    if let (Some(d), Value::Object(e)) = (details.as_object_mut(), extra) {
        d.extend(e);
    }
    // Whom it was handed to belongs in the history (and tells a department's phone later
    // that the case was once its own).
    if let (Action::Dispatch, Some(dept), Some(d)) =
        (t.action, &row.department_id, details.as_object_mut())
    {
        d.insert("department_id".into(), json!(dept));
    }
    tx.history(
        Entity::Incident,
        &key,
        t.action.as_str(),
        Some(new_version),
        details.clone(),
    )?;
    tx.event(
        "incident.transitioned",
        Entity::Incident,
        &key,
        new_version,
        json!({ "id": key, "action": t.action.as_str(), "from": from.as_str(), "to": to.as_str(),
                "owner_unit_id": row.owner_unit_id }),
    )?;
    let path_of = |conn: &mut _, unit: &str| -> Result<String, AppError> {
        Ok(grid::get_unit(conn, UnitId::parse(unit)?)?.path)
    };
    let after = path_of(tx.conn, &row.owner_unit_id)?;
    tx.change(Change {
        entity: Entity::Incident,
        id: key.clone(),
        version: new_version,
        deleted: false,
        unit_path_before: Some(l.owner.path.clone()),
        unit_path_after: Some(after.clone()),
    })?;
    // The figures' share moves last, so the rows every case shares are held the least.
    let before = fold::share(&l.record, &measured, &l.owner.path)?;
    let now_share = fold::share(&row, &m, &after)?;
    tx.flush_journal()?;
    fold::moved(tx.conn, &before, &now_share)?;
    let fresh = load(tx.conn, tx.caller, &key);
    match fresh {
        Ok(f) => read::view(tx.conn, tx.caller, &f, tx.now_utc()),
        // Escalated out of the caller's sight: answer what they did, as of before.
        Err(_) => read::view(tx.conn, tx.caller, &l, tx.now_utc()).map(|mut v| {
            v.status = row.status.clone();
            v.version = new_version;
            v.allowed_actions = Vec::new();
            v
        }),
    }
}

/// The side of an action outside the case row (departments, the merged case); returns the
/// final state and what the history should add.
fn apply(
    tx: &mut Tx<'_>,
    l: &Loaded,
    t: &Transition,
    to: Status,
) -> Result<(Status, Value), AppError> {
    let now = tx.now().to_owned();
    Ok(match t.action {
        Action::Summon => {
            if t.departments.is_empty() {
                return Err(AppError::field(
                    "department_ids",
                    "name at least one department",
                ));
            }
            let limit = limits(tx, l)?.sign;
            let due = stored_time(calendar::deadline(tx.conn, tx.now_utc(), limit)?);
            let mut rows = Vec::new();
            for d in &t.departments {
                if departments::get(tx.conn, &d.to_string())?.is_none() {
                    return Err(AppError::field(
                        "department_ids",
                        format!("{d} names no department"),
                    ));
                }
                rows.push(Summons {
                    incident_id: l.record.id.clone(),
                    department_id: d.to_string(),
                    summoned_at: now.clone(),
                    report_in_due: due.clone(),
                    reported_in_at: None,
                    missed_at: None,
                });
            }
            store::summon(tx.conn, &rows)?;
            let ids: Vec<String> = t.departments.iter().map(ToString::to_string).collect();
            (to, json!({ "department_ids": ids, "report_in_due": due }))
        }
        Action::ReportIn => {
            let d = l
                .standing
                .department
                .map(|d| d.to_string())
                .unwrap_or_default();
            store::report_in(tx.conn, &l.record.id, &d, &now)?;
            (to, json!({ "department_id": d }))
        }
        Action::Callback => {
            let satisfied = t.satisfied.ok_or_else(|| {
                AppError::field("satisfied", "say whether the reporter was satisfied")
            })?;
            (
                flow::after_callback(satisfied),
                json!({ "satisfied": satisfied }),
            )
        }
        Action::MergeInto => {
            let into = t
                .into
                .ok_or_else(|| AppError::field("into", "name the case this one duplicates"))?;
            let target = load(tx.conn, tx.caller, &into.to_string())
                .map_err(|_| AppError::field("into", "names no case you can see"))?;
            if target.record.id == l.record.id || !status_of(&target.record.status)?.is_open() {
                return Err(AppError::field("into", "must be another open case"));
            }
            // The surviving case keeps a record of what was merged into it.
            tx.history(
                Entity::Incident,
                &target.record.id,
                "merged",
                Some(target.record.version),
                json!({ "action": "merged", "duplicate": l.record.id,
                        "note": t.note.as_ref().map(CaseNote::as_str) }),
            )?;
            (to, json!({ "into": target.record.id }))
        }
        _ => (to, Value::Null),
    })
}

fn limits(tx: &mut Tx<'_>, l: &Loaded) -> Result<wangge_domain::incident::StageLimits, AppError> {
    let code = wangge_domain::incident::CategoryCode::parse(&l.record.category_code)?;
    let policy = categories::get(tx.conn, &code)?.policy()?;
    let priority = Priority::parse(&l.record.priority)?;
    Ok(*policy.limits.of(priority))
}

/// A case moved up to `parent`: the parent registers and dispatches it anew (its people or a
/// department), within a fresh register deadline.
pub(crate) fn escalate_row(
    row: &mut store::IncidentRecord,
    parent: String,
    to: Status,
    register_due: Option<String>,
) {
    row.owner_unit_id = parent;
    row.escalations += 1;
    row.register_due = register_due;
    if to == Status::Registered {
        row.department_id = None;
        row.sign_due = None;
        row.close_due = None;
    }
}

/// A closed case opened again: it no longer counts as closed (nor as called back, for
/// `Reopen`; an unsatisfied callback stays on the case as what reopened it).
fn reopened(row: &mut store::IncidentRecord, m: &mut Measures) {
    row.closed_at = None;
    m.close_seconds = None;
    m.on_time = None;
}

/// What the action changes on the case row besides its state.
fn effects(
    tx: &mut Tx<'_>,
    l: &Loaded,
    t: &Transition,
    from: Status,
    to: Status,
    row: &mut store::IncidentRecord,
    m: &mut Measures,
) -> Result<(), AppError> {
    let now = tx.now_utc();
    let due = |tx: &mut Tx<'_>, stage: Stage| -> Result<Option<String>, AppError> {
        let limit = limits(tx, l)?.of(stage);
        Ok(Some(stored_time(calendar::deadline(tx.conn, now, limit)?)))
    };
    match t.action {
        // The register deadline runs until the case is dispatched (立案派遣).
        Action::Register => {
            m.registered_at.get_or_insert_with(|| tx.now().to_owned());
        }
        Action::Reject => {
            row.register_due = None;
            row.closed_at = Some(tx.now().to_owned());
        }
        Action::Dispatch => {
            if let Some(d) = t.department {
                if departments::get(tx.conn, &d.to_string())?.is_none() {
                    return Err(AppError::field("department_id", "names no department"));
                }
                row.department_id = Some(d.to_string());
            }
            row.register_due = None;
            row.sign_due = due(tx, Stage::Sign)?;
            row.close_due = due(tx, Stage::Close)?;
            m.due_at.clone_from(&row.close_due);
            m.dispatched_at = Some(tx.now().to_owned());
        }
        Action::Sign => {
            row.sign_due = None;
            m.signed_at = Some(tx.now().to_owned());
            m.sign_seconds = m
                .dispatched_at
                .as_deref()
                .and_then(|d| seconds_between(d, tx.now()));
        }
        Action::Close | Action::MergeInto => {
            row.register_due = None;
            row.sign_due = None;
            row.close_due = None;
            row.closed_at = Some(tx.now().to_owned());
            m.close_seconds = seconds_between(&row.created_at, tx.now());
            m.on_time = m.due_at.as_ref().map(|d| d.as_str() >= tx.now());
            // A new closure waits for a callback of its own.
            m.callback_at = None;
            if t.action == Action::MergeInto {
                row.merged_into = t.into.map(|i| i.to_string());
            }
        }
        Action::Callback => {
            row.satisfied = t.satisfied;
            m.callback_at = Some(tx.now().to_owned());
            if to != Status::Closed {
                reopened(row, m);
                row.close_due = due(tx, Stage::Close)?;
                m.due_at.clone_from(&row.close_due);
            }
        }
        Action::Reopen => {
            reopened(row, m);
            row.satisfied = None;
            m.callback_at = None;
            row.close_due = due(tx, Stage::Close)?;
            m.due_at.clone_from(&row.close_due);
        }
        Action::Hold => row.held_from = Some(from.as_str().to_owned()),
        Action::Resume => row.held_from = None,
        Action::Escalate => {
            let parent = l
                .owner
                .parent_id
                .clone()
                .ok_or_else(|| AppError::internal("escalating past the district"))?;
            escalate_row(row, parent, to, due(tx, Stage::Register)?);
        }
        Action::RequestExtension => row.extension_pending = true,
        Action::GrantExtension => {
            row.extension_pending = false;
            // One more full period of the close limit, counted from the old deadline.
            let limit = limits(tx, l)?.close;
            let base = row
                .close_due
                .as_deref()
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .map_or(now, |d| d.with_timezone(&chrono::Utc));
            row.close_due = Some(stored_time(calendar::deadline(tx.conn, base, limit)?));
            m.due_at.clone_from(&row.close_due);
        }
        Action::RefuseExtension => row.extension_pending = false,
        Action::Start
        | Action::Resolve
        | Action::Verify
        | Action::SendBack
        | Action::Summon
        | Action::ReportIn => {}
    }
    Ok(())
}
