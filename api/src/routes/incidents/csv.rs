//! `GET /incidents` as CSV (`Accept: text/csv` or `format=csv`): the same query, every page,
//! streamed a page at a time for Excel users. UTF-8 with a byte-order mark, so Excel shows
//! Chinese; CRLF line ends; text that Excel would run as a formula is defused.

use super::list::page;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{HttpResponse, web};
use serde_json::Value;
use wangge_app::incidents::list::ListQuery;

/// Rows read per page while streaming.
const PAGE: u32 = 500;

const HEADER: &str = "id,category,priority,status,owner_unit_code,owner_unit_name,department_id,lat,lng,cell,created_at,updated_at,close_due,overdue,version,description\r\n";

/// A field as CSV writes it: quoted when it holds a separator, quote or line end; a leading
/// `=`, `+`, `-`, `@`, tab or carriage return gets a `'` so a spreadsheet shows it as text
/// rather than running it (CSV injection).
fn field(out: &mut String, s: &str) {
    let defused = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = defused || s.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if defused {
        out.push('\'');
    }
    for ch in s.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    if quoted {
        out.push('"');
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One case summary as a CSV line.
fn line(out: &mut String, c: &Value) {
    let close = &c["deadlines"]["close"];
    // As the list's `overdue` filter: a case on hold (挂账) is not overdue.
    let overdue = c["status"] != "on_hold"
        && c["deadlines"]
            .as_object()
            .is_some_and(|d| d.values().any(|x| x["overdue"] == true));
    let cells = [
        text(&c["id"]),
        text(&c["category"]),
        text(&c["priority"]),
        text(&c["status"]),
        text(&c["owner_unit"]["code"]),
        text(&c["owner_unit"]["name"]),
        text(&c["department_id"]),
        text(&c["location"]["lat"]),
        text(&c["location"]["lng"]),
        text(&c["location"]["cell"]),
        text(&c["created_at"]),
        text(&c["updated_at"]),
        text(&close["due"]),
        overdue.to_string(),
        text(&c["version"]),
        text(&c["description"]),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, cell);
    }
    out.push_str("\r\n");
}

/// Streams every case of the query. The first page is read before the answer starts, so a
/// refusal (403, 404, a bad filter) is a problem response, not a broken file.
pub async fn stream(
    state: web::Data<AppState>,
    user: AuthUser,
    lq: ListQuery,
    after: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let first = page(&state, &user, lq.clone(), after, PAGE).await?;
    let mut head = String::from("\u{feff}");
    head.push_str(HEADER);
    let start = (Some(first), head, false);
    let body = futures_util::stream::unfold(
        (state, user, lq, start),
        |(state, user, lq, (rows, mut out, done))| async move {
            if done {
                return None;
            }
            let rows = match rows {
                Some(r) => r,
                None => return None,
            };
            let more = rows.len() > PAGE as usize;
            let rows = &rows[..rows.len().min(PAGE as usize)];
            for r in rows {
                line(&mut out, r);
            }
            let next = if more {
                let cursor = rows
                    .last()
                    .and_then(|r| r["id"].as_str())
                    .map(str::to_owned);
                match page(&state, &user, lq.clone(), cursor, PAGE).await {
                    Ok(n) => (Some(n), String::new(), false),
                    Err(e) => {
                        // Headers are gone; cut the file short rather than pretend it ended.
                        tracing::error!(error.cause = %e, "the CSV export failed midway");
                        return Some((Err(e), (state, user, lq, (None, String::new(), true))));
                    }
                }
            } else {
                (None, String::new(), true)
            };
            Some((
                Ok::<_, ApiError>(web::Bytes::from(out)),
                (state, user, lq, next),
            ))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"incidents.csv\"",
        ))
        .streaming(body))
}
