//! `POST /api/v1/sync`: a phone's offline work, one ordered batch, one result per operation
//! (the use case is `wangge_app::sync::upload`). Each operation is parsed on its own, so a
//! malformed one is rejected without costing the others.

use super::change;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::routes::households::update::PatchBody as HouseholdBody;
use crate::routes::incidents::report::ReportBody;
use crate::routes::incidents::transition::TransitionBody;
use crate::routes::patrols::{FinishBody, PointsBody, StartBody};
use crate::routes::residents::update::PatchBody as ResidentBody;
use crate::routes::visits::VisitBody;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use wangge_app::households::HouseholdPatch;
use wangge_app::households::residents::ResidentPatch;
use wangge_app::households::visits::NewVisit;
use wangge_app::incidents::report::NewIncident;
use wangge_app::incidents::transition::Transition;
use wangge_app::patrols::{Batch, NewPatrol};
use wangge_app::sync::Item;
use wangge_app::sync::upload::{self as uc, BasedOn, Command, MAX_OPERATIONS, Operation, Outcome};
use wangge_domain::{HouseholdId, IncidentId, PatrolId, ResidentId};

/// A batch of 500 operations of a few hundred bytes each, with room.
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    operations: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationIn {
    op_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    based_on_version: Option<Value>,
    #[serde(default)]
    recorded_at: Option<String>,
    data: Map<String, Value>,
}

/// What a phone may send, by `type`.
pub const TYPES: [&str; 8] = [
    "visit.create",
    "incident.create",
    "incident.transition",
    "household.update",
    "resident.update",
    "patrol.start",
    "patrol.points",
    "patrol.finish",
];

fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::unprocessable("validation_failed", reason.into()).with(json!({ "field": field }))
}

/// The UUID in `data[field]`, taken out of it (the rest is the record's own body).
fn take_id<T: std::str::FromStr>(
    data: &mut Map<String, Value>,
    field: &str,
) -> Result<T, ApiError> {
    data.remove(field)
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| invalid(field, format!("data.{field} must be a UUID")))
}

/// Photos a case operation names by content hash (uploaded before, `PUT /uploads/{hash}`).
const MAX_PHOTOS: usize = 20;

fn take_photos(data: &mut Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let Some(v) = data.remove("photos") else {
        return Ok(Vec::new());
    };
    let hashes: Option<Vec<String>> = v.as_array().and_then(|a| {
        a.iter()
            .map(|h| {
                h.as_str()
                    .filter(|h| wangge_app::blobs::is_hash(h))
                    .map(str::to_owned)
            })
            .collect()
    });
    hashes.filter(|h| h.len() <= MAX_PHOTOS).ok_or_else(|| {
        invalid(
            "photos",
            format!(
                "data.photos is a list of at most {MAX_PHOTOS} SHA-256 hashes (lower-case hex)"
            ),
        )
    })
}

fn body<T: DeserializeOwned>(data: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(data))
        .map_err(|e| ApiError::unprocessable("validation_failed", format!("data: {e}")))
}

fn command(kind: &str, mut data: Map<String, Value>) -> Result<Command, ApiError> {
    Ok(match kind {
        "visit.create" => {
            let household: HouseholdId = take_id(&mut data, "household_id")?;
            Command::RecordVisit(household, NewVisit::try_from(body::<VisitBody>(data)?)?)
        }
        "incident.create" => {
            let photos = take_photos(&mut data)?;
            Command::ReportIncident(NewIncident::try_from(body::<ReportBody>(data)?)?, photos)
        }
        "incident.transition" => {
            let id: IncidentId = take_id(&mut data, "incident_id")?;
            let photos = take_photos(&mut data)?;
            Command::Transition(
                id,
                Transition::try_from(body::<TransitionBody>(data)?)?,
                photos,
            )
        }
        "household.update" => {
            let id: HouseholdId = take_id(&mut data, "household_id")?;
            Command::UpdateHousehold(id, HouseholdPatch::try_from(body::<HouseholdBody>(data)?)?)
        }
        "resident.update" => {
            let household: HouseholdId = take_id(&mut data, "household_id")?;
            let id: ResidentId = take_id(&mut data, "resident_id")?;
            Command::UpdateResident(
                household,
                id,
                ResidentPatch::try_from(body::<ResidentBody>(data)?)?,
            )
        }
        "patrol.start" => Command::StartPatrol(NewPatrol::try_from(body::<StartBody>(data)?)?),
        "patrol.points" => {
            let id: PatrolId = take_id(&mut data, "patrol_id")?;
            Command::AddPatrolPoints(id, Batch::from(body::<PointsBody>(data)?))
        }
        "patrol.finish" => {
            let id: PatrolId = take_id(&mut data, "patrol_id")?;
            Command::FinishPatrol(id, body::<FinishBody>(data)?.finished_at)
        }
        other => {
            return Err(invalid(
                "type",
                format!("unknown type {other:?}; one of {}", TYPES.join(", ")),
            ));
        }
    })
}

/// SHA-256 of what an operation asks, so its `op_id` cannot be reused for something else.
fn op_hash(op: &OperationIn) -> String {
    let asked = [
        op.kind.clone(),
        op.based_on_version
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default(),
        op.recorded_at.clone().unwrap_or_default(),
        Value::Object(op.data.clone()).to_string(),
    ]
    .map(|part| part + "\n")
    .concat();
    wangge_app::blobs::sha256_hex(asked.as_bytes())
}

