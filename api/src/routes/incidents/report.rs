//! `POST /incidents`: report a case at a point or a household; with a client id or an
//! `Idempotency-Key`, a retry reports nothing new.

use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::routes::households::PointIn;
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_app::incidents::report::{NewIncident, Place, report};
use wangge_domain::incident::{CategoryCode, Priority};
use wangge_domain::{
    Description, HouseholdId, IncidentId, PersonName, PhoneNumber, ValidationError,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    category: String,
    #[serde(default, deserialize_with = "http::non_null")]
    priority: Option<String>,
    description: String,
    #[serde(default, deserialize_with = "http::non_null")]
    location: Option<PointIn>,
    #[serde(default, deserialize_with = "http::non_null")]
    household_id: Option<String>,
    #[serde(default)]
    anonymous: bool,
    #[serde(default, deserialize_with = "http::non_null")]
    reporter: Option<ReporterIn>,
}

/// A reporter's own name and phone (a resident who called, say).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReporterIn {
    #[serde(default, deserialize_with = "http::non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    phone: Option<String>,
}

impl TryFrom<ReportBody> for NewIncident {
    type Error = ValidationError;

    fn try_from(b: ReportBody) -> Result<Self, Self::Error> {
        let reporter = b.reporter;
        if reporter
            .as_ref()
            .is_some_and(|r| r.name.is_none() && r.phone.is_none())
        {
            return Err(ValidationError::new(
                "reporter",
                "give a name, a phone or both, or leave reporter out",
            ));
        }
        let place = match (b.location, b.household_id) {
            (Some(p), None) => Place::Point(p.into()),
            (None, Some(h)) => Place::Household(
                HouseholdId::parse(&h)
                    .map_err(|_| ValidationError::new("household_id", "must be a UUID"))?,
            ),
            _ => {
                return Err(ValidationError::new(
                    "location",
                    "give exactly one of location, household_id",
                ));
            }
        };
        Ok(Self {
            id: b.id.as_deref().map(IncidentId::parse_client).transpose()?,
            category: CategoryCode::parse(&b.category)
                .map_err(|e| ValidationError::new("category", e.reason))?,
            priority: b
                .priority
                .as_deref()
                .map_or(Ok(Priority::Normal), Priority::parse)?,
            description: Description::parse(&b.description)?,
            place,
            anonymous: b.anonymous,
            reporter_name: reporter
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .map(|n| {
                    PersonName::parse(n)
                        .map_err(|e| ValidationError::new("reporter.name", e.reason))
                })
                .transpose()?,
            reporter_phone: reporter
                .as_ref()
                .and_then(|r| r.phone.as_deref())
                .map(|p| {
                    PhoneNumber::parse(p)
                        .map_err(|e| ValidationError::new("reporter.phone", e.reason))
                })
                .transpose()?,
        })
    }
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: JsonBody<ReportBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = body.keyed(&key);
    let new = NewIncident::try_from(body.into_inner())?;
    state
        .answer(
            user.who(),
            keyed,
            move |tx| report(tx, &new),
            |r| {
                let status = if r.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                http::answer(
                    status,
                    r,
                    Some(format!("/api/v1/{WHAT}s/{}", r.incident.id)),
                    Some(r.incident.version),
                )
            },
        )
        .await
}
