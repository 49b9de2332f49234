//! Field sync: `GET /api/v1/sync` downloads, `POST /api/v1/sync` uploads (the use cases are
//! `wangge_app::sync`).

pub mod upload;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_app::sync::{Cursor, Item, Stage, Tagged};
use wangge_domain::UnitId;
use wangge_persistence::households::HouseholdCursor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// Every cursor is `<kind>.<position>.<scope tag>[.<rest>]`: `w.<p>.<t>` (a first sync
/// beginning), `w.<p>.<t>.<unit id>.<household id>` (going on through households),
/// `w.<p>.<t>.i[.<incident id>]` (through cases), `w.<p>.<t>.u[.<unit id>]` (through units),
/// `f.<p>.<t>` (the feed after a position), `r.<p>.<t>.<old tag>[.<unit id>]` (moving from
/// the scope the phone had to the account's scope now, after a unit).
fn format_cursor(c: &Tagged) -> String {
    let t = &c.scope;
    match &c.cursor {
        Cursor::Whole {
            at,
            stage: Stage::Households(None),
        } => format!("w.{at}.{t}"),
        Cursor::Whole {
            at,
            stage: Stage::Households(Some(h)),
        } => format!("w.{at}.{t}.{}.{}", h.unit_id, h.id),
        Cursor::Whole {
            at,
            stage: Stage::Incidents(None),
        } => format!("w.{at}.{t}.i"),
        Cursor::Whole {
            at,
            stage: Stage::Incidents(Some(id)),
        } => format!("w.{at}.{t}.i.{id}"),
        Cursor::Whole {
            at,
            stage: Stage::Units(None),
        } => format!("w.{at}.{t}.u"),
        Cursor::Whole {
            at,
            stage: Stage::Units(Some(id)),
        } => format!("w.{at}.{t}.u.{id}"),
        Cursor::Feed { at } => format!("f.{at}.{t}"),
        Cursor::Rescope {
            at,
            from,
            after: None,
        } => format!("r.{at}.{t}.{from}"),
        Cursor::Rescope {
            at,
            from,
            after: Some(u),
        } => format!("r.{at}.{t}.{from}.{u}"),
    }
}

/// # Errors
/// 400 `invalid_cursor` for anything [`format_cursor`] did not make.
fn parse_cursor(s: &str) -> Result<Tagged, ApiError> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API issued");
    let id = |s: &str| UnitId::parse(s).map(|u| u.to_string()).map_err(|_| bad());
    let tag = |s: &str| {
        (s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| s.to_owned())
            .ok_or_else(bad)
    };
    let mut parts = s.split('.');
    let (kind, at, scope) = (parts.next(), parts.next(), parts.next());
    // Digits only, as written: no sign, no leading zero.
    let at = at
        .filter(|a| a.bytes().all(|b| b.is_ascii_digit()) && (*a == "0" || !a.starts_with('0')))
        .and_then(|a| a.parse::<i64>().ok())
        .ok_or_else(bad)?;
    let scope = tag(scope.ok_or_else(bad)?)?;
    let rest: Vec<&str> = parts.collect();
    let whole = |stage| Ok(Cursor::Whole { at, stage });
    let cursor = match (kind, rest.as_slice()) {
        (Some("f"), []) => Ok(Cursor::Feed { at }),
        (Some("r"), [from]) => Ok(Cursor::Rescope {
            at,
            from: tag(from)?,
            after: None,
        }),
        (Some("r"), [from, unit]) => Ok(Cursor::Rescope {
            at,
            from: tag(from)?,
            after: Some(id(unit)?),
        }),
        (Some("w"), []) => whole(Stage::Households(None)),
        (Some("w"), ["i"]) => whole(Stage::Incidents(None)),
        (Some("w"), ["i", case]) => whole(Stage::Incidents(Some(id(case)?))),
        (Some("w"), ["u"]) => whole(Stage::Units(None)),
        (Some("w"), ["u", unit]) => whole(Stage::Units(Some(id(unit)?))),
        (Some("w"), [unit, household]) => whole(Stage::Households(Some(HouseholdCursor {
            unit_id: id(unit)?,
            id: id(household)?,
        }))),
        _ => Err(bad()),
    }?;
    Ok(Tagged { cursor, scope })
}

