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
