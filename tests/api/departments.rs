use crate::helpers::{TestApp, WORKER, WORKER_PASSWORD};
use serde_json::json;

#[actix_web::test]
async fn admins_manage_departments_and_everyone_reads_them() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/departments",
            json!({"code": "housing", "name": "住房和城乡建设局"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = r.json();
    let path = format!("/api/v1/departments/{}", d["id"].as_str().unwrap());
    assert_eq!(r.header("location").as_deref(), Some(path.as_str()));
    let dup = app
        .post(
            "/api/v1/departments",
            json!({"code": "housing", "name": "x"}),
        )
        .await;
    assert_eq!((dup.status, dup.code().as_str()), (409, "duplicate_code"));
    for bad in [
        json!({"code": "Housing", "name": "x"}),
        json!({"code": "ok_code", "name": " "}),
    ] {
        let r = app.post("/api/v1/departments", bad).await;
        assert_eq!(r.status, 422, "{}", r.text);
    }

    let worker = app.login_token(WORKER, WORKER_PASSWORD).await;
    assert_eq!(
        app.get_as(&worker, &path).await.json()["name"],
        "住房和城乡建设局"
    );
    let denied = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&worker),
            Some(json!({"name": "x"})),
            &[],
        )
        .await;
    assert_eq!(denied.status, 403);

    let token = app.admin_token.clone();
    let stale = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "住建局"})),
            &[("if-match", "\"9\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    let renamed = app.patch(&path, json!({"name": "住建局"})).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.json()["version"], 2);
    assert_eq!(app.delete(&path).await.status, 204);
    assert_eq!(app.get(&path).await.status, 404);
}

#[actix_web::test]
async fn department_users_are_bound_to_a_department_that_then_cannot_vanish() {
    let app = TestApp::spawn().await;
    let d = app
        .post(
            "/api/v1/departments",
            json!({"code": "emergency", "name": "应急管理局"}),
        )
        .await
        .json();
    let dept = d["id"].as_str().unwrap();
    let u = app
        .post(
            "/api/v1/users",
            json!({ "username": "yingji", "display_name": "应急值班", "roles": ["department"], "department_id": dept }),
        )
        .await;
    assert_eq!(u.status, 201, "{}", u.text);
    assert_eq!(u.json()["department_id"], dept);
    let ghost = app
        .post(
            "/api/v1/users",
            json!({ "username": "ghost", "display_name": "x", "roles": ["department"],
                    "department_id": "01900000-0000-7000-8000-000000000000" }),
        )
        .await;
    assert_eq!(
        (ghost.status, ghost.code().as_str()),
        (409, "unknown_department")
    );
    let r = app.delete(&format!("/api/v1/departments/{dept}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "department_in_use"),
        "{}",
        r.text
    );
    // null is not "unchanged" where the contract does not allow it.
    let r = app
        .patch(
            &format!("/api/v1/users/{}", u.json()["id"].as_str().unwrap()),
            json!({ "all_units": null }),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_body"));
}
