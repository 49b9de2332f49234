//! The household registry: households, residents (personal data sealed, masked unless revealed
//! and audited), visits and each household's history. Every object is placed by its unit and
//! every question about it is asked of the caller's scope (`access`).

use super::units::{if_match, page_of, paging};
use crate::access::{self, Access};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::pii::PiiKind;
use crate::startup::{AppState, StateExt};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_domain::person::text;
use wangge_domain::{
    Action, BirthDate, Gender, IdCardNumber, PhoneNumber, Reach, Relation, Tag, UnitId,
    ValidationError,
};
use wangge_geo::Crs;
use wangge_persistence::households::{
    self as store, Household, HouseholdCursor, HouseholdFilter, HouseholdPatch, HouseholdRecord,
    Near, NewHousehold, NewResident, NewVisit, ResidentPatch, ResidentRecord,
};
use wangge_persistence::{AnyConnection, Sealed, grid};

const HOUSEHOLD: &str = "household";
pub const MAX_ADDRESS_CHARS: usize = 200;
pub const MAX_NOTES_CHARS: usize = 2000;

use super::parse_object_id as parse_uuid;

/// A household as every body shows it. Serialised straight from the record (no value tree):
/// a worker's list is hundreds of these.
#[derive(serde::Serialize)]
pub struct HouseholdBody<'a> {
    id: &'a str,
    unit: UnitRefBody<'a>,
    address: &'a str,
    location: LatLngBody,
    cell: String,
    unit_reason: Option<&'a str>,
    tags: Vec<&'a str>,
    notes: Option<&'a str>,
    created_at: &'a str,
    updated_at: &'a str,
    version: i64,
}

#[derive(serde::Serialize)]
struct UnitRefBody<'a> {
    id: &'a str,
    code: &'a str,
    name: &'a str,
}

#[derive(serde::Serialize)]
struct LatLngBody {
    lat: f64,
    lng: f64,
}

#[must_use]
pub fn household_body(h: &Household) -> HouseholdBody<'_> {
    record_body(
        &h.record,
        UnitRefBody {
            id: &h.unit.id,
            code: &h.unit.code,
            name: &h.unit.name,
        },
    )
}

fn record_body<'a>(r: &'a HouseholdRecord, unit: UnitRefBody<'a>) -> HouseholdBody<'a> {
    HouseholdBody {
        id: &r.id,
        unit,
        address: &r.address,
        location: LatLngBody {
            lat: r.lat,
            lng: r.lon,
        },
        cell: format!("{:x}", r.cell),
        unit_reason: r.unit_reason.as_deref(),
        tags: r.tag_names(),
        notes: r.notes.as_deref(),
        created_at: &r.created_at,
        updated_at: &r.updated_at,
        version: r.version,
    }
}

fn with_etag(status: StatusCode, h: &Household) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", h.record.version)))
        .json(household_body(h))
}

/// A point as requests carry it: `crs` says which datum (default WGS-84).
#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PointIn {
    lat: f64,
    lng: f64,
    #[serde(default, deserialize_with = "super::non_null")]
    crs: Option<CrsIn>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum CrsIn {
    Wgs84,
    Gcj02,
    Bd09,
}

impl PointIn {
    /// WGS-84 (lon, lat) and the leaf cell.
    fn resolve(self, state: &AppState) -> Result<(f64, f64, wangge_geo::CellIndex), ApiError> {
        let crs = match self.crs {
            None | Some(CrsIn::Wgs84) => Crs::Wgs84,
            Some(CrsIn::Gcj02) => Crs::Gcj02,
            Some(CrsIn::Bd09) => Crs::Bd09,
        };
        let ll = wangge_geo::to_wgs84(self.lat, self.lng, crs)
            .map_err(|e| ApiError::from(ValidationError::new("location", e.to_string())))?;
        let cell = ll.to_cell(state.settings.leaf);
        Ok((ll.lng(), ll.lat(), cell))
    }
}

/// Parses and canonicalises tags (`,a,b,` as stored).
fn tags_in(names: &[String]) -> Result<String, ApiError> {
    if names.len() > Tag::ALL.len() * 2 {
        return Err(ValidationError::new("tags", "too many tags").into());
    }
    let tags = Tag::parse_list(names.iter().map(String::as_str))?;
    let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
    Ok(store::join_tags(&names))
}

