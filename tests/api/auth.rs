use crate::helpers::{ADMIN, ADMIN_PASSWORD, JWT_SECRET, TestApp, WORKER};
use serde_json::json;

#[actix_web::test]
async fn login_returns_a_short_lived_bearer_token() {
    let app = TestApp::spawn().await;
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["roles"], json!(["admin"]));
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.get_as(token, "/api/v1/units").await.status, 200);
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = TestApp::spawn().await;
    let wrong = app.login(ADMIN, "Not-The-Password-1").await;
    let unknown = app.login("nobody", "Not-The-Password-1").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, 401);
        assert_eq!(r.code(), "invalid_credentials");
    }
    assert_eq!(wrong.json()["detail"], unknown.json()["detail"]);
}

/// Every operation the contract lists under /api/v1, except those it marks as public
/// (`security: []`: login and refresh), answers 401 without a token, before anything else.
#[actix_web::test]
async fn every_api_route_requires_a_token() {
    let app = TestApp::spawn().await;
    let some_id = "01936f3e-0000-7000-8000-000000000000";
    let spec: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../openapi.yaml")).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let public = op["security"].as_sequence().is_some_and(Vec::is_empty);
            if public {
                continue;
            }
            let url = path
                .replace("{id}", some_id)
                .replace("{resident_id}", some_id);
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .send(method.clone(), &url, None, Some(json!({})), &[])
                .await;
            assert_eq!(r.status, 401, "{method} {url}: {}", r.text);
            assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} operations checked");
}

fn forge(claims: &serde_json::Value, secret: &str, alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[actix_web::test]
async fn expired_tampered_unsigned_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let claims = |exp: u64| {
        json!({ "sub": "01936f3e-0000-7000-8000-000000000000", "roles": ["admin"], "iss": "wangge",
                "iat": now_s() - 10, "exp": exp, "jti": "x", "sid": "s" })
    };
    let expired = forge(
        &claims(now_s() - 60),
        JWT_SECRET,
        jsonwebtoken::Algorithm::HS256,
    );
    let foreign = forge(
        &claims(now_s() + 600),
        "another-secret-another-secret-another-1",
        jsonwebtoken::Algorithm::HS256,
    );
    let hs512 = forge(
        &claims(now_s() + 600),
        JWT_SECRET,
        jsonwebtoken::Algorithm::HS512,
    );
    // Tamper: give the worker's token admin roles without re-signing.
    let parts: Vec<&str> = app.worker_token.split('.').collect();
    use base64_like::encode_url;
    let tampered_payload = encode_url(&claims(now_s() + 600).to_string());
    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);
    let none_header = encode_url(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{tampered_payload}.");
    for (what, token) in [
        ("expired", expired),
        ("foreign key", foreign),
        ("other algorithm", hs512),
        ("tampered", tampered),
        ("alg none", unsigned),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let r = app.get_as(&token, "/api/v1/units").await;
        assert_eq!(r.status, 401, "{what} token accepted: {}", r.text);
    }
}

#[actix_web::test]
async fn a_grid_worker_reads_the_grid_but_cannot_change_it() {
    let app = TestApp::spawn().await;
    let grid = crate::helpers::SmallGrid::build(&app).await;
    let token = app
        .login_token(WORKER, crate::helpers::WORKER_PASSWORD)
        .await;
    assert_eq!(app.get_as(&token, "/api/v1/units").await.status, 200);
    let id = crate::helpers::id(&grid.community);
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/v1/units".to_owned(),
            json!({"code": "1", "name": "x", "level": 1}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/units/{id}"),
            json!({"name": "x"}),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/units/{id}"),
            json!({}),
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/units/{id}/coverage"),
            json!({"cells": []}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/units/import".to_owned(),
            json!({"type": "FeatureCollection", "features": []}),
        ),
    ] {
        let r = app
            .send(method.clone(), &path, Some(&token), Some(body), &[])
            .await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
        assert_eq!(r.code(), "forbidden");
    }
    assert_eq!(
        app.get(&format!("/api/v1/units/{id}")).await.json()["name"],
        "一社区"
    );
}

