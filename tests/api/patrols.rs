//! Patrols (巡查): a grid worker's GPS track, started, sent in batches (late, shuffled, twice),
//! finished with its summary, and read by the walker and those who see the unit.
//!
//! Decided here: a worker adding fixes to (or finishing) another's patrol gets `403` when
//! they may read it (the same unit), `404` when they may not (like an unknown id).

use crate::helpers::{SmallGrid, TestApp, id};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

/// Degrees of latitude per metre along a meridian (the mean earth radius `analyse` uses).
const DEG_PER_M: f64 = 180.0 / (std::f64::consts::PI * 6_371_008.8);
/// Inside the small grid's community.
const START: (f64, f64) = (21.55, 111.05);
const STEP_S: i64 = 71;

fn v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn fix(lat: f64, lng: f64, at: DateTime<Utc>) -> Value {
    json!({ "lat": lat, "lng": lng, "accuracy_m": 8.0, "at": time(at) })
}

/// `n` fixes walking north from `START`, 100 m and 71 s apart (1.41 m/s), from `t0`.
fn walk(n: i64, t0: DateTime<Utc>) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let lat = START.0 + f64::from(i32::try_from(i).unwrap()) * 100.0 * DEG_PER_M;
            fix(lat, START.1, t0 + Duration::seconds(i * STEP_S))
        })
        .collect()
}

struct World {
    app: TestApp,
    grid: SmallGrid,
    walker_id: String,
    walker: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (walker_id, walker) = app
        .user(
            "patrol.walker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    World {
        app,
        grid,
        walker_id,
        walker,
    }
}

async fn start(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app
        .send(
            Method::POST,
            "/api/v1/patrols",
            Some(token),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.json();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/patrols/{}", p["id"].as_str().unwrap()))
    );
    p
}

async fn points(app: &TestApp, token: &str, patrol: &str, body: Value) -> crate::helpers::Res {
    app.send(
        Method::POST,
        &format!("/api/v1/patrols/{patrol}/points"),
        Some(token),
        Some(body),
        &[],
    )
    .await
}

async fn finish(app: &TestApp, token: &str, patrol: &str) -> crate::helpers::Res {
    app.send(
        Method::POST,
        &format!("/api/v1/patrols/{patrol}/finish"),
        Some(token),
        Some(json!({})),
        &[],
    )
    .await
}

