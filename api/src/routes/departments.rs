//! Departments: everyone signed in reads them; administrators of the whole grid change them.
//! Five small operations on one small record, so one file.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::departments::{self as uc, DepartmentPatch, NewDepartment};
use wangge_domain::{DepartmentCode, DepartmentId, UnitName};

const WHAT: &str = "department";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let limit = http::limit(query.limit)?;
    let after: Option<DepartmentId> = http::cursor(query.cursor.as_deref())?;
    let rows = state
        .db(move |conn| Ok(uc::list(conn, after, i64::from(limit) + 1)?))
        .await?;
    Ok(HttpResponse::Ok().json(http::page(rows, limit, |d| d.id.clone())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    code: String,
    name: String,
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = body.keyed(&key);
    let b = body.into_inner();
    let new = NewDepartment {
        id: b
            .id
            .as_deref()
            .map(DepartmentId::parse_client)
            .transpose()?,
        code: DepartmentCode::parse(&b.code)?,
        name: UnitName::parse(&b.name)?,
    };
    state
        .answer(
            user.who(),
            keyed,
            move |tx| uc::create(tx, &new),
            |c| {
                let d = &c.record;
                let status = if c.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                http::answer(
                    status,
                    d,
                    Some(format!("/api/v1/departments/{}", d.id)),
                    Some(d.version),
                )
            },
        )
        .await
}

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id: DepartmentId = http::id(&id, WHAT)?;
    let d = state.db(move |conn| Ok(uc::get(conn, id)?)).await?;
    if http::not_modified(&req, d.version) {
        return Ok(http::not_modified_response(d.version));
    }
    Ok(http::with_etag(StatusCode::OK, d.version, &d))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "http::non_null")]
    code: Option<String>,
    #[serde(default, deserialize_with = "http::non_null")]
    name: Option<String>,
}

pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id: DepartmentId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    let b = body.into_inner();
    if b.code.is_none() && b.name.is_none() {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "send at least one of code, name",
        ));
    }
    let patch = DepartmentPatch {
        code: b.code.as_deref().map(DepartmentCode::parse).transpose()?,
        name: b.name.as_deref().map(UnitName::parse).transpose()?,
    };
    let d = state
        .write(user.who(), move |tx| uc::update(tx, id, if_match, &patch))
        .await?;
    Ok(http::with_etag(StatusCode::OK, d.version, &d))
}

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: DepartmentId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    state
        .write(user.who(), move |tx| uc::delete(tx, id, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