/// Base64url without padding, enough to forge JWT parts in tests.
mod base64_like {
    pub fn encode_url(s: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn encodes_like_rfc4648_url() {
        assert_eq!(encode_url("hello"), "aGVsbG8");
        assert_eq!(encode_url("{\"a\":1}"), "eyJhIjoxfQ");
    }
}

/// A token that was accepted (and so remembered as verified) is refused once it expires.
#[actix_web::test]
async fn a_token_used_before_is_refused_after_it_expires() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        access_token_ttl_s: 1,
        ..Default::default()
    })
    .await;
    let token = app.login_token(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(app.get_as(&token, "/api/v1/units").await.status, 200);
    // Past expiry plus the 5 s leeway the decoder allows for clock skew, with a second to
    // spare for whole-second timestamps.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(7_500)).await;
    let r = app.get_as(&token, "/api/v1/units").await;
    assert_eq!(r.status, 401, "{}", r.text);
}

async fn refresh(app: &TestApp, token: &str) -> crate::helpers::Res {
    app.send(
        reqwest::Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
        &[],
    )
    .await
}

/// With the retry window off (`WANGGE_REFRESH_RETRY_S=0`), any reuse ends the session.
#[actix_web::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        refresh_retry_s: 0,
        ..Default::default()
    })
    .await;
    let first = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh(&app, &r1).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let second = second.json();
    let (a2, r2) = (
        second["access_token"].as_str().unwrap().to_owned(),
        second["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(r1, r2, "rotated");
    assert_eq!(
        app.get_as(&a2, "/api/v1/me").await.json()["username"],
        ADMIN
    );

    // Someone replays the first refresh token: the session ends for everyone holding it.
    let replay = refresh(&app, &r1).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.code(), "refresh_token_reused");
    assert_eq!(refresh(&app, &r2).await.code(), "invalid_refresh_token");
    assert_eq!(app.get_as(&a2, "/api/v1/me").await.status, 401);
    // Other sessions of the same user are untouched.
    assert_eq!(app.get("/api/v1/me").await.status, 200);
    assert_eq!(
        refresh(&app, "not-a-token").await.code(),
        "invalid_refresh_token"
    );
}

#[actix_web::test]
async fn a_session_ends_at_its_maximum_age_however_often_it_is_refreshed() {
    // Refresh tokens live an hour here; the session only 3 seconds.
    let app = TestApp::spawn_with(crate::helpers::Options {
        session_max_age_s: 3,
        ..Default::default()
    })
    .await;
    let login = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    assert_eq!(login["refresh_expires_in"], 3, "{login}");
    let next = refresh(&app, login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status, 200, "{}", next.text);
    let next = next.json();
    assert!(next["refresh_expires_in"].as_u64().unwrap() <= 3, "{next}");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(3_500)).await;
    let late = refresh(&app, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (late.status, late.code().as_str()),
        (401, "invalid_refresh_token"),
        "{}",
        late.text
    );
    // A new login starts a new session.
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn refresh_tokens_are_stored_hashed() {
    let app = TestApp::spawn().await;
    let token = app.login(ADMIN, ADMIN_PASSWORD).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let hashed = wangge_persistence::sessions::find_refresh(
        &mut conn,
        &wangge_app::sessions::token_hash(&token),
    )
    .unwrap()
    .expect("stored under its hash");
    assert_eq!(hashed.token_hash.len(), 64, "a SHA-256 in hex");
    assert!(
        wangge_persistence::sessions::find_refresh(&mut conn, &token)
            .unwrap()
            .is_none()
    );
}