#[actix_web::test]
async fn a_shuffled_walk_sent_twice_in_part_is_measured_once() {
    let w = world().await;
    let app = &w.app;
    let t0 = Utc::now() - Duration::hours(3);
    let p = start(
        app,
        &w.walker,
        json!({ "started_at": time(t0 - Duration::minutes(1)) }),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    // The walker's only unit with capture is the community: the patrol is placed there.
    assert_eq!(p["unit_id"], id(&w.grid.community));
    assert_eq!(p["walker_id"], w.walker_id.as_str());
    assert_eq!(p["status"], "walking");
    // No nulls on the wire: what a walked patrol lacks yet is left out.
    assert!(
        p.get("summary").is_none() && p.get("finished_at").is_none(),
        "{p}"
    );
    assert_eq!((&p["points"], &p["version"]), (&json!(0), &json!(1)));

    // 20 fixes, shuffled (7 is prime to 20), in two batches; the second repeats three fixes
    // of the first (one written with another offset: the same instant) and one of its own.
    let track = walk(20, t0);
    let shuffled: Vec<Value> = (0..20).map(|i| track[(i * 7) % 20].clone()).collect();
    let first: Vec<Value> = shuffled[..12].to_vec();
    let mut second: Vec<Value> = shuffled[12..].to_vec();
    second.extend_from_slice(&first[..2]);
    let mut again = first[5].clone();
    let at = DateTime::parse_from_rfc3339(again["at"].as_str().unwrap()).unwrap();
    again["at"] = json!(
        at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .to_rfc3339()
    );
    second.push(again);
    second.push(shuffled[14].clone());

    let r = points(app, &w.walker, &pid, json!({ "points": first })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({ "accepted": 12, "duplicates": 0 }));
    let r = points(
        app,
        &w.walker,
        &pid,
        json!({ "crs": "wgs84", "points": second }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({ "accepted": 8, "duplicates": 4 }));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM patrol_points WHERE patrol_id = '{pid}'"
        )),
        20
    );

    let r = finish(app, &w.walker, &pid).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let done = r.json();
    assert_eq!(done["status"], "finished");
    assert!(done["finished_at"].is_string());
    assert_eq!(
        (&done["points"], &done["duplicates"]),
        (&json!(20), &json!(4))
    );
    let s = &done["summary"];
    let distance = s["distance_m"].as_f64().unwrap();
    assert!((distance - 1_900.0).abs() < 1_900.0 * 0.02, "{distance}");
    assert_eq!(s["duration_s"], 19 * STEP_S);
    assert!(!s["cells"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(s["flags"], json!([]));
    assert_eq!(
        (&s["accepted"], &s["ignored"], &s["duplicates"]),
        (&json!(20), &json!(0), &json!(4))
    );
    assert_eq!(s["first_fix_at"], json!(time(t0)));
    assert_eq!(
        s["last_fix_at"],
        json!(time(t0 + Duration::seconds(19 * STEP_S)))
    );

    // Finishing again answers the same patrol; a finished patrol takes no more fixes.
    let r = finish(app, &w.walker, &pid).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), done);
    let r = points(app, &w.walker, &pid, json!({ "points": [track[0]] })).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "patrol_finished".into()),
        "{}",
        r.text
    );
    assert_eq!(r.json()["id"], pid.as_str());

    // Read back as finished, tagged by its version.
    let r = app
        .get_as(&w.walker, &format!("/api/v1/patrols/{pid}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), done);
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", done["version"])));

    // One transaction each: history, outbox and change rows.
    let n = |sql: &str| app.count(&sql.replace("{pid}", &pid));
    assert_eq!(
        n("SELECT count(*) AS n FROM history WHERE entity = 'patrol' AND entity_id = '{pid}'"),
        4,
        "started, two batches, finished"
    );
    assert_eq!(
        n(
            "SELECT count(*) AS n FROM outbox WHERE aggregate_id = '{pid}' AND event_type IN ('patrol.started', 'patrol.finished')"
        ),
        2
    );
    assert_eq!(
        n("SELECT count(*) AS n FROM changes WHERE entity = 'patrol' AND entity_id = '{pid}'"),
        4
    );
}

#[actix_web::test]
async fn a_teleport_is_flagged_with_its_reason_and_gcj02_fixes_are_converted() {
    let w = world().await;
    let app = &w.app;
    let t0 = Utc::now() - Duration::hours(2);

    // Five fixes 100 m apart, and a spike 5 km east between the third and the fourth.
    let p = start(app, &w.walker, json!({ "unit_id": id(&w.grid.community) })).await;
    let pid = p["id"].as_str().unwrap();
    let mut fixes = walk(5, t0);
    let lat = fixes[2]["lat"].as_f64().unwrap();
    let east = START.1 + 5_000.0 * DEG_PER_M / lat.to_radians().cos();
    let spike = t0 + Duration::milliseconds(2 * STEP_S * 1000 + 35_500);
    fixes.push(fix(lat, east, spike));
    let r = points(app, &w.walker, pid, json!({ "points": fixes })).await;
    assert_eq!(r.json(), json!({ "accepted": 6, "duplicates": 0 }));
    let r = finish(app, &w.walker, pid).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = r.json()["summary"].clone();
    // Only 0→1, 1→2 and 3→4 count: out to the spike and back are both jumps.
    let distance = s["distance_m"].as_f64().unwrap();
    assert!((distance - 300.0).abs() < 6.0, "{distance}");
    assert_eq!(s["duration_s"], 3 * STEP_S);
    let flags = s["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 2, "{s}");
    assert_eq!(flags[0]["kind"], "jump");
    assert_eq!(
        flags[0]["from_at"],
        json!(time(t0 + Duration::seconds(2 * STEP_S)))
    );
    assert_eq!(flags[0]["to_at"], json!(time(spike)));
    let reason = flags[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("jumped 500"), "{reason}");
    assert!(reason.contains("GPS error"), "{reason}");
    assert!((flags[0]["distance_m"].as_f64().unwrap() - 5_000.0).abs() < 10.0);
    assert_eq!(s["accepted"], 6);

    // The same walk as Amap reports it (GCJ-02, shifted by hundreds of metres) measures the
    // same once converted; sent as WGS-84 it would start elsewhere.
    let p = start(app, &w.walker, json!({})).await;
    let gid = p["id"].as_str().unwrap();
    let shifted: Vec<Value> = walk(10, t0)
        .into_iter()
        .map(|mut f| {
            let ll = wangge_geo::LatLng::new(f["lat"].as_f64().unwrap(), START.1).unwrap();
            let (lat, lng) = wangge_geo::from_wgs84(ll, wangge_geo::Crs::Gcj02);
            f["lat"] = json!(lat);
            f["lng"] = json!(lng);
            f
        })
        .collect();
    assert!((shifted[0]["lng"].as_f64().unwrap() - START.1).abs() > 0.001);
    let r = points(
        app,
        &w.walker,
        gid,
        json!({ "crs": "gcj02", "points": shifted }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = finish(app, &w.walker, gid).await;
    let s = r.json()["summary"].clone();
    let distance = s["distance_m"].as_f64().unwrap();
    assert!((distance - 900.0).abs() < 9.0, "{distance}");
    let (lat, lng) = (START.0 + 9.0 * 100.0 * DEG_PER_M, START.1);
    let stored: i64 = app.count(&format!(
        "SELECT count(*) AS n FROM patrol_points WHERE patrol_id = '{gid}' \
         AND lat BETWEEN {} AND {} AND lon BETWEEN {} AND {}",
        lat - 0.00001,
        lat + 0.00001,
        lng - 0.00001,
        lng + 0.00001
    ));
    assert_eq!(stored, 1, "the last fix is stored at its WGS-84 place");
}

#[actix_web::test]
async fn only_the_walker_adds_and_finishes_and_others_read_by_scope() {
    let w = world().await;
    let app = &w.app;
    let (_, colleague) = app
        .user(
            "patrol.colleague",
            &["grid_worker"],
            &[(id(&w.grid.community), true)],
        )
        .await;
    let (_, east) = app
        .user("patrol.east", &["grid_worker"], &[(id(&w.grid.east), true)])
        .await;
    let (_, staff) = app.staff("patrol.staff", &w.grid).await;
    let p = start(app, &w.walker, json!({})).await;
    let pid = p["id"].as_str().unwrap();
    let batch = json!({ "points": walk(3, Utc::now() - Duration::hours(1)) });

    // A colleague of the same unit sees the patrol but may not add to it or finish it.
    let r = points(app, &colleague, pid, batch.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden".into()),
        "{}",
        r.text
    );
    let r = finish(app, &colleague, pid).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.get_as(&colleague, &format!("/api/v1/patrols/{pid}"))
            .await
            .status,
        200
    );
    // A worker elsewhere cannot tell it exists.
    let r = points(app, &east, pid, batch.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found".into()),
        "{}",
        r.text
    );
    assert_eq!(finish(app, &east, pid).await.status, 404);
    assert_eq!(
        app.get_as(&east, &format!("/api/v1/patrols/{pid}"))
            .await
            .status,
        404
    );
    // Nor can the administrator, who reads no field work.
    assert_eq!(app.get(&format!("/api/v1/patrols/{pid}")).await.status, 404);
    let unknown = format!("/api/v1/patrols/{}", v7());
    assert_eq!(app.get_as(&w.walker, &unknown).await.status, 404);
    let r = app.get_as(&w.walker, "/api/v1/patrols/nope").await;
    assert_eq!((r.status, r.code()), (400, "invalid_id".into()));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM patrol_points WHERE patrol_id = '{pid}'"
        )),
        0
    );

    // The walker's fixes count; staff over the district read it, and its tag.
    let r = points(app, &w.walker, pid, batch).await;
    assert_eq!(r.json(), json!({ "accepted": 3, "duplicates": 0 }));
    let r = app.get_as(&staff, &format!("/api/v1/patrols/{pid}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["points"], &r.json()["version"]),
        (&json!(3), &json!(2))
    );
    let tag = r.header("etag").unwrap();
    let r = app
        .send(
            Method::GET,
            &format!("/api/v1/patrols/{pid}"),
            Some(&staff),
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(r.status, 304);
}

#[actix_web::test]
async fn a_start_sent_again_is_the_same_patrol_and_scope_decides_where() {
    let w = world().await;
    let app = &w.app;
    let client_id = v7();
    let body = json!({ "id": client_id, "unit_id": id(&w.grid.community) });
    let first = start(app, &w.walker, body.clone()).await;
    assert_eq!(first["id"], client_id.as_str());
    let r = app
        .send(
            Method::POST,
            "/api/v1/patrols",
            Some(&w.walker),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), first);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM patrols WHERE id = '{client_id}'"
        )),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbox WHERE event_type = 'patrol.started'"),
        1
    );
    // The same id for another start is taken; a client id must be a UUIDv7.
    let send = |token: &str, body: Value| {
        let token = token.to_owned();
        async move {
            app.send(
                Method::POST,
                "/api/v1/patrols",
                Some(&token),
                Some(body),
                &[],
            )
            .await
        }
    };
    let r = send(
        &w.walker,
        json!({ "id": client_id, "started_at": time(Utc::now()) }),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "id_taken".into()), "{}", r.text);
    let r = send(
        &w.walker,
        json!({ "id": "3f2c1b5e-8d3a-4f6b-9c2d-1e0f5a6b7c8d" }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed".into()),
        "{}",
        r.text
    );

    // A unit outside the walker's view is not found; one seen without capture is forbidden.
    let r = send(&w.walker, json!({ "unit_id": id(&w.grid.east) })).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found".into()),
        "{}",
        r.text
    );
    let r = send(&w.walker, json!({ "unit_id": v7() })).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let (_, viewer) = app
        .user(
            "patrol.viewer",
            &["grid_worker"],
            &[(id(&w.grid.west), false)],
        )
        .await;
    let r = send(&viewer, json!({ "unit_id": id(&w.grid.community) })).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden".into()),
        "{}",
        r.text
    );
    let r = send(&viewer, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden".into()),
        "{}",
        r.text
    );
    // Times are the phone's, within the visits' window.
    let r = send(
        &w.walker,
        json!({ "started_at": time(Utc::now() + Duration::hours(1)) }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed".into()),
        "{}",
        r.text
    );
    let r = send(&w.walker, json!({ "started_at": "this morning" })).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed".into()),
        "{}",
        r.text
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM patrols"), 1);
}

