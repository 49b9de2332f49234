//! The escalation clock (督办): cases whose running deadline passed move up one level, once per
//! missed deadline, with a reminder (催办); at the district, where nothing is above, the case
//! is flagged for the command centre instead. Run by every instance: on PostgreSQL the rows
//! taken are held with `SKIP LOCKED`, and a deadline acted on is noted on the case in the
//! same transaction, so no deadline is acted on twice, however many instances tick.

use super::transition::escalate_row;
use super::{next_due, status_of};
use crate::calendar;
use crate::caller::Who;
use crate::categories;
use crate::error::AppError;
use crate::services::Services;
use crate::stats::fold;
use crate::tx::{self, Change, Entity, Tx, stored_time};
use chrono::{DateTime, Utc};
use serde_json::json;
use wangge_domain::incident::flow::{self, Actor, Case};
use wangge_domain::incident::{Action, CategoryCode, Priority, Stage};
use wangge_domain::unit::Level;
use wangge_domain::{DepartmentId, UnitId};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid;
use wangge_persistence::incidents::{self as store, IncidentRecord};

/// Cases taken per transaction.
pub const BATCH: i64 = 200;

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub escalated: usize,
    pub flagged: usize,
    /// Summoned departments that did not report in on time, told to the command centre.
    pub report_ins_missed: usize,
}

/// Acts on every case overdue at `now`, a batch per transaction, until none is left.
///
/// # Errors
/// Database errors (what was committed before stays).
pub fn tick(
    conn: &mut AnyConnection,
    svc: &Services,
    now: DateTime<Utc>,
) -> Result<TickReport, AppError> {
    let who = Who::System { name: "clock" };
    let mut report = TickReport::default();
    loop {
        let (done, taken) = tx::write(conn, svc, &who, |tx| {
            let mut done = TickReport::default();
            let missed = store::missed_report_ins(tx.conn, &stored_time(now), BATCH)?;
            for s in &missed {
                if missed_report_in(tx, s)? {
                    done.report_ins_missed += 1;
                }
            }
            let rows = store::overdue(tx.conn, &stored_time(now), BATCH)?;
            let mut moves = fold::Moves::default();
            for row in &rows {
                match act(tx, row, now, &mut moves)? {
                    Some(true) => done.escalated += 1,
                    Some(false) => done.flagged += 1,
                    None => {}
                }
            }
            moves.write(tx.conn)?;
            Ok((done, rows.len().max(missed.len())))
        })?;
        report.escalated += done.escalated;
        report.flagged += done.flagged;
        report.report_ins_missed += done.report_ins_missed;
        if i64::try_from(taken).unwrap_or(i64::MAX) < BATCH {
            return Ok(report);
        }
    }
}

/// A summoned department missed its report-in: the lead owner keeps the case (首接负责), and
/// the command centre is told, once.
fn missed_report_in(tx: &mut Tx<'_>, s: &store::Summons) -> Result<bool, AppError> {
    let now = tx.now().to_owned();
    if !store::note_missed(tx.conn, &s.incident_id, &s.department_id, &now)? {
        return Ok(false);
    }
    let version = store::get(tx.conn, &s.incident_id)?.map_or(1, |r| r.version);
    let details = json!({ "action": "report_in_missed", "department_id": s.department_id,
        "due": s.report_in_due, "from": null, "to": null,
        "note": "the summoned department did not report in on time: told to the command centre" });
    tx.history(
        Entity::Incident,
        &s.incident_id,
        "report_in_missed",
        Some(version),
        details.clone(),
    )?;
    tx.event(
        "incident.report_in_missed",
        Entity::Incident,
        &s.incident_id,
        version,
        details,
    )?;
    Ok(true)
}

/// Which stage's deadline was missed: the one `next_due` names.
fn missed_stage(r: &IncidentRecord) -> Stage {
    let due = r.next_due.as_ref();
    if due.is_some() && due == r.register_due.as_ref() {
        Stage::Register
    } else if due.is_some() && due == r.sign_due.as_ref() {
        Stage::Sign
    } else {
        Stage::Close
    }
}

