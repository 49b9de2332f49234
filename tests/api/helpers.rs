//! `TestApp`: the real server on port 0, against a fresh database (SQLite in a temporary
//! folder, or a new PostgreSQL database when `TEST_DATABASE_URL` names one) and, when
//! `TEST_REDIS_URL` is set, real Redis. Every response a helper receives is checked against
//! `openapi.yaml` before the test sees it.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use crate::contract;
use diesel::Connection;
use diesel::RunQueryDsl;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;
use wangge_api::config::{Secret, Settings};
use wangge_api::startup::Application;
use wangge_geo::Resolution;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const PII_KEY: &str = "t1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const PII_HASH_KEY: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
/// The password of every account made by `TestApp::user`.
pub const USER_PASSWORD: &str = "Grid-Worker-Pass-7";
pub const ADMIN: &str = "test-admin";
pub const ADMIN_PASSWORD: &str = "Correct-Horse-42";
pub const WORKER: &str = "test-worker";
pub const WORKER_PASSWORD: &str = "Battery-Staple-42";

/// Options a test can change before spawning.
#[derive(Clone)]
pub struct Options {
    pub leaf: Resolution,
    pub seed_demo: bool,
    /// Households the demo seeds (small in tests: the full 200,000 is for the binary).
    pub demo_households: usize,
    pub demo_incidents: usize,
    pub locate_poll_s: u64,
    pub rate_limit_per_min: u32,
    pub access_token_ttl_s: u64,
    pub session_max_age_s: u64,
    pub refresh_retry_s: u64,
    /// The escalation clock's interval; 0 (the default in tests) keeps it off, so no test
    /// sees a case move that it did not move.
    pub clock_interval_s: u64,
    pub idempotency_ttl_s: u64,
    pub sqlite_busy_timeout_ms: u32,
    pub pii_searches_per_hour: u32,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub sse_heartbeat_s: u64,
    pub sse_max_streams: usize,
    pub sse_max_streams_per_account: usize,
    pub sse_poll_ms: u64,
    /// Redis for this instance instead of `TEST_REDIS_URL` (a test's own `redis-server`).
    pub redis_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            leaf: Resolution::Nine,
            seed_demo: false,
            demo_households: 3_000,
            demo_incidents: 2_000,
            locate_poll_s: 3600,
            rate_limit_per_min: 0,
            access_token_ttl_s: 900,
            session_max_age_s: 2_592_000,
            refresh_retry_s: 30,
            clock_interval_s: 0,
            idempotency_ttl_s: 86_400,
            sqlite_busy_timeout_ms: 10_000,
            pii_searches_per_hour: 60,
            trusted_proxies: Vec::new(),
            sse_heartbeat_s: 15,
            sse_max_streams: 1000,
            sse_max_streams_per_account: 10,
            sse_poll_ms: 1000,
            redis_url: None,
        }
    }
}

