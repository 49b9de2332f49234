//! A unit's coverage: read (cells or GeoJSON), and set from cells or a polygon.

use super::WHAT;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_app::units::CoverageChange;
use wangge_domain::UnitId;
use wangge_geo::Coverage;
use wangge_persistence::grid::CoverageRecord;

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

/// The coverage as cells, or as a GeoJSON feature of the exchange format.
pub async fn coverage(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_grid_reader()?;
    let id: UnitId = http::id(&id, WHAT)?;
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
            let (unit, mut rec, parent_code) = wangge_app::units::coverage_of(conn, id)?;
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
            let feature =
                wangge_app::units::unit_feature(&unit, parent_code.as_deref(), rec.as_ref())?;
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
    pub clip_to_parent: Option<bool>,
}

/// Sets a unit's coverage. The right is checked before the polygon is tiled (the costly
/// part), and again in the write.
pub async fn set_coverage(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<ClipQuery>,
    req: HttpRequest,
    body: JsonBody<PutBody>,
) -> Result<HttpResponse, ApiError> {
    let id: UnitId = http::id(&id, WHAT)?;
    let if_match = http::if_match(&req)?;
    state
        .read(user.who(), move |r| {
            wangge_app::units::authorize_coverage(r.conn, &r.caller, id)
        })
        .await?;
    let clip = query.clip_to_parent.unwrap_or(false);
    let leaf = state.settings.leaf;
    let PutBody { cells, geometry } = body.into_inner();
    // Tiling a large polygon takes CPU time: keep it off the async workers.
    let (coverage, boundary) = web::block(move || -> Result<(Coverage, Option<String>), ApiError> {
        match (cells, geometry) {
            (Some(cells), None) => {
                if cells.len() > MAX_CELLS {
                    return Err(ApiError::unprocessable(
                        "too_many_cells",
                        format!("at most {MAX_CELLS} cells"),
                    ));
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
    let change = CoverageChange {
        coverage,
        boundary,
        clip,
    };
    let outcome = state
        .write(user.who(), move |tx| {
            wangge_app::units::set_coverage(tx, id, if_match, change.clone())
        })
        .await?;
    state.coverage_changed().await;
    let mut body = summary(
        &outcome.record.unit_id,
        Some(&outcome.record),
        u8::from(leaf),
    );
    body["trimmed_leaf_cells"] = json!(outcome.trimmed_leaf_cells);
    body["households_moved"] = json!(outcome.households_moved.len());
    // The unit's new version, for the next If-Match.
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, http::etag(outcome.unit.version)))
        .json(body))
}
