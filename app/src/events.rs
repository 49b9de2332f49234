//! The live stream of incident activity (the command centre's board): events derived from the
//! change feed, each incident change joined with the history entry written with it, and who
//! may receive each. The feed's position is the event's id, so a client resumes from the
//! database after any position, on any instance.

use crate::caller::Caller;
use crate::error::AppError;
use crate::incidents::caller_department;
use crate::tx::Reader;
use serde::Serialize;
use serde_json::Value;
use wangge_domain::{Action, Reach};
use wangge_persistence::AnyConnection;
use wangge_persistence::changes::ChangeRow;
use wangge_persistence::incident_feed::{self as store, Concerned};
use wangge_persistence::journal::HistoryRow;

/// What happened to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Reported,
    Transitioned,
    Escalated,
    Overdue,
    Closed,
}

impl EventKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "incident.reported",
            Self::Transitioned => "incident.transitioned",
            Self::Escalated => "incident.escalated",
            Self::Overdue => "incident.overdue",
            Self::Closed => "incident.closed",
        }
    }
}

/// One event: what the stream sends (no personal data: no reporter, no description, no
/// account names) and, unsent, who may receive it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseEvent {
    #[serde(rename = "type", serialize_with = "kind_name")]
    pub kind: EventKind,
    pub position: i64,
    pub incident_id: String,
    pub version: i64,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub owner_unit_id: Option<String>,
    /// The owner before, when the change moved the case (an escalation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_owner_unit_id: Option<String>,
    /// Why, for what the clock did (`missed_deadline`) or a report raised at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Done by the server (the escalation clock), not a person.
    pub automatic: bool,
    pub at: String,
    #[serde(skip)]
    audience: Audience,
}

fn kind_name<S: serde::Serializer>(k: &EventKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

/// Who a case concerned at this change: its unit before and after, its departments and its
/// reporter (the parties `incidents::load` lets read it).
#[derive(Debug, Clone, Default)]
struct Audience {
    unit_paths: Vec<String>,
    concerned: Concerned,
}

/// Events after a position, and where the next read starts: past the last event, or past
/// every change numbered so far when the page is not full (so changes of other records are
/// not read again).
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<CaseEvent>,
    pub upto: i64,
}

/// The position of the last numbered change: where a stream with nothing to resume starts.
///
/// # Errors
/// Database errors.
pub fn head(conn: &mut AnyConnection) -> Result<i64, AppError> {
    Ok(store::head(conn)?)
}

/// Every incident event after `after`, at most `limit`, in position order, for every
/// audience (the caller filters with [`Watcher::sees`]).
///
/// # Errors
/// Database errors.
pub fn read_after(conn: &mut AnyConnection, after: i64, limit: i64) -> Result<Page, AppError> {
    wangge_persistence::planned_read(conn, |conn| page_after(conn, after, limit))
}

