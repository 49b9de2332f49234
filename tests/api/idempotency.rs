//! Retry-safe creation: `Idempotency-Key` and client-made ids. A phone on a bad network sends
//! a create again blindly; the server answers what it answered the first time and creates
//! nothing new.

use crate::helpers::{Options, Res, SmallGrid, TestApp, on_postgres};
use reqwest::Method;
use serde_json::{Value, json};

async fn create(app: &TestApp, token: &str, body: Value, key: Option<&str>) -> Res {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    app.send(
        Method::POST,
        "/api/v1/households",
        Some(token),
        Some(body),
        &headers,
    )
    .await
}

fn body(address: &str) -> Value {
    json!({ "address": address, "location": { "lat": 21.6, "lng": 111.05 } })
}

/// How many households the caller sees with this address.
async fn count(app: &TestApp, token: &str, address: &str) -> usize {
    let q: String = url_encode(address);
    app.get_as(token, &format!("/api/v1/households?q={q}&limit=500"))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len()
}

fn url_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn same_answer(a: &Res, b: &Res) {
    assert_eq!(a.status, b.status);
    assert_eq!(a.text, b.text, "the same body, byte for byte");
    for h in ["location", "etag"] {
        assert_eq!(a.header(h), b.header(h), "{h}");
    }
}

#[actix_web::test]
async fn a_retry_with_the_same_key_answers_the_first_answer_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("idem.staff", &grid).await;
    let first = create(&app, &staff, body("重试路 1 号"), Some("k-1")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The household changes meanwhile: the retry still gets the first answer.
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{id}"),
            Some(&staff),
            Some(json!({ "notes": "改了" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    for _ in 0..3 {
        same_answer(
            &first,
            &create(&app, &staff, body("重试路 1 号"), Some("k-1")).await,
        );
    }
    // A quoted key (an RFC 8941 string) is the same key.
    same_answer(
        &first,
        &create(&app, &staff, body("重试路 1 号"), Some("\"k-1\"")).await,
    );
    assert_eq!(count(&app, &staff, "重试路 1 号").await, 1);
    // One outbox event and one change-feed row for the creation: the retries wrote nothing.
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let created: Vec<_> = wangge_persistence::journal::outbox_of(&mut conn, &id)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "household.created")
        .collect();
    assert_eq!(created.len(), 1);
    let changes = wangge_persistence::changes::of_entity(&mut conn, &id).unwrap();
    assert_eq!(changes.len(), 2, "the creation and the PATCH");
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_refused_and_keys_belong_to_their_account() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("idem.staff", &grid).await;
    let (_, other) = app.staff("idem.other", &grid).await;
    assert_eq!(
        create(&app, &staff, body("重试路 2 号"), Some("k-2"))
            .await
            .status,
        201
    );
    let r = create(&app, &staff, body("重试路 3 号"), Some("k-2")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "idempotency_key_reused")
    );
    // Another account's key of the same name is its own.
    assert_eq!(
        create(&app, &other, body("重试路 2 号"), Some("k-2"))
            .await
            .status,
        201
    );
    assert_eq!(count(&app, &staff, "重试路 2 号").await, 2);
    assert_eq!(count(&app, &staff, "重试路 3 号").await, 0);
    for bad in ["", "a b", "\"a\"b\"", &"k".repeat(256)] {
        let r = app
            .send(
                Method::POST,
                "/api/v1/households",
                Some(&staff),
                Some(body("重试路 4 号")),
                &[("idempotency-key", bad)],
            )
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_idempotency_key"),
            "{bad:?}"
        );
    }
    let ok = create(&app, &staff, body("重试路 4 号"), Some(&"k".repeat(255))).await;
    assert_eq!(ok.status, 201, "255 characters are allowed");
}

