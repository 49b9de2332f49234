//! Incidents: a use case per thing people do with a case (report, read, list, act on it), on
//! the write spine. Who sees a case: whoever's view scope holds its owner unit, its reporter,
//! and a department account for the cases dispatched or summoned to its department; everyone
//! else gets 404, as for a case that does not exist.

pub mod attachments;
pub mod clock;
pub mod list;
pub mod read;
pub mod report;
pub mod reporter;
pub mod transition;

use crate::caller::Caller;
use crate::error::AppError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use wangge_domain::incident::flow::{self, Actor, Case};
use wangge_domain::incident::{Action as CaseAction, Status};
use wangge_domain::unit::Level;
use wangge_domain::{Action, DepartmentId, Role, UnitId};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid::{self, UnitRecord};
use wangge_persistence::incidents::{self as store, Attachment, IncidentRecord, Summons};

pub(crate) const WHAT: &str = "incident";

/// How the caller stands to one case.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The owner unit is in the caller's capture scope for handling cases.
    pub captures_owner: bool,
    /// The caller's department, when the caller acts for one.
    pub department: Option<DepartmentId>,
}

/// A case as loaded for a use case: the row, its owner unit, the summoned departments and
/// how the caller stands to it.
pub struct Loaded {
    pub record: IncidentRecord,
    pub owner: UnitRecord,
    pub summoned: Vec<Summons>,
    pub attachments: Vec<Attachment>,
    pub standing: Standing,
}

pub(crate) fn caller_department(caller: &Caller) -> Option<DepartmentId> {
    if !caller.scope.has_role(Role::Department) {
        return None;
    }
    caller
        .account
        .as_ref()
        .and_then(|a| a.user.department_id.as_deref())
        .and_then(|d| DepartmentId::parse(d).ok())
}

/// The case, or 404 when it does not exist or the caller may not see it.
///
/// # Errors
/// 404 as described; database errors.
pub fn load(conn: &mut AnyConnection, caller: &Caller, id: &str) -> Result<Loaded, AppError> {
    let record = store::get(conn, id)?.ok_or_else(|| AppError::not_found(WHAT))?;
    let owner = grid::get_unit(conn, UnitId::parse(&record.owner_unit_id)?)?;
    let summoned = store::summoned(conn, id)?;
    let attachments = store::attachments_of(conn, id)?;
    assemble(caller, record, owner, summoned, attachments).ok_or_else(|| AppError::not_found(WHAT))
}

/// These cases as [`load`] reads each, those the caller may see, in four statements.
///
/// # Errors
/// Database errors.
pub fn load_many(
    conn: &mut AnyConnection,
    caller: &Caller,
    ids: &[&str],
) -> Result<Vec<Loaded>, AppError> {
    let records = store::by_ids(conn, ids)?;
    let owner_ids: Vec<&str> = records.iter().map(|r| r.owner_unit_id.as_str()).collect();
    let owners: HashMap<String, UnitRecord> = grid::units_by_ids(conn, &owner_ids)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let mut summoned: HashMap<String, Vec<Summons>> = HashMap::new();
    for s in store::summoned_of(conn, ids)? {
        summoned.entry(s.incident_id.clone()).or_default().push(s);
    }
    let mut attachments: HashMap<String, Vec<Attachment>> = HashMap::new();
    for a in store::attachments_of_cases(conn, ids)? {
        attachments
            .entry(a.incident_id.clone())
            .or_default()
            .push(a);
    }
    Ok(records
        .into_iter()
        .filter_map(|r| {
            let owner = owners.get(&r.owner_unit_id).cloned()?;
            let (s, a) = (
                summoned.remove(&r.id).unwrap_or_default(),
                attachments.remove(&r.id).unwrap_or_default(),
            );
            assemble(caller, r, owner, s, a)
        })
        .collect())
}

/// The case as loaded, if the caller may see it.
fn assemble(
    caller: &Caller,
    record: IncidentRecord,
    owner: UnitRecord,
    summoned: Vec<Summons>,
    attachments: Vec<Attachment>,
) -> Option<Loaded> {
    let department = caller_department(caller);
    let by_department = department.is_some_and(|d| {
        let d = d.to_string();
        record.department_id.as_deref() == Some(d.as_str())
            || summoned.iter().any(|s| s.department_id == d)
    });
    // The reporter follows their own report, even once it is owned above their scope.
    let reported_it =
        record.reporter_id.is_some() && record.reporter_id.as_deref() == caller.account_id();
    if !(by_department || reported_it || caller.permits(Action::ReadIncident, &owner.path)) {
        return None;
    }
    let standing = Standing {
        captures_owner: caller.permits(Action::HandleIncident, &owner.path),
        department: by_department.then_some(department).flatten(),
    };
    Some(Loaded {
        record,
        owner,
        summoned,
        attachments,
        standing,
    })
}

