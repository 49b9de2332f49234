//! The household registry: scope, personal data, visits and history, through the HTTP API.

use crate::helpers::{Res, SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Res {
    app.send(method, path, Some(token), body, &[]).await
}

/// A valid identity number: 17 digits and their GB 11643 check character.
pub fn id_card(d17: &str) -> String {
    let c = wangge_domain::IdCardNumber::check_char(d17.as_bytes());
    format!("{d17}{}", char::from(c))
}

/// Inside the west subdistrict's community.
const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);
/// In the east subdistrict.
const IN_EAST: (f64, f64) = (21.6, 111.15);

async fn register(app: &TestApp, token: &str, address: &str, at: (f64, f64)) -> Res {
    call(
        app,
        token,
        Method::POST,
        "/api/v1/households",
        Some(json!({ "address": address, "location": { "lat": at.0, "lng": at.1 }, "tags": ["elderly_alone"] })),
    )
    .await
}

#[actix_web::test]
async fn a_worker_registers_households_in_scope_and_sees_only_those() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, west) = app
        .user(
            "west.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, east) = app
        .user("east.worker", &["grid_worker"], &[(id(&grid.east), true)])
        .await;

    let r = register(&app, &west, "幸福路 1 号", IN_COMMUNITY).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let h = r.json();
    assert_eq!(
        h["unit"]["code"], "440904001001",
        "placed by locate in the deepest unit"
    );
    assert_eq!(h["unit_reason"], Value::Null);
    assert_eq!(h["tags"], json!(["elderly_alone"]));
    let hid = h["id"].as_str().unwrap().to_owned();
    // Outside one's capture scope a worker cannot register.
    let r = register(&app, &west, "东边路 2 号", IN_EAST).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = register(&app, &east, "东边路 2 号", IN_EAST).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A point no unit covers.
    let r = register(&app, &west, "远方", (30.0, 120.0)).await;
    assert_eq!((r.status, r.code().as_str()), (422, "not_covered"));

    // BOLA: another unit's household by id is 404, for reads and writes alike.
    let path = format!("/api/v1/households/{hid}");
    assert_eq!(
        call(&app, &east, Method::GET, &path, None).await.status,
        404
    );
    assert_eq!(
        call(
            &app,
            &east,
            Method::PATCH,
            &path,
            Some(json!({ "notes": "x" }))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        call(&app, &east, Method::GET, &format!("{path}/residents"), None)
            .await
            .status,
        404
    );
    // Lists are filtered in the query.
    let mine = call(&app, &west, Method::GET, "/api/v1/households", None)
        .await
        .json();
    let addresses: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["幸福路 1 号"]);
    // A command centre assigned the district (view only) sees both and changes neither.
    let (_, centre) = app
        .user(
            "centre",
            &["command_centre"],
            &[(id(&grid.district), false)],
        )
        .await;
    let all = call(&app, &centre, Method::GET, "/api/v1/households", None)
        .await
        .json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        call(
            &app,
            &centre,
            Method::PATCH,
            &path,
            Some(json!({ "notes": "x" }))
        )
        .await
        .status,
        403
    );
    // The administrator manages accounts, not household records.
    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(app.get("/api/v1/households").await.status, 403);
}

