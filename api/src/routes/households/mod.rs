//! The household registry over HTTP: households, their history, tags and bulk imports.
//! Residents and visits have their own route folders.

mod create;
mod delete;
mod get;
mod import;
mod list;
pub(crate) mod update;

pub use create::create;
pub use delete::delete;
pub use get::{get, history};
pub use import::import;
pub use list::{list, tags};
pub use update::update;

use serde::Deserialize;
use wangge_app::households::Location;
use wangge_geo::Crs;
use wangge_persistence::households::{Household, HouseholdRecord};

pub(crate) const WHAT: &str = "household";

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
pub struct UnitRefBody<'a> {
    pub id: &'a str,
    pub code: &'a str,
    pub name: &'a str,
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

pub(crate) fn record_body<'a>(r: &'a HouseholdRecord, unit: UnitRefBody<'a>) -> HouseholdBody<'a> {
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

/// A point as requests carry it: `crs` says which datum (default WGS-84).
#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PointIn {
    lat: f64,
    lng: f64,
    #[serde(default, deserialize_with = "crate::http::non_null")]
    crs: Option<CrsIn>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum CrsIn {
    Wgs84,
    Gcj02,
    Bd09,
}

impl From<PointIn> for Location {
    fn from(p: PointIn) -> Self {
        Self {
            lat: p.lat,
            lng: p.lng,
            crs: match p.crs {
                None | Some(CrsIn::Wgs84) => Crs::Wgs84,
                Some(CrsIn::Gcj02) => Crs::Gcj02,
                Some(CrsIn::Bd09) => Crs::Bd09,
            },
        }
    }
}

/// Tags from a body, bounded before they are parsed.
pub(crate) fn tags_of(
    names: &[String],
) -> Result<Vec<wangge_domain::Tag>, wangge_domain::ValidationError> {
    if names.len() > wangge_domain::Tag::ALL.len() * 2 {
        return Err(wangge_domain::ValidationError::new("tags", "too many tags"));
    }
    wangge_domain::Tag::parse_list(names.iter().map(String::as_str))
}