/// A database for one test, dropped with it.
pub struct TestDb {
    pub url: String,
    pub namespace: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(admin_url) => {
                let name = format!("wangge_test_{}", uuid::Uuid::now_v7().simple());
                let mut c = diesel::PgConnection::establish(&admin_url)
                    .expect("connect to TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .expect("create test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                Self {
                    namespace: name.clone(),
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_admin: Some((admin_url.clone(), name)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Self {
                    url,
                    namespace: format!("wangge_test_{}", uuid::Uuid::now_v7().simple()),
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = &self.pg_admin else {
            return;
        };
        if let Ok(mut c) = diesel::PgConnection::establish(admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut c);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub worker_token: String,
    pub settings: Settings,
    pub db: std::sync::Arc<TestDb>,
}

pub fn settings_for(db: &TestDb, opts: &Options, data_dir: &std::path::Path) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database_url: db.url.clone(),
        redis_url: opts.redis_url.clone().or_else(|| {
            std::env::var("TEST_REDIS_URL")
                .ok()
                .filter(|s| !s.is_empty())
        }),
        // Instances of one test share a namespace; parallel tests never hear each other.
        redis_namespace: db.namespace.clone(),
        jwt_secret: Some(Secret::new(JWT_SECRET.into())),
        data_dir: data_dir.to_path_buf(),
        leaf: opts.leaf,
        seed_demo: opts.seed_demo,
        demo_households: opts.demo_households,
        demo_incidents: opts.demo_incidents,
        pool_size: 4,
        sqlite_busy_timeout_ms: opts.sqlite_busy_timeout_ms,
        access_token_ttl_s: opts.access_token_ttl_s,
        refresh_token_ttl_s: 3600,
        session_max_age_s: opts.session_max_age_s,
        rate_limit_per_min: opts.rate_limit_per_min,
        locate_poll_s: opts.locate_poll_s,
        pii_key: Some(Secret::new(PII_KEY.into())),
        pii_old_keys: None,
        pii_hash_key: Some(Secret::new(PII_HASH_KEY.into())),
        refresh_retry_s: opts.refresh_retry_s,
        clock_interval_s: opts.clock_interval_s,
        idempotency_ttl_s: opts.idempotency_ttl_s,
        pii_searches_per_hour: opts.pii_searches_per_hour,
        trusted_proxies: opts.trusted_proxies.clone(),
        sse_heartbeat_s: opts.sse_heartbeat_s,
        sse_max_streams: opts.sse_max_streams,
        sse_max_streams_per_account: opts.sse_max_streams_per_account,
        sse_poll_ms: opts.sse_poll_ms,
    }
}

static TRACING: OnceLock<()> = OnceLock::new();

/// A response, already checked against the contract.
#[derive(Clone)]
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The problem `code` of an error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        Self::spawn_on(std::sync::Arc::new(TestDb::new()), opts).await
    }

    /// Another instance on the same database (to test what crosses instances).
    pub async fn spawn_on(db: std::sync::Arc<TestDb>, opts: Options) -> Self {
        TRACING.get_or_init(|| {
            if std::env::var("TEST_LOG").is_ok() {
                wangge_api::telemetry::init();
            }
        });
        let data_dir = std::env::temp_dir().join("wangge-test-data");
        let settings = settings_for(&db, &opts, &data_dir);
        let app = Application::build(settings.clone())
            .await
            .expect("build app");
        let port = app.port();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            // Below the server's 5 s keep-alive, so a pooled connection is never reused just
            // as the server closes it.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut t = Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client,
            admin_token: String::new(),
            worker_token: String::new(),
            settings,
            db,
        };
        // The test administrator reaches every unit (as the first account of an installation
        // does); the test worker is assigned nothing, so it reaches nothing.
        t.ensure_user(ADMIN, ADMIN_PASSWORD, "admin", true);
        t.ensure_user(WORKER, WORKER_PASSWORD, "grid_worker", false);
        t.admin_token = t.login_token(ADMIN, ADMIN_PASSWORD).await;
        t.worker_token = t.login_token(WORKER, WORKER_PASSWORD).await;
        t
    }

    pub fn ensure_user(&self, name: &str, password: &str, role: &str, all_units: bool) {
        let mut conn = wangge_persistence::db::establish(&self.settings.database_url).unwrap();
        if wangge_persistence::users::find_by_username(&mut conn, name)
            .unwrap()
            .is_some()
        {
            return;
        }
        let hash = wangge_app::password::hash(password).unwrap();
        wangge_persistence::users::insert(
            &mut conn,
            &wangge_persistence::users::NewUser {
                id: &uuid::Uuid::now_v7().to_string(),
                username: &wangge_domain::Username::parse(name).unwrap(),
                password_hash: &hash,
                roles: &[role.parse().unwrap()],
                must_change_password: false,
                display_name: name,
                phone: None,
                department_id: None,
                all_units,
            },
            &wangge_app::tx::stored_time(chrono::Utc::now()),
        )
        .unwrap();
    }

    /// Sets up an account directly in the database (the routes that create accounts are
    /// tested on their own): `roles`, and units as (unit id, capture). Returns its id and a
    /// token. The password is `USER_PASSWORD`, hashed once per test run.
    pub async fn user(
        &self,
        name: &str,
        roles: &[&str],
        units: &[(&str, bool)],
    ) -> (String, String) {
        self.user_in(name, roles, units, None).await
    }

