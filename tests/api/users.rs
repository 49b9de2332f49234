//! Accounts and delegated administration, through the HTTP API.

use crate::helpers::{SmallGrid, TestApp, USER_PASSWORD, id};
use reqwest::Method;
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> crate::helpers::Res {
    app.send(method, path, Some(token), body, &[]).await
}

#[actix_web::test]
async fn an_admin_creates_an_account_with_a_one_time_password_and_units() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let r = app
        .post(
            "/api/v1/users",
            json!({
                "username": "wang.wei",
                "display_name": "王伟",
                "roles": ["grid_worker"],
                "phone": "138 1234 5678",
                "assignments": [{ "unit_id": id(&grid.community), "capture": true }],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let u = r.json();
    assert_eq!(u["version"], 1);
    assert_eq!(u["phone"], "138****5678", "phones are masked");
    assert_eq!(u["must_change_password"], true);
    assert_eq!(u["assignments"][0]["unit_code"], "440904001001");
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v1/users/{}", u["id"].as_str().unwrap())
    );
    // The one-time password logs in, and opens only the password change.
    let otp = u["one_time_password"].as_str().unwrap();
    let login = app.login("wang.wei", otp).await.json();
    assert_eq!(login["must_change_password"], true);
    // Read back, filtered by subtree and role.
    let path = format!("/api/v1/users?unit_id={}&role=grid_worker", id(&grid.west));
    let list = app.get(&path).await.json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wang.wei"]);
    let east = app
        .get(&format!("/api/v1/users?unit_id={}", id(&grid.east)))
        .await
        .json();
    assert_eq!(east["items"].as_array().unwrap().len(), 0);
    // Names are unique; unknown units and bad phones are validation errors.
    let dup = app
        .post("/api/v1/users", json!({ "username": "wang.wei", "display_name": "x", "roles": ["grid_worker"], "assignments": [] }))
        .await;
    assert_eq!(
        (dup.status, dup.code().as_str()),
        (409, "duplicate_username")
    );
    let bad = app
        .post("/api/v1/users", json!({ "username": "li.na", "display_name": "x", "roles": ["grid_worker"], "phone": "12345" }))
        .await;
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (422, Some("phone"))
    );
    let ghost = app
        .post(
            "/api/v1/users",
            json!({ "username": "li.na", "display_name": "x", "roles": ["grid_worker"],
                    "assignments": [{ "unit_id": "01900000-0000-7000-8000-000000000000", "capture": true }] }),
        )
        .await;
    assert_eq!(
        (ghost.status, ghost.json()["field"].as_str()),
        (422, Some("assignments"))
    );
    let dept = app
        .post(
            "/api/v1/users",
            json!({ "username": "zhu.jian", "display_name": "x", "roles": ["department"] }),
        )
        .await;
    assert_eq!(
        (dept.status, dept.json()["field"].as_str()),
        (422, Some("department_id"))
    );
}