fn page_after(conn: &mut AnyConnection, after: i64, limit: i64) -> Result<Page, AppError> {
    // Read first: every change at or below it is visible to the reads below.
    let head = store::head(conn)?;
    if head <= after {
        return Ok(Page {
            events: Vec::new(),
            upto: after,
        });
    }
    let rows = store::changes_between(conn, after, head, limit)?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit;
    let upto = match rows.last().and_then(|r| r.position) {
        Some(p) if full => p,
        _ => head,
    };
    let mut ids: Vec<String> = rows.iter().map(|r| r.entity_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    versions.sort_unstable();
    versions.dedup();
    let history = store::history_at(conn, &ids, &versions)?;
    let concerned = store::concerned(conn, &ids)?;
    let events = rows
        .iter()
        .map(|r| {
            let who = concerned.get(&r.entity_id).cloned();
            event(r, &history, who.unwrap_or_default())
        })
        .collect();
    Ok(Page { events, upto })
}

/// Entries other use cases add to a case's history without changing its state (an
/// attachment, a duplicate merged into it, a missed report-in): never the event itself.
const ASIDE: [&str; 3] = ["attach", "merged", "report_in_missed"];

/// The event of one change: its history entry is the one written in the same transaction
/// (same case, version and time).
fn event(r: &ChangeRow, history: &[HistoryRow], concerned: Concerned) -> CaseEvent {
    let entries: Vec<&HistoryRow> = history
        .iter()
        .filter(|h| {
            h.entity_id == r.entity_id
                && h.version == Some(r.version)
                && h.at == r.at
                && !ASIDE.contains(&h.kind.as_str())
        })
        .collect();
    let first = entries.first();
    let details: Value = first
        .and_then(|h| serde_json::from_str(&h.details).ok())
        .unwrap_or(Value::Null);
    let text = |k: &str| details.get(k).and_then(Value::as_str).map(str::to_owned);
    let action = first.map_or_else(|| "changed".to_owned(), |h| h.kind.clone());
    let (from, to) = (text("from"), text("to"));
    let kind = match action.as_str() {
        "report" => EventKind::Reported,
        "escalate" => EventKind::Escalated,
        "overdue" => EventKind::Overdue,
        _ if to.as_deref() == Some("closed") && from.as_deref() != Some("closed") => {
            EventKind::Closed
        }
        _ => EventKind::Transitioned,
    };
    // A report beyond the place's unit's competence is raised at once: a second entry.
    let raised = entries.iter().skip(1).any(|h| h.kind == "escalate");
    let owner = r.unit_path_after.as_deref().and_then(unit_of);
    let before = r.unit_path_before.as_deref().and_then(unit_of);
    CaseEvent {
        kind,
        position: r.position.unwrap_or_default(),
        incident_id: r.entity_id.clone(),
        version: r.version,
        action,
        from,
        to,
        previous_owner_unit_id: before.filter(|b| owner.as_ref() != Some(b)),
        owner_unit_id: owner,
        reason: text("reason").or_else(|| raised.then(|| "beyond_competence".to_owned())),
        note: text("note"),
        automatic: first.is_some_and(|h| {
            h.actor_id.is_none()
                && h.actor_name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("system:"))
        }),
        at: r.at.clone(),
        audience: Audience {
            unit_paths: [&r.unit_path_before, &r.unit_path_after]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            concerned,
        },
    }
}

/// The unit a materialised path ends with (`/<root>/…/<unit>/`).
fn unit_of(path: &str) -> Option<String> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A subscriber: the caller as loaded when the stream opened.
#[derive(Debug, Clone)]
pub struct Watcher {
    caller: Caller,
    department: Option<String>,
}

/// Opens a stream for the caller: where it starts (after `after`, or at the end of the feed)
/// and who it is for.
///
/// # Errors
/// 403 for an account that may read no case anywhere (neither by scope nor as a department).
pub fn watch(r: &mut Reader<'_>, after: Option<i64>) -> Result<(Watcher, i64), AppError> {
    let watcher = watcher(r)?;
    let head = head(r.conn)?;
    let start = match after {
        // Past the feed's end: no stream sent it, and resuming there would skip whatever
        // comes before it.
        Some(a) if a > head => {
            return Err(AppError::BadRequest {
                code: "invalid_cursor",
                message: "Last-Event-ID and after must be an event id this stream sent".into(),
            });
        }
        Some(a) => a,
        None => head,
    };
    Ok((watcher, start))
}

/// Who an open stream is for, as the caller stands now: a stream asks again from time to
/// time, so one given a unit less stops receiving its cases.
///
/// # Errors
/// As [`watch`].
pub fn watcher(r: &mut Reader<'_>) -> Result<Watcher, AppError> {
    let department = caller_department(&r.caller).map(|d| d.to_string());
    if department.is_none() && r.caller.reach(Action::ReadIncident) == Reach::Nothing {
        return Err(AppError::forbidden(
            "the event stream is for accounts that may read incidents",
        ));
    }
    Ok(Watcher {
        caller: r.caller.clone(),
        department,
    })
}

impl Watcher {
    /// Whether the subscriber may receive the event: the rule of reading a case
    /// (`incidents::load`), applied to where the case was before and after the change, so
    /// a unit sees a case leave it by escalation.
    #[must_use]
    pub fn sees(&self, e: &CaseEvent) -> bool {
        let a = &e.audience;
        a.unit_paths
            .iter()
            .any(|p| self.caller.permits(Action::ReadIncident, p))
            || self
                .department
                .as_ref()
                .is_some_and(|d| a.concerned.departments.contains(d))
            || a.concerned
                .reporter_id
                .as_deref()
                .is_some_and(|r| Some(r) == self.caller.account_id())
    }
}