/// The deepest unit covering a cell, from the in-memory index; a point no unit covers cannot
/// hold a household.
fn locate_unit(state: &AppState, lon: f64, lat: f64) -> Result<String, ApiError> {
    let ll = wangge_geo::LatLng::new(lat, lon)
        .map_err(|e| ApiError::from(ValidationError::new("location", e.to_string())))?;
    let snap = state.locator.snapshot();
    let (_, chain) = snap.locate(ll).ok_or_else(|| {
        ApiError::unprocessable(
            "not_covered",
            "no unit covers this location; check the point and its crs, or place the household with unit_id and unit_reason",
        )
        .with(json!({ "field": "location" }))
    })?;
    chain
        .first()
        .map(|u| u.id.clone())
        .ok_or_else(|| ApiError::internal(&"empty locate chain"))
}

/// The household, if the caller may take `action` on it; 404 outside view scope, 403 inside
/// view scope without the right to act.
fn household_for(
    conn: &mut AnyConnection,
    access: &Access,
    id: &str,
    action: Action,
) -> Result<Household, ApiError> {
    let h = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("household not found"))?;
    access.check(Action::ReadHousehold, &h.unit.path, HOUSEHOLD)?;
    if action != Action::ReadHousehold {
        access.require(action, &h.unit.path, HOUSEHOLD)?;
    }
    Ok(h)
}

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