/// Escalates one overdue case (`Some(true)`), or flags it where it cannot climb
/// (`Some(false)`); `None` when a person changed it first.
fn act(
    tx: &mut Tx<'_>,
    r: &IncidentRecord,
    now: DateTime<Utc>,
    moves: &mut fold::Moves,
) -> Result<Option<bool>, AppError> {
    let owner = grid::get_unit(tx.conn, UnitId::parse(&r.owner_unit_id)?)?;
    let status = status_of(&r.status)?;
    let case = Case {
        status,
        held_from: None,
        owner_level: Level::from_number(i64::from(owner.level))?,
        department: r
            .department_id
            .as_deref()
            .map(DepartmentId::parse)
            .transpose()?,
        summoned: &[],
        extension_pending: r.extension_pending,
        has_result_photo: false,
    };
    let clock = Actor {
        roles: &[],
        captures_owner: false,
        department: None,
        clock: true,
    };
    let stage = missed_stage(r);
    let due = r.next_due.clone().unwrap_or_default();
    let mut row = r.clone();
    row.clock_noted = Some(due.clone());
    row.updated_at = tx.now().to_owned();
    let escalated = match (
        flow::decide(&case, &clock, Action::Escalate),
        &owner.parent_id,
    ) {
        (Ok(outcome), Some(parent)) => {
            let policy =
                categories::get(tx.conn, &CategoryCode::parse(&r.category_code)?)?.policy()?;
            let limit = policy.limits.of(Priority::parse(&r.priority)?).register;
            let fresh = stored_time(calendar::deadline(tx.conn, now, limit)?);
            row.status = outcome.to.as_str().to_owned();
            escalate_row(&mut row, parent.clone(), outcome.to, Some(fresh));
            true
        }
        // At the district, or in a state that does not climb (reported back, verified).
        _ => false,
    };
    row.next_due = next_due(&row);
    if !store::update(tx.conn, r.version, &row)? {
        // Taken by a person in between (SQLite, where nothing is held): it is theirs now.
        return Ok(None);
    }
    let version = r.version + 1;
    let (kind, event) = if escalated {
        ("escalate", "incident.escalated")
    } else {
        ("overdue", "incident.overdue")
    };
    let details = json!({ "action": kind, "reason": "missed_deadline", "stage": stage.as_str(),
        "due": due, "from": status.as_str(), "to": row.status,
        "from_unit": r.owner_unit_id, "to_unit": row.owner_unit_id,
        "note": if escalated { "the deadline passed: moved up one level (上报)" }
                else { "the deadline passed at the top of the grid: flagged for the command centre" } });
    tx.history(
        Entity::Incident,
        &r.id,
        kind,
        Some(version),
        details.clone(),
    )?;
    // The reminder (催办) goes to whoever owns the case now.
    tx.event(event, Entity::Incident, &r.id, version, details)?;
    tx.event(
        "incident.reminder",
        Entity::Incident,
        &r.id,
        version,
        json!({ "id": r.id, "owner_unit_id": row.owner_unit_id, "stage": stage.as_str(), "due": due }),
    )?;
    let after = if escalated {
        grid::get_unit(tx.conn, UnitId::parse(&row.owner_unit_id)?)?.path
    } else {
        owner.path.clone()
    };
    // Noted as overdue, and moved up with its figures when escalated (written once a batch).
    let m = store::measures_of(tx.conn, &r.id)?;
    moves.record(
        &fold::share(r, &m, &owner.path)?,
        &fold::share(&row, &m, &after)?,
    );
    tx.change(Change {
        entity: Entity::Incident,
        id: r.id.clone(),
        version,
        deleted: false,
        unit_path_before: Some(owner.path),
        unit_path_after: Some(after),
    })?;
    Ok(Some(escalated))
}