/// Logout refuses the session's tokens at once on the instance that took it, and on the
/// others as soon as they hear of it: by Redis within a moment (their poll is then an hour,
/// so only the notification can explain it), without Redis at their next poll (a second).
#[actix_web::test]
async fn logout_ends_the_session_on_every_instance() {
    let redis = crate::helpers::with_redis();
    if !redis {
        crate::helpers::note(
            "logout_ends_the_session_on_every_instance",
            "without Redis other instances learn of a logout at their poll (1 s), not by notification",
        );
    }
    let opts = crate::helpers::Options {
        locate_poll_s: if redis { 3600 } else { 1 },
        ..Default::default()
    };
    let a = TestApp::spawn_with(opts.clone()).await;
    let b = TestApp::spawn_on(a.db.clone(), opts).await;
    a.wait_for_subscribers(2).await;
    let login = a.login(ADMIN, ADMIN_PASSWORD).await.json();
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh_token = login["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(b.get_as(&access, "/api/v1/me").await.status, 200);
    let out = a
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&access),
            None,
            &[],
        )
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert_eq!(
        a.get_as(&access, "/api/v1/units").await.status,
        401,
        "at once on this instance"
    );
    assert_eq!(refresh(&a, &refresh_token).await.status, 401);
    let within = std::time::Duration::from_millis(if redis { 500 } else { 2_500 });
    let started = std::time::Instant::now();
    while b.get_as(&access, "/api/v1/me").await.status != 401 {
        assert!(
            started.elapsed() < within,
            "instance b still accepts the token after {within:?} (redis: {redis})"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn fail_login(app: &TestApp, username: &str) -> u16 {
    app.login(username, "Wrong-Password-1").await.status
}

#[actix_web::test]
async fn five_failures_throttle_the_username_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        assert_eq!(fail_login(&app, ADMIN).await, 401);
    }
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.code(), "login_throttled");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Another account from the same address still logs in.
    assert_eq!(
        app.login(WORKER, crate::helpers::WORKER_PASSWORD)
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn twenty_failures_throttle_the_address() {
    let app = TestApp::spawn().await;
    for k in 0..20 {
        assert_eq!(fail_login(&app, &format!("nobody{k}")).await, 401);
    }
    let r = app.login(WORKER, crate::helpers::WORKER_PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.code(), "login_throttled");
}

/// With Redis the count is shared: failures on two instances add up. Without it each
/// instance counts its own (documented), so the second instance still lets the user in.
#[actix_web::test]
async fn login_throttling_across_instances() {
    let redis = std::env::var("TEST_REDIS_URL").is_ok_and(|s| !s.is_empty());
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db.clone(), crate::helpers::Options::default()).await;
    for _ in 0..3 {
        assert_eq!(fail_login(&a, ADMIN).await, 401);
    }
    for _ in 0..2 {
        assert_eq!(fail_login(&b, ADMIN).await, 401);
    }
    let expected = if redis { 429 } else { 200 };
    assert_eq!(
        a.login(ADMIN, ADMIN_PASSWORD).await.status,
        expected,
        "redis: {redis}"
    );
}