/// The earliest running deadline the clock has not acted on yet (none while held or ended).
/// Stored times sort as text.
pub(crate) fn next_due(row: &IncidentRecord) -> Option<String> {
    let status = Status::parse(&row.status).ok()?;
    if !status.is_open() || status == Status::OnHold {
        return None;
    }
    [&row.register_due, &row.sign_due, &row.close_due]
        .into_iter()
        .flatten()
        .filter(|d| row.clock_noted.as_ref().is_none_or(|n| *d > n))
        .min()
        .cloned()
}

/// Stored text back to a status; a bad row is a bug, not the caller's.
pub(crate) fn status_of(s: &str) -> Result<Status, AppError> {
    Status::parse(s).map_err(|e| AppError::internal(format!("stored incident status: {e}")))
}

impl Loaded {
    /// The case as the state machine sees it.
    pub(crate) fn case<'a>(
        &self,
        summoned: &'a [(DepartmentId, bool)],
    ) -> Result<Case<'a>, AppError> {
        let r = &self.record;
        Ok(Case {
            status: status_of(&r.status)?,
            held_from: r.held_from.as_deref().map(status_of).transpose()?,
            owner_level: Level::from_number(i64::from(self.owner.level))?,
            department: r
                .department_id
                .as_deref()
                .map(DepartmentId::parse)
                .transpose()?,
            summoned,
            extension_pending: r.extension_pending,
            has_result_photo: self.attachments.iter().any(|a| {
                a.kind == "result"
                    && wangge_domain::incident::media::MediaType::parse(&a.media_type)
                        .is_ok_and(|m| m.is_photo())
            }),
        })
    }

    pub(crate) fn summoned_pairs(&self) -> Vec<(DepartmentId, bool)> {
        self.summoned
            .iter()
            .filter_map(|s| {
                DepartmentId::parse(&s.department_id)
                    .ok()
                    .map(|d| (d, s.reported_in_at.is_some()))
            })
            .collect()
    }

    /// What the caller may do to the case now.
    pub(crate) fn allowed(&self, caller: &Caller) -> Result<Vec<CaseAction>, AppError> {
        let pairs = self.summoned_pairs();
        let case = self.case(&pairs)?;
        Ok(flow::allowed(&case, &actor(caller, &self.standing)))
    }
}

pub(crate) fn actor<'a>(caller: &'a Caller, standing: &Standing) -> Actor<'a> {
    Actor {
        roles: &caller.scope.roles,
        captures_owner: standing.captures_owner,
        department: standing.department,
        clock: false,
    }
}

/// A unit as a case shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UnitBrief {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: i32,
}

impl From<&UnitRecord> for UnitBrief {
    fn from(u: &UnitRecord) -> Self {
        Self {
            id: u.id.clone(),
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
        }
    }
}

/// A deadline and how much time is left (negative once passed).
fn deadline(due: Option<&str>, now: DateTime<Utc>) -> Option<Value> {
    let due = due?;
    let at = DateTime::parse_from_rfc3339(due).ok()?.with_timezone(&Utc);
    let left = (at - now).num_seconds();
    Some(
        json!({ "due": at.to_rfc3339_opts(SecondsFormat::Secs, true), "seconds_left": left, "overdue": left < 0 }),
    )
}

/// The deadlines of the stage the case is in.
pub(crate) fn deadlines(r: &IncidentRecord, now: DateTime<Utc>) -> Value {
    let mut m = serde_json::Map::new();
    for (stage, due) in [
        ("register", &r.register_due),
        ("sign", &r.sign_due),
        ("close", &r.close_due),
    ] {
        if let Some(d) = deadline(due.as_deref(), now) {
            m.insert(stage.to_owned(), d);
        }
    }
    Value::Object(m)
}

/// A case as lists show it: no history.
pub(crate) fn summary(r: &IncidentRecord, owner: &UnitBrief, now: DateTime<Utc>) -> Value {
    let mut v = json!({
        "id": r.id,
        "category": r.category_code,
        "priority": r.priority,
        "status": r.status,
        "description": r.description,
        "location": location(r),
        "owner_unit": owner,
        "deadlines": deadlines(r, now),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "version": r.version,
    });
    if let (Some(d), Some(o)) = (&r.department_id, v.as_object_mut()) {
        o.insert("department_id".into(), json!(d));
    }
    v
}

/// Where a case is: WGS-84, and its leaf cell as H3 writes it.
pub(crate) fn location(r: &IncidentRecord) -> Value {
    json!({ "lat": r.lat, "lng": r.lon, "cell": format!("{:x}", r.cell) })
}