#[actix_web::test]
async fn personal_data_is_validated_masked_revealed_on_request_and_audited() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "pii.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, leader) = app
        .user(
            "pii.leader",
            &["group_leader"],
            &[(id(&grid.community), true)],
        )
        .await;
    let hid = register(&app, &worker, "幸福路 3 号", IN_COMMUNITY)
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let residents = format!("/api/v1/households/{hid}/residents");
    let number = id_card("44090419850615123");

    let bad = call(
        &app,
        &worker,
        Method::POST,
        &residents,
        Some(json!({ "name": "张三", "relation": "head", "id_card": "440904198506151230" })),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (422, Some("id_card")),
        "{}",
        bad.text
    );
    let mismatch = call(&app, &worker, Method::POST, &residents, Some(json!({ "name": "张三", "relation": "head", "id_card": number, "birth_date": "1990-01-01" }))).await;
    assert_eq!(
        (mismatch.status, mismatch.json()["field"].as_str()),
        (422, Some("birth_date"))
    );
    let r = call(&app, &worker, Method::POST, &residents, Some(json!({ "name": "张三", "relation": "head", "id_card": number, "phone": "13812345678" }))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let z = r.json();
    assert_eq!(
        z["id_card"],
        "440904********1231".replace("1231", &number[14..])
    );
    assert_eq!(z["phone"], "138****5678");
    assert_eq!(z["birth_date"], "1985-06-15", "derived from the number");
    assert_eq!(z["gender"], "male", "the 17th digit is odd");
    let dup = call(
        &app,
        &worker,
        Method::POST,
        &residents,
        Some(json!({ "name": "李四", "relation": "spouse", "id_card": number })),
    )
    .await;
    assert_eq!(
        (dup.status, dup.code().as_str()),
        (409, "duplicate_id_card")
    );

    // Masked by default; revealed on request to a role that may see it, and audited.
    let masked = call(&app, &worker, Method::GET, &residents, None).await;
    assert!(!masked.text.contains(&number));
    let shown = call(
        &app,
        &worker,
        Method::GET,
        &format!("{residents}?reveal=true"),
        None,
    )
    .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.json()["items"][0]["id_card"], number.as_str());
    assert_eq!(shown.json()["items"][0]["phone"], "13812345678");
    assert_eq!(shown.header("cache-control").as_deref(), Some("no-store"));
    let leader_try = call(
        &app,
        &leader,
        Method::GET,
        &format!("{residents}?reveal=true"),
        None,
    )
    .await;
    assert_eq!(
        leader_try.status, 403,
        "household-group leaders work from masked data"
    );
    let audit = app
        .get(&format!(
            "/api/v1/audit?action=pii.revealed&subject_id={hid}"
        ))
        .await
        .json();
    let events = audit["items"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor_name"], "pii.worker");

    // Exact search by number goes through the keyed hash.
    let found = call(
        &app,
        &worker,
        Method::GET,
        &format!("/api/v1/households?id_card={number}"),
        None,
    )
    .await
    .json();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let none = call(
        &app,
        &worker,
        Method::GET,
        &format!(
            "/api/v1/households?id_card={}",
            id_card("44090419850615124")
        ),
        None,
    )
    .await
    .json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    // Nowhere in the database is the number or phone in plain text.
    assert_no_plain_text(&app, &[&number, "13812345678"]);
}

/// Scans every text and blob column of every table (and, on SQLite, the database files
/// themselves) for the given strings.
pub fn assert_no_plain_text(app: &TestApp, needles: &[&str]) {
    use diesel::connection::SimpleConnection;
    let url = &app.settings.database_url;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = wangge_persistence::db::establish(url).unwrap();
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        for file in [path.to_owned(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                    "{n} found in {file}"
                );
            }
        }
    } else {
        // PostgreSQL: ask every row of every table, as text.
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        #[derive(diesel::QueryableByName)]
        struct Table {
            #[diesel(sql_type = diesel::sql_types::Text)]
            table_name: String,
        }
        let mut conn = wangge_persistence::db::establish(url).unwrap();
        // Every table, so that a table added later is searched too.
        let tables: Vec<Table> = diesel::sql_query(
            "SELECT table_name::text AS table_name FROM information_schema.tables \
             WHERE table_schema = 'public'",
        )
        .load(&mut conn)
        .unwrap();
        assert!(tables.len() >= 10, "{} tables", tables.len());
        for table in tables.iter().map(|t| t.table_name.as_str()) {
            for n in needles {
                let q = format!("SELECT count(*) AS n FROM {table} t WHERE t::text LIKE '%{n}%'");
                let c: Count = diesel::sql_query(q).get_result(&mut conn).unwrap();
                assert_eq!(c.n, 0, "{n} found in {table}");
            }
        }
    }
}

