use super::{PointIn, WHAT, household_body, tags_of as tags};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_app::households::NewHousehold;
use wangge_domain::{Address, HouseholdId, Notes, Placement};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    address: String,
    location: PointIn,
    #[serde(default)]
    unit_id: Option<String>,
    #[serde(default)]
    unit_reason: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
}

impl TryFrom<CreateBody> for NewHousehold {
    type Error = wangge_domain::ValidationError;

    fn try_from(b: CreateBody) -> Result<Self, Self::Error> {
        Ok(Self {
            id: b.id.as_deref().map(HouseholdId::parse_client).transpose()?,
            address: Address::parse(&b.address)?,
            location: b.location.into(),
            placement: Placement::parse(b.unit_id.as_deref(), b.unit_reason.as_deref())?,
            tags: tags(&b.tags)?,
            notes: b.notes.as_deref().map(Notes::parse).transpose()?,
        })
    }
}

/// Registers a household; with a client id or an `Idempotency-Key`, a retry creates nothing.
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = body.keyed(&key);
    let new = NewHousehold::try_from(body.into_inner())?;
    state
        .answer(
            user.who(),
            keyed,
            move |tx| wangge_app::households::create(tx, &new),
            |c| {
                let status = if c.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                http::answer(
                    status,
                    &household_body(&c.record),
                    Some(format!("/api/v1/{WHAT}s/{}", c.record.record.id)),
                    Some(c.record.record.version),
                )
            },
        )
        .await
}
