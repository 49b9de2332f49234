//! `GET /stats/heatmap`: cases reported in a period, counted per H3 cell; JSON, or GeoJSON
//! (`format=geojson`, or `Accept: application/geo+json` weighted no lower than JSON) that a
//! map draws as is.

use super::{span, unit_id};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::stats::HeatmapFormat;
use wangge_geo::Resolution;

/// A district-wide map reads well at resolution 8 (about 0.7 km² a cell).
const DEFAULT_RES: u8 = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    unit_id: Option<String>,
    res: Option<u8>,
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", m)
}

pub async fn heatmap(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<Query>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let unit = unit_id(query.unit_id.as_deref())?;
    let res = Resolution::try_from(query.res.unwrap_or(DEFAULT_RES))
        .map_err(|_| bad("res: an H3 resolution, 0 to 15"))?;
    let accept_geo = crate::http::accepts(&req, "application/geo+json");
    let format = match query.format.as_deref() {
        Some("geojson") => HeatmapFormat::GeoJson,
        Some("json") => HeatmapFormat::Json,
        None if accept_geo => HeatmapFormat::GeoJson,
        None => HeatmapFormat::Json,
        Some(f) => return Err(bad(format!("format: {f:?} is not json or geojson"))),
    };
    let (span, now) = span(query.from.as_deref(), query.to.as_deref())?;
    let v = state
        .read(user.who(), move |r| {
            wangge_app::stats::heatmap(r, unit, res, span, format, now)
        })
        .await?;
    let content_type = match format {
        HeatmapFormat::GeoJson => "application/geo+json",
        HeatmapFormat::Json => "application/json",
    };
    Ok(HttpResponse::Ok().content_type(content_type).json(v))
}