    /// As [`Self::user`], bound to a department (for `department` accounts).
    pub async fn user_in(
        &self,
        name: &str,
        roles: &[&str],
        units: &[(&str, bool)],
        department_id: Option<&str>,
    ) -> (String, String) {
        static HASH: OnceLock<String> = OnceLock::new();
        let hash = HASH.get_or_init(|| wangge_app::password::hash(USER_PASSWORD).unwrap());
        let mut conn = wangge_persistence::db::establish(&self.settings.database_url).unwrap();
        let roles: Vec<wangge_domain::Role> = roles.iter().map(|r| r.parse().unwrap()).collect();
        let rec = wangge_persistence::users::insert(
            &mut conn,
            &wangge_persistence::users::NewUser {
                id: &uuid::Uuid::now_v7().to_string(),
                username: &wangge_domain::Username::parse(name).unwrap(),
                password_hash: hash,
                roles: &roles,
                must_change_password: false,
                display_name: name,
                phone: None,
                department_id,
                all_units: false,
            },
            &wangge_app::tx::stored_time(chrono::Utc::now()),
        )
        .unwrap();
        let units: Vec<(String, bool)> = units.iter().map(|(u, c)| ((*u).to_owned(), *c)).collect();
        wangge_persistence::users::insert_assignments(&mut conn, &rec.id, &units).unwrap();
        let token = self.login_token(name, USER_PASSWORD).await;
        (rec.id, token)
    }

