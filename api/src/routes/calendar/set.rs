//! `PUT /calendar/{date}`: make a date a holiday or a working day (`If-Match` to change an
//! existing one safely). A replay of the same PUT changes nothing new: PUT is idempotent.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::calendar as uc;
use wangge_domain::UnitName;
use wangge_domain::calendar::DayKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayBody {
    kind: String,
    name: String,
}

pub async fn set(
    user: AuthUser,
    state: web::Data<AppState>,
    date: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<DayBody>,
) -> Result<HttpResponse, ApiError> {
    let date = super::date(&date)?;
    let if_match = http::if_match(&req)?;
    let b = body.into_inner();
    let kind = DayKind::parse(&b.kind)?;
    let name = UnitName::parse(&b.name)?;
    let (day, created) = state
        .write(user.who(), move |tx| {
            uc::set(tx, date, kind, &name, if_match)
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(http::with_etag(status, day.version, &day))
}