/// An operation as the use case takes it, and the data it sent (to show what differs).
type Parsed = (Operation, Map<String, Value>);

/// An operation as the use case takes it, and its `op_id` as sent (for the result).
fn parse(v: Value) -> (Option<String>, Result<Parsed, ApiError>) {
    let op_id = v.get("op_id").and_then(Value::as_str).map(str::to_owned);
    let parsed = (|| {
        let op: OperationIn = serde_json::from_value(v)
            .map_err(|e| ApiError::unprocessable("validation_failed", format!("operation: {e}")))?;
        let id = uuid::Uuid::parse_str(&op.op_id)
            .ok()
            .filter(|u| u.get_version_num() == 7)
            .ok_or_else(|| invalid("op_id", "op_id must be a UUIDv7"))?;
        let based_on = match &op.based_on_version {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(BasedOn::Version(
                n.as_i64().filter(|v| *v >= 1).ok_or_else(|| {
                    invalid("based_on_version", "a version is a whole number from 1")
                })?,
            )),
            Some(Value::String(s)) => Some(BasedOn::Op(
                uuid::Uuid::parse_str(s)
                    .map_err(|_| {
                        invalid(
                            "based_on_version",
                            "a version, or the op_id of an earlier operation",
                        )
                    })?
                    .as_hyphenated()
                    .to_string(),
            )),
            Some(_) => {
                return Err(invalid(
                    "based_on_version",
                    "a version, or the op_id of an earlier operation",
                ));
            }
        };
        let recorded_at = op
            .recorded_at
            .as_deref()
            .map(|t| {
                wangge_domain::instant::parse_instant(t)
                    .ok_or_else(|| invalid("recorded_at", "recorded_at must be an RFC 3339 time"))
            })
            .transpose()?;
        let request_hash = op_hash(&op);
        let command = command(&op.kind, op.data.clone())?;
        Ok((
            Operation {
                op_id: id.as_hyphenated().to_string(),
                request_hash,
                recorded_at,
                based_on,
                command,
            },
            op.data,
        ))
    })();
    (op_id, parsed)
}

/// The fields the operation set that the server's record has otherwise.
fn differs(sent: &Map<String, Value>, current: &Value) -> Vec<Value> {
    sent.iter()
        .filter_map(|(k, mine)| {
            let theirs = current.get(k)?;
            (theirs != mine).then(|| json!({ "field": k, "yours": mine, "server": theirs }))
        })
        .collect()
}

fn render(item: &Item) -> Value {
    change(item).map_or(Value::Null, |c| c["data"].clone())
}

/// Applies a batch and answers each operation in the order given.
pub async fn upload(
    user: AuthUser,
    state: web::Data<AppState>,
    body: JsonBody<UploadBody>,
) -> Result<HttpResponse, ApiError> {
    let raw = body.into_inner().operations;
    if raw.len() > MAX_OPERATIONS {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_operations",
            format!("at most {MAX_OPERATIONS} operations per batch; send the rest in another"),
        ));
    }
    let parsed: Vec<_> = raw.into_iter().map(parse).collect();
    let ops: Vec<Operation> = parsed
        .iter()
        .filter_map(|(_, p)| p.as_ref().ok().map(|(op, _)| op.clone()))
        .collect();
    let (svc, who) = (state.svc.clone(), user.who());
    let done = state
        .db(move |conn| {
            Ok(uc::upload(conn, &svc, &who, &ops, &render, &|e| {
                ApiError::from(e).body()
            })?)
        })
        .await;
    state.sequencer.notify_one();
    let mut outcomes = done?.into_iter();
    let results: Vec<Value> = parsed
        .into_iter()
        .map(|(op_id, p)| match p {
            Err(e) => rejected(op_id.as_deref(), &e),
            Ok((op, data)) => outcomes
                .next()
                .map_or(Value::Null, |o| result(&op, &data, o)),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .json(json!({ "results": results })))
}

fn rejected(op_id: Option<&str>, e: &ApiError) -> Value {
    let mut v = json!({ "status": "rejected", "problem": e.body() });
    if let (Some(id), Some(o)) = (op_id, v.as_object_mut()) {
        o.insert("op_id".into(), json!(id));
    }
    v
}

/// One operation's result: its `op_id` and status, then what the status tells.
fn result(op: &Operation, sent: &Map<String, Value>, outcome: Outcome) -> Value {
    let with = |status: &str, mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, x| !x.is_null());
            o.insert("op_id".into(), json!(op.op_id));
            o.insert("status".into(), json!(status));
            if let Some(at) = op.recorded_at {
                o.insert("recorded_at".into(), json!(wangge_app::tx::stored_time(at)));
            }
        }
        v
    };
    match outcome {
        Outcome::Applied(r) => with("applied", r),
        Outcome::AlreadyApplied(r) => with("already_applied", r),
        Outcome::Rejected { problem, .. } => {
            json!({ "op_id": op.op_id, "status": "rejected", "problem": problem })
        }
        Outcome::Conflict {
            based_on,
            current_version,
            current,
        } => {
            let current = current.as_ref().and_then(|c| change(c).ok());
            let data = current.as_ref().map_or(Value::Null, |c| c["data"].clone());
            let mut fields =
                vec![json!({ "field": "version", "yours": based_on, "server": current_version })];
            fields.extend(differs(sent, &data));
            with(
                "conflict",
                json!({
                    "based_on_version": based_on,
                    "version": current_version,
                    "current": current,
                    "differs": fields,
                }),
            )
        }
    }
}
