//! Visits (走访) to a household: recorded by grid workers, listed newest first.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::routes::households::PointIn;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_app::households::visits::{self as uc, NewVisit};
use wangge_domain::{HouseholdId, Notes, ValidationError, VisitId};
use wangge_persistence::visits::VisitRecord;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    #[serde(default)]
    visited_at: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    location: Option<PointIn>,
    notes: String,
}

impl TryFrom<VisitBody> for NewVisit {
    type Error = ValidationError;

    fn try_from(b: VisitBody) -> Result<Self, ValidationError> {
        Ok(Self {
            id: b.id.as_deref().map(VisitId::parse_client).transpose()?,
            visited_at: b.visited_at,
            location: b.location.map(Into::into),
            notes: Notes::parse(&b.notes)?,
        })
    }
}

pub(crate) fn body(v: &VisitRecord) -> Value {
    json!({
        "id": v.id,
        "household_id": v.household_id,
        "unit_id": v.unit_id,
        "visitor_id": v.visitor_id,
        "visited_at": v.visited_at,
        "location": match (v.lat, v.lon) {
            (Some(lat), Some(lng)) => json!({ "lat": lat, "lng": lng }),
            _ => Value::Null,
        },
        "notes": v.notes,
        "created_at": v.created_at,
    })
}

/// Records a visit; a phone that was offline dates it (up to 90 days back).
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    key: IdempotencyKey,
    json: JsonBody<VisitBody>,
) -> Result<HttpResponse, ApiError> {
    let household: HouseholdId = http::id(&id, "household")?;
    let keyed = json.keyed(&key);
    let b = json.into_inner();
    let new = NewVisit::try_from(b)?;
    state
        .answer(
            user.who(),
            keyed,
            move |tx| uc::create(tx, household, &new),
            |c| {
                let status = if c.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                http::answer(status, &body(&c.record), None, None)
            },
        )
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitsQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// Visits of a household, newest first.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<VisitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let household: HouseholdId = http::id(&id, "household")?;
    let limit = http::limit(query.limit)?;
    let before: Option<VisitId> = http::cursor(query.cursor.as_deref())?;
    let rows = state
        .read(user.who(), move |r| {
            uc::list(r, household, before, i64::from(limit) + 1)
        })
        .await?;
    let items: Vec<Value> = rows.iter().map(body).collect();
    Ok(HttpResponse::Ok().json(http::page(items, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })))
}
