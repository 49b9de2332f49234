//! Units: list, create, read, change, delete, children, ancestors.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wangge_domain::{Level, UnitCode, UnitId, UnitName};
use wangge_persistence::grid::{self, NewUnit, UnitFilter, UnitPatch, UnitRecord};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// A unit as every body shows it.
#[derive(Debug, Serialize)]
pub struct UnitBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: i32,
    pub level_name: &'static str,
    pub parent_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<UnitRecord> for UnitBody {
    fn from(u: UnitRecord) -> Self {
        Self {
            level_name: crate::locate::level_name(u.level),
            id: u.id,
            code: u.code,
            name: u.name,
            level: u.level,
            parent_id: u.parent_id,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}

/// `{items, next_cursor}`: `next_cursor` is null on the last page.
pub fn page(rows: Vec<UnitRecord>, limit: u32) -> serde_json::Value {
    let rows: Vec<UnitBody> = rows.into_iter().map(UnitBody::from).collect();
    page_of(rows, limit, |u| u.id.clone())
}

/// A page from `limit + 1` rows: the extra row only says whether another page follows; the
/// cursor is the last item's id.
pub fn page_of<T: Serialize>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> String,
) -> serde_json::Value {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(id) } else { None };
    json!({ "items": rows, "next_cursor": next })
}

/// A `parent_id` from a body: a malformed one is a validation failure of that field.
fn parse_parent(p: Option<&str>) -> Result<Option<UnitId>, wangge_domain::ValidationError> {
    p.map(|p| {
        UnitId::parse(p)
            .map_err(|_| wangge_domain::ValidationError::new("parent_id", "is not a UUID"))
    })
    .transpose()
}

pub fn parse_id(s: &str) -> Result<UnitId, ApiError> {
    UnitId::parse(s)
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{s:?} is not a unit id (UUID)")))
}

/// Validates `limit` and `cursor`.
pub fn paging(limit: Option<u32>, cursor: Option<&str>) -> Result<(u32, Option<UnitId>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be from 1 to {MAX_PAGE}"),
        ));
    }
    let after = cursor
        .map(|c| {
            UnitId::parse(c).map_err(|_| {
                ApiError::bad_request("invalid_cursor", "the cursor is not one this API issued")
            })
        })
        .transpose()?;
    Ok((limit, after))
}

/// The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); `*` means any.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or_default().trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.trim_start_matches("W/").trim_matches('"');
    s.parse::<i64>().map(Some).map_err(|_| {
        ApiError::bad_request(
            "invalid_if_match",
            "If-Match must be an ETag this API issued, like \"3\"",
        )
    })
}

fn with_etag(version: i64, body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    parent_id: Option<String>,
    level: Option<String>,
    code: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let q = query.into_inner();
    let (limit, after) = paging(q.limit, q.cursor.as_deref())?;
    let filter = UnitFilter {
        parent_id: q.parent_id.as_deref().map(parse_id).transpose()?,
        level: q
            .level
            .as_deref()
            .map(|l| {
                l.parse::<Level>()
                    .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
            })
            .transpose()?,
        code: q
            .code
            .as_deref()
            .map(|c| {
                UnitCode::parse(c)
                    .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
            })
            .transpose()?,
        q: match q.q {
            Some(t) if t.chars().count() > 100 || t.chars().any(char::is_control) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "q must be at most 100 characters, without control characters",
                ));
            }
            Some(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => None,
        },
    };
    let rows = state
        .db(move |conn| {
            Ok(grid::list_units(
                conn,
                &filter,
                after,
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(rows, limit)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    code: String,
    name: String,
    level: i64,
    #[serde(default)]
    parent_id: Option<String>,
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let new = NewUnit {
        code: UnitCode::parse(&b.code)?,
        name: UnitName::parse(&b.name)?,
        level: Level::from_number(b.level)?,
        parent_id: parse_parent(b.parent_id.as_deref())?,
    };
    let unit = state
        .db(move |conn| {
            let access = crate::access::load(conn, &user)?;
            let parent_path = match new.parent_id {
                // An unknown parent is the store's validation error, after the right check.
                Some(p) => grid::get_unit(conn, p).ok().map(|u| u.path),
                None => None,
            };
            if new.parent_id.is_none() || parent_path.is_some() {
                access.require_grid_write(parent_path.as_deref())?;
            }
            Ok(wangge_persistence::transaction(conn, |conn| {
                grid::create_unit(conn, &new)
            })?)
        })
        .await?;
    state.coverage_changed().await;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/units/{}", unit.id)))
        .insert_header((header::ETAG, format!("\"{}\"", unit.version)))
        .json(UnitBody::from(unit)))
}

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id = parse_id(&id)?;
    let unit = state.db(move |conn| Ok(grid::get_unit(conn, id)?)).await?;
    let etag = format!("\"{}\"", unit.version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag)
        });
    if fresh {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(with_etag(unit.version, UnitBody::from(unit)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
}

pub async fn patch(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.code.is_none() && b.name.is_none() && b.parent_id.is_none() {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "send at least one of code, name, parent_id",
        ));
    }
    let patch = UnitPatch {
        code: b.code.as_deref().map(UnitCode::parse).transpose()?,
        name: b.name.as_deref().map(UnitName::parse).transpose()?,
        parent_id: parse_parent(b.parent_id.as_deref())?,
    };
    let leaf = state.settings.leaf;
    let unit = state
        .db(move |conn| {
            let access = crate::access::load(conn, &user)?;
            access.require_grid_write(Some(&grid::get_unit(conn, id)?.path))?;
            // Moving a unit also changes its new parent's subtree.
            if let Some(p) = patch.parent_id
                && let Ok(parent) = grid::get_unit(conn, p)
            {
                access.require_grid_write(Some(&parent.path))?;
            }
            Ok(wangge_persistence::transaction(conn, |conn| {
                grid::update_unit(conn, id, &patch, expected, leaf)
            })?)
        })
        .await?;
    state.coverage_changed().await;
    Ok(with_etag(unit.version, UnitBody::from(unit)))
}

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&req)?;
    state
        .db(move |conn| {
            let access = crate::access::load(conn, &user)?;
            access.require_grid_write(Some(&grid::get_unit(conn, id)?.path))?;
            Ok(wangge_persistence::transaction(conn, |conn| {
                grid::delete_unit(conn, id, expected)
            })?)
        })
        .await?;
    state.coverage_changed().await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn children(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id = parse_id(&id)?;
    let (limit, after) = paging(query.limit, query.cursor.as_deref())?;
    let rows = state
        .db(move |conn| {
            grid::get_unit(conn, id)?;
            let filter = UnitFilter {
                parent_id: Some(id),
                ..UnitFilter::default()
            };
            Ok(grid::list_units(
                conn,
                &filter,
                after,
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(rows, limit)))
}

pub async fn ancestors(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id = parse_id(&id)?;
    let rows = state
        .db(move |conn| {
            let unit = grid::get_unit(conn, id)?;
            Ok(grid::ancestors(conn, &unit)?)
        })
        .await?;
    let items: Vec<UnitBody> = rows.into_iter().map(UnitBody::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": null })))
}
