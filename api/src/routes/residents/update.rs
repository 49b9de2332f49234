use super::{WHAT, body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::households::residents::ResidentPatch;
use wangge_domain::{
    BirthDate, Gender, HouseholdId, IdCardNumber, IdentityPatch, PersonName, PhoneNumber, Relation,
    ResidentId,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "http::non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    relation: Option<String>,
    #[serde(default, deserialize_with = "http::double_option")]
    gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::double_option")]
    birth_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::double_option")]
    id_card: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::non_null")]
    tags: Option<Vec<String>>,
}

impl TryFrom<PatchBody> for ResidentPatch {
    type Error = ApiError;

    fn try_from(b: PatchBody) -> Result<Self, ApiError> {
        let nothing = b.name.is_none()
            && b.relation.is_none()
            && b.gender.is_none()
            && b.birth_date.is_none()
            && b.id_card.is_none()
            && b.phone.is_none()
            && b.tags.is_none();
        if nothing {
            return Err(ApiError::unprocessable(
                "validation_failed",
                "send at least one of name, relation, gender, birth_date, id_card, phone, tags",
            ));
        }
        Ok(Self {
            name: b.name.as_deref().map(PersonName::parse).transpose()?,
            relation: b
                .relation
                .as_deref()
                .map(str::parse::<Relation>)
                .transpose()?,
            identity: IdentityPatch {
                gender: b
                    .gender
                    .map(|g| g.as_deref().map(str::parse::<Gender>).transpose())
                    .transpose()?,
                birth_date: b
                    .birth_date
                    .map(|d| d.as_deref().map(BirthDate::parse).transpose())
                    .transpose()?,
                id_card: b
                    .id_card
                    .map(|c| c.as_deref().map(IdCardNumber::parse).transpose())
                    .transpose()?,
            },
            phone: b
                .phone
                .map(|p| p.as_deref().map(PhoneNumber::parse).transpose())
                .transpose()?,
            tags: b
                .tags
                .as_deref()
                .map(crate::routes::households::tags_of)
                .transpose()?,
        })
    }
}

/// Changes a resident; the identity number, birth date and gender must still agree.
pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    json: JsonBody<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let (hid, rid) = path.into_inner();
    let household: HouseholdId = http::id(&hid, "household")?;
    let resident: ResidentId = http::id(&rid, WHAT)?;
    let if_match = http::if_match(&req)?;
    let patch = ResidentPatch::try_from(json.into_inner())?;
    let r = state
        .write(user.who(), move |tx| {
            wangge_app::households::residents::update(tx, household, resident, if_match, &patch)
        })
        .await?;
    Ok(http::with_etag(StatusCode::OK, r.version, &body(&r, None)))
}
