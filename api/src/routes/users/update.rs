use super::{WHAT, announce, user_body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::users::AccountPatch;
use wangge_domain::{DepartmentId, DisplayName, PhoneNumber, UserId, ValidationError, account};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "http::non_null")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "http::double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::non_null")]
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "http::non_null")]
    active: Option<bool>,
    #[serde(default, deserialize_with = "http::double_option")]
    department_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "http::non_null")]
    all_units: Option<bool>,
}

impl TryFrom<PatchBody> for AccountPatch {
    type Error = ApiError;

    fn try_from(b: PatchBody) -> Result<Self, ApiError> {
        let nothing = b.display_name.is_none()
            && b.phone.is_none()
            && b.roles.is_none()
            && b.active.is_none()
            && b.department_id.is_none()
            && b.all_units.is_none();
        if nothing {
            return Err(ApiError::unprocessable(
                "validation_failed",
                "send at least one of display_name, phone, roles, active, department_id, all_units",
            ));
        }
        Ok(Self {
            display_name: b
                .display_name
                .as_deref()
                .map(DisplayName::parse)
                .transpose()?,
            phone: b
                .phone
                .map(|p| p.as_deref().map(PhoneNumber::parse).transpose())
                .transpose()?,
            roles: b.roles.as_deref().map(account::parse_roles).transpose()?,
            active: b.active,
            department_id: b
                .department_id
                .map(|d| {
                    d.as_deref()
                        .map(|d| {
                            DepartmentId::parse(d).map_err(|_| {
                                ValidationError::new(
                                    "department_id",
                                    format!("{d:?} is not a department id"),
                                )
                            })
                        })
                        .transpose()
                })
                .transpose()?,
            all_units: b.all_units,
        })
    }
}

/// Changes an account. Deactivating it, or changing its roles or reach, ends its sessions.
pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id: UserId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let patch = AccountPatch::try_from(body.into_inner())?;
    let (u, ended) = state
        .write(user.who(), move |tx| {
            wangge_app::users::update(tx, id, if_match, &patch)
        })
        .await?;
    announce(&state, &ended).await;
    Ok(http::with_etag(
        StatusCode::OK,
        u.user.version,
        &user_body(&u),
    ))
}
