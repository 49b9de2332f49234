//! Found when tried as an attacker would: filters with control characters, caching of secret
//! answers, an identity-number oracle, database text in answers, hashing before checking,
//! spoofed client addresses, a missing key, and the codes no other test provokes.

use crate::helpers::{Options, SmallGrid, TestApp, id, note, on_postgres};
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn control_characters_in_text_filters_are_refused() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("hard.staff", &grid).await;
    app.household(&staff, "过滤路 1 号", 21.6, 111.05).await;
    for path in [
        "/api/v1/households?q=%00",
        "/api/v1/households?q=a%01b",
        "/api/v1/users?q=%00",
    ] {
        let token = if path.contains("users") {
            app.admin_token.clone()
        } else {
            staff.clone()
        };
        let r = app.get_as(&token, path).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{path}: {}",
            r.text
        );
    }
    // White space alone is no filter: every household in scope.
    let all = app
        .get_as(&staff, "/api/v1/households?q=%20%20")
        .await
        .json();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    // 64 characters are a filter; 65 are refused.
    let q64: String = std::iter::repeat_n("%E8%B7%AF", 64).collect();
    assert_eq!(
        app.get_as(&staff, &format!("/api/v1/households?q={q64}"))
            .await
            .status,
        200
    );
    let r = app
        .get_as(&staff, &format!("/api/v1/households?q={q64}%E8%B7%AF"))
        .await;
    assert_eq!(r.status, 400);
}