/// Households in the caller's scope, filtered in the query.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let bad = |m: &str| ApiError::bad_request("invalid_query", m.to_owned());
    let (limit, _) = paging(q.limit, None)?;
    let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let unit = q
        .unit_id
        .as_deref()
        .map(super::units::parse_id)
        .transpose()?;
    let tag = q
        .tag
        .as_deref()
        .map(|t| t.parse::<Tag>().map_err(|e| bad(&e.to_string())))
        .transpose()?;
    if q.q
        .as_ref()
        .is_some_and(|t| t.chars().count() > 64 || t.trim().is_empty())
    {
        return Err(bad("q must be 1 to 64 characters"));
    }
    let id_card_hash = q
        .id_card
        .as_deref()
        .map(|s| {
            IdCardNumber::parse(s)
                .map(|n| state.pii.hash(PiiKind::IdCard, n.expose()))
                .map_err(|e| bad(&e.to_string()))
        })
        .transpose()?;
    let phone_hash = q
        .phone
        .as_deref()
        .map(|s| {
            PhoneNumber::parse(s)
                .map(|p| state.pii.hash(PiiKind::Phone, p.expose()))
                .map_err(|e| bad(&e.to_string()))
        })
        .transpose()?;
    let near = match (q.lat, q.lng) {
        (None, None) => {
            if q.radius_m.is_some() || q.crs.is_some() {
                return Err(bad("radius_m and crs go with lat and lng"));
            }
            None
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
            Some(Near {
                lon: ll.lng(),
                lat: ll.lat(),
                radius_m,
            })
        }
        _ => return Err(bad("give both lat and lng")),
    };
    let searched_pii = id_card_hash.is_some() || phone_hash.is_some();
    // The page's units come from the locate snapshot, which every change to a unit's name or
    // code refreshes; only units it does not hold yet cost a query.
    let snap = state.locator.snapshot();
    let body = state
        .db_then(move |conn| {
            let access = access::load(conn, &user)?;
            let reach = access.scope.reach(Action::ReadHousehold);
            if reach == Reach::Nothing {
                return Err(ApiError::forbidden(
                    "reading households needs a staff role and assigned units",
                ));
            }
            let under_path = match unit {
                Some(id) => Some(
                    grid::get_unit(conn, id)
                        .map_err(|_| ApiError::bad_request("invalid_query", "unit_id names no unit"))?
                        .path,
                ),
                None => None,
            };
            let filter = HouseholdFilter {
                under_path,
                tag: tag.map(|t| t.as_str().to_owned()),
                text: q.q.map(|t| t.trim().to_owned()),
                id_card_hash,
                phone_hash,
                near,
            };
            let rows = store::list(conn, reach, &filter, after.as_ref(), i64::from(limit) + 1)?;
            if searched_pii {
                // A search by identity number or phone says whether that person lives here.
                let mut e = access.event(&user, "pii.searched");
                e.subject_type = Some("household");
                e.details = json!({ "id_card": filter.id_card_hash.is_some(), "phone": filter.phone_hash.is_some(), "found": rows.len() });
                access::record(conn, &e)?;
            }
            let mut missing: Vec<&str> = rows
                .iter()
                .map(|h| h.unit_id.as_str())
                .filter(|id| snap.unit(id).is_none())
                .collect();
            missing.sort_unstable();
            missing.dedup();
            let fetched = if missing.is_empty() {
                Vec::new()
            } else {
                store::unit_briefs(conn, &missing)?
            };
            Ok((rows, fetched, snap))
        }, move |(rows, fetched, snap)| {
            let unit_of = |r: &HouseholdRecord| {
                if let Some(u) = snap.unit(&r.unit_id) {
                    return Ok(UnitRefBody { id: &u.id, code: &u.code, name: &u.name });
                }
                fetched
                    .iter()
                    .find(|u| u.id == r.unit_id)
                    .map(|u| UnitRefBody { id: &u.id, code: &u.code, name: &u.name })
                    .ok_or_else(|| {
                        ApiError::internal(&format!("household {} names no unit", r.id))
                    })
            };
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
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    address: String,
    location: PointIn,
    #[serde(default)]
    unit_id: Option<String>,
    #[serde(default)]
    unit_reason: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
}

/// Where a new or moved household goes: the located unit, or the one staff name with a reason.
fn placement(
    unit_id: Option<&str>,
    reason: Option<&str>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    match (unit_id, reason) {
        (None, None) => Ok((None, None)),
        (Some(u), Some(r)) => {
            let u = UnitId::parse(u)
                .map_err(|_| ValidationError::new("unit_id", "is not a UUID"))?
                .to_string();
            let r = text("unit_reason", r, 200, false)?;
            Ok((Some(u), Some(r)))
        }
        (Some(_), None) => Err(ValidationError::new(
            "unit_reason",
            "placing a household in another unit than its location's needs a reason",
        )
        .into()),
        (None, Some(_)) => {
            Err(ValidationError::new("unit_id", "a reason goes with a unit_id").into())
        }
    }
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let address = text("address", &b.address, MAX_ADDRESS_CHARS, false)?;
    let notes = b
        .notes
        .as_deref()
        .map(|n| text("notes", n, MAX_NOTES_CHARS, true))
        .transpose()?;
    let tags = tags_in(&b.tags)?;
    let (lon, lat, cell) = b.location.resolve(&state)?;
    let (override_unit, reason) = placement(b.unit_id.as_deref(), b.unit_reason.as_deref())?;
    let located = match &override_unit {
        Some(_) => None,
        None => Some(locate_unit(&state, lon, lat)?),
    };
    let created = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let unit_id = override_unit.clone().or(located).unwrap_or_default();
            let unit = grid::get_unit(conn, UnitId::parse(&unit_id)?)
                .map_err(|_| ApiError::from(ValidationError::new("unit_id", "names no unit")))?;
            let action = if override_unit.is_some() {
                Action::OverrideHouseholdUnit
            } else {
                Action::WriteHousehold
            };
            if !access.scope.permits(action, &unit.path) {
                return Err(ApiError::forbidden(
                    "your roles or assignments do not allow registering a household here",
                ));
            }
            let id = wangge_persistence::uuid_v7();
            let actor = access.account.user.id.clone();
            wangge_persistence::transaction(conn, |conn| {
                store::create(
                    conn,
                    &NewHousehold {
                        id: &id,
                        unit_id: &unit.id,
                        address: &address,
                        lon,
                        lat,
                        cell: i64::try_from(u64::from(cell)).unwrap_or_default(),
                        unit_reason: reason.as_deref(),
                        tags: &tags,
                        notes: notes.as_deref(),
                        created_by: Some(&actor),
                    },
                )
            })?;
            store::get(conn, &id)?.ok_or_else(|| ApiError::not_found("household not found"))
        })
        .await?;
    Ok(super::with_location(
        with_etag(StatusCode::CREATED, &created),
        &format!("/api/v1/households/{}", created.record.id),
    ))
}

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&id, HOUSEHOLD)?;
    let h = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            household_for(conn, &access, &id, Action::ReadHousehold)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &h))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "super::non_null")]
    address: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    location: Option<PointIn>,
    #[serde(default, deserialize_with = "super::non_null")]
    unit_id: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    unit_reason: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    notes: Option<Option<String>>,
}