#[actix_web::test]
async fn delegated_admins_manage_only_the_accounts_beneath_them() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, west_admin) = app
        .user("west.admin", &["admin"], &[(id(&grid.west), true)])
        .await;
    let (west_worker, _) = app
        .user(
            "west.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (east_worker, _) = app
        .user("east.worker", &["grid_worker"], &[(id(&grid.east), true)])
        .await;

    // Lists are filtered in the query: the east worker is not there.
    let list = call(&app, &west_admin, Method::GET, "/api/v1/users", None)
        .await
        .json();
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["west.admin", "west.worker"]);
    // Outside scope is 404, as for an id that does not exist.
    let r = call(
        &app,
        &west_admin,
        Method::GET,
        &format!("/api/v1/users/{east_worker}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(
        &app,
        &west_admin,
        Method::PATCH,
        &format!("/api/v1/users/{east_worker}"),
        Some(json!({ "active": false })),
    )
    .await;
    assert_eq!(r.status, 404);
    // Inside: manage.
    let r = call(
        &app,
        &west_admin,
        Method::PATCH,
        &format!("/api/v1/users/{west_worker}"),
        Some(json!({ "display_name": "西网格员" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Granting beyond one's scope, or all_units, is refused.
    let r = call(
        &app,
        &west_admin,
        Method::POST,
        "/api/v1/users",
        Some(
            json!({ "username": "sneaky", "display_name": "x", "roles": ["grid_worker"],
                     "assignments": [{ "unit_id": id(&grid.east), "capture": true }] }),
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = call(
        &app,
        &west_admin,
        Method::PUT,
        &format!("/api/v1/users/{west_worker}/assignments"),
        Some(json!({ "assignments": [{ "unit_id": id(&grid.district), "capture": false }] })),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = call(
        &app,
        &west_admin,
        Method::PATCH,
        &format!("/api/v1/users/{west_worker}"),
        Some(json!({ "all_units": true })),
    )
    .await;
    assert_eq!(r.status, 403);
    // Nobody administers themselves.
    let me = call(&app, &west_admin, Method::GET, "/api/v1/me", None)
        .await
        .json();
    let r = call(
        &app,
        &west_admin,
        Method::PATCH,
        &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
        Some(json!({ "roles": ["admin", "command_centre"] })),
    )
    .await;
    assert_eq!(r.status, 403);
}

#[actix_web::test]
async fn deactivating_an_account_ends_its_sessions_at_once() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (worker, token) = app
        .user("leaving", &["grid_worker"], &[(id(&grid.west), true)])
        .await;
    let refresh = app.login("leaving", USER_PASSWORD).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&app, &token, Method::GET, "/api/v1/me", None)
            .await
            .status,
        200
    );
    let r = app
        .patch(
            &format!("/api/v1/users/{worker}"),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["active"], false);
    assert_eq!(
        call(&app, &token, Method::GET, "/api/v1/me", None)
            .await
            .status,
        401
    );
    let again = app
        .send(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh })),
            &[],
        )
        .await;
    assert_eq!(again.status, 401);
    assert_eq!(app.login("leaving", USER_PASSWORD).await.status, 401);
    // Reactivated, the account logs in again.
    let r = app
        .patch(
            &format!("/api/v1/users/{worker}"),
            json!({ "active": true }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.login("leaving", USER_PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn a_password_reset_gives_a_one_time_password_and_ends_sessions() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (worker, token) = app
        .user("forgetful", &["grid_worker"], &[(id(&grid.west), true)])
        .await;
    let r = app
        .post(
            &format!("/api/v1/users/{worker}/password-reset"),
            json!(null),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let otp = r.json()["one_time_password"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&app, &token, Method::GET, "/api/v1/me", None)
            .await
            .status,
        401
    );
    assert_eq!(app.login("forgetful", USER_PASSWORD).await.status, 401);
    assert_eq!(
        app.login("forgetful", &otp).await.json()["must_change_password"],
        true
    );
}

#[actix_web::test]
async fn assignments_are_replaced_and_workers_of_a_unit_include_those_above() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (officer, _) = app
        .user(
            "officer",
            &["subdistrict_officer"],
            &[(id(&grid.west), true)],
        )
        .await;
    let (staff, staff_token) = app
        .user(
            "staff",
            &["community_staff"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, east_token) = app
        .user(
            "east.staff",
            &["community_staff"],
            &[(id(&grid.east), true)],
        )
        .await;

    let path = format!("/api/v1/units/{}/workers", id(&grid.community));
    let r = call(&app, &staff_token, Method::GET, &path, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].as_array().unwrap().clone();
    let ids: Vec<&str> = items.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [staff.as_str(), officer.as_str()],
        "nearest assignment first"
    );
    assert_eq!(items[0]["inherited"], false);
    assert_eq!(items[1]["inherited"], true);
    // Another subdistrict's staff cannot see who works here.
    assert_eq!(
        call(&app, &east_token, Method::GET, &path, None)
            .await
            .status,
        404
    );

    // Replace the officer's assignments; If-Match guards against a stale read.
    let current = app.get(&format!("/api/v1/users/{officer}")).await;
    let etag = current.header("etag").unwrap();
    let put = |etag: String| {
        let app = &app;
        let officer = officer.clone();
        let east = id(&grid.east).to_owned();
        async move {
            app.send(
                Method::PUT,
                &format!("/api/v1/users/{officer}/assignments"),
                Some(&app.admin_token),
                Some(json!({ "assignments": [{ "unit_id": east, "capture": false }] })),
                &[("if-match", etag.as_str())],
            )
            .await
        }
    };
    let r = put(etag.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["assignments"][0]["capture"], false);
    assert_eq!(put(etag).await.status, 412);
    let r = call(&app, &staff_token, Method::GET, &path, None)
        .await
        .json();
    assert_eq!(
        r["items"].as_array().unwrap().len(),
        1,
        "the officer moved east"
    );
}

#[actix_web::test]
async fn roles_decide_who_may_administer_accounts() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user("plain.worker", &["grid_worker"], &[(id(&grid.west), true)])
        .await;
    assert_eq!(
        call(&app, &worker, Method::GET, "/api/v1/users", None)
            .await
            .status,
        403
    );
    let r = call(
        &app,
        &worker,
        Method::POST,
        "/api/v1/users",
        Some(json!({ "username": "friend", "display_name": "x", "roles": ["admin"], "all_units": true })),
    )
    .await;
    assert_eq!(r.status, 403);
    // Mass assignment: fields the body does not allow are refused, not ignored.
    let me = call(&app, &worker, Method::GET, "/api/v1/me", None)
        .await
        .json();
    let r = app
        .patch(
            &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
            json!({ "version": 9, "username": "boss" }),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "invalid_body"),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn the_audit_log_records_security_events_and_cannot_be_changed() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, west_admin) = app
        .user("audit.admin", &["admin"], &[(id(&grid.west), true)])
        .await;
    assert_eq!(
        app.login("test-admin", "wrong-password-1A").await.status,
        401
    );
    let created = call(
        &app,
        &west_admin,
        Method::POST,
        "/api/v1/users",
        Some(
            json!({ "username": "audited", "display_name": "x", "roles": ["grid_worker"],
                     "assignments": [{ "unit_id": id(&grid.community), "capture": true }] }),
        ),
    )
    .await
    .json();

    let all = app.get("/api/v1/audit?limit=500").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let items = all.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["auth.login", "auth.login_failed", "user.created"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let failed = items
        .iter()
        .find(|e| e["action"] == "auth.login_failed")
        .unwrap();
    assert_eq!(failed["actor_name"], "test-admin");
    assert_eq!(failed["address"], "127.0.0.1");
    assert!(
        !all.text.contains("wrong-password-1A"),
        "no secret in the log"
    );
    // Filtered by subject; a delegated admin sees the events about their subtree only.
    let by_subject = app
        .get(&format!(
            "/api/v1/audit?subject_id={}",
            created["id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(by_subject["items"][0]["action"], "user.created");
    let theirs = call(&app, &west_admin, Method::GET, "/api/v1/audit", None)
        .await
        .json();
    let actions: Vec<&str> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The account they created and the grid writes in their subtree; never events about no
    // place (logins), which only readers of everything see.
    assert!(actions.contains(&"user.created"), "{actions:?}");
    assert!(
        actions
            .iter()
            .all(|a| ["user.created", "unit.created", "coverage.changed"].contains(a)),
        "{actions:?}"
    );
    assert_eq!(
        app.send(
            Method::GET,
            "/api/v1/audit",
            Some(&app.worker_token),
            None,
            &[]
        )
        .await
        .status,
        403
    );
    // No route changes it, and the database refuses to.
    assert_eq!(app.delete("/api/v1/audit").await.status, 405);
    assert_eq!(app.get("/api/v1/audit?action=").await.status, 400);
    assert_eq!(app.get("/api/v1/audit?from=yesterday").await.status, 400);
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    use diesel::connection::SimpleConnection;
    assert!(
        conn.batch_execute("UPDATE audit_events SET action = 'x'")
            .is_err()
    );
    assert!(conn.batch_execute("DELETE FROM audit_events").is_err());
}
