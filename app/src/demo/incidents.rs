//! SYNTHETIC incidents for the demo: about a year of cases at the demo households' places, in
//! every state, so the command centre's list, figures and heat map mean something on a fresh
//! install. Each case walks the loop's legal path (report, register, dispatch, sign, start,
//! resolve, verify, close, callback) with plausible delays and the category's real deadlines;
//! a case whose next step would fall after now stays where it is, and a few stall on the way
//! (overdue) or are rejected, held or reopened. Written in bulk, with their history and
//! change rows, as `system:demo`; not sent to the platform (no outbox): they never happened.

use super::people::Rng;
use crate::error::AppError;
use crate::tx::{new_id, seconds_between, stored_time};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::HashMap;
use wangge_domain::calendar::WorkCalendar;
use wangge_domain::incident::{CategoryPolicy, Priority, Stage, Status};
use wangge_persistence::AnyConnection;
use wangge_persistence::grid;
use wangge_persistence::incidents::{self as store, IncidentRecord, Measures};
use wangge_persistence::journal::{self, HistoryRow, NewChange};

/// Cases over the past year.
pub const INCIDENTS: usize = 50_000;

const DESCRIPTIONS: &[&str] = &[
    "路边堆放垃圾，气味较大",
    "楼道内杂物堆积，影响通行",
    "路灯不亮，夜间出行不便",
    "邻里因噪音发生纠纷",
    "窨井盖缺失，存在安全隐患",
    "占道经营，影响交通",
    "独居老人需要上门帮助",
    "雨后道路积水",
    "违规张贴小广告",
    "施工扰民，夜间施工",
];

struct Category {
    code: String,
    policy: CategoryPolicy,
}

/// One case as it is being walked.
struct Walk<'a> {
    row: IncidentRecord,
    m: Measures,
    at: DateTime<Utc>,
    history: Vec<HistoryRow>,
    calendar: &'a WorkCalendar,
    now: DateTime<Utc>,
}

impl Walk<'_> {
    /// Takes `action` after `delay`, unless that is after now. False when it did not.
    fn step(&mut self, action: &str, to: Status, delay: Duration) -> bool {
        let at = self.at + delay;
        if at >= self.now {
            return false;
        }
        self.at = at;
        let from = self.row.status.clone();
        self.row.status = to.as_str().to_owned();
        self.row.version += 1;
        self.row.updated_at = stored_time(at);
        self.history
            .push(entry(&self.row, at, action, Some(&from), self.row.version));
        true
    }

    fn due(&self, limits: &CategoryPolicy, stage: Stage) -> String {
        let priority = Priority::parse(&self.row.priority).unwrap_or(Priority::Normal);
        stored_time(
            limits
                .limits
                .of(priority)
                .of(stage)
                .deadline(self.calendar, self.at),
        )
    }
}

fn entry(
    row: &IncidentRecord,
    at: DateTime<Utc>,
    action: &str,
    from: Option<&str>,
    version: i64,
) -> HistoryRow {
    HistoryRow {
        id: new_id(),
        entity: "incident".into(),
        entity_id: row.id.clone(),
        at: stored_time(at),
        actor_id: None,
        actor_name: Some("system:demo".into()),
        kind: action.into(),
        version: Some(version),
        details: json!({ "action": action, "from": from, "to": row.status }).to_string(),
    }
}

fn minutes(rng: &mut Rng, max: u64) -> Duration {
    Duration::minutes(i64::try_from(1 + rng.below(max)).unwrap_or(1))
}

