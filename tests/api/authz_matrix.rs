//! The authorization matrix: every route that touches a scoped object, for every role, in
//! scope and out of scope, with the status it must answer. Writes carry `If-Match: "999"`
//! where the route takes one, so a permitted caller gets 412 (it passed every check and
//! reached the version) and nothing changes; a refused caller gets 403 (the object is
//! readable to them) or 404 (it is not, so its existence is not revealed).

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

const ROLES: [&str; 8] = [
    "admin",
    "command_centre",
    "subdistrict_officer",
    "community_staff",
    "grid_worker",
    "group_leader",
    "department",
    "platform",
];

struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    if_match: bool,
    expect: [u16; 8],
}

fn case(
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    if_match: bool,
    expect: [u16; 8],
) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        if_match,
        expect,
    }
}

#[actix_web::test]
async fn every_role_in_and_out_of_scope_gets_the_expected_status() {
    use Method as M;
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (west, community, east) = (id(&grid.west), id(&grid.community), id(&grid.east));

    // Objects inside the callers' scope (the west subdistrict's community) and outside it.
    let (_, setup) = app
        .user(
            "setup.staff",
            &["community_staff"],
            &[(id(&grid.district), true)],
        )
        .await;
    let mut households = Vec::new();
    for at in [(21.6, 111.05), (21.6, 111.15)] {
        let r = app
            .send(
                M::POST,
                "/api/v1/households",
                Some(&setup),
                Some(json!({ "address": "矩阵路", "location": { "lat": at.0, "lng": at.1 } })),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        households.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let (h_in, h_out) = (&households[0], &households[1]);
    let (user_in, _) = app
        .user("target.in", &["grid_worker"], &[(community, true)])
        .await;
    let (user_out, _) = app
        .user("target.out", &["grid_worker"], &[(east, true)])
        .await;

    // One caller per role; the field roles work in the west subdistrict.
    let mut tokens = Vec::new();
    for role in ROLES {
        let units: Vec<(&str, bool)> = match role {
            "admin" | "subdistrict_officer" => vec![(west, true)],
            "command_centre" => vec![(west, false)],
            "department" | "platform" => vec![],
            _ => vec![(community, true)],
        };
        let (_, token) = app.user(&format!("m.{role}"), &[role], &units).await;
        tokens.push(token);
    }

    let (a, b, c, d) = (403, 200, 404, 412);
    let notes = Some(json!({ "notes": "x" }));
    let cases = vec![
        // Households: list, read, change, delete, in and out of scope (BOLA).
        case(
            M::GET,
            "/api/v1/households",
            None,
            false,
            [a, b, b, b, b, b, a, a],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_in}"),
            None,
            false,
            [c, b, b, b, b, b, c, c],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_out}"),
            None,
            false,
            [c; 8],
        ),
        case(
            M::PATCH,
            format!("/api/v1/households/{h_in}"),
            notes.clone(),
            true,
            [c, a, d, d, d, d, c, c],
        ),
        case(
            M::PATCH,
            format!("/api/v1/households/{h_out}"),
            notes.clone(),
            true,
            [c; 8],
        ),
        case(
            M::DELETE,
            format!("/api/v1/households/{h_in}"),
            None,
            true,
            [c, a, d, d, a, a, c, c],
        ),
        case(
            M::DELETE,
            format!("/api/v1/households/{h_out}"),
            None,
            true,
            [c; 8],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_in}/history"),
            None,
            false,
            [c, b, b, b, b, b, c, c],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_out}/history"),
            None,
            false,
            [c; 8],
        ),
        // Personal data: masked reads, reveals, new residents.
        case(
            M::GET,
            format!("/api/v1/households/{h_in}/residents"),
            None,
            false,
            [c, b, b, b, b, b, c, c],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_in}/residents?reveal=true"),
            None,
            false,
            [c, b, b, b, b, a, c, c],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_out}/residents?reveal=true"),
            None,
            false,
            [c; 8],
        ),
        case(
            M::POST,
            format!("/api/v1/households/{h_in}/residents"),
            Some(json!({ "name": "某", "relation": "other" })),
            false,
            [c, a, 201, 201, 201, 201, c, c],
        ),
        case(
            M::POST,
            format!("/api/v1/households/{h_out}/residents"),
            Some(json!({ "name": "某", "relation": "other" })),
            false,
            [c; 8],
        ),
        // Visits.
        case(
            M::POST,
            format!("/api/v1/households/{h_in}/visits"),
            notes.clone(),
            false,
            [c, a, a, 201, 201, 201, c, c],
        ),
        case(
            M::POST,
            format!("/api/v1/households/{h_out}/visits"),
            notes.clone(),
            false,
            [c; 8],
        ),
        case(
            M::GET,
            format!("/api/v1/households/{h_in}/visits"),
            None,
            false,
            [c, b, b, b, b, b, c, c],
        ),
        // Mass assignment: the version and the unit are not free body members.
        case(
            M::PATCH,
            format!("/api/v1/households/{h_in}"),
            Some(json!({ "version": 7 })),
            false,
            [422; 8],
        ),
        case(
            M::PATCH,
            format!("/api/v1/households/{h_in}"),
            Some(json!({ "unit_id": east, "unit_reason": "x" })),
            false,
            [c, a, a, a, a, a, c, c],
        ),
        // Accounts: delegated administration (BFLA for everyone but the admin).
        case(
            M::GET,
            "/api/v1/users",
            None,
            false,
            [b, a, a, a, a, a, a, a],
        ),
        case(
            M::POST,
            "/api/v1/users",
            Some(
                json!({ "username": "made.here", "display_name": "x", "roles": ["grid_worker"], "assignments": [{ "unit_id": community, "capture": true }] }),
            ),
            false,
            [201, a, a, a, a, a, a, a],
        ),
        case(
            M::POST,
            "/api/v1/users",
            Some(
                json!({ "username": "made.there", "display_name": "x", "roles": ["grid_worker"], "assignments": [{ "unit_id": east, "capture": true }] }),
            ),
            false,
            [a; 8],
        ),
        case(
            M::GET,
            format!("/api/v1/users/{user_in}"),
            None,
            false,
            [b, c, c, c, c, c, c, c],
        ),
        case(
            M::GET,
            format!("/api/v1/users/{user_out}"),
            None,
            false,
            [c; 8],
        ),
        case(
            M::PATCH,
            format!("/api/v1/users/{user_in}"),
            Some(json!({ "display_name": "x" })),
            true,
            [d, c, c, c, c, c, c, c],
        ),
        case(
            M::PATCH,
            format!("/api/v1/users/{user_in}"),
            Some(json!({ "roles": ["grid_worker"], "version": 1 })),
            false,
            [422; 8],
        ),
        case(
            M::PATCH,
            format!("/api/v1/users/{user_out}"),
            Some(json!({ "active": false })),
            true,
            [c; 8],
        ),
        case(
            M::PUT,
            format!("/api/v1/users/{user_in}/assignments"),
            Some(json!({ "assignments": [{ "unit_id": community, "capture": true }] })),
            true,
            [d, c, c, c, c, c, c, c],
        ),
        case(
            M::PUT,
            format!("/api/v1/users/{user_in}/assignments"),
            Some(json!({ "assignments": [{ "unit_id": east, "capture": true }] })),
            true,
            [a, c, c, c, c, c, c, c],
        ),
        case(
            M::POST,
            format!("/api/v1/users/{user_out}/password-reset"),
            None,
            false,
            [c; 8],
        ),
        case(
            M::DELETE,
            format!("/api/v1/users/{user_out}"),
            None,
            true,
            [c; 8],
        ),
        case(
            M::GET,
            "/api/v1/audit",
            None,
            false,
            [b, b, a, a, a, a, a, a],
        ),
        case(
            M::GET,
            format!("/api/v1/units/{community}/workers"),
            None,
            false,
            [b, b, b, b, b, b, c, c],
        ),
        case(
            M::GET,
            format!("/api/v1/units/{east}/workers"),
            None,
            false,
            [c; 8],
        ),
        // Coverage is read by those who read the unit's households; out of sight is 404.
        case(
            M::GET,
            format!(
                "/api/v1/stats/coverage?unit_id={community}&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
            ),
            None,
            false,
            [a, b, b, b, b, b, a, a],
        ),
        case(
            M::GET,
            format!(
                "/api/v1/stats/coverage?unit_id={east}&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
            ),
            None,
            false,
            [a, c, c, c, c, c, a, a],
        ),
        // The grid: everyone reads it; an admin changes it within capture scope only.
        case(M::GET, "/api/v1/units", None, false, [b; 8]),
        case(M::GET, "/api/v1/me", None, false, [b; 8]),
        case(
            M::PATCH,
            format!("/api/v1/units/{community}"),
            Some(json!({ "name": "改名" })),
            true,
            [d, a, a, a, a, a, a, a],
        ),
        case(
            M::PATCH,
            format!("/api/v1/units/{east}"),
            Some(json!({ "name": "改名" })),
            true,
            [a; 8],
        ),
        case(
            M::PUT,
            format!("/api/v1/units/{east}/coverage"),
            Some(json!({ "cells": [] })),
            true,
            [a; 8],
        ),
        case(
            M::POST,
            "/api/v1/units",
            Some(
                json!({ "code": "440904001001077", "name": "新组", "level": 4, "parent_id": community }),
            ),
            false,
            [201, a, a, a, a, a, a, a],
        ),
        case(
            M::POST,
            "/api/v1/units",
            Some(json!({ "code": "440905", "name": "别区", "level": 1 })),
            false,
            [a; 8],
        ),
        case(
            M::POST,
            "/api/v1/departments",
            Some(json!({ "code": "tourism", "name": "文旅局" })),
            false,
            [a; 8],
        ),
    ];

    let mut wrong = Vec::new();
    for c in &cases {
        for (i, role) in ROLES.iter().enumerate() {
            let headers: Vec<(&str, &str)> = if c.if_match {
                vec![("if-match", "\"999\"")]
            } else {
                vec![]
            };
            let r = app
                .send(
                    c.method.clone(),
                    &c.path,
                    Some(&tokens[i]),
                    c.body.clone(),
                    &headers,
                )
                .await;
            if r.status != c.expect[i] {
                wrong.push(format!(
                    "{} {} as {role}: expected {}, got {} {}",
                    c.method, c.path, c.expect[i], r.status, r.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} checks differ:\n{}",
        wrong.len(),
        cases.len() * ROLES.len(),
        wrong.join("\n")
    );
}
