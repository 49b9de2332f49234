//! Field sync, upload: a day of offline work sent as one ordered batch.
//!
//! Each operation runs in a transaction of its own under an idempotency key made of its
//! `op_id`, so its effect and its stored result commit together: a batch sent again (whole,
//! or a prefix of it, any number of times) replays the stored results and changes nothing.
//! An operation based on a version the record no longer has is a conflict, answered with the
//! record as it is now; nothing is overwritten. One that fails does not stop the others; an
//! operation may refer to an earlier one of the batch (a case reported offline, then acted
//! on), whose resulting version it was based on.

use super::Item;
use crate::caller::Who;
use crate::error::AppError;
use crate::households::residents::ResidentPatch;
use crate::households::visits::NewVisit;
use crate::households::{HouseholdPatch, update as update_household};
use crate::idempotency::{self, Answer, Keyed};
use crate::incidents::report::{NewIncident, report};
use crate::incidents::transition::{Transition, transition};
use crate::patrols::{self, Batch, NewPatrol};
use crate::services::Services;
use crate::tx::{Reader, Tx, read};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::cell::Cell;
use wangge_domain::incident::{Action, AttachmentKind};
use wangge_domain::{HouseholdId, IncidentId, PatrolId, ResidentId};
use wangge_persistence::AnyConnection;

/// How far ahead of the server a phone's clock may run before its times are refused.
pub const CLOCK_AHEAD_TOLERANCE_S: i64 = 300;

/// Operations per batch.
pub const MAX_OPERATIONS: usize = 500;

/// One thing done offline.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The phone's UUIDv7 for the operation: its idempotency key.
    pub op_id: String,
    /// A hash of what the operation asks (type, base, data): the same `op_id` with other
    /// content is refused.
    pub request_hash: String,
    /// When the phone says it was done.
    pub recorded_at: Option<DateTime<Utc>>,
    pub based_on: Option<BasedOn>,
    pub command: Command,
}

/// The version an operation was based on: a number, or the version an earlier operation of
/// the batch left the record at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasedOn {
    Version(i64),
    Op(String),
}

/// What an operation does: the same use cases the single requests call.
#[derive(Debug, Clone)]
pub enum Command {
    RecordVisit(HouseholdId, NewVisit),
    /// A report, and the photos (uploaded by hash) that show it.
    ReportIncident(NewIncident, Vec<String>),
    /// An action, and the photos (uploaded by hash) it adds: of the result for `resolve`,
    /// else evidence.
    Transition(IncidentId, Transition, Vec<String>),
    UpdateHousehold(HouseholdId, HouseholdPatch),
    UpdateResident(HouseholdId, ResidentId, ResidentPatch),
    /// A patrol started offline (under its client id).
    StartPatrol(NewPatrol),
    /// Fixes of a patrol (sent again, a fix of a time the patrol has is dropped).
    AddPatrolPoints(PatrolId, Batch),
    /// The end of a patrol, at `finished_at` (else when it was recorded).
    FinishPatrol(PatrolId, Option<String>),
}

impl Command {
    /// Whether the operation changes a record that exists, so must say what it was based on.
    /// (A patrol only grows: its fixes are appended whatever came before, and a finish is
    /// final, so none of its operations can overwrite another's.)
    fn changes_existing(&self) -> bool {
        !matches!(
            self,
            Self::RecordVisit(..)
                | Self::ReportIncident(..)
                | Self::StartPatrol(..)
                | Self::AddPatrolPoints(..)
                | Self::FinishPatrol(..)
        )
    }
}

/// What became of an operation.
#[derive(Debug)]
pub enum Outcome {
    /// Done now. The result is `{entity, id, version, received_at, data}`.
    Applied(Value),
    /// Done before (a replay): the result it had then.
    AlreadyApplied(Value),
    /// Based on a version the record no longer has: nothing was written. `current` is the
    /// record as the caller may see it now (`None` if it is gone from their sight).
    Conflict {
        based_on: i64,
        current_version: i64,
        current: Option<Box<Item>>,
    },
    /// Refused, with the problem as the caller renders it. A refusal is final and kept
    /// under the operation's key like a result (sent again, the operation is refused
    /// again, even if what refused it has changed since), unless `retry`: another copy of
    /// it was running (or the server failed), and it should be sent again.
    Rejected { problem: Value, retry: bool },
}

/// The stored result of an operation: its record's state after it, rendered by `render`.
fn result(item: &Item, render: &dyn Fn(&Item) -> Value, received_at: &str) -> Value {
    let (entity, id, version) = item.key();
    json!({
        "entity": entity,
        "id": id,
        "version": version,
        "received_at": received_at,
        "data": render(item),
    })
}