/// Changes a household. A new location moves it to the unit that covers it, unless staff
/// name the unit (`unit_id` with `unit_reason`); either way the history records the move.
pub async fn patch(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&id, HOUSEHOLD)?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
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
    let address = b
        .address
        .as_deref()
        .map(|a| text("address", a, MAX_ADDRESS_CHARS, false))
        .transpose()?;
    let notes = match &b.notes {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => Some(Some(text("notes", n, MAX_NOTES_CHARS, true)?)),
    };
    let tags = b.tags.as_deref().map(tags_in).transpose()?;
    let point = b.location.map(|p| p.resolve(&state)).transpose()?;
    let (override_unit, reason) = placement(b.unit_id.as_deref(), b.unit_reason.as_deref())?;
    let located = match (&override_unit, point) {
        (None, Some((lon, lat, _))) => Some(locate_unit(&state, lon, lat)?),
        _ => None,
    };
    let updated = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let h = household_for(conn, &access, &id, Action::WriteHousehold)?;
            let unit = match (&override_unit, &located) {
                (Some(u), _) => {
                    let unit = grid::get_unit(conn, UnitId::parse(u)?)
                        .map_err(|_| ApiError::from(ValidationError::new("unit_id", "names no unit")))?;
                    access.require(Action::OverrideHouseholdUnit, &h.unit.path, HOUSEHOLD)?;
                    if !access.scope.permits(Action::OverrideHouseholdUnit, &unit.path) {
                        return Err(ApiError::forbidden("you may not place households in that unit"));
                    }
                    Some((unit.id, reason.clone()))
                }
                (None, Some(u)) => {
                    let unit = grid::get_unit(conn, UnitId::parse(u)?)?;
                    if !access.scope.permits(Action::WriteHousehold, &unit.path) {
                        return Err(ApiError::forbidden(
                            "the new location lies outside the units you may register households in",
                        ));
                    }
                    Some((unit.id, None))
                }
                (None, None) => None,
            };
            let actor = access.account.user.id.clone();
            wangge_persistence::transaction(conn, |conn| {
                store::update(
                    conn,
                    &id,
                    HouseholdPatch {
                        address,
                        point: point.map(|(lon, lat, cell)| {
                            (lon, lat, i64::try_from(u64::from(cell)).unwrap_or_default())
                        }),
                        unit,
                        tags,
                        notes,
                    },
                    expected,
                    Some(&actor),
                )
            })?;
            store::get(conn, &id)?.ok_or_else(|| ApiError::not_found("household not found"))
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &updated))
}

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&id, HOUSEHOLD)?;
    let expected = if_match(&req)?;
    state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            household_for(conn, &access, &id, Action::DeleteHousehold)?;
            let actor = access.account.user.id.clone();
            wangge_persistence::transaction(conn, |conn| {
                store::delete(conn, &id, expected, Some(&actor))
            })?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What happened to a household, oldest first.
pub async fn history(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&id, HOUSEHOLD)?;
    let events = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            household_for(conn, &access, &id, Action::ReadHousehold)?;
            Ok(store::history(conn, &id)?)
        })
        .await?;
    let items: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
            let mut v = json!(e);
            v["details"] = details;
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

// ---- residents ----

