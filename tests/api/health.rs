use crate::helpers::TestApp;

#[actix_web::test]
async fn healthz_answers_without_a_token() {
    let app = TestApp::spawn().await;
    let r = app
        .send(reqwest::Method::GET, "/healthz", None, None, &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
}

#[actix_web::test]
async fn readyz_reports_database_and_redis() {
    let app = TestApp::spawn().await;
    let r = app
        .send(reqwest::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["checks"]["database"], "ok");
    let expected_redis = if app.settings.redis_url.is_some() {
        "ok"
    } else {
        "not_configured"
    };
    assert_eq!(body["checks"]["redis"], expected_redis);
}

#[actix_web::test]
async fn request_id_from_the_caller_is_kept() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            reqwest::Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "phone-123_abc")],
        )
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("phone-123_abc"));
}

#[actix_web::test]
async fn metrics_expose_requests_pool_and_locate_index() {
    let app = TestApp::spawn().await;
    crate::helpers::SmallGrid::build(&app).await;
    app.get("/api/v1/units").await;
    let r = app
        .send(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    assert_eq!(r.status, 200);
    let text = r.text;
    assert!(
        text.contains(
            "wangge_http_requests_total{method=\"GET\",route=\"/api/v1/units\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(text.contains("wangge_http_request_duration_seconds_bucket"));
    assert!(text.contains("wangge_db_pool_connections{state=\"max\"} 4"));
    let entries: f64 = text
        .lines()
        .find(|l| l.starts_with("wangge_locate_index_entries "))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse().ok())
        .expect("locate_index_entries");
    assert!(entries > 0.0, "the index holds the small grid's cells");
}

#[actix_web::test]
async fn openapi_contract_is_served() {
    let app = TestApp::spawn().await;
    let r = app
        .send(reqwest::Method::GET, "/openapi.yaml", None, None, &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.starts_with("openapi: 3.1"));
    assert_eq!(r.text, include_str!("../../openapi.yaml"));
}

#[actix_web::test]
async fn unknown_routes_are_problem_json_404() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.code(), "not_found");
}

#[actix_web::test]
async fn other_methods_are_problem_json_405() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/locate"),
        (reqwest::Method::PUT, "/api/v1/units"),
        (reqwest::Method::GET, "/api/v1/units/import"),
        (reqwest::Method::DELETE, "/healthz"),
    ] {
        let token = app.admin_token.clone();
        let r = app
            .send(method.clone(), path, Some(&token), None, &[])
            .await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.text);
        assert_eq!(r.code(), "method_not_allowed");
    }
}

/// Connections are not checked before every request once they have just answered (see
/// `persistence::db::TRUSTED_FOR`); a connection the database dropped must then cost at most
/// the one request that found it broken, and the pool must recover on its own.
#[actix_web::test]
async fn a_dropped_database_connection_fails_at_most_one_request() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    let token = app.worker_token.clone();
    let me = || app.send(reqwest::Method::GET, "/api/v1/me", Some(&token), None, &[]);
    for _ in 0..8 {
        assert_eq!(me().await.status, 200);
    }
    let url = &app.settings.database_url;
    if !url.starts_with("postgres") {
        // An SQLite connection is an open file: there is nothing for a server to drop.
        return;
    }
    // What a PostgreSQL restart does to every connection of the service.
    let mut admin = wangge_persistence::db::establish(url).unwrap();
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(me().await.status);
    }
    let failed = statuses.iter().filter(|s| **s != 200).count();
    assert!(
        failed <= app.settings.pool_size as usize,
        "more failures than pooled connections: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s >= 500),
        "{statuses:?}"
    );
    assert!(
        statuses[statuses.len() - 8..].iter().all(|s| *s == 200),
        "{statuses:?}"
    );
}
