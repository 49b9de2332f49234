//! Coverage, import/export and locate.

use super::units::{if_match, parse_id};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::grid_io;
use crate::startup::{AppState, StateExt};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use wangge_geo::{Coverage, Crs};
use wangge_persistence::StoreError;
use wangge_persistence::grid::{self, CoverageRecord};

/// Most cells accepted in one `cells` list.
const MAX_CELLS: usize = 2_000_000;

fn summary(unit_id: &str, rec: Option<&CoverageRecord>, leaf: u8) -> Value {
    match rec {
        Some(r) => json!({
            "unit_id": unit_id,
            "resolution": r.resolution,
            "cell_count": r.cell_count,
            "leaf_cell_count": r.leaf_cell_count,
            "has_boundary": r.boundary.is_some(),
            "updated_at": r.updated_at,
        }),
        None => json!({
            "unit_id": unit_id,
            "resolution": leaf,
            "cell_count": 0,
            "leaf_cell_count": 0,
            "has_boundary": false,
            "updated_at": null,
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    format: Option<String>,
    source: Option<String>,
}

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id = parse_id(&id)?;
    let geojson = match query.format.as_deref() {
        None | Some("cells") => false,
        Some("geojson") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("format {other:?} is not cells or geojson"),
            ));
        }
    };
    let force_cells = match query.source.as_deref() {
        None | Some("boundary") => false,
        Some("cells") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("source {other:?} is not boundary or cells"),
            ));
        }
    };
    let leaf = u8::from(state.settings.leaf);
    let body = state
        .db(move |conn| {
            let unit = grid::get_unit(conn, id)?;
            let mut rec = grid::get_coverage(conn, &unit.id)?;
            if !geojson {
                let mut body = summary(&unit.id, rec.as_ref(), leaf);
                let cells: Vec<String> = match &rec {
                    Some(r) => r
                        .coverage()?
                        .cells()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    None => Vec::new(),
                };
                body["cells"] = json!(cells);
                return Ok(body);
            }
            if let Some(r) = rec.as_mut().filter(|_| force_cells) {
                r.boundary = None;
            }
            let parent_code = match &unit.parent_id {
                Some(p) => Some(grid::get_unit(conn, wangge_domain::UnitId::parse(p)?)?.code),
                None => None,
            };
            let feature = grid_io::unit_feature(&unit, parent_code.as_deref(), rec.as_ref())?;
            Ok(json!({ "type": "FeatureCollection", "features": [feature] }))
        })
        .await?;
    let ct = if geojson {
        "application/geo+json"
    } else {
        "application/json"
    };
    Ok(HttpResponse::Ok().content_type(ct).body(body.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    #[serde(default)]
    cells: Option<Vec<String>>,
    #[serde(default)]
    geometry: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipQuery {
    #[serde(default)]
    clip_to_parent: Option<bool>,
}

pub async fn put(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ClipQuery>,
    req: HttpRequest,
    body: web::Json<PutBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&req)?;
    // Rights first: tiling a polygon is the expensive part.
    state
        .db(move |conn| {
            let access = crate::access::load(conn, &user)?;
            access.require_grid_write(Some(&grid::get_unit(conn, id)?.path))
        })
        .await?;
    let clip = query.clip_to_parent.unwrap_or(false);
    let leaf = state.settings.leaf;
    let PutBody { cells, geometry } = body.into_inner();
    // Tiling a large polygon takes CPU time: keep it off the async workers.
    let (cov, boundary) = web::block(move || -> Result<(Coverage, Option<String>), ApiError> {
        match (cells, geometry) {
            (Some(cells), None) => {
                if cells.len() > MAX_CELLS {
                    return Err(ApiError::unprocessable("too_many_cells", format!("at most {MAX_CELLS} cells")));
                }
                let parsed = cells
                    .iter()
                    .map(|c| wangge_geo::parse_cell(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((Coverage::from_cells(parsed, leaf)?, None))
            }
            (None, Some(g)) => {
                let shape = wangge_geo::parse_polygons(&g)?;
                let cov = Coverage::from_polygons(&shape, leaf)?;
                Ok((cov, Some(wangge_geo::polygons_to_geojson(&shape).to_string())))
            }
            _ => Err(ApiError::unprocessable(
                "validation_failed",
                "send exactly one of cells (H3 cell indexes) or geometry (a GeoJSON Polygon or MultiPolygon)",
            )),
        }
    })
    .await??;
    let (outcome, version) = state
        .db(move |conn| {
            Ok(wangge_persistence::transaction(conn, |conn| {
                let outcome = grid::set_coverage(conn, id, cov, boundary, clip, expected, leaf)?;
                Ok((outcome, grid::get_unit(conn, id)?.version))
            })?)
        })
        .await?;
    state.coverage_changed().await;
    let mut body = summary(
        &outcome.record.unit_id,
        Some(&outcome.record),
        u8::from(leaf),
    );
    body["trimmed_leaf_cells"] = json!(outcome.trimmed_leaf_cells);
    body["households_moved"] = json!(outcome.households_moved);
    // The unit's new version, for the next If-Match.
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(body))
}

pub async fn import(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ClipQuery>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    state
        .db(move |conn| crate::access::load(conn, &user)?.require_grid_write(None))
        .await?;
    let clip = query.clip_to_parent.unwrap_or(false);
    let leaf = state.settings.leaf;
    let doc = body.into_inner();
    let items = web::block(move || grid_io::parse_feature_collection(&doc, leaf, |_| {}))
        .await?
        .map_err(|p| ApiError::from(StoreError::ImportRejected(p)))?;
    let report = state
        .db(move |conn| {
            Ok(wangge_persistence::transaction(conn, |conn| {
                grid::import_units(conn, items, clip, leaf, |_| {})
            })?)
        })
        .await?;
    state.coverage_changed().await;
    Ok(HttpResponse::Created().json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    root_id: Option<String>,
}

pub async fn export(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let root = query.root_id.as_deref().map(parse_id).transpose()?;
    let doc = state
        .db(move |conn| {
            let root = root.map(|r| grid::get_unit(conn, r)).transpose()?;
            Ok(grid_io::export(conn, root.as_ref())?)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .body(doc.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocateQuery {
    lat: f64,
    lng: f64,
    crs: Option<String>,
}

pub async fn locate(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<LocateQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let crs: Crs = match query.crs.as_deref() {
        None => Crs::Wgs84,
        Some(s) => s.parse().map_err(|e: wangge_geo::GeoError| {
            ApiError::bad_request("invalid_crs", e.to_string())
        })?,
    };
    let ll = wangge_geo::to_wgs84(query.lat, query.lng, crs)
        .map_err(|e| ApiError::bad_request("invalid_coordinate", e.to_string()))?;
    let snap = state.locator.snapshot();
    let Some((cell, chain)) = snap.locate(ll) else {
        return Err(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_covered",
            "no unit covers this point",
        ));
    };
    // The hot path of the phone app: join the units' pre-serialised JSON instead of building
    // a value tree (see docs/benchmarks.md). Floats print in Rust's shortest round-trip form.
    let mut body =
        String::with_capacity(96 + chain.iter().map(|u| u.json.len() + 1).sum::<usize>());
    let _ = write!(
        body,
        r#"{{"cell":"{cell}","crs":"{}","wgs84":{{"lat":{:?},"lng":{:?}}},"units":["#,
        crs.as_str(),
        ll.lat(),
        ll.lng()
    );
    for (i, u) in chain.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&u.json);
    }
    body.push_str("]}");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body))
}