/// Writes `n` synthetic cases placed at demo households; returns how many.
///
/// # Errors
/// Database errors; internal when the demo has no households or categories.
pub fn seed(conn: &mut AnyConnection, n: usize, now: DateTime<Utc>) -> Result<usize, AppError> {
    // Every household's place: the first few thousand would all be in the first subdistricts.
    let places = wangge_persistence::households::places(conn, 1_000_000)?;
    let categories: Vec<Category> = crate::categories::list(conn, None, 10_000, false)?
        .into_iter()
        .filter(|c| c.parent_code.is_some())
        .map(|c| {
            Ok(Category {
                policy: c.policy()?,
                code: c.code,
            })
        })
        .collect::<Result<_, AppError>>()?;
    if places.is_empty() || categories.is_empty() {
        return Err(AppError::internal(
            "demo incidents need households and categories",
        ));
    }
    let units: HashMap<String, grid::UnitRecord> = grid::all_units(conn)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let calendar = crate::calendar::load(conn)?;
    let mut rng = Rng(0x1DC1_DE47);
    let mut rows = Vec::with_capacity(n);
    let mut measures = Vec::with_capacity(n);
    let mut history = Vec::with_capacity(n * 8);
    let mut changes = Vec::with_capacity(n);
    for _ in 0..n {
        let (unit_id, lon, lat, cell) =
            &places[usize::try_from(rng.below(places.len() as u64)).unwrap_or(0)];
        let cat = &categories[usize::try_from(rng.below(categories.len() as u64)).unwrap_or(0)];
        let Some(unit) = units.get(unit_id) else {
            continue;
        };
        // The owner: the household's unit raised to the category's lowest level.
        let ids = unit.path_ids();
        let depth = usize::try_from(cat.policy.lowest_level.number())
            .unwrap_or(1)
            .min(ids.len());
        let owner = ids[depth.saturating_sub(1)];
        let locality = ids.last().copied().unwrap_or(owner);
        let path_of = |id: &str| units.get(id).map(|u| u.path.clone());
        let age = Duration::minutes(i64::try_from(rng.below(365 * 24 * 60)).unwrap_or(0));
        let created = now - age;
        let priority = match rng.below(20) {
            0..=2 => Priority::Urgent,
            3 => Priority::Complex,
            _ => Priority::Normal,
        };
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            u64::try_from(created.timestamp()).unwrap_or(0),
            created.timestamp_subsec_nanos(),
        ))
        .as_hyphenated()
        .to_string();
        let mut w = Walk {
            row: IncidentRecord {
                id: id.clone(),
                category_code: cat.code.clone(),
                priority: priority.as_str().to_owned(),
                status: Status::Reported.as_str().to_owned(),
                held_from: None,
                description: DESCRIPTIONS
                    [usize::try_from(rng.below(DESCRIPTIONS.len() as u64)).unwrap_or(0)]
                .to_owned(),
                lon: *lon + (rng.below(200) as f64 - 100.0) * 1e-6,
                lat: *lat + (rng.below(200) as f64 - 100.0) * 1e-6,
                cell: *cell,
                household_id: None,
                locality_unit_id: locality.to_owned(),
                owner_unit_id: owner.to_owned(),
                department_id: cat.policy.department.map(|d| d.to_string()),
                routing_rule: cat.policy.routing.as_str().to_owned(),
                routing_explanation: "demo".to_owned(),
                reporter_id: None,
                anonymous: rng.chance(50),
                merged_into: None,
                extension_pending: false,
                register_due: None,
                sign_due: None,
                close_due: None,
                next_due: None,
                clock_noted: None,
                escalations: 0,
                satisfied: None,
                created_at: stored_time(created),
                updated_at: stored_time(created),
                closed_at: None,
                version: 1,
            },
            m: Measures {
                incident_id: id.clone(),
                ..Measures::default()
            },
            at: created,
            history: Vec::new(),
            calendar: &calendar,
            now,
        };
        w.history.push(entry(&w.row, created, "report", None, 1));
        w.row.register_due = Some(w.due(&cat.policy, Stage::Register));
        walk(&mut w, &cat.policy, &mut rng);
        // Deadlines already missed stay missed (the figures count them overdue), but as if the
        // clock had acted on them: a fresh install must not escalate a year of stalled cases.
        let now_text = stored_time(now);
        w.row.clock_noted = [&w.row.register_due, &w.row.sign_due, &w.row.close_due]
            .into_iter()
            .flatten()
            .filter(|d| **d < now_text)
            .max()
            .cloned();
        w.row.next_due = crate::incidents::next_due(&w.row);
        changes.push(NewChange {
            id: new_id(),
            entity: "incident".into(),
            entity_id: id,
            version: w.row.version,
            deleted: false,
            unit_path_before: None,
            unit_path_after: path_of(owner),
            // The time of its last step, as a change written by that step would have.
            at: w.row.updated_at.clone(),
        });
        history.append(&mut w.history);
        if w.m
            != (Measures {
                incident_id: w.m.incident_id.clone(),
                ..Measures::default()
            })
        {
            measures.push(w.m);
        }
        rows.push(w.row);
    }
    store::insert_incidents_bulk(conn, &rows, &measures)?;
    journal::insert_history(conn, &history)?;
    journal::insert_changes(conn, &changes)?;
    Ok(rows.len())
}