#[actix_web::test]
async fn patrols_are_listed_by_unit_and_walker_in_pages() {
    let w = world().await;
    let app = &w.app;
    let (east_id, east) = app
        .user("patrol.east", &["grid_worker"], &[(id(&w.grid.east), true)])
        .await;
    let (_, staff) = app.staff("patrol.staff", &w.grid).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let p = start(app, &w.walker, json!({})).await;
        mine.push(p["id"].as_str().unwrap().to_owned());
    }
    let theirs = start(app, &east, json!({})).await;
    assert_eq!(theirs["unit_id"], id(&w.grid.east));

    // Staff over the district: the community's patrols, newest first, two a page.
    let community = id(&w.grid.community);
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app
        .get_as(
            &staff,
            &format!("/api/v1/patrols?unit_id={community}&limit=2"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = r.json();
    assert_eq!(ids(&page), [mine[2].clone(), mine[1].clone()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page = app
        .get_as(
            &staff,
            &format!("/api/v1/patrols?unit_id={community}&limit=2&cursor={cursor}"),
        )
        .await
        .json();
    assert_eq!(ids(&page), [mine[0].clone()]);
    assert_eq!(page["next_cursor"], Value::Null);
    // The whole district holds all four; by walker, the east worker's one.
    let all = app.get_as(&staff, "/api/v1/patrols").await.json();
    assert_eq!(ids(&all).len(), 4);
    let by_walker = app
        .get_as(&staff, &format!("/api/v1/patrols?walker_id={east_id}"))
        .await
        .json();
    assert_eq!(ids(&by_walker), [theirs["id"].as_str().unwrap().to_owned()]);
    // A worker sees their unit's patrols and their own, nothing of the east.
    let seen = app.get_as(&w.walker, "/api/v1/patrols").await.json();
    assert_eq!(
        ids(&seen),
        [mine[2].clone(), mine[1].clone(), mine[0].clone()]
    );
    let seen = app.get_as(&east, "/api/v1/patrols").await.json();
    assert_eq!(ids(&seen), [theirs["id"].as_str().unwrap().to_owned()]);
    // Started between `from` and `to`.
    let past = time(Utc::now() - Duration::days(1));
    let page = app
        .get_as(&staff, &format!("/api/v1/patrols?to={past}"))
        .await
        .json();
    assert!(ids(&page).is_empty());
    let page = app
        .get_as(
            &staff,
            &format!("/api/v1/patrols?from={past}&unit_id={community}"),
        )
        .await
        .json();
    assert_eq!(ids(&page).len(), 3);
    // Sparse fieldsets and conditional reads, as every list.
    let r = app
        .get_as(&staff, "/api/v1/patrols?fields=status&limit=1")
        .await;
    assert_eq!(
        r.json()["items"][0].as_object().unwrap().len(),
        2,
        "{}",
        r.text
    );

    for bad in [
        "unit_id=nope",
        "walker_id=nope",
        "from=yesterday",
        "limit=0",
        "cursor=nope",
        "colour=red",
    ] {
        let r = app.get_as(&staff, &format!("/api/v1/patrols?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = app
        .get_as(&staff, &format!("/api/v1/patrols?unit_id={}", v7()))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_query".into()));
}

#[actix_web::test]
async fn invalid_batches_are_refused_whole() {
    let w = world().await;
    let app = &w.app;
    let p = start(app, &w.walker, json!({})).await;
    let pid = p["id"].as_str().unwrap();
    let now = Utc::now() - Duration::minutes(10);
    let good = fix(START.0, START.1, now);
    let with = |k: &str, v: Value| {
        let mut f = good.clone();
        f[k] = v;
        json!({ "points": [good.clone(), f] })
    };
    let too_many: Vec<Value> = walk(1_001, now - Duration::days(1));
    for (body, status, code) in [
        (with("lat", json!(91.0)), 422, "validation_failed"),
        (with("lng", json!(-181.0)), 422, "validation_failed"),
        (with("accuracy_m", json!(-1.0)), 422, "validation_failed"),
        (with("at", json!("noon")), 422, "validation_failed"),
        (
            with("at", json!(time(Utc::now() + Duration::hours(1)))),
            422,
            "validation_failed",
        ),
        (
            with("at", json!(time(Utc::now() - Duration::days(91)))),
            422,
            "validation_failed",
        ),
        (with("at", json!(12)), 422, "invalid_body"),
        (with("speed", json!(1.0)), 422, "invalid_body"),
        (json!({ "points": [] }), 422, "validation_failed"),
        (json!({ "points": too_many }), 422, "validation_failed"),
        (
            json!({ "crs": "utm", "points": [good.clone()] }),
            422,
            "invalid_body",
        ),
        (json!({}), 422, "invalid_body"),
    ] {
        let r = points(app, &w.walker, pid, body.clone()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{body}: {}",
            r.text
        );
    }
    let r = app
        .send_raw(
            Method::POST,
            &format!("/api/v1/patrols/{pid}/points"),
            Some(&w.walker),
            "application/json",
            b"{\"points\": [".to_vec(),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "malformed_json".into()));
    let r = points(app, &w.walker, "nope", json!({ "points": [good.clone()] })).await;
    assert_eq!((r.status, r.code()), (400, "invalid_id".into()));
    // Nothing of a refused batch was kept; a finish before the start is refused too.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM patrol_points WHERE patrol_id = '{pid}'"
        )),
        0
    );
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/patrols/{pid}/finish"),
            Some(&w.walker),
            Some(json!({ "finished_at": time(Utc::now() - Duration::hours(1)) })),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed".into()),
        "{}",
        r.text
    );
    // A batch of exactly 1000 is taken.
    let r = points(
        app,
        &w.walker,
        pid,
        json!({ "points": walk(1_000, now - Duration::days(1)) }),
    )
    .await;
    assert_eq!(r.json(), json!({ "accepted": 1000, "duplicates": 0 }));
}

#[actix_web::test]
async fn a_batch_racing_the_finish_is_counted_or_refused_whole() {
    let w = world().await;
    let app = &w.app;
    let t0 = Utc::now() - Duration::hours(1);
    let track = walk(20, t0);
    for round in 0..3 {
        let p = start(app, &w.walker, json!({})).await;
        let pid = p["id"].as_str().unwrap().to_owned();
        let r = points(app, &w.walker, &pid, json!({ "points": track[..10] })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let path = |what: &str| format!("/api/v1/patrols/{pid}/{what}");
        let answers = app
            .race(vec![
                app.request(
                    Method::POST,
                    &path("points"),
                    &w.walker,
                    Some(json!({ "points": track[10..] })),
                    &[],
                ),
                app.request(
                    Method::POST,
                    &path("finish"),
                    &w.walker,
                    Some(json!({})),
                    &[],
                ),
                app.request(
                    Method::POST,
                    &path("finish"),
                    &w.walker,
                    Some(json!({})),
                    &[],
                ),
            ])
            .await;
        let (batch, first, second) = (&answers[0], &answers[1], &answers[2]);
        assert!(
            batch.status == 200 || (batch.status, batch.code()) == (409, "patrol_finished".into()),
            "round {round}: {}",
            batch.text
        );
        assert_eq!((first.status, second.status), (200, 200), "{}", second.text);
        assert_eq!(
            first.json(),
            second.json(),
            "both finishes answer the same patrol"
        );
        // The summary holds exactly the fixes stored: a batch is in it or nowhere.
        let stored = app.count(&format!(
            "SELECT count(*) AS n FROM patrol_points WHERE patrol_id = '{pid}'"
        ));
        let done = first.json();
        assert_eq!(stored, if batch.status == 200 { 20 } else { 10 });
        assert_eq!(done["points"], stored);
        assert_eq!(done["summary"]["accepted"], stored);
    }
}
