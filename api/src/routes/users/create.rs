use super::{AssignmentBody, assignments, user_body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use wangge_app::users::{InitialPassword, NewAccount};
use wangge_domain::{
    DepartmentId, DisplayName, PhoneNumber, UserId, Username, ValidationError, account,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    username: String,
    display_name: String,
    roles: Vec<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    department_id: Option<String>,
    #[serde(default)]
    all_units: bool,
    #[serde(default)]
    assignments: Vec<AssignmentBody>,
}

impl TryFrom<CreateBody> for NewAccount {
    type Error = ValidationError;

    fn try_from(b: CreateBody) -> Result<Self, ValidationError> {
        Ok(Self {
            id: b.id.as_deref().map(UserId::parse_client).transpose()?,
            username: Username::parse(&b.username)?,
            display_name: DisplayName::parse(&b.display_name)?,
            roles: account::parse_roles(&b.roles)?,
            phone: b.phone.as_deref().map(PhoneNumber::parse).transpose()?,
            department_id: b
                .department_id
                .as_deref()
                .map(|d| {
                    DepartmentId::parse(d).map_err(|_| {
                        ValidationError::new(
                            "department_id",
                            format!("{d:?} is not a department id"),
                        )
                    })
                })
                .transpose()?,
            all_units: b.all_units,
            assignments: assignments(&b.assignments)?,
            password: InitialPassword::OneTime,
        })
    }
}

/// Creates an account with a one-time password, returned once in the answer: the user sets
/// their own at first login. The right is checked before the password is hashed.
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = body.keyed(&key);
    let new = NewAccount::try_from(body.into_inner())?;
    let plan = state
        .read(user.who(), move |r| {
            wangge_app::users::authorize_create(r.conn, &r.caller, new)
        })
        .await?;
    let svc = state.svc.clone();
    let hashed = web::block(move || plan.hash(&svc.passwords)).await??;
    let otp = hashed.one_time_password().map(str::to_owned);
    state
        .answer(
            user.who(),
            keyed,
            move |tx| wangge_app::users::create(tx, &hashed),
            move |c| {
                let mut body = user_body(&c.record);
                let status = if c.again {
                    // The same create again: the password made then is not kept in plain text.
                    StatusCode::OK
                } else {
                    if let (Some(p), Some(o)) = (&otp, body.as_object_mut()) {
                        o.insert("one_time_password".into(), Value::String(p.clone()));
                    }
                    StatusCode::CREATED
                };
                http::answer(
                    status,
                    &body,
                    Some(format!("/api/v1/users/{}", c.record.user.id)),
                    Some(c.record.user.version),
                )
            },
        )
        .await
}