#[actix_web::test]
async fn visits_are_recorded_by_field_roles_and_listed_newest_first() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (worker_id, worker) = app
        .user("visitor", &["grid_worker"], &[(id(&grid.community), true)])
        .await;
    let (_, officer) = app
        .user(
            "officer",
            &["subdistrict_officer"],
            &[(id(&grid.west), true)],
        )
        .await;
    let hid = register(&app, &worker, "幸福路 5 号", IN_COMMUNITY)
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let visits = format!("/api/v1/households/{hid}/visits");
    let earlier = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let r = call(&app, &worker, Method::POST, &visits, Some(json!({ "notes": "老人身体好", "visited_at": earlier, "location": { "lat": 21.6, "lng": 111.05, "crs": "gcj02" } }))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["visitor_id"], worker_id.as_str());
    let r = call(
        &app,
        &worker,
        Method::POST,
        &visits,
        Some(json!({ "notes": "再访" })),
    )
    .await;
    assert_eq!(r.status, 201);
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let r = call(
        &app,
        &worker,
        Method::POST,
        &visits,
        Some(json!({ "notes": "x", "visited_at": future })),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("visited_at"))
    );
    // Officers read visits but do not record them.
    let r = call(
        &app,
        &officer,
        Method::POST,
        &visits,
        Some(json!({ "notes": "x" })),
    )
    .await;
    assert_eq!(r.status, 403);
    let list = call(&app, &officer, Method::GET, &visits, None)
        .await
        .json();
    let notes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["notes"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["再访", "老人身体好"]);
}

#[actix_web::test]
async fn moves_are_checked_and_recorded_in_the_history() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user("mover", &["grid_worker"], &[(id(&grid.west), true)])
        .await;
    let (_, staff) = app
        .user("staff", &["community_staff"], &[(id(&grid.district), true)])
        .await;
    let h = register(&app, &worker, "幸福路 7 号", IN_COMMUNITY)
        .await
        .json();
    let path = format!("/api/v1/households/{}", h["id"].as_str().unwrap());
    // A new location inside the west subdistrict but outside the community: located again.
    let etag = format!("\"{}\"", h["version"]);
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&worker),
            Some(json!({ "location": { "lat": 21.6, "lng": 111.09 } })),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["unit"]["code"], "440904001");
    // A stale version is refused.
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&worker),
            Some(json!({ "notes": "x" })),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 412);
    // Only staff place a household against its location, and only with a reason.
    let to_east = json!({ "unit_id": id(&grid.east), "unit_reason": "地址登记在东街道" });
    assert_eq!(
        call(&app, &worker, Method::PATCH, &path, Some(to_east.clone()))
            .await
            .status,
        403
    );
    let r = call(
        &app,
        &staff,
        Method::PATCH,
        &path,
        Some(json!({ "unit_id": id(&grid.east) })),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("unit_reason"))
    );
    let r = call(&app, &staff, Method::PATCH, &path, Some(to_east)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["unit_reason"], "地址登记在东街道");
    // Mass assignment: the version is not a body member.
    let r = call(
        &app,
        &staff,
        Method::PATCH,
        &path,
        Some(json!({ "version": 1 })),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_body"));
    let history = call(&app, &staff, Method::GET, &format!("{path}/history"), None)
        .await
        .json();
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "updated", "moved", "moved"]);
    assert_eq!(history["items"][3]["details"]["reason"], "地址登记在东街道");
    // The worker of the west subdistrict has lost sight of it.
    assert_eq!(
        call(&app, &worker, Method::GET, &path, None).await.status,
        404
    );
}

