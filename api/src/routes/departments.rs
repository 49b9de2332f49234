//! Departments: everyone signed in reads them; admins change them.

use super::units::{if_match, page_of, paging};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_domain::{DepartmentCode, UnitName};
use wangge_persistence::departments::{self, DepartmentRecord};

/// Department ids are UUIDs like unit ids; a malformed one is 400, as for units.
fn parse_id(s: &str) -> Result<String, ApiError> {
    super::parse_object_id(s, "department")
}

fn with_etag(d: &DepartmentRecord) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", d.version)))
        .json(d)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let (limit, after) = paging(query.limit, query.cursor.as_deref())?;
    let rows = state
        .db(move |conn| {
            Ok(departments::list(
                conn,
                after.map(|a| a.to_string()).as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page_of(rows, limit, |d| d.id.clone())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    code: String,
    name: String,
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .db(move |conn| crate::access::load(conn, &user)?.require_grid_write(None))
        .await?;
    let code = DepartmentCode::parse(&body.code)?;
    let name = UnitName::parse(&body.name)?;
    let d = state
        .db(move |conn| Ok(departments::create(conn, code.as_str(), name.as_str())?))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/departments/{}", d.id)))
        .insert_header((header::ETAG, format!("\"{}\"", d.version)))
        .json(d))
}

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id = parse_id(&id)?;
    let d = state
        .db(move |conn| Ok(departments::get(conn, &id)?))
        .await?;
    Ok(with_etag(&d))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub async fn patch(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .db(move |conn| crate::access::load(conn, &user)?.require_grid_write(None))
        .await?;
    let id = parse_id(&id)?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.code.is_none() && b.name.is_none() {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "send at least one of code, name",
        ));
    }
    let code = b.code.as_deref().map(DepartmentCode::parse).transpose()?;
    let name = b.name.as_deref().map(UnitName::parse).transpose()?;
    let d = state
        .db(move |conn| {
            Ok(wangge_persistence::transaction(conn, |conn| {
                departments::update(
                    conn,
                    &id,
                    code.as_ref().map(DepartmentCode::as_str),
                    name.as_ref().map(UnitName::as_str),
                    expected,
                )
            })?)
        })
        .await?;
    Ok(with_etag(&d))
}

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state
        .db(move |conn| crate::access::load(conn, &user)?.require_grid_write(None))
        .await?;
    let id = parse_id(&id)?;
    let expected = if_match(&req)?;
    state
        .db(move |conn| Ok(departments::delete(conn, &id, expected)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
