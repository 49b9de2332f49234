//! Patrols (巡查): a grid worker's GPS track, started, fed in batches, finished, then read
//! with its summary.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::{self, IdempotencyKey, JsonBody};
use crate::startup::{AppState, StateExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_app::patrols::{self as uc, Batch, ListQuery, NewFix, NewPatrol};
use wangge_domain::{PatrolId, UnitId, UserId, ValidationError};
use wangge_geo::Crs;
use wangge_persistence::patrols::PatrolRecord;

const WHAT: &str = "patrol";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default, deserialize_with = "http::non_null")]
    id: Option<String>,
    #[serde(default)]
    unit_id: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
}

impl TryFrom<StartBody> for NewPatrol {
    type Error = ValidationError;

    fn try_from(b: StartBody) -> Result<Self, ValidationError> {
        Ok(Self {
            id: b.id.as_deref().map(PatrolId::parse_client).transpose()?,
            unit: b
                .unit_id
                .as_deref()
                .map(|u| UnitId::parse(u).map_err(|e| ValidationError::new("unit_id", e.reason)))
                .transpose()?,
            started_at: b.started_at,
        })
    }
}

/// The datum of a batch, as households' points name it.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum CrsIn {
    Wgs84,
    Gcj02,
    Bd09,
}

impl From<CrsIn> for Crs {
    fn from(c: CrsIn) -> Self {
        match c {
            CrsIn::Wgs84 => Self::Wgs84,
            CrsIn::Gcj02 => Self::Gcj02,
            CrsIn::Bd09 => Self::Bd09,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixIn {
    lat: f64,
    lng: f64,
    accuracy_m: f64,
    at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsBody {
    #[serde(default, deserialize_with = "http::non_null")]
    crs: Option<CrsIn>,
    points: Vec<FixIn>,
}

impl From<PointsBody> for Batch {
    fn from(b: PointsBody) -> Self {
        Self {
            crs: b.crs.map_or(Crs::Wgs84, Into::into),
            points: b
                .points
                .into_iter()
                .map(|f| NewFix {
                    lat: f.lat,
                    lng: f.lng,
                    accuracy_m: f.accuracy_m,
                    at: f.at,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    #[serde(default)]
    pub(crate) finished_at: Option<String>,
}

/// A patrol as answers show it: members without a value are left out (no nulls).
pub(crate) fn body(p: &PatrolRecord) -> Value {
    let mut v = full(p);
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
        if let Some(s) = o.get_mut("summary").and_then(Value::as_object_mut) {
            s.retain(|_, x| !x.is_null());
        }
    }
    v
}

fn full(p: &PatrolRecord) -> Value {
    let summary = p.finished_at.as_ref().map(|_| {
        json!({
            "distance_m": p.distance_m.unwrap_or_default(),
            "duration_s": p.duration_s.unwrap_or_default(),
            "cells": uc::cells(p),
            "flags": uc::flags(p),
            "accepted": p.accepted.unwrap_or_default(),
            "ignored": p.ignored.unwrap_or_default(),
            "duplicates": p.duplicates,
            "first_fix_at": p.first_fix_at,
            "last_fix_at": p.last_fix_at,
        })
    });
    json!({
        "id": p.id,
        "unit_id": p.unit_id,
        "walker_id": p.walker_id,
        "status": if p.finished_at.is_some() { "finished" } else { "walking" },
        "started_at": p.started_at,
        "finished_at": p.finished_at,
        "points": p.points,
        "duplicates": p.duplicates,
        "summary": summary,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "version": p.version,
    })
}

/// Starts a patrol; a phone that was offline dates it (up to 90 days back).
pub async fn start(
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    json: JsonBody<StartBody>,
) -> Result<HttpResponse, ApiError> {
    let keyed = json.keyed(&key);
    let new = NewPatrol::try_from(json.into_inner())?;
    state
        .answer(
            user.who(),
            keyed,
            move |tx| uc::start(tx, &new),
            |c| {
                let status = if c.again {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                let location = (!c.again).then(|| format!("/api/v1/patrols/{}", c.record.id));
                http::answer(status, &body(&c.record), location, Some(c.record.version))
            },
        )
        .await
}

/// Adds a batch of fixes to the caller's patrol.
pub async fn add_points(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    json: JsonBody<PointsBody>,
) -> Result<HttpResponse, ApiError> {
    let id: PatrolId = http::id(&id, WHAT)?;
    let batch = Batch::from(json.into_inner());
    let added = state
        .write(user.who(), move |tx| uc::add_points(tx, id, &batch))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "accepted": added.accepted,
        "duplicates": added.duplicates,
    })))
}

/// Finishes the caller's patrol with its summary; a finished patrol is answered as it is.
pub async fn finish(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    json: JsonBody<FinishBody>,
) -> Result<HttpResponse, ApiError> {
    let id: PatrolId = http::id(&id, WHAT)?;
    let finished_at = json.into_inner().finished_at;
    let p = state
        .write(user.who(), move |tx| {
            uc::finish(tx, id, finished_at.as_deref())
        })
        .await?;
    Ok(http::with_etag(StatusCode::OK, p.version, &body(&p)))
}

/// One patrol; `If-None-Match` with its current tag answers 304.
pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id: PatrolId = http::id(&id, WHAT)?;
    let p = state.read(user.who(), move |r| uc::get(r, id)).await?;
    if http::not_modified(&req, p.version) {
        return Ok(http::not_modified_response(p.version));
    }
    Ok(http::with_etag(StatusCode::OK, p.version, &body(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatrolsQuery {
    unit_id: Option<String>,
    walker_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// A time of the query (RFC 3339).
fn query_time(
    name: &str,
    s: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    s.map(|s| {
        wangge_domain::instant::parse_instant(s).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("{name} must be an RFC 3339 time"))
        })
    })
    .transpose()
}

/// Patrols the caller may read, newest first.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<PatrolsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = http::limit(query.limit)?;
    let bad = |what: &str| {
        let what = what.to_owned();
        move |_| ApiError::bad_request("invalid_query", format!("{what} must be a UUID"))
    };
    let q = ListQuery {
        unit: query
            .unit_id
            .as_deref()
            .map(str::parse::<UnitId>)
            .transpose()
            .map_err(bad("unit_id"))?,
        walker: query
            .walker_id
            .as_deref()
            .map(str::parse::<UserId>)
            .transpose()
            .map_err(bad("walker_id"))?,
        from: query_time("from", query.from.as_deref())?,
        to: query_time("to", query.to.as_deref())?,
        before: http::cursor(query.cursor.as_deref())?,
        limit: i64::from(limit) + 1,
    };
    let rows = state.read(user.who(), move |r| uc::list(r, &q)).await?;
    let items: Vec<Value> = rows.iter().map(body).collect();
    Ok(HttpResponse::Ok().json(http::page(items, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })))
}