/// Applies a batch in order.
///
/// # Errors
/// Only what the phone should retry the whole batch for (the database away); every other
/// failure is the operation's own outcome.
pub fn upload(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    ops: &[Operation],
    render: &dyn Fn(&Item) -> Value,
    problem: &dyn Fn(AppError) -> Value,
) -> Result<Vec<Outcome>, AppError> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let earlier = |id: &str| {
            ops[..i]
                .iter()
                .zip(&outcomes)
                .rev()
                .find(|(o, _)| o.op_id == id)
                .map(|(_, out)| out)
        };
        let outcome = match plan(op, &earlier) {
            Err(e) => refuse(conn, svc, who, op, e, problem)?,
            Ok(based_on) => match apply(conn, svc, who, op, based_on, render) {
                Err(e) if e.is_transient() => return Err(e),
                Err(AppError::VersionMismatch { expected, current }) => Outcome::Conflict {
                    based_on: expected,
                    current_version: current,
                    current: read(conn, svc, who, |r| now_seen(r, &op.command))?.map(Box::new),
                },
                Err(e) => refuse(conn, svc, who, op, e, problem)?,
                Ok(o) => o,
            },
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Checks an operation before it runs: its clock, and the version it was based on.
fn plan<'a>(
    op: &Operation,
    earlier: &dyn Fn(&str) -> Option<&'a Outcome>,
) -> Result<Option<i64>, AppError> {
    if let Some(at) = op.recorded_at {
        let ahead = at - Utc::now();
        if ahead > Duration::seconds(CLOCK_AHEAD_TOLERANCE_S) {
            return Err(AppError::unprocessable(
                "clock_ahead",
                format!(
                    "recorded_at is {} s ahead of the server's clock (tolerance {CLOCK_AHEAD_TOLERANCE_S} s): set the phone's time and send again",
                    ahead.num_seconds()
                ),
            ));
        }
    }
    let based_on = match &op.based_on {
        None => None,
        Some(BasedOn::Version(v)) => Some(*v),
        Some(BasedOn::Op(id)) => match earlier(id) {
            Some(Outcome::Applied(r) | Outcome::AlreadyApplied(r)) => r["version"].as_i64(),
            // Running in another copy of the batch: so is this one, in effect.
            Some(Outcome::Rejected { retry: true, .. }) => {
                return Err(AppError::InFlight { retry_after_s: 1 });
            }
            Some(_) => {
                return Err(AppError::unprocessable(
                    "based_on_failed",
                    format!("operation {id}, which this one is based on, was not applied"),
                ));
            }
            None => {
                return Err(AppError::unprocessable(
                    "based_on_unknown",
                    format!("no earlier operation {id} in this batch"),
                ));
            }
        },
    };
    if op.command.changes_existing() && based_on.is_none() {
        return Err(AppError::field(
            "based_on_version",
            "required for a change to an existing record: say which version it was made on",
        ));
    }
    Ok(based_on)
}

fn apply(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    op: &Operation,
    based_on: Option<i64>,
    render: &dyn Fn(&Item) -> Value,
) -> Result<Outcome, AppError> {
    let keyed = keyed(op);
    // Set when the effect runs here; a replay answers from the store without running it.
    let fresh = Cell::new(false);
    let answer = idempotency::run(
        conn,
        svc,
        who,
        Some(&keyed),
        |tx| {
            if let Some(at) = op.recorded_at {
                tx.recorded_at(at);
            }
            let (item, again) = effect(tx, &op.command, op.recorded_at, based_on)?;
            fresh.set(!again);
            Ok((item, tx.now().to_owned()))
        },
        |(item, at)| Answer {
            status: 200,
            headers: Vec::new(),
            body: result(item, render, at).to_string(),
        },
    )?;
    outcome_of(&answer, fresh.get())
}

fn keyed(op: &Operation) -> Keyed {
    Keyed {
        key: format!("sync:{}", op.op_id),
        request_hash: op.request_hash.clone(),
    }
}

/// The outcome an operation's stored answer tells: a result, or a refusal kept before.
fn outcome_of(answer: &Answer, fresh: bool) -> Result<Outcome, AppError> {
    let mut stored: Value = serde_json::from_str(&answer.body).map_err(AppError::internal)?;
    Ok(match stored.get_mut("rejected") {
        Some(problem) => Outcome::Rejected {
            problem: problem.take(),
            retry: false,
        },
        None if fresh => Outcome::Applied(stored),
        None => Outcome::AlreadyApplied(stored),
    })
}

/// A refusal: kept under the operation's key when final, so that the operation's answer
/// never changes. If another copy of the operation was applied meanwhile, that is its
/// answer instead.
fn refuse(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    op: &Operation,
    e: AppError,
    problem: &dyn Fn(AppError) -> Value,
) -> Result<Outcome, AppError> {
    let retry = matches!(
        e,
        AppError::InFlight { .. } | AppError::Internal(_) | AppError::Raced | AppError::ClaimLost
    );
    let p = problem(e);
    if retry {
        return Ok(Outcome::Rejected { problem: p, retry });
    }
    let body = json!({ "rejected": p }).to_string();
    let kept = idempotency::run(
        conn,
        svc,
        who,
        Some(&keyed(op)),
        |_| Ok(()),
        |()| Answer {
            status: 422,
            headers: Vec::new(),
            body: body.clone(),
        },
    );
    match kept {
        Ok(answer) => outcome_of(&answer, false),
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            let retry = matches!(e, AppError::InFlight { .. });
            Ok(Outcome::Rejected {
                problem: problem(e),
                retry,
            })
        }
    }
}

