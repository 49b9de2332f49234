//! Field sync: `GET /api/v1/sync` downloads, `POST /api/v1/sync` uploads (the use cases are
//! `wangge_app::sync`).

pub mod upload;
mod wire;

use wire::Wire;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use wangge_app::sync::{Cursor, Item, Stage, Tagged, TasksMark};
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
/// `f.<p>.<t>[.<tasks digest>.<until>]` (the feed after a position, with the tasks the phone
/// holds: their digest in 12 hex digits, and the Unix second to look at them again),
/// `r.<p>.<t>.<old tag>[.<unit id>]` (moving from the scope the phone had to the account's
/// scope now, after a unit).
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
        Cursor::Feed { at, tasks: None } => format!("f.{at}.{t}"),
        Cursor::Feed { at, tasks: Some(m) } => format!("f.{at}.{t}.{:012x}.{}", m.digest, m.until),
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
    // Digits only, as written: no sign, no leading zero.
    let number = |a: &str| {
        (a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0')))
            .then(|| a.parse::<i64>().ok())
            .flatten()
            .ok_or_else(bad)
    };
    let digest = |d: &str| {
        (d.len() == 12 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| i64::from_str_radix(d, 16).ok())
            .flatten()
            .ok_or_else(bad)
    };
    let mut parts = s.split('.');
    let (kind, at, scope) = (parts.next(), parts.next(), parts.next());
    let at = number(at.unwrap_or_default())?;
    let rest: Vec<&str> = parts.collect();
    let Some(scope) = scope.filter(|t| tag(t).is_ok()) else {
        return Err(if untagged(kind, scope, &rest) {
            ApiError::from(wangge_app::AppError::Gone {
                code: "cursor_expired",
                message:
                    "the cursor is from before cursors carried a scope: sync again from the start"
                        .into(),
            })
        } else {
            bad()
        });
    };
    let scope = scope.to_owned();
    let whole = |stage| Ok(Cursor::Whole { at, stage });
    let cursor = match (kind, rest.as_slice()) {
        (Some("f"), []) => Ok(Cursor::Feed { at, tasks: None }),
        (Some("f"), [d, until]) => Ok(Cursor::Feed {
            at,
            tasks: Some(TasksMark {
                digest: digest(d)?,
                until: number(until)?,
            }),
        }),
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

/// Whether a cursor has a shape this API issued before cursors carried a scope tag:
/// `f.<p>`, `w.<p>`, `w.<p>.i[.<id>]`, `w.<p>.u[.<id>]`, `w.<p>.<unit>.<household>`.
fn untagged(kind: Option<&str>, third: Option<&str>, rest: &[&str]) -> bool {
    let uuid = |s: &str| UnitId::parse(s).is_ok();
    match (kind, third, rest) {
        (Some("f" | "w"), None, []) => true,
        (Some("w"), Some("i" | "u"), []) => true,
        (Some("w"), Some("i" | "u"), [id]) => uuid(id),
        (Some("w"), Some(unit), [household]) => uuid(unit) && uuid(household),
        _ => false,
    }
}

/// A change as the phone gets it, as a value (what an upload's results carry).
pub(crate) fn change(item: &Item) -> Result<Value, ApiError> {
    serde_json::to_value(Wire(item)).map_err(|e| ApiError::internal(&e))
}

#[derive(serde::Serialize)]
struct PageBody<'a> {
    changes: Vec<Wire<'a>>,
    next_cursor: String,
    more: bool,
}

/// The next page of the caller's sync.
pub async fn download(
    req: HttpRequest,
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
    let body = PageBody {
        changes: page.items.iter().map(Wire).collect(),
        next_cursor: format_cursor(&Tagged {
            cursor: page.next,
            scope,
        }),
        more: page.more,
    };
    // About 450 bytes a change: one allocation, not a doubling series of copies.
    let mut json = Vec::with_capacity(512 * (body.changes.len() + 1));
    serde_json::to_writer(&mut json, &body).map_err(|e| ApiError::internal(&e))?;
    Ok(crate::compressed::json(&req, json))
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
            Cursor::Feed { at: 0, tasks: None },
            Cursor::Feed {
                at: 9,
                tasks: Some(TasksMark {
                    digest: 0xfff_ffff_ffff,
                    until: 1_796_000_000,
                }),
            },
            Cursor::Feed {
                at: 9,
                tasks: Some(TasksMark {
                    digest: 0,
                    until: 0,
                }),
            },
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
            "f.3.fedcba9876543210.0123456789ab",
            "f.3.fedcba9876543210.0123456789a.5",
            "f.3.fedcba9876543210.0123456789AB.5",
            "f.3.fedcba9876543210.0123456789ab.05",
            "f.3.fedcba9876543210.0123456789ab.-5",
            "f.3.fedcba9876543210.0123456789ab.5.6",
        ] {
            let e = parse_cursor(bad).err().map(|e| e.status.as_u16());
            assert_eq!(e, Some(400), "{bad}");
        }
        let (u, h) = (
            "01a247f2-15b4-751b-b670-e247263c10ff",
            "01a247f2-462b-715c-b019-ee182296411b",
        );
        for old in [
            "f.3".to_owned(),
            "w.3".to_owned(),
            "w.3.i".to_owned(),
            format!("w.3.i.{h}"),
            "w.3.u".to_owned(),
            format!("w.3.u.{u}"),
            format!("w.3.{u}.{h}"),
        ] {
            let e = parse_cursor(&old).err().map(|e| e.status.as_u16());
            assert_eq!(e, Some(410), "{old}");
        }
    }
}
