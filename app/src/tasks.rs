//! A grid worker's next things to do (`GET /me/tasks`): the cases waiting for the caller's
//! hands, and the households due a visit by the rules per tag, most urgent first, each with
//! the reason it is there. A phone gets the same list in its sync ([`for_sync`]), as one
//! record that changes only when the list does.

use crate::error::AppError;
use crate::incidents::list::ListQuery;
use crate::tx::{Reader, stored_time};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use wangge_domain::calendar::CST;
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
    /// Why, in words that stay true while the phone is offline (dates, not "3 days ago").
    pub reason: String,
    /// When it is due, if it has a deadline (a household never visited is due now, and has
    /// none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Where it sorts: its due time, or now for a household never visited.
    #[serde(skip)]
    rank: Option<DateTime<Utc>>,
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
    Ok(gather(r, Utc::now(), limit)?.0)
}

/// Tasks a sync carries: the phone's copy of the list holds at most this many.
pub const SYNC_LIMIT: usize = 200;

/// The caller's tasks as a phone's sync carries them, with what tells whether they changed.
#[derive(Debug, Clone)]
pub struct Synced {
    /// The cases by id (the phone holds them from the same sync), households in brief.
    pub items: Vec<Value>,
    /// A digest of `items` (48 bits, so a JSON number reads it exactly): the same list, the
    /// same digest.
    pub digest: i64,
    /// The first moment the clock alone changes the list (a deadline passing, a household
    /// coming within a day of its visit), at most [`RECHECK_S`] from now, in Unix seconds.
    pub until: i64,
}

/// The longest a phone's list goes unchecked when nothing changes in its scope.
pub const RECHECK_S: i64 = 6 * 3600;

/// The caller's tasks for a sync at `now`.
///
/// # Errors
/// Database errors.
pub fn for_sync(r: &mut Reader<'_>, now: DateTime<Utc>) -> Result<Synced, AppError> {
    let (tasks, next) = gather(r, now, SYNC_LIMIT)?;
    let items: Vec<Value> = tasks.into_iter().map(brief).collect();
    let digest = digest(&Value::Array(items.clone()).to_string());
    let cap = now + Duration::seconds(RECHECK_S);
    // Rounded up: at `until` the change has happened.
    let until = next.map_or(cap, |n| n.min(cap));
    let until = until.timestamp() + i64::from(until.timestamp_subsec_nanos() > 0);
    Ok(Synced {
        items,
        digest,
        until,
    })
}

/// A task as the sync carries it: the case by its id (its time left moves with the clock).
fn brief(t: Task) -> Value {
    let mut v = json!(t);
    if let (Some(o), Some(case)) = (v.as_object_mut(), t.incident) {
        o.remove("incident");
        o.insert("incident_id".into(), case["id"].clone());
    }
    v
}

fn digest(text: &str) -> i64 {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    d.as_ref()
        .iter()
        .take(6)
        .fold(0_i64, |n, b| (n << 8) | i64::from(*b))
        .max(1)
}

/// How finely the clock's bringing a household into the list (a day ahead of its visit) is
/// timed: a scope of thousands of households would otherwise change its list every few
/// minutes, for a horizon that is only a day's planning.
const ENTERING_STEP_S: i64 = 15 * 60;

/// The caller's first `limit` tasks at `now`, sorted, and the first moment after `now` at
/// which the clock alone would change them: a kept task turning overdue, or a household
/// coming within a day of its visit (at the next [`ENTERING_STEP_S`]). A task beyond `limit`
/// turning overdue is not watched (the list is checked again within [`RECHECK_S`]).
fn gather(
    r: &mut Reader<'_>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<(Vec<Task>, Option<DateTime<Utc>>), AppError> {
    let mut tasks = cases(r, now)?;
    let (visits, entering) = visits_due(r, now)?;
    tasks.extend(visits);
    tasks.sort_by(|a, b| {
        (!a.overdue, a.rank.is_none(), a.rank, a.kind, subject(a)).cmp(&(
            !b.overdue,
            b.rank.is_none(),
            b.rank,
            b.kind,
            subject(b),
        ))
    });
    tasks.truncate(limit);
    let overdue_next = tasks
        .iter()
        .filter_map(|t| t.rank.filter(|d| t.due.is_some() && *d > now))
        .min();
    let entering = entering.map(|t| step_up(t, ENTERING_STEP_S));
    Ok((tasks, overdue_next.into_iter().chain(entering).min()))
}