/// Runs the command's use case; `true` when it found its work already done (a create whose
/// client id was used before with the same content).
fn effect(
    tx: &mut Tx<'_>,
    command: &Command,
    recorded_at: Option<DateTime<Utc>>,
    based_on: Option<i64>,
) -> Result<(Item, bool), AppError> {
    Ok(match command {
        Command::RecordVisit(household, visit) => {
            let mut visit = visit.clone();
            if visit.visited_at.is_none() {
                visit.visited_at = recorded_at.map(|t| t.to_rfc3339());
            }
            let c = crate::households::visits::create(tx, *household, &visit)?;
            (Item::Visit(c.record), c.again)
        }
        Command::ReportIncident(new, photos) => {
            let r = report(tx, new)?;
            // The case is written with the journal; the photos and the summary need it now
            // (so an upload saves no round trip here, unlike the HTTP report).
            tx.flush_journal()?;
            let id: IncidentId = r.incident.id.parse().map_err(AppError::internal)?;
            crate::uploads::attach(tx, id, AttachmentKind::Evidence, photos)?;
            (summary(tx, &r.incident.id)?, r.again)
        }
        Command::Transition(id, t, photos) => {
            if !photos.is_empty() {
                // A stale base is told first, as the transition itself would, before any
                // photo is read.
                let l = crate::incidents::load(tx.conn, tx.caller, &id.to_string())?;
                crate::versions::expect(l.record.version, based_on)?;
            }
            let kind = if t.action == Action::Resolve {
                AttachmentKind::Result
            } else {
                AttachmentKind::Evidence
            };
            crate::uploads::attach(tx, *id, kind, photos)?;
            transition(tx, *id, based_on, t)?;
            (summary(tx, &id.to_string())?, false)
        }
        Command::UpdateHousehold(id, patch) => (
            Item::Household(update_household(tx, *id, based_on, patch)?),
            false,
        ),
        Command::StartPatrol(new) => {
            let mut new = new.clone();
            if new.started_at.is_none() {
                new.started_at = recorded_at.map(|t| t.to_rfc3339());
            }
            let c = patrols::start(tx, &new)?;
            (Item::Patrol(c.record), c.again)
        }
        Command::AddPatrolPoints(id, batch) => {
            patrols::add_points(tx, *id, batch)?;
            (Item::Patrol(patrols::record(tx.conn, *id)?), false)
        }
        Command::FinishPatrol(id, finished_at) => {
            let at = finished_at
                .clone()
                .or_else(|| recorded_at.map(|t| t.to_rfc3339()));
            (
                Item::Patrol(patrols::finish(tx, *id, at.as_deref())?),
                false,
            )
        }
        Command::UpdateResident(household, id, patch) => (
            Item::Resident(crate::households::residents::update(
                tx, *household, *id, based_on, patch,
            )?),
            false,
        ),
    })
}

/// A case as sync sends it.
fn summary(tx: &mut Tx<'_>, id: &str) -> Result<Item, AppError> {
    let l = crate::incidents::load(tx.conn, tx.caller, id)?;
    let owner = crate::incidents::UnitBrief::from(&l.owner);
    Ok(Item::Incident(crate::incidents::summary(
        &l.record,
        &owner,
        tx.now_utc(),
    )))
}

/// The record a conflicting operation targets, as the caller sees it now.
fn now_seen(r: &mut Reader<'_>, command: &Command) -> Result<Option<Item>, AppError> {
    let seen = match command {
        Command::RecordVisit(..)
        | Command::ReportIncident(..)
        | Command::StartPatrol(..)
        | Command::AddPatrolPoints(..)
        | Command::FinishPatrol(..) => return Ok(None),
        Command::Transition(id, ..) => crate::incidents::load(r.conn, &r.caller, &id.to_string())
            .map(|l| {
                let owner = crate::incidents::UnitBrief::from(&l.owner);
                Item::Incident(crate::incidents::summary(&l.record, &owner, Utc::now()))
            }),
        Command::UpdateHousehold(id, _) => crate::households::get(r, *id).map(Item::Household),
        Command::UpdateResident(household, id, _) => {
            crate::households::residents::list(r, *household).and_then(|all| {
                all.into_iter()
                    .find(|x| x.id == id.to_string())
                    .map(Item::Resident)
                    .ok_or_else(|| AppError::not_found("resident"))
            })
        }
    };
    match seen {
        Ok(item) => Ok(Some(item)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