#[actix_web::test]
async fn the_list_shows_each_household_unit_as_it_is_now() {
    // The list takes unit names from the locate snapshot: a rename must show at once, and a
    // unit the snapshot does not hold (new, without coverage) must still be named.
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app
        .user("staff", &["community_staff"], &[(id(&grid.district), true)])
        .await;
    let first = register(&app, &staff, "幸福路 1 号", IN_COMMUNITY)
        .await
        .json();
    let second = register(&app, &staff, "幸福路 2 号", IN_COMMUNITY)
        .await
        .json();
    let group = app
        .create_unit("440904001001001", "新一组", 4, Some(id(&grid.community)))
        .await;
    let r = call(
        &app,
        &staff,
        Method::PATCH,
        &format!("/api/v1/households/{}", second["id"].as_str().unwrap()),
        Some(json!({ "unit_id": id(&group), "unit_reason": "新设小组，边界未划" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Creating a unit does not move the coverage generation: the snapshot lacks the group.
    let listed = || async {
        let list = call(&app, &staff, Method::GET, "/api/v1/households", None)
            .await
            .json();
        let mut units: Vec<(String, String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let s = |v: &Value| v.as_str().unwrap().to_owned();
                (
                    s(&h["address"]),
                    s(&h["unit"]["code"]),
                    s(&h["unit"]["name"]),
                )
            })
            .collect();
        units.sort();
        units
    };
    let row = |a: &str, c: &str, n: &str| (a.to_owned(), c.to_owned(), n.to_owned());
    assert_eq!(
        listed().await,
        [
            row("幸福路 1 号", "440904001001", "一社区"),
            row("幸福路 2 号", "440904001001001", "新一组")
        ]
    );
    let community = app
        .get(&format!("/api/v1/units/{}", id(&grid.community)))
        .await
        .json();
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/units/{}", id(&grid.community)),
            Some(&app.admin_token),
            Some(json!({ "name": "幸福社区" })),
            &[("if-match", &format!("\"{}\"", community["version"]))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        listed().await,
        [
            row("幸福路 1 号", "440904001001", "幸福社区"),
            row("幸福路 2 号", "440904001001001", "新一组")
        ]
    );
    assert_eq!(first["unit"]["name"], "一社区");
}

#[actix_web::test]
async fn households_are_filtered_by_tag_text_unit_and_distance() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app
        .user(
            "filter.staff",
            &["community_staff"],
            &[(id(&grid.district), true)],
        )
        .await;
    for (address, at, tags) in [
        ("幸福路 1 号", (21.6, 111.05), json!(["veteran"])),
        ("幸福路 2 号", (21.6005, 111.0505), json!([])),
        (
            "东风路 9 号",
            (21.6, 111.15),
            json!(["veteran", "disabled"]),
        ),
    ] {
        let r = call(&app, &staff, Method::POST, "/api/v1/households", Some(json!({ "address": address, "location": { "lat": at.0, "lng": at.1 }, "tags": tags }))).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let names = |r: Res| -> Vec<String> {
        let mut v: Vec<String> = r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["address"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let get = |q: String| {
        let staff = staff.clone();
        let app = &app;
        async move {
            call(
                app,
                &staff,
                Method::GET,
                &format!("/api/v1/households?{q}"),
                None,
            )
            .await
        }
    };
    assert_eq!(
        names(get("tag=veteran".into()).await),
        ["东风路 9 号", "幸福路 1 号"]
    );
    assert_eq!(
        names(get("q=%E5%B9%B8%E7%A6%8F".into()).await),
        ["幸福路 1 号", "幸福路 2 号"]
    );
    assert_eq!(
        names(get(format!("unit_id={}", id(&grid.east))).await),
        ["东风路 9 号"]
    );
    assert_eq!(
        names(get("lat=21.6&lng=111.05&radius_m=200".into()).await),
        ["幸福路 1 号", "幸福路 2 号"]
    );
    assert_eq!(
        names(get("lat=21.6&lng=111.05&radius_m=30".into()).await),
        ["幸福路 1 号"]
    );
    let r = get("tag=rich".into()).await;
    assert_eq!(r.status, 400);
    let r = get("lat=21.6".into()).await;
    assert_eq!(r.status, 400);
    // Pages of one follow the cursor to the end, in the documented order: by unit id, then
    // by household id; with a filter too (the general query, not the plain one).
    let key = |h: &Value| (id(&h["unit"]).to_owned(), id(h).to_owned());
    for filter in ["", "&lat=21.6&lng=111.05&radius_m=5000"] {
        let whole: Vec<_> = get(format!("limit=500{filter}")).await.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        let mut sorted = whole.clone();
        sorted.sort();
        assert_eq!(whole, sorted, "one page is in (unit id, id) order");
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = cursor.as_ref().map_or(format!("limit=1{filter}"), |c| {
                format!("limit=1&cursor={c}{filter}")
            });
            let page = get(q).await.json();
            paged.extend(page["items"].as_array().unwrap().iter().map(key));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, whole, "pages of one give the same list");
    }
    assert_eq!(
        get("limit=500".into()).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for bad in ["x", "00000000-0000-0000-0000-000000000000", "a.b"] {
        let r = get(format!("cursor={bad}")).await;
        assert_eq!(r.status, 400, "cursor {bad}");
        assert_eq!(r.json()["code"], "invalid_cursor");
    }
    let tags = call(&app, &staff, Method::GET, "/api/v1/household-tags", None)
        .await
        .json();
    assert_eq!(tags["items"].as_array().unwrap().len(), 7);
}

#[actix_web::test]
async fn moving_coverage_reassigns_households_in_the_same_change_with_history() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app
        .user(
            "cov.staff",
            &["community_staff"],
            &[(id(&grid.district), true)],
        )
        .await;
    // In the west subdistrict, outside the community: placed in the subdistrict itself.
    let at = json!({ "lat": 21.6, "lng": 111.09 });
    let h = call(
        &app,
        &staff,
        Method::POST,
        "/api/v1/households",
        Some(json!({ "address": "边界路 1 号", "location": at })),
    )
    .await
    .json();
    assert_eq!(h["unit"]["code"], "440904001");
    // A second one there, placed by staff with a reason: it must not move.
    let pinned = call(
        &app,
        &staff,
        Method::POST,
        "/api/v1/households",
        Some(json!({ "address": "边界路 2 号", "location": at, "unit_id": id(&grid.west), "unit_reason": "户籍在本街道" })),
    )
    .await
    .json();
    let path = format!("/api/v1/households/{}", h["id"].as_str().unwrap());

    // The community grows over the point: the household comes to it.
    let r = app
        .set_polygon(
            id(&grid.community),
            &crate::helpers::rect(111.02, 21.52, 111.095, 21.68),
            false,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["households_moved"], 1);
    let now = call(&app, &staff, Method::GET, &path, None).await.json();
    assert_eq!(now["unit"]["code"], "440904001001");
    let p = call(
        &app,
        &staff,
        Method::GET,
        &format!("/api/v1/households/{}", pinned["id"].as_str().unwrap()),
        None,
    )
    .await
    .json();
    assert_eq!(
        p["unit"]["code"], "440904001",
        "placed by staff with a reason: stays"
    );

    // And shrinks back: it returns to the subdistrict.
    let r = app
        .set_polygon(
            id(&grid.community),
            &crate::helpers::rect(111.02, 21.52, 111.08, 21.68),
            false,
        )
        .await;
    assert_eq!(r.json()["households_moved"], 1);
    let history = call(&app, &staff, Method::GET, &format!("{path}/history"), None)
        .await
        .json();
    let moves: Vec<(&str, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "moved")
        .map(|e| {
            (
                e["details"]["reason"].as_str().unwrap(),
                e["details"]["to_unit_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("coverage_changed", id(&grid.community)),
            ("coverage_changed", id(&grid.west))
        ]
    );
    // The moves name who changed the coverage that caused them.
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "moved")
            .all(|e| e["actor_name"] == crate::helpers::ADMIN),
        "{history}"
    );
}

#[actix_web::test]
async fn a_patch_of_one_identity_field_cannot_contradict_the_stored_number() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("identity.staff", &grid).await;
    let h = register(&app, &staff, "身份路 1 号", IN_COMMUNITY)
        .await
        .json();
    let residents = format!("/api/v1/households/{}/residents", h["id"].as_str().unwrap());
    let number = id_card("44090419850615123");
    let r = call(
        &app,
        &staff,
        Method::POST,
        &residents,
        Some(json!({ "name": "张三", "relation": "head", "id_card": number })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = format!("{residents}/{}", r.json()["id"].as_str().unwrap());
    // Each field alone, against the number already stored (1985-06-15, male).
    for (body, field) in [
        (json!({ "birth_date": "1990-01-01" }), "birth_date"),
        (json!({ "gender": "female" }), "gender"),
        (json!({ "birth_date": null }), "birth_date"),
    ] {
        let r = call(&app, &staff, Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(
            (r.status, r.code().as_str(), r.json()["field"].as_str()),
            (422, "validation_failed", Some(field)),
            "{body}: {}",
            r.text
        );
    }
    // Nothing of it was stored; a new number alone brings its own birth date and sex.
    let list = call(&app, &staff, Method::GET, &residents, None)
        .await
        .json();
    let stored = &list["items"][0];
    assert_eq!(
        (
            stored["version"].as_i64(),
            stored["birth_date"].as_str(),
            stored["gender"].as_str()
        ),
        (Some(1), Some("1985-06-15"), Some("male"))
    );
    let other = id_card("44090420010302002");
    let r = call(
        &app,
        &staff,
        Method::PATCH,
        &path,
        Some(json!({ "id_card": other })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json()["birth_date"].as_str(), r.json()["gender"].as_str()),
        (Some("2001-03-02"), Some("female")),
        "the 17th digit 2 is even"
    );
    let agreeing = call(
        &app,
        &staff,
        Method::PATCH,
        &path,
        Some(json!({ "birth_date": "2001-03-02", "gender": "female" })),
    )
    .await;
    assert_eq!(agreeing.status, 200, "{}", agreeing.text);
}

#[actix_web::test]
async fn households_are_found_by_address_or_a_residents_name_in_a_scope_and_across_the_grid() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("search.staff", &grid).await;
    let (_, east) = app
        .user(
            "search.east",
            &["community_staff"],
            &[(crate::helpers::id(&grid.east), true)],
        )
        .await;
    let mut ids = Vec::new();
    for (token, address, at, name) in [
        (&staff, "搜索路 1 号", IN_COMMUNITY, Some("陈大文")),
        (&staff, "搜索路 2 号", IN_COMMUNITY, Some("李小明")),
        (&staff, "别处 3 号", IN_COMMUNITY, None),
        (&east, "东边路 4 号", IN_EAST, Some("陈大文")),
    ] {
        let r = register(&app, token, address, at).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let hid = r.json()["id"].as_str().unwrap().to_owned();
        if let Some(name) = name {
            let r = call(
                &app,
                token,
                Method::POST,
                &format!("/api/v1/households/{hid}/residents"),
                Some(json!({ "name": name, "relation": "head" })),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        ids.push(hid);
    }
    let found = |token: String, q: &'static str| {
        let app = &app;
        async move {
            let r = call(
                app,
                &token,
                Method::GET,
                &format!("/api/v1/households?q={q}"),
                None,
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let mut got: Vec<String> = r.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["id"].as_str().unwrap().to_owned())
                .collect();
            got.sort();
            got
        }
    };
    let set = |i: &[usize]| {
        let mut v: Vec<String> = i.iter().map(|i| ids[*i].clone()).collect();
        v.sort();
        v
    };
    let (_, worker) = app
        .user(
            "search.worker",
            &["grid_worker"],
            &[(crate::helpers::id(&grid.community), true)],
        )
        .await;
    // In a community (a resident looked up by household), in the district, and across the
    // grid (every resident read once).
    let chen = "%E9%99%88%E5%A4%A7"; // 陈大
    assert_eq!(found(worker.clone(), chen).await, set(&[0]));
    assert_eq!(found(worker.clone(), "%E5%B0%8F%E6%98%8E").await, set(&[1])); // 小明
    assert_eq!(
        found(worker.clone(), "%E6%90%9C%E7%B4%A2").await,
        set(&[0, 1])
    ); // 搜索
    assert_eq!(found(worker.clone(), "%E7%8E%8B").await, set(&[])); // 王
    assert_eq!(found(staff.clone(), chen).await, set(&[0, 3]));
    // Over every unit: the command centre of the whole district.
    app.ensure_user("search.centre", "Search-Centre-42", "command_centre", true);
    let centre = app.login_token("search.centre", "Search-Centre-42").await;
    assert_eq!(found(centre.clone(), chen).await, set(&[0, 3]));
    assert_eq!(found(centre, "%E4%B8%9C%E8%BE%B9").await, set(&[3])); // 东边
}