#[actix_web::test]
async fn sixteen_concurrent_requests_with_one_key_make_one_record() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("idem.staff", &grid).await;
    for round in 0..5 {
        let key = format!("burst-{round}");
        let address = format!("并发路 {round} 号");
        let answers = app
            .race(
                (0..16)
                    .map(|_| {
                        app.request(
                            Method::POST,
                            "/api/v1/households",
                            &staff,
                            Some(body(&address)),
                            &[("idempotency-key", &key)],
                        )
                    })
                    .collect(),
            )
            .await;
        let created: Vec<&Res> = answers.iter().filter(|r| r.status == 201).collect();
        assert!(
            !created.is_empty(),
            "round {round}: no 201 among {:?}",
            answers.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        for r in &answers {
            match r.status {
                201 => same_answer(created[0], r),
                409 => {
                    assert_eq!(r.code(), "idempotency_in_flight");
                    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
                    assert!((1..=30).contains(&wait));
                }
                other => panic!("round {round}: {other} {}", r.text),
            }
        }
        assert_eq!(count(&app, &staff, &address).await, 1, "round {round}");
        // Whoever was told to come back gets the first answer now.
        same_answer(
            created[0],
            &create(&app, &staff, body(&address), Some(&key)).await,
        );
    }
}

/// A household import of this many rows takes long enough to be retried while it runs.
fn csv(rows: usize) -> Vec<u8> {
    let mut s = String::from("household_ref,address,lat,lng\n");
    for i in 0..rows {
        let lat = 21.53 + 0.1 * (i as f64) / (rows as f64);
        s.push_str(&format!("h{i},导入路 {i} 号,{lat:.6},111.05\n"));
    }
    s.into_bytes()
}

#[actix_web::test]
async fn a_retry_while_the_first_is_running_is_told_to_come_back() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("idem.staff", &grid).await;
    let file = csv(20_000);
    let send = |body: Vec<u8>| {
        app.client
            .post(format!("{}/api/v1/households/import", app.address))
            .bearer_auth(&staff)
            .header("content-type", "text/csv")
            .header("idempotency-key", "import-1")
            .body(body)
    };
    let path = "/api/v1/households/import";
    let first = app.finish(Method::POST, path, send(file.clone()));
    let retries = async {
        // A retry that arrives before the first has claimed the key runs the import itself,
        // and then the first is the one told to come back; either way one of them must be.
        let mut answered = Vec::new();
        for _ in 0..400 {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
            let r = app.finish(Method::POST, path, send(file.clone())).await;
            match r.status {
                409 => return (Some(r), answered),
                201 => answered.push(r),
                other => panic!("a retry answered {other}: {}", r.text),
            }
        }
        (None, answered)
    };
    let (first, (busy, mut answered)) = futures_util::join!(first, retries);
    let busy = match (busy, first.status) {
        (Some(busy), 201) => {
            answered.push(first);
            busy
        }
        (_, 409) => first,
        (busy, other) => panic!(
            "first {other}, a retry told to come back: {}",
            busy.is_some()
        ),
    };
    assert_eq!(busy.code(), "idempotency_in_flight");
    let wait: u64 = busy.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Once the running one is done, everyone gets its answer.
    let again = app.finish(Method::POST, path, send(file)).await;
    assert_eq!(again.status, 201, "{}", again.text);
    for r in &answered {
        assert_eq!(
            r.text, again.text,
            "one answer for every request with the key"
        );
    }
    assert_eq!(again.json()["households"], 20_000, "imported once");
    assert_eq!(count_all(&app), 20_000, "imported once");
}

/// Households in the database, however many the API would show.
fn count_all(app: &TestApp) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    diesel::sql_query("SELECT count(*) AS n FROM households")
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