#[actix_web::test]
async fn answers_with_tokens_passwords_or_personal_data_are_never_cached() {
    let app = TestApp::spawn().await;
    let login = app
        .login(crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD)
        .await;
    let refresh = app
        .send(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": login.json()["refresh_token"] })),
            &[],
        )
        .await;
    let created = app
        .post("/api/v1/users", json!({ "username": "cache.user", "display_name": "甲", "roles": ["admin"], "all_units": true }))
        .await;
    let reset = app
        .post(
            &format!(
                "/api/v1/users/{}/password-reset",
                created.json()["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    let me = app.get("/api/v1/me").await;
    for (what, r) in [
        ("login", &login),
        ("refresh", &refresh),
        ("user creation", &created),
        ("password reset", &reset),
        ("me", &me),
    ] {
        assert!(r.status < 300, "{what}: {}", r.text);
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
    }
    // Outside the API too: the contract and health answers are not sniffed either.
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
}

#[actix_web::test]
async fn refusing_a_registered_identity_number_is_audited_and_limited_like_the_search() {
    let app = TestApp::spawn_with(Options {
        pii_searches_per_hour: 2,
        ..Options::default()
    })
    .await;
    let grid = SmallGrid::build(&app).await;
    let (_, west) = app
        .user("west.worker", &["grid_worker"], &[(id(&grid.west), true)])
        .await;
    let (east_id, east) = app
        .user("east.worker", &["grid_worker"], &[(id(&grid.east), true)])
        .await;
    let number = crate::households::id_card("44090419850615123");
    let add = |token: String, hid: String| {
        let app = &app;
        let number = number.clone();
        async move {
            app.send(
                Method::POST,
                &format!("/api/v1/households/{hid}/residents"),
                Some(&token),
                Some(json!({ "name": "陈某", "relation": "head", "id_card": number })),
                &[],
            )
            .await
        }
    };
    let w = app.household(&west, "西边路 1 号", 21.6, 111.05).await;
    assert_eq!(
        add(west.clone(), w["id"].as_str().unwrap().into())
            .await
            .status,
        201
    );
    // The east worker cannot see that household, but learns the person is registered: the
    // district-wide uniqueness stays, and the refusal is the search it amounts to.
    let e = app.household(&east, "东边路 1 号", 21.6, 111.15).await;
    let eid = e["id"].as_str().unwrap().to_owned();
    let r = add(east.clone(), eid.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (409, "duplicate_id_card"));
    let events = app
        .get(&format!(
            "/api/v1/audit?action=pii.searched&actor_id={east_id}"
        ))
        .await
        .json();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["details"]["outcome"], "refused_registered");
    assert_eq!(items[0]["details"]["via"], "resident.create");
    assert!(
        !events.to_string().contains(&number),
        "the number is not in the log"
    );
    // A search by number counts too; past the limit both are refused.
    let r = app
        .get_as(&east, &format!("/api/v1/households?id_card={number}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["items"].as_array().unwrap().len(),
        0,
        "not in their scope"
    );
    let r = app
        .get_as(&east, &format!("/api/v1/households?id_card={number}"))
        .await;
    assert_eq!((r.status, r.code().as_str()), (429, "too_many_searches"));
    assert!(r.header("retry-after").is_some());
    let r = add(east.clone(), eid).await;
    assert_eq!((r.status, r.code().as_str()), (429, "too_many_searches"));
    // Another account's limit is its own.
    assert_eq!(
        app.get_as(&west, &format!("/api/v1/households?id_card={number}"))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn racing_account_creations_answer_the_domain_code_never_database_text() {
    let app = TestApp::spawn().await;
    let rounds = if on_postgres() { 20 } else { 8 };
    for round in 0..rounds {
        let body = json!({ "username": format!("race.{round}"), "display_name": "甲", "roles": ["admin"], "all_units": true });
        let answers = app
            .race(
                (0..2)
                    .map(|_| {
                        app.request(
                            Method::POST,
                            "/api/v1/users",
                            &app.admin_token,
                            Some(body.clone()),
                            &[],
                        )
                    })
                    .collect(),
            )
            .await;
        let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let lost = answers.iter().find(|r| r.status == 409).unwrap();
        assert_eq!(
            lost.code(),
            "duplicate_username",
            "round {round}: {}",
            lost.text
        );
        for leak in ["constraint", "users_username_key", "UNIQUE", "violat"] {
            assert!(!lost.text.contains(leak), "round {round}: {}", lost.text);
        }
    }
}

async fn hashes(app: &TestApp) -> u64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("wangge_password_hashes_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[actix_web::test]
async fn no_password_is_hashed_before_the_right_to_set_it_is_checked() {
    let app = TestApp::spawn().await;
    let (target, worker) = app.user("hash.worker", &["grid_worker"], &[]).await;
    let before = hashes(&app).await;
    for _ in 0..5 {
        let r = app
            .send(
                Method::POST,
                "/api/v1/users",
                Some(&worker),
                Some(json!({ "username": "x.y.z", "display_name": "x", "roles": ["admin"], "all_units": true })),
                &[],
            )
            .await;
        assert_eq!(r.status, 403);
        let r = app
            .send(
                Method::POST,
                &format!("/api/v1/users/{target}/password-reset"),
                Some(&worker),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 403, "nobody resets their own password");
    }
    assert_eq!(hashes(&app).await, before, "ten refusals, no hash");
    let r = app
        .post("/api/v1/users", json!({ "username": "x.y.z", "display_name": "x", "roles": ["admin"], "all_units": true }))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        hashes(&app).await,
        before + 1,
        "the allowed one hashes once"
    );
}

#[actix_web::test]
async fn only_a_trusted_proxy_may_name_the_client_address() {
    let spoof = [("x-forwarded-for", "203.0.113.9")];
    // Behind a trusted proxy (the test client's own address), the forwarded address counts:
    // in the audit log, and for the rate limit.
    let app = TestApp::spawn_with(Options {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        rate_limit_per_min: 40,
        ..Options::default()
    })
    .await;
    async fn fail(app: &TestApp, headers: &[(&str, &str)]) -> crate::helpers::Res {
        app.send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "nobody.here", "password": "Wrong-Pass-123" })),
            headers,
        )
        .await
    }
    assert_eq!(fail(&app, &spoof).await.status, 401);
    let events = app
        .get("/api/v1/audit?action=auth.login_failed")
        .await
        .json();
    assert_eq!(events["items"][0]["address"], "203.0.113.9");
    // Every address has its own budget: one client using it up leaves the others alone, and
    // the requests under the limit all succeed.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(
            app.send(
                Method::GET,
                "/api/v1/me",
                Some(&app.admin_token),
                None,
                &[("x-forwarded-for", "198.51.100.1")],
            )
            .await
            .status,
        );
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let over = app
        .send(
            Method::GET,
            "/api/v1/me",
            Some(&app.admin_token),
            None,
            &[("x-forwarded-for", "198.51.100.1")],
        )
        .await;
    assert_eq!((over.status, over.code().as_str()), (429, "rate_limited"));
    let other = app
        .send(
            Method::GET,
            "/api/v1/me",
            Some(&app.admin_token),
            None,
            &[("x-forwarded-for", "198.51.100.2")],
        )
        .await;
    assert_eq!(other.status, 200);

    // From an untrusted peer the header is ignored.
    let plain = TestApp::spawn().await;
    assert_eq!(fail(&plain, &spoof).await.status, 401);
    let events = plain
        .get("/api/v1/audit?action=auth.login_failed")
        .await
        .json();
    assert_eq!(events["items"][0]["address"], "127.0.0.1");
}