/// Walks a case along the loop until its next step would be after now, or it stalls.
fn walk(w: &mut Walk<'_>, p: &CategoryPolicy, rng: &mut Rng) {
    // A few reports are rejected; a few cases stall at some stage (they are overdue now).
    if rng.chance(40) {
        if w.step("reject", Status::Rejected, minutes(rng, 240)) {
            w.row.register_due = None;
            w.row.closed_at = Some(stored_time(w.at));
        }
        return;
    }
    let stall_at = if rng.chance(30) {
        rng.below(6)
    } else {
        u64::MAX
    };
    if stall_at == 0 || !w.step("register", Status::Registered, minutes(rng, 180)) {
        return;
    }
    w.m.registered_at = Some(stored_time(w.at));
    if stall_at == 1 || !w.step("dispatch", Status::Dispatched, minutes(rng, 120)) {
        return;
    }
    w.row.register_due = None;
    w.row.sign_due = Some(w.due(p, Stage::Sign));
    w.row.close_due = Some(w.due(p, Stage::Close));
    w.m.dispatched_at = Some(stored_time(w.at));
    w.m.due_at.clone_from(&w.row.close_due);
    if stall_at == 2 || !w.step("sign", Status::Signed, minutes(rng, 480)) {
        return;
    }
    w.row.sign_due = None;
    w.m.signed_at = Some(stored_time(w.at));
    w.m.sign_seconds =
        w.m.dispatched_at
            .as_deref()
            .and_then(|d| seconds_between(d, &stored_time(w.at)));
    if stall_at == 3 || !w.step("start", Status::InProgress, minutes(rng, 24 * 60)) {
        return;
    }
    // A second round follows an unsatisfied callback (in progress again).
    for round in 0..2 {
        if round == 0 && rng.chance(20) {
            // Put on the register (挂账) and still there.
            if w.step("hold", Status::OnHold, minutes(rng, 24 * 60)) {
                w.row.held_from = Some(Status::InProgress.as_str().to_owned());
            }
            return;
        }
        // Most are handled within the limit; some take much longer.
        let work = if rng.chance(850) {
            7 * 24 * 60
        } else {
            40 * 24 * 60
        };
        if stall_at == 4 || !w.step("resolve", Status::Resolved, minutes(rng, work)) {
            return;
        }
        if stall_at == 5 || !w.step("verify", Status::Verified, minutes(rng, 24 * 60)) {
            return;
        }
        if !w.step("close", Status::Closed, minutes(rng, 12 * 60)) {
            return;
        }
        w.row.close_due = None;
        w.row.closed_at = Some(stored_time(w.at));
        w.m.close_seconds = seconds_between(&w.row.created_at, &stored_time(w.at));
        w.m.on_time = w.m.due_at.as_ref().map(|d| *d >= stored_time(w.at));
        if !rng.chance(800) {
            return;
        }
        let satisfied = round == 1 || rng.chance(900);
        let to = if satisfied {
            Status::Closed
        } else {
            Status::InProgress
        };
        if !w.step("callback", to, minutes(rng, 3 * 24 * 60)) {
            return;
        }
        w.row.satisfied = Some(satisfied);
        w.m.callback_at = Some(stored_time(w.at));
        if satisfied {
            return;
        }
        // Unsatisfied: reopened with a new close deadline, and handled again.
        w.row.closed_at = None;
        w.m.close_seconds = None;
        w.m.on_time = None;
        w.row.close_due = Some(w.due(p, Stage::Close));
        w.m.due_at.clone_from(&w.row.close_due);
    }
}
