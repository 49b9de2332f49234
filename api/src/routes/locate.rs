//! Who is responsible for this spot: the phone app's hot path, answered from memory.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use std::fmt::Write as _;
use wangge_geo::Crs;

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
    query: crate::http::Query<LocateQuery>,
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
    // Join the units' pre-serialised JSON instead of building a value tree (see
    // docs/benchmarks.md). Floats print in Rust's shortest round-trip form.
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