    /// With Redis: waits until `n` instances listen on this test's coverage channel, so a
    /// notification published next cannot be missed. Without Redis there is nothing to wait
    /// for.
    pub async fn wait_for_subscribers(&self, n: i64) {
        let Some(url) = &self.settings.redis_url else {
            return;
        };
        let channel = format!("{}:coverage", self.settings.redis_namespace);
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, count): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut conn)
                .await
                .unwrap();
            if count >= n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {count} of {n} instances subscribed"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn login_token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, username: &str, password: &str) -> Res {
        self.send(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
            &[],
        )
        .await
    }

    /// Sends a request and checks the response against the contract.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.finish(method, path, req).await
    }

    /// Sends a raw body with the given content type.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Res {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.finish(method, path, req).await
    }

    pub async fn finish(
        &self,
        method: reqwest::Method,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> Res {
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        contract::check(method.as_str(), path, status, &headers, &text);
        Res {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Res {
        self.send(
            reqwest::Method::GET,
            path,
            Some(&self.admin_token.clone()),
            None,
            &[],
        )
        .await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Res {
        self.send(reqwest::Method::GET, path, Some(token), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.send(
            reqwest::Method::POST,
            path,
            Some(&self.admin_token.clone()),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.send(
            reqwest::Method::PATCH,
            path,
            Some(&self.admin_token.clone()),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Res {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(&self.admin_token.clone()),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Res {
        self.send(
            reqwest::Method::DELETE,
            path,
            Some(&self.admin_token.clone()),
            None,
            &[],
        )
        .await
    }

    /// Creates a unit and returns its body (asserting 201).
    pub async fn create_unit(
        &self,
        code: &str,
        name: &str,
        level: i64,
        parent: Option<&str>,
    ) -> Value {
        let r = self
            .post(
                "/api/v1/units",
                json!({ "code": code, "name": name, "level": level, "parent_id": parent }),
            )
            .await;
        assert_eq!(r.status, 201, "create {code}: {}", r.text);
        r.json()
    }

    /// Sets a unit's coverage from a polygon; returns the response.
    pub async fn set_polygon(&self, id: &str, ring: &[[f64; 2]], clip: bool) -> Res {
        let q = if clip { "?clip_to_parent=true" } else { "" };
        self.put(
            &format!("/api/v1/units/{id}/coverage{q}"),
            json!({ "geometry": { "type": "Polygon", "coordinates": [ring] } }),
        )
        .await
    }

    pub async fn locate(&self, lat: f64, lng: f64, crs: &str) -> Res {
        self.get(&format!("/api/v1/locate?lat={lat}&lng={lng}&crs={crs}"))
            .await
    }

    pub async fn unit_count(&self) -> usize {
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/units?limit=500&cursor={c}"),
                None => "/api/v1/units?limit=500".to_owned(),
            };
            let page = self.get(&path).await.json();
            n += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return n,
            }
        }
    }
}

/// An axis-aligned rectangle as a closed ring, `[lng, lat]` as GeoJSON wants.
pub fn rect(lng0: f64, lat0: f64, lng1: f64, lat1: f64) -> Vec<[f64; 2]> {
    vec![
        [lng0, lat0],
        [lng1, lat0],
        [lng1, lat1],
        [lng0, lat1],
        [lng0, lat0],
    ]
}

/// A small grid used by many tests: a district over a 0.2° square near Maoming, two
/// subdistricts splitting it west/east, and a community inside the west one.
pub struct SmallGrid {
    pub district: Value,
    pub west: Value,
    pub east: Value,
    pub community: Value,
}

impl SmallGrid {
    pub async fn build(app: &TestApp) -> Self {
        let district = app.create_unit("440904", "电白区", 1, None).await;
        let west = app
            .create_unit("440904001", "西街道", 2, Some(id(&district)))
            .await;
        let east = app
            .create_unit("440904002", "东街道", 2, Some(id(&district)))
            .await;
        let community = app
            .create_unit("440904001001", "一社区", 3, Some(id(&west)))
            .await;
        for (u, ring) in [
            (&district, rect(111.0, 21.5, 111.2, 21.7)),
            (&west, rect(111.0, 21.5, 111.1, 21.7)),
            (&east, rect(111.1, 21.5, 111.2, 21.7)),
            (&community, rect(111.02, 21.52, 111.08, 21.68)),
        ] {
            let r = app.set_polygon(id(u), &ring, false).await;
            assert_eq!(r.status, 200, "coverage of {}: {}", u["code"], r.text);
        }
        Self {
            district,
            west,
            east,
            community,
        }
    }
}

pub fn id(unit: &Value) -> &str {
    unit["id"].as_str().expect("unit id")
}

/// Whether this run is on PostgreSQL (`TEST_DATABASE_URL`).
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// Whether this run has Redis (`TEST_REDIS_URL`).
pub fn with_redis() -> bool {
    std::env::var("TEST_REDIS_URL").is_ok_and(|u| !u.is_empty())
}

/// Says, in the test run's output, what a test does not cover on this run. Written to stderr
/// directly: the test harness captures `eprintln!` of passing tests.
pub fn note(test: &str, what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "NOTE {test}: {what}");
}

impl TestApp {
    /// Community staff of the whole small grid's district (capture), with a token.
    pub async fn staff(&self, name: &str, grid: &SmallGrid) -> (String, String) {
        self.user(name, &["community_staff"], &[(id(&grid.district), true)])
            .await
    }

    /// Creates a department as the administrator; asserts 201 and returns its id.
    pub async fn department(&self, code: &str) -> String {
        let d = self
            .post(
                "/api/v1/departments",
                json!({"code": code, "name": "职能部门"}),
            )
            .await;
        assert_eq!(d.status, 201, "{}", d.text);
        d.json()["id"].as_str().unwrap().to_owned()
    }

    /// Registers a household at a point as `token`; asserts 201 and returns its body.
    pub async fn household(&self, token: &str, address: &str, lat: f64, lng: f64) -> Value {
        let r = self
            .send(
                reqwest::Method::POST,
                "/api/v1/households",
                Some(token),
                Some(json!({ "address": address, "location": { "lat": lat, "lng": lng } })),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()
    }

    /// A request, not sent yet (for races: build both, then send them together).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (reqwest::Method, String, reqwest::RequestBuilder) {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        (method, path.to_owned(), req)
    }

    /// Sends requests built with [`TestApp::request`] at the same instant: each waits at a
    /// barrier until all are ready. Every answer is checked against the contract.
    pub async fn race(
        &self,
        requests: Vec<(reqwest::Method, String, reqwest::RequestBuilder)>,
    ) -> Vec<Res> {
        let barrier = tokio::sync::Barrier::new(requests.len());
        let sends = requests.into_iter().map(|(method, path, req)| {
            let barrier = &barrier;
            async move {
                barrier.wait().await;
                self.finish(method, &path, req).await
            }
        });
        futures_util::future::join_all(sends).await
    }
}

impl TestApp {
    /// A count read straight from the test's database: `sql` selects one BIGINT named `n`.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = wangge_persistence::db::establish(&self.settings.database_url).unwrap();
        diesel::sql_query(sql).get_result::<N>(&mut conn).unwrap().n
    }
}
