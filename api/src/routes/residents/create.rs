use super::body;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use wangge_domain::{HouseholdId, NewResident, ResidentId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    name: String,
    relation: String,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    birth_date: Option<String>,
    #[serde(default)]
    id_card: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// Registers a resident in a household.
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    key: IdempotencyKey,
    json: JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let household: HouseholdId = http::id(&id, "household")?;
    let keyed = json.keyed(&key);
    let b = json.into_inner();
    let resident_id = b.id.as_deref().map(ResidentId::parse_client).transpose()?;
    if b.tags.len() > wangge_domain::Tag::ALL.len() * 2 {
        return Err(wangge_domain::ValidationError::new("tags", "too many tags").into());
    }
    let new = NewResident::parse(
        &b.name,
        &b.relation,
        b.gender.as_deref(),
        b.birth_date.as_deref(),
        b.id_card.as_deref(),
        b.phone.as_deref(),
        &b.tags,
    )?;
    state
        .answer(
            user.who(),
            keyed,
            move |tx| wangge_app::households::residents::create(tx, household, resident_id, &new),
            |c| {
                let r = &c.record;
                let status = if c.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                http::answer(
                    status,
                    &body(r, None),
                    Some(format!(
                        "/api/v1/households/{}/residents/{}",
                        r.household_id, r.id
                    )),
                    Some(r.version),
                )
            },
        )
        .await
}
