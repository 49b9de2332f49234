//! The households list: a worker's phone pages it all day, so its body is written on the
//! database thread straight from the rows.

use super::{HouseholdBody, UnitRefBody, record_body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_app::households::ListQuery as Query;
use wangge_domain::{IdCardNumber, PhoneNumber, SearchText, Tag, UnitId};
use wangge_geo::Crs;
use wangge_persistence::households::{HouseholdCursor, HouseholdRecord, Near};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    unit_id: Option<String>,
    tag: Option<String>,
    q: Option<String>,
    id_card: Option<String>,
    phone: Option<String>,
    lat: Option<f64>,
    lng: Option<f64>,
    crs: Option<String>,
    radius_m: Option<f64>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// A households cursor as the API shows it: `<unit id>.<household id>`.
fn format_cursor(c: &HouseholdCursor) -> String {
    format!("{}.{}", c.unit_id, c.id)
}

/// # Errors
/// 400 `invalid_cursor` for anything [`format_cursor`] did not make.
fn parse_cursor(s: &str) -> Result<HouseholdCursor, ApiError> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API issued");
    let (unit, id) = s.split_once('.').ok_or_else(bad)?;
    Ok(HouseholdCursor {
        unit_id: UnitId::parse(unit).map_err(|_| bad())?.to_string(),
        id: UnitId::parse(id).map_err(|_| bad())?.to_string(),
    })
}

fn near(q: &ListQuery) -> Result<Option<Near>, ApiError> {
    let bad = |m: &str| ApiError::bad_request("invalid_query", m.to_owned());
    match (q.lat, q.lng) {
        (None, None) => {
            if q.radius_m.is_some() || q.crs.is_some() {
                return Err(bad("radius_m and crs go with lat and lng"));
            }
            Ok(None)
        }
        (Some(lat), Some(lng)) => {
            let crs: Crs = match q.crs.as_deref() {
                None => Crs::Wgs84,
                Some(s) => s.parse().map_err(|e: wangge_geo::GeoError| {
                    ApiError::bad_request("invalid_crs", e.to_string())
                })?,
            };
            let ll = wangge_geo::to_wgs84(lat, lng, crs)
                .map_err(|e| ApiError::bad_request("invalid_coordinate", e.to_string()))?;
            let radius_m = q.radius_m.unwrap_or(500.0);
            if !(1.0..=5000.0).contains(&radius_m) {
                return Err(bad("radius_m must be from 1 to 5000"));
            }
            Ok(Some(Near {
                lon: ll.lng(),
                lat: ll.lat(),
                radius_m,
            }))
        }
        _ => Err(bad("give both lat and lng")),
    }
}

/// Households in the caller's scope, filtered in the query.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let bad =
        |e: wangge_domain::ValidationError| ApiError::bad_request("invalid_query", e.to_string());
    let limit = http::limit(q.limit)?;
    let query = Query {
        unit: q
            .unit_id
            .as_deref()
            .map(|u| http::id::<UnitId>(u, "unit"))
            .transpose()?,
        tag: q
            .tag
            .as_deref()
            .map(str::parse::<Tag>)
            .transpose()
            .map_err(bad)?,
        text: q
            .q
            .as_deref()
            .map(|t| SearchText::parse(t, 64))
            .transpose()
            .map_err(bad)?
            .flatten(),
        id_card: q
            .id_card
            .as_deref()
            .map(IdCardNumber::parse)
            .transpose()
            .map_err(bad)?,
        phone: q
            .phone
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(bad)?,
        near: near(&q)?,
        after: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit: i64::from(limit) + 1,
    };
    let svc = state.svc.clone();
    let who = user.who();
    let body = state
        .db_then(
            move |conn| {
                Ok(wangge_app::read(conn, &svc, &who, |r| {
                    wangge_app::households::list(r, query)
                })?)
            },
            move |page| {
                let unit_of = |r: &HouseholdRecord| {
                    if let Some(u) = page.snapshot.unit(&r.unit_id) {
                        return Ok(UnitRefBody {
                            id: &u.id,
                            code: &u.code,
                            name: &u.name,
                        });
                    }
                    page.fetched
                        .iter()
                        .find(|u| u.id == r.unit_id)
                        .map(|u| UnitRefBody {
                            id: &u.id,
                            code: &u.code,
                            name: &u.name,
                        })
                        .ok_or_else(|| {
                            ApiError::internal(&format!("household {} names no unit", r.id))
                        })
                };
                let rows = &page.rows;
                let more = rows.len() > limit as usize;
                let shown = &rows[..rows.len().min(limit as usize)];
                let next_cursor = if more {
                    shown
                        .last()
                        .map(|h| format_cursor(&HouseholdCursor::after(h)))
                } else {
                    None
                };
                #[derive(serde::Serialize)]
                struct Page<'a> {
                    items: Vec<HouseholdBody<'a>>,
                    next_cursor: Option<String>,
                }
                // A worker's page is tens of kilobytes: sized once, not grown by doubling.
                let mut body = Vec::with_capacity(512 * shown.len() + 64);
                serde_json::to_writer(
                    &mut body,
                    &Page {
                        items: shown
                            .iter()
                            .map(|r| Ok(record_body(r, unit_of(r)?)))
                            .collect::<Result<_, ApiError>>()?,
                        next_cursor,
                    },
                )
                .map_err(|e| ApiError::internal(&e))?;
                Ok(body)
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(body))
}

/// The fixed list of tags, with their Chinese labels.
pub async fn tags(_user: AuthUser) -> HttpResponse {
    let items: Vec<Value> = Tag::ALL
        .iter()
        .map(|t| json!({ "tag": t.as_str(), "label": t.label_zh() }))
        .collect();
    HttpResponse::Ok().json(json!({ "items": items }))
}