/// The members a value has: a phone on a slow link is sent no nulls.
fn without_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
        for x in o.values_mut() {
            *x = without_nulls(x.take());
        }
    }
    v
}

fn value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(&e))
}

pub(crate) fn change(item: &Item) -> Result<Value, ApiError> {
    let upsert = |entity: &str, id: &str, version: i64, data: Value| {
        json!({ "entity": entity, "id": id, "op": "upsert", "version": version,
                "data": without_nulls(data) })
    };
    Ok(match item {
        Item::Category(c) => upsert("category", &c.code, c.version, value(c)?),
        Item::CalendarDay(d) => upsert("calendar_day", &d.date, d.version, value(d)?),
        Item::Household(h) => upsert(
            "household",
            &h.record.id,
            h.record.version,
            value(&super::households::household_body(h))?,
        ),
        Item::Resident(r) => upsert(
            "resident",
            &r.id,
            r.version,
            super::residents::body(r, None),
        ),
        Item::Incident(v) => upsert(
            "incident",
            v["id"].as_str().unwrap_or_default(),
            v["version"].as_i64().unwrap_or_default(),
            v.clone(),
        ),
        Item::Visit(v) => upsert("visit", &v.id, 1, super::visits::body(v)),
        Item::Patrol(p) => upsert("patrol", &p.id, p.version, super::patrols::body(p)),
        Item::Unit { record, coverage } => {
            let mut data = value(&super::units::UnitBody::from(record.clone()))?;
            if let (Some(cells), Some(o)) = (coverage, data.as_object_mut()) {
                o.insert("coverage".into(), json!({ "cells": cells }));
            }
            upsert("unit", &record.id, record.version, data)
        }
        Item::Gone {
            entity,
            id,
            version,
        } => json!({ "entity": entity.as_str(), "id": id, "op": "delete", "version": version }),
    })
}

/// The next page of the caller's sync.
pub async fn download(
    user: AuthUser,
    state: web::Data<AppState>,
    query: crate::http::Query<SyncQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = http::limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let (page, scope) = state
        .read(user.who(), move |r| {
            wangge_app::sync::download(r, cursor, i64::from(limit))
        })
        .await?;
    let changes = page
        .items
        .iter()
        .map(change)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(json!({
        "changes": changes,
        "next_cursor": format_cursor(&Tagged { cursor: page.next, scope }),
        "more": page.more,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_as_written_and_nothing_else_is_one() {
        let h = HouseholdCursor {
            unit_id: "01a247f2-15b4-751b-b670-e247263c10ff".into(),
            id: "01a247f2-462b-715c-b019-ee182296411b".into(),
        };
        let case = "01a247f2-462b-715c-b019-ee182296411c".to_owned();
        for c in [
            Cursor::Whole {
                at: 7,
                stage: Stage::Households(None),
            },
            Cursor::Whole {
                at: 7,
                stage: Stage::Households(Some(h)),
            },
            Cursor::Whole {
                at: 7,
                stage: Stage::Incidents(None),
            },
            Cursor::Whole {
                at: 7,
                stage: Stage::Incidents(Some(case.clone())),
            },
            Cursor::Whole {
                at: 7,
                stage: Stage::Units(None),
            },
            Cursor::Whole {
                at: 7,
                stage: Stage::Units(Some(case.clone())),
            },
            Cursor::Feed { at: 0 },
            Cursor::Rescope {
                at: 5,
                from: "0123456789abcdef".into(),
                after: None,
            },
            Cursor::Rescope {
                at: 5,
                from: "0123456789abcdef".into(),
                after: Some(case),
            },
        ] {
            let c = Tagged {
                cursor: c,
                scope: "fedcba9876543210".into(),
            };
            assert_eq!(parse_cursor(&format_cursor(&c)).ok(), Some(c));
        }
        for bad in [
            "",
            "f",
            "f.-1",
            "f.3",
            "x.3.fedcba9876543210",
            "f.3.a",
            "f.3.FEDCBA9876543210",
            "f.3.fedcba9876543210.a",
            "w.3.fedcba9876543210.a.b",
            "w.3.fedcba9876543210.a",
            "w.3.fedcba9876543210.u.x",
            "w.3.fedcba9876543210.u.",
            "r.3.fedcba9876543210",
            "r.3.fedcba9876543210.xyz",
            "f.9999999999999999999.fedcba9876543210",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