/// A resident as bodies show it: personal data masked unless `revealed` (plain texts given).
fn resident_body(r: &ResidentRecord, revealed: Option<(Option<String>, Option<String>)>) -> Value {
    let (id_card, phone, is_revealed) = match revealed {
        Some((i, p)) => (i, p, true),
        None => (r.id_card_masked.clone(), r.phone_masked.clone(), false),
    };
    json!({
        "id": r.id,
        "household_id": r.household_id,
        "name": r.name,
        "gender": r.gender,
        "birth_date": r.birth_date,
        "relation": r.relation,
        "id_card": id_card,
        "phone": phone,
        "revealed": is_revealed,
        "tags": store::split_tags(&r.tags),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "version": r.version,
    })
}

/// Opens a resident's sealed fields.
fn reveal(
    state: &AppState,
    r: &ResidentRecord,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let open = |kind,
                cipher: &Option<Vec<u8>>,
                key: &Option<String>|
     -> Result<Option<String>, ApiError> {
        match (cipher, key) {
            (Some(c), Some(k)) => state
                .pii
                .open(kind, c, k)
                .map(Some)
                .map_err(|e| ApiError::internal(&e)),
            _ => Ok(None),
        }
    };
    Ok((
        open(PiiKind::IdCard, &r.id_card_cipher, &r.id_card_key_id)?,
        open(PiiKind::Phone, &r.phone_cipher, &r.phone_key_id)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealQuery {
    #[serde(default)]
    reveal: bool,
}

/// The residents of a household. `?reveal=true` shows identity numbers and phones in full to
/// roles allowed to see them (403 for others), and is audited.
pub async fn list_residents(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<RevealQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&id, HOUSEHOLD)?;
    let want = query.reveal;
    let st = state.clone();
    let items = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let h = household_for(conn, &access, &id, Action::ReadHousehold)?;
            if want {
                access.require(Action::RevealPersonalData, &h.unit.path, HOUSEHOLD)?;
            }
            let rows = store::residents_of(conn, &id)?;
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                let revealed = if want { Some(reveal(&st, r)?) } else { None };
                items.push(resident_body(r, revealed));
            }
            if want {
                let mut e = access.event(&user, "pii.revealed");
                e.subject_type = Some("household");
                e.subject_id = Some(id.clone());
                e.unit_path = Some(h.unit.path.clone());
                e.details = json!({
                    "residents": rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                    "fields": ["id_card", "phone"],
                });
                access::record(conn, &e)?;
            }
            Ok(items)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentBody {
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

/// A validated resident: the identity number's birth date and sex must agree with those given
/// (and fill them when absent).
pub struct ResidentIn {
    pub name: String,
    pub relation: Relation,
    pub gender: Option<Gender>,
    pub birth_date: Option<String>,
    pub id_card: Option<IdCardNumber>,
    pub phone: Option<PhoneNumber>,
    pub tags: String,
}

/// The sex the 17th digit of an identity number encodes (odd: male).
fn gender_of(n: &IdCardNumber) -> Gender {
    let d = n.expose().as_bytes().get(16).copied().unwrap_or(b'0');
    if (d - b'0') % 2 == 1 {
        Gender::Male
    } else {
        Gender::Female
    }
}

/// # Errors
/// A field that breaks a rule.
pub fn validate_resident(
    name: &str,
    relation: &str,
    gender: Option<&str>,
    birth_date: Option<&str>,
    id_card: Option<&str>,
    phone: Option<&str>,
    tags: &[String],
) -> Result<ResidentIn, ValidationError> {
    let name = text("name", name, 64, false)?;
    let relation: Relation = relation.parse()?;
    let mut gender = gender.map(str::parse::<Gender>).transpose()?;
    let mut birth = birth_date
        .map(BirthDate::parse)
        .transpose()?
        .map(|d| d.to_string());
    let id_card = id_card
        .filter(|s| !s.trim().is_empty())
        .map(IdCardNumber::parse)
        .transpose()?;
    if let Some(n) = &id_card {
        let from_card = n.birth_date();
        match &birth {
            Some(b) if *b != from_card => {
                return Err(ValidationError::new(
                    "birth_date",
                    "does not match the identity-card number",
                ));
            }
            _ => birth = Some(from_card),
        }
        let g = gender_of(n);
        match gender {
            Some(given) if given != g => {
                return Err(ValidationError::new(
                    "gender",
                    "does not match the identity-card number",
                ));
            }
            _ => gender = Some(g),
        }
    }
    let phone = phone
        .filter(|s| !s.trim().is_empty())
        .map(PhoneNumber::parse)
        .transpose()?;
    let tags = Tag::parse_list(tags.iter().map(String::as_str))?;
    let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
    Ok(ResidentIn {
        name,
        relation,
        gender,
        birth_date: birth,
        id_card,
        phone,
        tags: store::join_tags(&names),
    })
}

/// Seals a validated resident's personal data.
pub fn seal_resident(
    state_pii: &crate::pii::PiiKeys,
    r: &ResidentIn,
) -> (Option<Sealed>, Option<Sealed>) {
    (
        r.id_card
            .as_ref()
            .map(|n| state_pii.seal(PiiKind::IdCard, n.expose(), n.masked())),
        r.phone
            .as_ref()
            .map(|p| state_pii.seal(PiiKind::Phone, p.expose(), p.masked())),
    )
}

pub async fn create_resident(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ResidentBody>,
) -> Result<HttpResponse, ApiError> {
    let household_id = parse_uuid(&id, HOUSEHOLD)?;
    let b = body.into_inner();
    let r = validate_resident(
        &b.name,
        &b.relation,
        b.gender.as_deref(),
        b.birth_date.as_deref(),
        b.id_card.as_deref(),
        b.phone.as_deref(),
        &b.tags,
    )?;
    let (id_card, phone) = seal_resident(&state.pii, &r);
    let created = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            household_for(conn, &access, &household_id, Action::WriteHousehold)?;
            let rid = wangge_persistence::uuid_v7();
            let actor = access.account.user.id.clone();
            wangge_persistence::transaction(conn, |conn| {
                store::insert_residents(
                    conn,
                    &[NewResident {
                        id: &rid,
                        household_id: &household_id,
                        name: &r.name,
                        gender: r.gender.map(Gender::as_str),
                        birth_date: r.birth_date.as_deref(),
                        relation: r.relation.as_str(),
                        id_card: id_card.as_ref(),
                        phone: phone.as_ref(),
                        tags: &r.tags,
                    }],
                )?;
                store::append_event(
                    conn,
                    &household_id,
                    Some(&actor),
                    "resident_added",
                    &json!({ "resident_id": rid }),
                )
            })?;
            store::resident(conn, &rid)?.ok_or_else(|| ApiError::not_found("resident not found"))
        })
        .await?;
    Ok(super::with_location(
        HttpResponse::Created()
            .insert_header((header::ETAG, format!("\"{}\"", created.version)))
            .json(resident_body(&created, None)),
        &format!(
            "/api/v1/households/{}/residents/{}",
            created.household_id, created.id
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentPatchBody {
    #[serde(default, deserialize_with = "super::non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    relation: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    birth_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    id_card: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::non_null")]
    tags: Option<Vec<String>>,
}

/// The resident, if it belongs to the household and the caller may take `action` on it.
fn resident_for(
    conn: &mut AnyConnection,
    access: &Access,
    household_id: &str,
    resident_id: &str,
    action: Action,
) -> Result<ResidentRecord, ApiError> {
    household_for(conn, access, household_id, action)?;
    store::resident(conn, resident_id)?
        .filter(|r| r.household_id == household_id)
        .ok_or_else(|| ApiError::not_found("resident not found"))
}

pub async fn patch_resident(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Json<ResidentPatchBody>,
) -> Result<HttpResponse, ApiError> {
    let (hid, rid) = path.into_inner();
    let household_id = parse_uuid(&hid, HOUSEHOLD)?;
    let resident_id = parse_uuid(&rid, "resident")?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
    let name = b
        .name
        .as_deref()
        .map(|n| text("name", n, 64, false))
        .transpose()?;
    let relation = b
        .relation
        .as_deref()
        .map(str::parse::<Relation>)
        .transpose()?;
    let gender = b
        .gender
        .as_ref()
        .map(|g| g.as_deref().map(str::parse::<Gender>).transpose())
        .transpose()?;
    let birth_date = b
        .birth_date
        .as_ref()
        .map(|d| {
            d.as_deref()
                .map(|d| BirthDate::parse(d).map(|d| d.to_string()))
                .transpose()
        })
        .transpose()?;
    let id_card = b
        .id_card
        .as_ref()
        .map(|c| c.as_deref().map(IdCardNumber::parse).transpose())
        .transpose()?;
    let phone = b
        .phone
        .as_ref()
        .map(|p| p.as_deref().map(PhoneNumber::parse).transpose())
        .transpose()?;
    let tags = b.tags.as_deref().map(tags_in).transpose()?;
    let patch = ResidentPatch {
        name,
        gender: gender.map(|g| g.map(|g| g.as_str().to_owned())),
        birth_date,
        relation: relation.map(|r| r.as_str().to_owned()),
        id_card: id_card
            .map(|c| c.map(|n| state.pii.seal(PiiKind::IdCard, n.expose(), n.masked()))),
        phone: phone.map(|p| p.map(|p| state.pii.seal(PiiKind::Phone, p.expose(), p.masked()))),
        tags,
    };
    let updated = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            resident_for(
                conn,
                &access,
                &household_id,
                &resident_id,
                Action::WriteHousehold,
            )?;
            let actor = access.account.user.id.clone();
            wangge_persistence::transaction(conn, |conn| {
                store::update_resident(conn, &resident_id, patch, expected)?;
                store::append_event(
                    conn,
                    &household_id,
                    Some(&actor),
                    "resident_changed",
                    &json!({ "resident_id": resident_id }),
                )
            })?;
            store::resident(conn, &resident_id)?
                .ok_or_else(|| ApiError::not_found("resident not found"))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", updated.version)))
        .json(resident_body(&updated, None)))
}

pub async fn delete_resident(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (hid, rid) = path.into_inner();
    let household_id = parse_uuid(&hid, HOUSEHOLD)?;
    let resident_id = parse_uuid(&rid, "resident")?;
    let expected = if_match(&req)?;
    state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            resident_for(
                conn,
                &access,
                &household_id,
                &resident_id,
                Action::WriteHousehold,
            )?;
            let actor = access.account.user.id.clone();
            wangge_persistence::transaction(conn, |conn| {
                store::delete_resident(conn, &resident_id, expected)?;
                store::append_event(
                    conn,
                    &household_id,
                    Some(&actor),
                    "resident_removed",
                    &json!({ "resident_id": resident_id }),
                )
            })?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- visits ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitBody {
    #[serde(default)]
    visited_at: Option<String>,
    #[serde(default, deserialize_with = "super::non_null")]
    location: Option<PointIn>,
    notes: String,
}

/// How far back a phone that was offline may date a visit.
const VISIT_BACKDATE_DAYS: i64 = 90;

/// Records a grid worker's visit (走访). The phone may send it later than it happened
/// (offline), so `visited_at` may be up to 90 days old, but not in the future.
pub async fn create_visit(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<VisitBody>,
) -> Result<HttpResponse, ApiError> {
    let household_id = parse_uuid(&id, HOUSEHOLD)?;
    let b = body.into_inner();
    let notes = text("notes", &b.notes, MAX_NOTES_CHARS, true)?;
    let now = chrono::Utc::now();
    let visited_at = match &b.visited_at {
        None => now,
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| ValidationError::new("visited_at", "must be an RFC 3339 time"))?
            .with_timezone(&chrono::Utc),
    };
    if visited_at > now + chrono::Duration::minutes(5) {
        return Err(ValidationError::new("visited_at", "is in the future").into());
    }
    if visited_at < now - chrono::Duration::days(VISIT_BACKDATE_DAYS) {
        return Err(ValidationError::new("visited_at", "is more than 90 days ago").into());
    }
    let visited_at = visited_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let point = b.location.map(|p| p.resolve(&state)).transpose()?;
    let visit = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let h = household_for(conn, &access, &household_id, Action::RecordVisit)?;
            let actor = access.account.user.id.clone();
            Ok(store::create_visit(
                conn,
                &NewVisit {
                    household_id: &household_id,
                    unit_id: &h.unit.id,
                    visitor_id: &actor,
                    visited_at: &visited_at,
                    point: point.map(|(lon, lat, _)| (lon, lat)),
                    notes: &notes,
                },
            )?)
        })
        .await?;
    Ok(HttpResponse::Created().json(visit_body(&visit)))
}

fn visit_body(v: &store::VisitRecord) -> Value {
    json!({
        "id": v.id,
        "household_id": v.household_id,
        "unit_id": v.unit_id,
        "visitor_id": v.visitor_id,
        "visited_at": v.visited_at,
        "location": match (v.lat, v.lon) {
            (Some(lat), Some(lng)) => json!({ "lat": lat, "lng": lng }),
            _ => Value::Null,
        },
        "notes": v.notes,
        "created_at": v.created_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitsQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// Visits of a household, newest first.
pub async fn list_visits(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<VisitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let household_id = parse_uuid(&id, HOUSEHOLD)?;
    let (limit, before) = paging(query.limit, query.cursor.as_deref())?;
    let rows = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            household_for(conn, &access, &household_id, Action::ReadHousehold)?;
            Ok(store::visits_of(
                conn,
                &household_id,
                before.map(|b| b.to_string()).as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    let items: Vec<Value> = rows.iter().map(visit_body).collect();
    Ok(HttpResponse::Ok().json(page_of(items, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })))
}

/// The fixed list of tags, with their Chinese labels.
pub async fn tags(_user: AuthUser) -> HttpResponse {
    let items: Vec<Value> = Tag::ALL
        .iter()
        .map(|t| json!({ "tag": t.as_str(), "label": t.label_zh() }))
        .collect();
    HttpResponse::Ok().json(json!({ "items": items }))
}

/// Bulk import (CSV or NDJSON, by `Content-Type`): every row validated and placed; all stored
/// in one transaction, or nothing with a report of every rejected row.
pub async fn import(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    use crate::household_io::{self, Format};
    use futures_util::StreamExt as _;
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match mime.as_str() {
        "text/csv" => Format::Csv,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Format::Ndjson,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send text/csv or application/x-ndjson",
            ));
        }
    };
    // Read by hand so that an oversized file gets the same problem+json as everything else.
    let mut body = web::BytesMut::new();
    let mut payload = payload;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if body.len() + chunk.len() > IMPORT_LIMIT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "an import may be at most {} MiB; split the file",
                    IMPORT_LIMIT_BYTES >> 20
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let leaf = state.settings.leaf;
    let parsed = web::block(move || household_io::parse(&body, format, leaf))
        .await?
        .map_err(rows_rejected)?;
    let st = state.clone();
    let summary = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            if access.scope.reach(Action::WriteHousehold) == Reach::Nothing {
                return Err(ApiError::forbidden(
                    "importing households needs a role that registers them and assigned units",
                ));
            }
            let snap = st.locator.snapshot();
            let locate = |lon: f64, lat: f64| {
                let ll = wangge_geo::LatLng::new(lat, lon).ok()?;
                snap.locate(ll)
                    .and_then(|(_, chain)| chain.first().map(|u| u.id.clone()))
            };
            let actor = access.account.user.id.clone();
            let outcome = wangge_persistence::transaction(conn, |conn| {
                let outcome = household_io::store(
                    conn,
                    parsed,
                    Some(&access.scope),
                    &locate,
                    &st.pii,
                    Some(&actor),
                    |_| {},
                )?;
                if let Ok(s) = &outcome {
                    let mut e = access.event(&user, "households.imported");
                    e.subject_type = Some("household");
                    e.unit_path = access.scope.assigned_paths().first().cloned();
                    e.details = json!({ "households": s.households, "residents": s.residents });
                    access::record(conn, &e)?;
                }
                Ok(outcome)
            })?;
            outcome.map_err(rows_rejected)
        })
        .await?;
    Ok(HttpResponse::Created().json(summary))
}

/// Household imports: 250,000 rows of CSV are about 40 MB.
pub const IMPORT_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// 422 with every rejected row.
fn rows_rejected(rows: Vec<crate::household_io::RowProblem>) -> ApiError {
    ApiError::unprocessable(
        "rows_rejected",
        format!("{} row(s) were rejected; nothing was written", rows.len()),
    )
    .with(json!({ "rows": rows }))
}