/// `t` rounded up to a whole multiple of `step_s` seconds since the epoch.
fn step_up(t: DateTime<Utc>, step_s: i64) -> DateTime<Utc> {
    let s = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    DateTime::<Utc>::from_timestamp((s + step_s - 1).div_euclid(step_s) * step_s, 0).unwrap_or(t)
}

/// The case's or the household's id: ties sort alike every time.
fn subject(t: &Task) -> Option<&str> {
    t.incident
        .as_ref()
        .or(t.household.as_ref())
        .and_then(|v| v["id"].as_str())
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
    let ids: Vec<&str> = listed.iter().filter_map(|c| c["id"].as_str()).collect();
    let mut loaded: HashMap<String, crate::incidents::Loaded> =
        crate::incidents::load_many(r.conn, &r.caller, &ids)?
            .into_iter()
            .map(|l| (l.record.id.clone(), l))
            .collect();
    let mut out = Vec::new();
    for case in listed {
        let Some(l) = case["id"].as_str().and_then(|id| loaded.remove(id)) else {
            continue;
        };
        let actions: Vec<&'static str> = l
            .allowed(&r.caller)?
            .into_iter()
            .filter(|a| WORK.contains(a))
            .map(CaseAction::as_str)
            .collect();
        if actions.is_empty() {
            continue;
        }
        // The stage's deadline: the earliest of the case's.
        let dues: Vec<(DateTime<Utc>, String)> = case["deadlines"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|d| d["due"].as_str())
            .filter_map(|s| Some((parse(s)?, s.to_owned())))
            .collect();
        let due = dues.into_iter().min();
        out.push(Task {
            kind: "incident",
            reason: format!(
                "{}: waiting for you to {}",
                case["status"].as_str().unwrap_or_default(),
                actions.join(" or ")
            ),
            overdue: due.as_ref().is_some_and(|(t, _)| *t < now),
            rank: due.as_ref().map(|(t, _)| *t),
            due: due.map(|(_, s)| s),
            actions,
            incident: Some(case),
            household: None,
        });
    }
    Ok(out)
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The households due a visit within a day, and when the next one not yet listed will be.
fn visits_due(
    r: &mut Reader<'_>,
    now: DateTime<Utc>,
) -> Result<(Vec<Task>, Option<DateTime<Utc>>), AppError> {
    let reach = r.caller.reach(Action::RecordVisit);
    if reach == Reach::Nothing {
        return Ok((Vec::new(), None));
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
    let mut entering: Option<DateTime<Utc>> = None;
    for (id, (days, tag, h)) in due_every {
        let visited = last.get(&id).and_then(|t| parse(t));
        let due = visited.map(|v| v + Duration::days(i64::from(days)));
        if let Some(d) = due.filter(|d| *d > horizon) {
            let enters = d - Duration::days(1);
            entering = Some(entering.map_or(enters, |e| e.min(enters)));
            continue;
        }
        let reason = match visited {
            Some(v) => format!(
                "{tag}: last visited on {}, due every {days} days",
                v.with_timezone(&CST).format("%Y-%m-%d")
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
            due: due.map(stored_time),
            rank: Some(due.unwrap_or(now)),
            overdue: due.is_some_and(|d| d < now),
            actions: Vec::new(),
            incident: None,
            household: Some(household),
        });
    }
    Ok((out, entering))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_household_enters_the_list_at_the_next_step_never_before_it_is_due_to() {
        let at = |s: &str| parse(s).unwrap();
        let step = ENTERING_STEP_S;
        assert_eq!(
            step_up(at("2026-12-06T10:00:00Z"), step),
            at("2026-12-06T10:00:00Z")
        );
        assert_eq!(
            step_up(at("2026-12-06T10:00:00.001Z"), step),
            at("2026-12-06T10:15:00Z")
        );
        assert_eq!(
            step_up(at("2026-12-06T10:14:59Z"), step),
            at("2026-12-06T10:15:00Z")
        );
        assert_eq!(
            step_up(at("2026-12-06T10:14:59Z"), 1),
            at("2026-12-06T10:14:59Z")
        );
    }

    #[test]
    fn digests_fit_a_json_number_and_are_never_zero() {
        for text in ["", "[]", "[{\"kind\":\"visit\"}]"] {
            let d = digest(text);
            assert!((1..1 << 48).contains(&d), "{d}");
        }
        assert_ne!(digest("[]"), digest("[{}]"));
    }
}
