use super::{PointIn, WHAT, household_body, tags_of as tags};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::households::HouseholdPatch;
use wangge_domain::{Address, HouseholdId, Notes, Placement};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "http::non_null")]
    address: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    location: Option<PointIn>,
    #[serde(default, deserialize_with = "http::non_null")]
    unit_id: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    unit_reason: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "http::double_option")]
    notes: Option<Option<String>>,
}

impl TryFrom<PatchBody> for HouseholdPatch {
    type Error = ApiError;

    fn try_from(b: PatchBody) -> Result<Self, ApiError> {
        let nothing = b.address.is_none()
            && b.location.is_none()
            && b.unit_id.is_none()
            && b.unit_reason.is_none()
            && b.tags.is_none()
            && b.notes.is_none();
        if nothing {
            return Err(ApiError::unprocessable(
                "validation_failed",
                "send at least one of address, location, unit_id with unit_reason, tags, notes",
            ));
        }
        Ok(Self {
            address: b.address.as_deref().map(Address::parse).transpose()?,
            location: b.location.map(Into::into),
            placement: Placement::parse(b.unit_id.as_deref(), b.unit_reason.as_deref())?,
            tags: b.tags.as_deref().map(tags).transpose()?,
            notes: b
                .notes
                .map(|n| n.as_deref().map(Notes::parse).transpose())
                .transpose()?,
        })
    }
}

/// Changes a household. A new location moves it to the unit that covers it, unless staff name
/// the unit (`unit_id` with `unit_reason`).
pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id: HouseholdId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let patch = HouseholdPatch::try_from(body.into_inner())?;
    let h = state
        .write(user.who(), move |tx| {
            wangge_app::households::update(tx, id, if_match, &patch)
        })
        .await?;
    Ok(http::with_etag(
        StatusCode::OK,
        h.record.version,
        &household_body(&h),
    ))
}
