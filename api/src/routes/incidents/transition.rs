//! `POST /incidents/{id}/transitions` with `If-Match`: one action of the loop.

use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::incidents::transition::{Transition, transition};
use wangge_domain::incident::Action;
use wangge_domain::{CaseNote, DepartmentId, IncidentId, ValidationError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    action: String,
    #[serde(default, deserialize_with = "http::non_null")]
    note: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    department_id: Option<String>,
    #[serde(default)]
    department_ids: Vec<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    satisfied: Option<bool>,
    #[serde(default, deserialize_with = "http::non_null")]
    into: Option<String>,
}

fn uuid<T: std::str::FromStr>(field: &'static str, s: &str) -> Result<T, ValidationError> {
    s.parse()
        .map_err(|_| ValidationError::new(field, "must be a UUID"))
}

/// Departments summoned at once, at most (the contract's `maxItems`).
const MAX_SUMMONED: usize = 20;

/// The departments of a summons, each once, in the order named.
fn departments(ids: &[String]) -> Result<Vec<DepartmentId>, ValidationError> {
    if ids.len() > MAX_SUMMONED {
        return Err(ValidationError::new(
            "department_ids",
            format!("at most {MAX_SUMMONED} departments at once"),
        ));
    }
    let mut out: Vec<DepartmentId> = Vec::with_capacity(ids.len());
    for d in ids {
        let d = uuid::<DepartmentId>("department_ids", d)?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

impl TryFrom<TransitionBody> for Transition {
    type Error = ValidationError;

    fn try_from(b: TransitionBody) -> Result<Self, Self::Error> {
        Ok(Self {
            action: Action::parse(&b.action)?,
            note: b.note.as_deref().map(CaseNote::parse).transpose()?,
            department: b
                .department_id
                .as_deref()
                .map(|d| uuid::<DepartmentId>("department_id", d))
                .transpose()?,
            departments: departments(&b.department_ids)?,
            satisfied: b.satisfied,
            into: b
                .into
                .as_deref()
                .map(|i| uuid::<IncidentId>("into", i))
                .transpose()?,
        })
    }
}

pub async fn transition_case(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    key: IdempotencyKey,
    body: JsonBody<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let id: IncidentId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let keyed = body.keyed(&key);
    let t = Transition::try_from(body.into_inner())?;
    state
        .answer(
            user.who(),
            keyed,
            move |tx| transition(tx, id, if_match, &t),
            |v| http::answer(StatusCode::OK, v, None, Some(v.version)),
        )
        .await
}
