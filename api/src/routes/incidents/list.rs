//! `GET /incidents`: the cases in the caller's sight, filtered, a page at a time.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wangge_app::incidents::list::{ListQuery, list as list_cases};
use wangge_domain::incident::{CategoryCode, Priority, Status};
use wangge_domain::{DepartmentId, IncidentId, UnitId, UserId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    cursor: Option<String>,
    limit: Option<u32>,
    /// One status or several, comma-separated.
    status: Option<String>,
    category: Option<String>,
    priority: Option<String>,
    unit_id: Option<String>,
    department_id: Option<String>,
    overdue: Option<bool>,
    reporter_id: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    closed_from: Option<String>,
    closed_to: Option<String>,
    /// `oldest` (the default: report order) or `newest`.
    order: Option<String>,
    /// `min_lng,min_lat,max_lng,max_lat` in WGS-84 degrees.
    bbox: Option<String>,
    /// H3 cells, comma-separated.
    cells: Option<String>,
    /// `json` (the default) or `csv`.
    format: Option<String>,
}

/// The most cells one list may name.
const MAX_CELLS: usize = 100;

fn cells(s: &str) -> Result<Vec<wangge_geo::CellIndex>, ApiError> {
    let cells: Vec<&str> = s.split(',').map(str::trim).collect();
    if cells.len() > MAX_CELLS {
        return Err(bad(format!("cells: at most {MAX_CELLS}")));
    }
    cells
        .into_iter()
        .map(|c| wangge_geo::parse_cell(c).map_err(|e| bad(format!("cells: {e}"))))
        .collect()
}

/// `min_lng,min_lat,max_lng,max_lat`: four finite numbers, each minimum below its maximum.
fn bbox(s: &str) -> Result<(f64, f64, f64, f64), ApiError> {
    let n: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bbox: four numbers, min_lng,min_lat,max_lng,max_lat"))?;
    match n.as_slice() {
        [a, b, c, d]
            if n.iter().all(|x| x.is_finite())
                && a < c
                && b < d
                && (-180.0..=180.0).contains(a)
                && (-180.0..=180.0).contains(c)
                && (-90.0..=90.0).contains(b)
                && (-90.0..=90.0).contains(d) =>
        {
            Ok((*a, *b, *c, *d))
        }
        _ => Err(bad(
            "bbox: min_lng,min_lat,max_lng,max_lat in degrees, each minimum below its maximum",
        )),
    }
}

/// An RFC 3339 time in a query, in the stored form (so it compares as text).
fn time(name: &str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    v.map(|t| {
        wangge_domain::instant::parse_instant(t)
            .map(wangge_app::tx::stored_time)
            .ok_or_else(|| {
                bad(format!(
                    "{name}: must be an RFC 3339 date-time with an offset"
                ))
            })
    })
    .transpose()
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", m)
}

/// The query as the use case takes it.
fn parse(q: &Query) -> Result<ListQuery, ApiError> {
    let mut lq = ListQuery::default();
    if let Some(s) = &q.status {
        for one in s.split(',') {
            let st = Status::parse(one.trim()).map_err(|e| bad(e.to_string()))?;
            lq.filter.statuses.push(st.as_str().to_owned());
        }
    }
    if let Some(c) = &q.category {
        let code = CategoryCode::parse(c).map_err(|e| bad(format!("category: {}", e.reason)))?;
        lq.filter.category = Some(code.as_str().to_owned());
    }
    if let Some(p) = &q.priority {
        lq.filter.priority = Some(
            Priority::parse(p)
                .map_err(|e| bad(e.to_string()))?
                .as_str()
                .to_owned(),
        );
    }
    if let Some(d) = &q.department_id {
        let d: DepartmentId = d
            .parse()
            .map_err(|_| bad("department_id: must be a UUID"))?;
        lq.filter.department_id = Some(d.to_string());
    }
    if let Some(u) = &q.unit_id {
        lq.unit = Some(
            u.parse::<UnitId>()
                .map_err(|_| bad("unit_id: must be a UUID"))?,
        );
    }
    lq.overdue = q.overdue.unwrap_or(false);
    if let Some(r) = &q.reporter_id {
        let r: UserId = r.parse().map_err(|_| bad("reporter_id: must be a UUID"))?;
        lq.filter.reporter_id = Some(r.to_string());
    }
    lq.filter.created_from = time("created_from", q.created_from.as_deref())?;
    lq.filter.created_to = time("created_to", q.created_to.as_deref())?;
    lq.filter.closed_from = time("closed_from", q.closed_from.as_deref())?;
    lq.filter.closed_to = time("closed_to", q.closed_to.as_deref())?;
    lq.filter.bbox = q.bbox.as_deref().map(bbox).transpose()?;
    lq.filter.newest_first = match q.order.as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(o) => return Err(bad(format!("order: {o:?} is not oldest or newest"))),
    };
    lq.cells = q
        .cells
        .as_deref()
        .map(cells)
        .transpose()?
        .unwrap_or_default();
    Ok(lq)
}

/// One page of the list, `limit + 1` rows.
pub(crate) async fn page(
    state: &web::Data<AppState>,
    user: &AuthUser,
    lq: ListQuery,
    after: Option<String>,
    limit: u32,
) -> Result<Vec<serde_json::Value>, ApiError> {
    state
        .read(user.who(), move |r| {
            let leaf = r.svc.config.leaf;
            list_cases(
                r.conn,
                &r.caller,
                &lq,
                after.as_deref(),
                i64::from(limit) + 1,
                chrono::Utc::now(),
                leaf,
            )
        })
        .await
}

pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<Query>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = http::limit(q.limit)?;
    let after: Option<IncidentId> = http::cursor(q.cursor.as_deref())?;
    let lq = parse(&q)?;
    let wants_csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        None => http::accepts(&req, "text/csv"),
        Some(f) => return Err(bad(format!("format: {f:?} is not json or csv"))),
    };
    let after = after.map(|a| a.to_string());
    if wants_csv {
        return super::csv::stream(state, user, lq, after).await;
    }
    let rows = page(&state, &user, lq, after, limit).await?;
    Ok(HttpResponse::Ok().json(http::page(rows, limit, |v| {
        v["id"].as_str().unwrap_or_default().to_owned()
    })))
}