#[actix_web::test]
async fn a_failed_request_leaves_its_key_free_and_expired_keys_are_pruned() {
    let app = TestApp::spawn_with(Options {
        idempotency_ttl_s: 1,
        ..Options::default()
    })
    .await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("idem.staff", &grid).await;
    // Refused by the use case (no unit covers the point): nothing is kept under the key.
    let far = json!({ "address": "远方", "location": { "lat": 30.0, "lng": 120.0 } });
    let r = create(&app, &staff, far, Some("k-free")).await;
    assert_eq!((r.status, r.code().as_str()), (422, "not_covered"));
    let ok = create(&app, &staff, body("重试路 5 号"), Some("k-free")).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // Past its time the key is pruned, and then names a new request.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    assert!(wangge_app::idempotency::prune(&mut conn).unwrap() >= 1);
    let again = create(&app, &staff, body("重试路 5 号"), Some("k-free")).await;
    assert_eq!(again.status, 201);
    assert_ne!(
        again.json()["id"],
        ok.json()["id"],
        "a new household after pruning"
    );
}

#[actix_web::test]
async fn a_stored_answer_keeps_its_one_time_password_sealed() {
    let app = TestApp::spawn().await;
    let body = json!({ "username": "idem.user", "display_name": "甲", "roles": ["admin"], "all_units": true });
    let send = || {
        app.send(
            Method::POST,
            "/api/v1/users",
            Some(&app.admin_token),
            Some(body.clone()),
            &[("idempotency-key", "user-1")],
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    same_answer(&first, &send().await);
    let password = first.json()["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let account = app.admin_token.clone();
    let _ = account;
    let admin_id = wangge_persistence::users::find_by_username(&mut conn, crate::helpers::ADMIN)
        .unwrap()
        .unwrap()
        .id;
    let rec = wangge_persistence::idempotency::find(&mut conn, &admin_id, "user-1")
        .unwrap()
        .unwrap();
    let stored = rec.body.unwrap();
    assert!(
        !stored
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the one-time password is not kept in plain text"
    );
}

#[actix_web::test]
async fn answers_are_stored_sealed_in_the_row_and_those_stored_deflated_before_still_replay() {
    use diesel::prelude::*;
    use std::io::Write;
    use wangge_persistence::schema::idempotency_keys as keys;
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (staff_id, staff) = app.staff("idem.sealed", &grid).await;
    let first = create(&app, &staff, body("压缩路 1 号"), Some("z-1")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let stored = wangge_persistence::idempotency::find(&mut conn, &staff_id, "z-1")
        .unwrap()
        .unwrap()
        .body
        .unwrap();
    // Sealed as it is: a 12-byte nonce and a 16-byte tag around the answer, not compressed.
    assert_eq!(stored.len(), first.text.len() + 28);
    assert!(
        !stored
            .windows(8)
            .any(|w| first.text.as_bytes().windows(8).any(|t| t == w)),
        "the answer is not kept in plain text"
    );
    same_answer(
        &first,
        &create(&app, &staff, body("压缩路 1 号"), Some("z-1")).await,
    );
    if on_postgres() {
        // Kept in the row, not in TOAST beside it (sealed bytes do not compress).
        let storage: Vec<String> = diesel::sql_query(
            "SELECT attstorage::text AS storage FROM pg_attribute \
             WHERE attrelid = 'idempotency_keys'::regclass AND attname = 'body'",
        )
        .load::<Storage>(&mut diesel::PgConnection::establish(&app.settings.database_url).unwrap())
        .unwrap()
        .into_iter()
        .map(|s| s.storage)
        .collect();
        assert_eq!(storage, ["m"]);
    }

    // An answer stored by the version before this one: deflated, then sealed under its label.
    let pii = wangge_app::pii::PiiKeys::from_parts(
        crate::helpers::PII_KEY,
        None,
        crate::helpers::PII_HASH_KEY,
    )
    .unwrap();
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(first.text.as_bytes()).unwrap();
    let old = pii
        .seal_raw(
            wangge_app::pii::PiiKind::AnswerDeflated,
            &z.finish().unwrap(),
        )
        .unwrap();
    let n = diesel::update(keys::table.find((staff_id.as_str(), "z-1")))
        .set(keys::body.eq(old))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(n, 1);
    same_answer(
        &first,
        &create(&app, &staff, body("压缩路 1 号"), Some("z-1")).await,
    );
}

#[derive(diesel::QueryableByName)]
struct Storage {
    #[diesel(sql_type = diesel::sql_types::Text)]
    storage: String,
}

#[actix_web::test]
async fn a_client_id_makes_a_create_safe_to_send_again() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("cid.staff", &grid).await;
    let id = uuid::Uuid::now_v7().to_string();
    let mut b = body("离线路 1 号");
    b["id"] = json!(id);
    let first = create(&app, &staff, b.clone(), None).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json()["id"], id.as_str());
    assert_eq!(
        first.header("location").unwrap(),
        format!("/api/v1/households/{id}")
    );
    // Sent again (the answer was lost): the same record, 200, and no second household.
    let again = create(&app, &staff, b.clone(), None).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), first.json());
    assert_eq!(count(&app, &staff, "离线路 1 号").await, 1);
    // Other content under the same id is refused.
    let mut other = b.clone();
    other["address"] = json!("离线路 2 号");
    let r = create(&app, &staff, other, None).await;
    assert_eq!((r.status, r.code().as_str()), (409, "id_taken"));
    // Only UUIDv7 ids are accepted from clients.
    let mut v4 = body("离线路 3 号");
    v4["id"] = json!("3f2c1b5e-8d3a-4f6b-9c2d-1e0f5a6b7c8d");
    let r = create(&app, &staff, v4, None).await;
    assert_eq!((r.status, r.json()["field"].as_str()), (422, Some("id")));
    // The id of a household the server made is taken too.
    let server_made = create(&app, &staff, body("离线路 4 号"), None).await.json();
    let mut theirs = body("离线路 5 号");
    theirs["id"] = server_made["id"].clone();
    let r = create(&app, &staff, theirs, None).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "id_taken"),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn every_create_takes_a_client_id() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("cid.staff", &grid).await;
    let (_, worker) = app
        .user(
            "cid.worker",
            &["grid_worker"],
            &[(grid.district["id"].as_str().unwrap(), true)],
        )
        .await;
    let h = app.household(&staff, "离线路 9 号", 21.6, 111.05).await;
    let hid = h["id"].as_str().unwrap();
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "resident",
            format!("/api/v1/households/{hid}/residents"),
            json!({ "name": "陈某", "relation": "head" }),
            staff.as_str(),
        ),
        (
            "visit",
            format!("/api/v1/households/{hid}/visits"),
            json!({ "notes": "走访" }),
            worker.as_str(),
        ),
        (
            "unit",
            "/api/v1/units".into(),
            json!({ "code": "440904002009", "name": "新村", "level": 3, "parent_id": grid.east["id"] }),
            app.admin_token.as_str(),
        ),
        (
            "department",
            "/api/v1/departments".into(),
            json!({ "code": "water", "name": "水务局" }),
            app.admin_token.as_str(),
        ),
        (
            "user",
            "/api/v1/users".into(),
            json!({ "username": "cid.new", "display_name": "乙", "roles": ["admin"], "all_units": true }),
            app.admin_token.as_str(),
        ),
    ];
    for (what, path, mut b, token) in cases {
        let id = uuid::Uuid::now_v7().to_string();
        b["id"] = json!(id);
        let first = app
            .send(Method::POST, &path, Some(token), Some(b.clone()), &[])
            .await;
        assert_eq!(first.status, 201, "{what}: {}", first.text);
        assert_eq!(first.json()["id"], id.as_str(), "{what}");
        let again = app
            .send(Method::POST, &path, Some(token), Some(b.clone()), &[])
            .await;
        assert_eq!(again.status, 200, "{what}: {}", again.text);
        assert_eq!(again.json()["id"], id.as_str(), "{what}");
        let mut other = b.clone();
        let field = if what == "visit" {
            "notes"
        } else if what == "user" {
            "display_name"
        } else {
            "name"
        };
        other[field] = json!("另一个");
        let r = app
            .send(Method::POST, &path, Some(token), Some(other), &[])
            .await;
        assert_eq!((r.status, r.code().as_str()), (409, "id_taken"), "{what}");
    }
}