#[actix_web::test]
async fn revealing_data_sealed_under_a_missing_key_is_503_not_500() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("key.staff", &grid).await;
    let h = app.household(&staff, "密钥路 1 号", 21.6, 111.05).await;
    let residents = format!("/api/v1/households/{}/residents", h["id"].as_str().unwrap());
    let r = app
        .send(
            Method::POST,
            &residents,
            Some(&staff),
            Some(json!({ "name": "陈某", "relation": "head", "phone": "13812345678" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201);
    // A second instance that was given only a new key.
    let opts = Options::default();
    let mut settings = crate::helpers::settings_for(&app.db, &opts, &std::env::temp_dir());
    settings.pii_key = Some(wangge_api::config::Secret::new(
        "t9:9999999999999999999999999999999999999999999999999999999999999999".into(),
    ));
    let other = wangge_api::startup::Application::build(settings)
        .await
        .unwrap();
    let port = other.port();
    actix_web::rt::spawn(other.run_until_stopped());
    let url = format!("http://127.0.0.1:{port}{residents}?reveal=true");
    let token = app
        .login_token("key.staff", crate::helpers::USER_PASSWORD)
        .await;
    let resp = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    crate::contract::check("GET", &residents, status, &headers, &text);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("pii_key_unavailable"), "{text}");
    assert!(headers.contains_key("retry-after"));
    // Masked, the data needs no key.
    let masked = app
        .client
        .get(format!("http://127.0.0.1:{port}{residents}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(masked.status().as_u16(), 200);
}

#[actix_web::test]
async fn a_write_waits_for_the_sqlite_write_lock_and_then_answers_503_with_retry_after() {
    if on_postgres() {
        note(
            "a_write_waits_for_the_sqlite_write_lock",
            "SQLite only: PostgreSQL has no single write lock",
        );
        return;
    }
    let app = TestApp::spawn_with(Options {
        sqlite_busy_timeout_ms: 1_500,
        ..Options::default()
    })
    .await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("lock.staff", &grid).await;
    // Another writer holds the lock (a long import, say) for a while, then lets go: the write
    // waits, and succeeds.
    let hold = |ms: u64| {
        let url = app.settings.database_url.clone();
        std::thread::spawn(move || {
            use diesel::connection::SimpleConnection;
            let mut c = wangge_persistence::db::establish(&url).unwrap();
            c.batch_execute("BEGIN IMMEDIATE").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(ms));
            c.batch_execute("COMMIT").unwrap();
        })
    };
    let held = hold(600);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let h = app.household(&staff, "锁路 1 号", 21.6, 111.05).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "it waited"
    );
    held.join().unwrap();
    // Held past the busy timeout: 503 with Retry-After, and nothing written.
    let held = hold(3_000);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{}", h["id"].as_str().unwrap()),
            Some(&staff),
            Some(json!({ "notes": "x" })),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "unavailable"),
        "{}",
        r.text
    );
    assert!(r.header("retry-after").is_some());
    held.join().unwrap();
    let now = app
        .get_as(
            &staff,
            &format!("/api/v1/households/{}", h["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(now.json()["notes"], serde_json::Value::Null);
}

#[actix_web::test]
async fn the_codes_no_other_test_provokes() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("codes.staff", &grid).await;
    let (worker_id, worker) = app
        .user(
            "codes.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let h = app.household(&staff, "代码路 1 号", 21.6, 111.05).await;
    let hid = h["id"].as_str().unwrap();
    // invalid_if_match: only the contract's shapes, `"3"`, `W/"3"` and `3`, name a version.
    for bad in [
        "abc",
        "W/\"0",
        "\"0\"",
        "\"01\"",
        "+1",
        "\"1",
        "W/W/\"1\"",
        "1\"",
    ] {
        let r = app
            .send(
                Method::PATCH,
                &format!("/api/v1/households/{hid}"),
                Some(&staff),
                Some(json!({ "notes": "x" })),
                &[("if-match", bad)],
            )
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_if_match"),
            "{bad}"
        );
    }
    for (good, next) in [("W/\"1\"", 2), ("2", 3)] {
        let r = app
            .send(
                Method::PATCH,
                &format!("/api/v1/households/{hid}"),
                Some(&staff),
                Some(json!({ "notes": good })),
                &[("if-match", good)],
            )
            .await;
        assert_eq!(r.status, 200, "{good}: {}", r.text);
        assert_eq!(r.json()["version"], next);
    }
    // A path segment that is not even UTF-8 once decoded is no id either.
    let r = app.get("/api/v1/units/%FF%FE").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "invalid_id"),
        "{}",
        r.text
    );
    // unit_in_use: the community holds a household
    let r = app
        .delete(&format!("/api/v1/units/{}", id(&grid.community)))
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "unit_in_use"));
    // user_has_history: the worker recorded a visit
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/households/{hid}/visits"),
            Some(&worker),
            Some(json!({ "notes": "走访" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app.delete(&format!("/api/v1/users/{worker_id}")).await;
    assert_eq!((r.status, r.code().as_str()), (409, "user_has_history"));
    assert_eq!(r.json()["visits"], 1);
    // invalid_cell, too_many_cells
    let coverage = format!("/api/v1/units/{}/coverage", id(&grid.east));
    let r = app.put(&coverage, json!({ "cells": ["zz"] })).await;
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_cell"));
    let cell = h3o::LatLng::new(21.6, 111.15)
        .unwrap()
        .to_cell(h3o::Resolution::Nine)
        .to_string();
    let many: Vec<&str> = std::iter::repeat_n(cell.as_str(), 2_000_001).collect();
    let r = app.put(&coverage, json!({ "cells": many })).await;
    assert_eq!((r.status, r.code().as_str()), (422, "too_many_cells"));
    // resolution_mismatch: coverage stored at another resolution than the service runs at
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&format!(
            "UPDATE unit_coverage SET resolution = 10 WHERE unit_id = '{}'",
            id(&grid.west)
        ))
        .unwrap();
    }
    let r = app
        .set_polygon(
            id(&grid.community),
            &crate::helpers::rect(111.02, 21.52, 111.08, 21.68),
            false,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "resolution_mismatch"),
        "{}",
        r.text
    );
    // malformed_body: a chunked body that breaks off mid-way
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(
        s,
        "POST /api/v1/households HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {staff}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\"\r\nZZ\r\n"
    )
    .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("malformed_body"), "{answer}");
}