/// The demo administrator's printed password is one-time: it opens only the password change.
#[actix_web::test]
async fn a_one_time_password_must_be_replaced_before_anything_else() {
    let app = TestApp::spawn().await;
    // An administrator creates the account; the answer carries its one-time password once.
    let created = app
        .post(
            "/api/v1/users",
            json!({ "username": "newcomer", "display_name": "Newcomer", "roles": ["admin"] }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let one_time = created.json()["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = app.login("newcomer", &one_time).await.json();
    assert_eq!(login["must_change_password"], true);
    let token = login["access_token"].as_str().unwrap().to_owned();
    for path in [
        "/api/v1/units",
        "/api/v1/me",
        "/api/v1/locate?lat=21.6&lng=111.05",
    ] {
        let r = app.get_as(&token, path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert_eq!(r.code(), "password_change_required");
    }
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let post = |body| {
        app.send(
            reqwest::Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(body),
            &[],
        )
    };
    let weak = post(change(&one_time, "short")).await;
    assert_eq!((weak.status, weak.code().as_str()), (422, "weak_password"));
    let same = post(change(&one_time, &one_time)).await;
    assert_eq!((same.status, same.code().as_str()), (422, "weak_password"));
    let wrong = post(change("Not-It-At-All-1", "Brand-New-Pass-2")).await;
    assert_eq!(wrong.status, 422);
    assert_eq!(wrong.json()["field"], "current_password");

    let ok = post(change(&one_time, "Brand-New-Pass-2")).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let fresh = ok.json();
    assert_eq!(fresh["must_change_password"], false);
    let new_token = fresh["access_token"].as_str().unwrap();
    assert_eq!(app.get_as(new_token, "/api/v1/units").await.status, 200);
    // The one-time session is over, and the old password no longer works.
    let again = post(change("Brand-New-Pass-2", "Another-Pass-3")).await;
    assert_eq!(again.status, 401, "{}", again.text);
    assert_eq!(app.login("newcomer", &one_time).await.status, 401);
    assert_eq!(app.login("newcomer", "Brand-New-Pass-2").await.status, 200);
}

#[actix_web::test]
async fn a_password_change_ends_every_session_of_the_user() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    let second = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    let body = json!({ "current_password": ADMIN_PASSWORD, "new_password": "Fresh-Password-77" });
    let token = first["access_token"].as_str().unwrap().to_owned();
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The other session, opened with the old password, is over: access and refresh.
    let other = second["access_token"].as_str().unwrap();
    assert_eq!(app.get_as(other, "/api/v1/me").await.status, 401);
    let refreshed = refresh(&app, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 401, "{}", refreshed.text);
    assert_eq!(
        app.get_as(r.json()["access_token"].as_str().unwrap(), "/api/v1/me")
            .await
            .status,
        200
    );
}

/// Parallel guesses cannot all slip through before the count catches up.
#[actix_web::test]
async fn parallel_failed_logins_are_throttled_too() {
    let app = TestApp::spawn().await;
    let guesses = (0..16).map(|_| fail_login(&app, ADMIN));
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 16, "{statuses:?}");
    assert_eq!(
        checked, 5,
        "exactly five passwords were checked: {statuses:?}"
    );
}

/// With the retry window off, one refresh token sent twice at once: one request wins, the
/// other is taken for reuse and ends the session, so neither copy of the token can be used
/// to carry on.
#[actix_web::test]
async fn a_refresh_token_raced_twice_ends_the_session() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        refresh_retry_s: 0,
        ..Default::default()
    })
    .await;
    let login = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    let r = login["refresh_token"].as_str().unwrap().to_owned();
    let (a, b) = futures_util::join!(refresh(&app, &r), refresh(&app, &r));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{} / {}", a.text, b.text);
    let winner = if a.status == 200 { a.json() } else { b.json() };
    let next = winner["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh(&app, next).await.status,
        401,
        "the session has ended"
    );
}

/// A phone whose refresh answer was lost sends the same token again: within
/// `WANGGE_REFRESH_RETRY_S` it gets a working pair of the same session; after it, a spent
/// token still ends the session.
#[actix_web::test]
async fn a_refresh_token_sent_again_within_the_retry_window_keeps_the_session() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        refresh_retry_s: 2,
        ..Default::default()
    })
    .await;
    let login = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    let r1 = login["refresh_token"].as_str().unwrap().to_owned();
    let lost = refresh(&app, &r1).await;
    assert_eq!(lost.status, 200);
    // The answer never arrived; the phone retries with the same token.
    let retried = refresh(&app, &r1).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    let retried = retried.json();
    let (a, r2) = (
        retried["access_token"].as_str().unwrap(),
        retried["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(
        r2,
        lost.json()["refresh_token"].as_str().unwrap(),
        "a fresh token"
    );
    assert_eq!(app.get_as(a, "/api/v1/me").await.status, 200);
    // It belongs to the same session: it refreshes on, and logging out with it ends the pair
    // from the lost answer too.
    let next = refresh(&app, r2).await;
    assert_eq!(next.status, 200);
    let lost_access = lost.json()["access_token"].as_str().unwrap().to_owned();
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(next.json()["access_token"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(app.get_as(&lost_access, "/api/v1/me").await.status, 401);
    // The retry is on record.
    let events = app
        .get("/api/v1/audit?action=auth.refresh_retried")
        .await
        .json();
    assert_eq!(events["items"].as_array().unwrap().len(), 1);

    // After the window, a spent token is taken for theft again.
    let login = app.login(ADMIN, ADMIN_PASSWORD).await.json();
    let r1 = login["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh(&app, &r1).await.json();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2_600)).await;
    let replay = refresh(&app, &r1).await;
    assert_eq!(
        (replay.status, replay.code().as_str()),
        (401, "refresh_token_reused")
    );
    let after = refresh(&app, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        after.code(),
        "invalid_refresh_token",
        "the session has ended"
    );
}
