//! A grid worker's next things to do (`GET /me/tasks`): the cases waiting for the caller's
//! hands, and the households due a visit by the rules per tag, most urgent first, each with
//! the reason it is there.

use crate::error::AppError;
use crate::incidents::list::ListQuery;
use crate::tx::{Reader, stored_time};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use wangge_domain::incident::Action as CaseAction;
use wangge_domain::{Action, Reach};
use wangge_persistence::households::{self as homes, HouseholdCursor, HouseholdFilter};
use wangge_persistence::incidents::IncidentFilter;
use wangge_persistence::{visit_rules, visits};

/// Open cases looked at, and households per rule: a worker's scope is a few hundred.
const MAX_CASES: i64 = 300;
const MAX_HOUSEHOLDS_PER_RULE: usize = 5_000;

/// The actions that move a case on: a task is a case where the caller may take one.
const WORK: [CaseAction; 12] = [
    CaseAction::Register,
    CaseAction::Dispatch,
    CaseAction::Sign,
    CaseAction::Start,
    CaseAction::Resolve,
    CaseAction::Verify,
    CaseAction::Close,
    CaseAction::Callback,
    CaseAction::ReportIn,
    CaseAction::GrantExtension,
    CaseAction::RefuseExtension,
    CaseAction::Resume,
];

const OPEN: [&str; 8] = [
    "reported",
    "registered",
    "dispatched",
    "signed",
    "in_progress",
    "resolved",
    "verified",
    "on_hold",
];

/// One thing to do.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// `incident` or `visit`.
    pub kind: &'static str,
    pub reason: String,
    /// When it is due, if it has a deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    pub overdue: bool,
    /// For a case: what the caller may do now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<&'static str>,
    /// The case as lists show it, or the household in brief.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household: Option<Value>,
}

/// The caller's tasks, most urgent first: overdue, then by due time; without a due time
/// last.
///
/// # Errors
/// Database errors.
pub fn mine(r: &mut Reader<'_>, limit: usize) -> Result<Vec<Task>, AppError> {
    let now = Utc::now();
    let mut tasks = cases(r, now)?;
    tasks.extend(visits_due(r, now)?);
    tasks.sort_by(|a, b| {
        (!a.overdue, a.due.is_none(), &a.due).cmp(&(!b.overdue, b.due.is_none(), &b.due))
    });
    tasks.truncate(limit);
    Ok(tasks)
}

fn cases(r: &mut Reader<'_>, now: DateTime<Utc>) -> Result<Vec<Task>, AppError> {
    if r.caller.reach(Action::ReadIncident) == Reach::Nothing
        && crate::incidents::caller_department(&r.caller).is_none()
    {
        return Ok(Vec::new());
    }
    let q = ListQuery {
        filter: IncidentFilter {
            statuses: OPEN.iter().map(|s| (*s).to_owned()).collect(),
            ..IncidentFilter::default()
        },
        ..ListQuery::default()
    };
    let listed = crate::incidents::list::list(
        r.conn,
        &r.caller,
        &q,
        None,
        MAX_CASES,
        now,
        r.svc.config.leaf,
    )?;
    let mut out = Vec::new();
    for case in listed {
        let Some(id) = case["id"].as_str() else {
            continue;
        };
        let l = crate::incidents::load(r.conn, &r.caller, id)?;
        let actions: Vec<&'static str> = l
            .allowed(&r.caller)?
            .into_iter()
            .filter(|a| WORK.contains(a))
            .map(CaseAction::as_str)
            .collect();
        if actions.is_empty() {
            continue;
        }
        // The stage's deadline: the earliest still ahead of the case.
        let due = case["deadlines"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|d| {
                d["due"]
                    .as_str()
                    .map(|s| (s.to_owned(), d["overdue"] == json!(true)))
            })
            .min();
        out.push(Task {
            kind: "incident",
            reason: format!(
                "{}: waiting for you to {}",
                case["status"].as_str().unwrap_or_default(),
                actions.join(" or ")
            ),
            overdue: due.as_ref().is_some_and(|(_, o)| *o),
            due: due.map(|(d, _)| d),
            actions,
            incident: Some(case),
            household: None,
        });
    }
    Ok(out)
}

fn visits_due(r: &mut Reader<'_>, now: DateTime<Utc>) -> Result<Vec<Task>, AppError> {
    let reach = r.caller.reach(Action::RecordVisit);
    if reach == Reach::Nothing {
        return Ok(Vec::new());
    }
    // Each household once, under its most frequent rule.
    let mut due_every: HashMap<String, (i32, String, homes::HouseholdRecord)> = HashMap::new();
    for rule in visit_rules::all(r.conn)? {
        let filter = HouseholdFilter {
            tag: Some(rule.tag.clone()),
            ..HouseholdFilter::default()
        };
        let mut after: Option<HouseholdCursor> = None;
        let mut seen = 0;
        while seen < MAX_HOUSEHOLDS_PER_RULE {
            let page = homes::list(r.conn, reach, &filter, after.as_ref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(HouseholdCursor {
                unit_id: last.unit_id.clone(),
                id: last.id.clone(),
            });
            seen += page.len();
            let full = page.len() == 500;
            for h in page {
                let keep = due_every
                    .get(&h.id)
                    .is_none_or(|(days, _, _)| rule.every_days < *days);
                if keep {
                    due_every.insert(h.id.clone(), (rule.every_days, rule.tag.clone(), h));
                }
            }
            if !full {
                break;
            }
        }
    }
    let ids: Vec<String> = due_every.keys().cloned().collect();
    let mut last: HashMap<String, String> = HashMap::new();
    for chunk in ids.chunks(500) {
        last.extend(visits::last_of(r.conn, chunk)?);
    }
    // Due within a day counts as due now: a worker plans the day ahead.
    let horizon = now + Duration::days(1);
    let mut out = Vec::new();
    for (id, (days, tag, h)) in due_every {
        let visited = last
            .get(&id)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let due = visited.map_or(now, |v| v + Duration::days(i64::from(days)));
        if due > horizon {
            continue;
        }
        let reason = match visited {
            Some(v) => format!(
                "{tag}: last visited {} days ago, due every {days} days",
                (now - v).num_days()
            ),
            None => format!("{tag}: never visited, due every {days} days"),
        };
        let mut household = json!({ "id": h.id, "address": h.address, "unit_id": h.unit_id });
        if let (Some(at), Some(o)) = (last.get(&id), household.as_object_mut()) {
            o.insert("last_visited_at".into(), json!(at));
        }
        out.push(Task {
            kind: "visit",
            reason,
            due: Some(stored_time(due)),
            overdue: due < now,
            actions: Vec::new(),
            incident: None,
            household: Some(household),
        });
    }
    Ok(out)
}
