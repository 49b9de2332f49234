//! `GET /api/v1/events/stream`: incident activity as Server-Sent Events, read over real HTTP
//! streams. Ids are change-feed positions; who receives what follows who may read the case;
//! a reconnect resumes from the database on any instance; instances fan out through Redis
//! and keep serving their own writes when it is away.

use crate::cases;
use crate::helpers::{self, Options, Res, SmallGrid, TestApp, id};
use crate::sse::{self, Event, Item};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);
const IN_EAST: (f64, f64) = (21.6, 111.15);
/// How long an event may take to arrive when it is pushed (not polled).
const PROMPTLY: Duration = Duration::from_secs(5);

struct World {
    app: TestApp,
    grid: SmallGrid,
    /// A grid worker with capture over the community (reports cases).
    worker: String,
    /// Community staff with capture over the district.
    staff: String,
    /// A subdistrict officer with capture over the district.
    officer: String,
    /// The command centre, viewing the district.
    centre: String,
}

async fn world_on(app: TestApp) -> World {
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "ev.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("ev.staff", &grid).await;
    let (_, officer) = app
        .user(
            "ev.officer",
            &["subdistrict_officer"],
            &[(id(&grid.district), true)],
        )
        .await;
    let (_, centre) = app
        .user(
            "ev.centre",
            &["command_centre"],
            &[(id(&grid.district), false)],
        )
        .await;
    World {
        app,
        grid,
        worker,
        staff,
        officer,
        centre,
    }
}

async fn open(app: &TestApp, token: &str) -> sse::Sse {
    match sse::open(app, Some(token), "", &[]).await {
        Ok(s) => s,
        Err(r) => panic!("the stream was refused: {} {}", r.status, r.text),
    }
}

async fn refused(app: &TestApp, token: Option<&str>) -> Res {
    match sse::open(app, token, "", &[]).await {
        Ok(_) => panic!("the stream was opened"),
        Err(r) => r,
    }
}

/// The positions of incident changes after `after`, from the change feed (as the
/// administrator, who reads it whole).
async fn incident_positions(app: &TestApp, after: i64) -> Vec<i64> {
    let page = app
        .get(&format!("/api/v1/changes?after={after}&limit=500"))
        .await
        .json();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] == "incident")
        .map(|c| c["position"].as_i64().unwrap())
        .collect()
}

fn case_id(case: &Value) -> &str {
    case["id"].as_str().unwrap()
}

fn summary(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.event.clone(),
                e.data["incident_id"].as_str().unwrap().to_owned(),
                e.data["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn increasing(events: &[Event]) {
    for w in events.windows(2) {
        assert!(w[0].id < w[1].id, "out of order or repeated: {events:#?}");
    }
}

#[actix_web::test]
async fn the_command_centre_receives_a_case_from_report_to_close_in_order_with_positions_as_ids() {
    let w = world_on(TestApp::spawn().await).await;
    let before = incident_positions(&w.app, 0).await;
    assert!(before.is_empty());
    let mut s = open(&w.app, &w.centre).await;
    assert_eq!(
        s.headers["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert_eq!(s.headers["cache-control"].to_str().unwrap(), "no-store");
    assert_eq!(s.headers["x-accel-buffering"].to_str().unwrap(), "no");
    assert_eq!(s.next_item(PROMPTLY).await, Some(Item::Retry(2000)));

    let mut case = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    case = cases::act(
        &w.app,
        &w.staff,
        &case,
        json!({"action": "register", "note": "属实"}),
    )
    .await;
    case = cases::act(&w.app, &w.staff, &case, json!({"action": "dispatch"})).await;
    case = cases::act(
        &w.app,
        &w.staff,
        &case,
        json!({"action": "escalate", "note": "社区无力处置"}),
    )
    .await;
    let keeper = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    cases::act(
        &w.app,
        &w.officer,
        &case,
        json!({"action": "merge_into", "into": case_id(&keeper), "note": "重复"}),
    )
    .await;

    let got = s.take(6, PROMPTLY).await;
    let (c, k) = (case_id(&case).to_owned(), case_id(&keeper).to_owned());
    let t = |e: &str, i: &str, a: &str| (e.to_owned(), i.to_owned(), a.to_owned());
    assert_eq!(
        summary(&got),
        [
            t("incident.reported", &c, "report"),
            t("incident.transitioned", &c, "register"),
            t("incident.transitioned", &c, "dispatch"),
            t("incident.escalated", &c, "escalate"),
            t("incident.reported", &k, "report"),
            t("incident.closed", &c, "merge_into"),
        ]
    );
    // Ids are the change feed's positions of these changes, in order.
    let ids: Vec<i64> = got.iter().map(|e| e.id).collect();
    assert_eq!(ids, incident_positions(&w.app, 0).await);
    let d: Vec<&Value> = got.iter().map(|e| &e.data).collect();
    assert_eq!(
        (
            d[0]["from"].clone(),
            d[0]["to"].clone(),
            d[0]["version"].clone()
        ),
        (Value::Null, json!("reported"), json!(1))
    );
    assert_eq!(d[0]["owner_unit_id"], w.grid.community["id"]);
    assert_eq!(
        (
            d[1]["from"].as_str(),
            d[1]["to"].as_str(),
            d[1]["note"].as_str()
        ),
        (Some("reported"), Some("registered"), Some("属实"))
    );
    // The escalation names where the case went and where it came from.
    assert_eq!(
        (
            d[3]["owner_unit_id"].clone(),
            d[3]["previous_owner_unit_id"].clone(),
            d[3]["automatic"].clone()
        ),
        (
            w.grid.west["id"].clone(),
            w.grid.community["id"].clone(),
            json!(false)
        )
    );
    assert_eq!(d[5]["to"], "closed");
    // No personal data and no free description travel with the events.
    for e in &got {
        let text = e.data.to_string();
        assert!(
            !text.contains("路边堆放垃圾") && !text.contains("ev.worker"),
            "{text}"
        );
    }
}

#[actix_web::test]
async fn the_clock_s_escalations_and_its_overdue_flag_are_events_too() {
    let w = world_on(
        TestApp::spawn_with(Options {
            clock_interval_s: 1,
            ..Options::default()
        })
        .await,
    )
    .await;
    let s2 = json!({"register": {"seconds": 2}, "sign": {"seconds": 2}, "close": {"seconds": 60}});
    let created = w
        .app
        .post(
            "/api/v1/incident-categories",
            json!({"code": "0199", "parent_code": "01", "name": "演练", "key": "drill",
                   "lowest_level": 3, "routing": "locality",
                   "time_limits": {"urgent": s2, "normal": s2, "complex": s2}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let mut s = open(&w.app, &w.centre).await;
    let case = cases::report(&w.app, &w.worker, "0199", IN_COMMUNITY).await;
    // Community → subdistrict → district, two seconds each, then flagged.
    let got = s.take(4, Duration::from_secs(15)).await;
    let c = case_id(&case).to_owned();
    let kinds: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "incident.reported",
            "incident.escalated",
            "incident.escalated",
            "incident.overdue"
        ]
    );
    for e in &got[1..] {
        assert_eq!(e.data["incident_id"], c.as_str());
        assert_eq!(
            (e.data["automatic"].clone(), e.data["reason"].clone()),
            (json!(true), json!("missed_deadline"))
        );
    }
    assert_eq!(got[2].data["owner_unit_id"], w.grid.district["id"]);
    increasing(&got);
}

#[actix_web::test]
async fn each_subscriber_receives_only_the_cases_it_may_read() {
    let w = world_on(TestApp::spawn().await).await;
    // A colleague of the reporter: sees the community's cases, and a case leave it.
    let (_, colleague) = w
        .app
        .user(
            "ev.colleague",
            &["grid_worker"],
            &[(id(&w.grid.community), true)],
        )
        .await;
    let (urban, water) = (
        w.app.department("urban_e").await,
        w.app.department("water_e").await,
    );
    let (_, urban_clerk) = w
        .app
        .user_in("urban.clerk", &["department"], &[], Some(&urban))
        .await;
    let (_, water_clerk) = w
        .app
        .user_in("water.clerk", &["department"], &[], Some(&water))
        .await;
    let mut sw = open(&w.app, &colleague).await;
    let mut su = open(&w.app, &urban_clerk).await;
    let mut sv = open(&w.app, &water_clerk).await;

    // Another subtree's case, then the community's: the colleague's first event is the latter.
    let east = cases::report(&w.app, &w.staff, "0101", IN_EAST).await;
    let mut mine = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    mine = cases::act(&w.app, &w.staff, &mine, json!({"action": "register"})).await;
    mine = cases::act(
        &w.app,
        &w.staff,
        &mine,
        json!({"action": "escalate", "note": "上报"}),
    )
    .await;
    // Now owned by the subdistrict: out of the colleague's sight.
    mine = cases::act(
        &w.app,
        &w.officer,
        &mine,
        json!({"action": "dispatch", "department_id": urban}),
    )
    .await;
    let mut summoned = cases::act(&w.app, &w.staff, &east, json!({"action": "register"})).await;
    summoned = cases::act(
        &w.app,
        &w.officer,
        &summoned,
        json!({"action": "summon", "department_ids": [water]}),
    )
    .await;
    let untouched = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    // The departments act last: each stream is read up to its own department's act.
    mine = cases::act(&w.app, &urban_clerk, &mine, json!({"action": "sign"})).await;
    cases::act(
        &w.app,
        &water_clerk,
        &summoned,
        json!({"action": "report_in"}),
    )
    .await;

    let (m, e, u) = (case_id(&mine), case_id(&east), case_id(&untouched));
    let seen = sw.until(PROMPTLY, |ev| ev.data["incident_id"] == u).await;
    let t = |e: &str, i: &str, a: &str| (e.to_owned(), i.to_owned(), a.to_owned());
    assert_eq!(
        summary(&seen),
        [
            t("incident.reported", m, "report"),
            t("incident.transitioned", m, "register"),
            t("incident.escalated", m, "escalate"),
            t("incident.reported", u, "report"),
        ]
    );
    let by_urban = su.until(PROMPTLY, |ev| ev.data["action"] == "sign").await;
    assert!(
        by_urban.iter().all(|ev| ev.data["incident_id"] == m),
        "{by_urban:#?}"
    );
    assert!(by_urban.iter().any(|ev| ev.data["action"] == "dispatch"));
    let by_water = sv
        .until(PROMPTLY, |ev| ev.data["action"] == "report_in")
        .await;
    assert!(
        by_water.iter().all(|ev| ev.data["incident_id"] == e),
        "{by_water:#?}"
    );
    assert!(by_water.iter().any(|ev| ev.data["action"] == "summon"));
    for s in [&by_urban, &by_water, &seen] {
        increasing(s);
    }
}

#[actix_web::test]
async fn a_reconnect_to_the_other_instance_resumes_exactly_after_its_last_event_id() {
    let w = world_on(TestApp::spawn().await).await;
    let b = TestApp::spawn_on(w.app.db.clone(), Options::default()).await;
    let mut s = open(&w.app, &w.centre).await;
    let mut case = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    case = cases::act(&w.app, &w.staff, &case, json!({"action": "register"})).await;
    let first = s.take(2, PROMPTLY).await;
    drop(s);
    // Missed while away, written on both instances.
    case = cases::act(&w.app, &w.staff, &case, json!({"action": "dispatch"})).await;
    case = cases::act(
        &b,
        &w.staff,
        &case,
        json!({"action": "hold", "note": "待查"}),
    )
    .await;
    case = cases::act(&w.app, &w.staff, &case, json!({"action": "resume"})).await;
    let last = first[1].id.to_string();
    let mut r = match sse::open(&b, Some(&w.centre), "", &[("last-event-id", last.as_str())]).await
    {
        Ok(s) => s,
        Err(e) => panic!("{}", e.text),
    };
    let missed = r.take(3, PROMPTLY).await;
    assert_eq!(
        missed.iter().map(|e| e.id).collect::<Vec<_>>(),
        incident_positions(&w.app, first[1].id).await,
        "exactly the changes after the last id"
    );
    let actions: Vec<&str> = missed
        .iter()
        .map(|e| e.data["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["dispatch", "hold", "resume"]);
    // Then live, with nothing repeated.
    cases::act(&w.app, &w.worker, &case, json!({"action": "sign"})).await;
    let live = r.take(1, PROMPTLY).await;
    assert_eq!(live[0].data["action"], "sign");
    assert!(live[0].id > missed[2].id);
    assert_eq!(r.next_event(Duration::from_millis(300)).await, None);

    // `after` does the same for clients that cannot set headers; the header wins over it,
    // as a browser reconnecting to its first URL sends both.
    let from_query = format!("?after={}", first[0].id);
    let mut q = sse::open(&w.app, Some(&w.centre), &from_query, &[])
        .await
        .ok()
        .unwrap();
    let all: Vec<i64> = q.take(5, PROMPTLY).await.iter().map(|e| e.id).collect();
    assert_eq!(all, incident_positions(&w.app, first[0].id).await);
    let mut h = sse::open(
        &b,
        Some(&w.centre),
        "?after=0",
        &[("last-event-id", &missed[2].id.to_string())],
    )
    .await
    .ok()
    .unwrap();
    assert_eq!(h.take(1, PROMPTLY).await[0].id, live[0].id);
    // Not a position, not in the contract's form, or past the feed's end: no id it sent.
    let past = (live.last().map_or(0, |e| e.id) + 1_000_000).to_string();
    for (query, header) in [
        ("?after=x", None),
        ("?after=%2B5", None),
        ("?after=00000000000000000001", None),
        ("", Some(past.as_str())),
    ] {
        let headers: Vec<(&str, &str)> = header.map(|h| ("last-event-id", h)).into_iter().collect();
        let bad = sse::open(&b, Some(&w.centre), query, &headers)
            .await
            .err()
            .unwrap_or_else(|| panic!("{query} {header:?} was taken"));
        assert_eq!(
            (bad.status, bad.code().as_str()),
            (400, "invalid_cursor"),
            "{query} {header:?}"
        );
    }
}

/// With Redis, waits until `n` instances listen on this test's feed channel.
async fn wait_for_feed_subscribers(redis_url: &str, namespace: &str, n: i64) {
    let client = redis::Client::open(redis_url).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let channel = format!("{namespace}:feed");
    loop {
        let count = match client.get_multiplexed_async_connection().await {
            Ok(mut conn) => redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async::<(String, i64)>(&mut conn)
                .await
                .map_or(0, |(_, c)| c),
            Err(_) => 0,
        };
        if count >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {count} of {n} instances subscribed to {channel}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_write_on_one_instance_reaches_subscribers_of_another() {
    let redis = helpers::with_redis();
    let opts = Options {
        // With Redis, a poll this slow cannot be what delivers.
        sse_poll_ms: if redis { 60_000 } else { 1000 },
        ..Options::default()
    };
    if !redis {
        helpers::note(
            "a_write_on_one_instance_reaches_subscribers_of_another",
            "no TEST_REDIS_URL: the other instance learns by its one-second poll",
        );
    }
    let w = world_on(TestApp::spawn_with(opts.clone()).await).await;
    let b = TestApp::spawn_on(w.app.db.clone(), opts).await;
    if let Some(url) = &w.app.settings.redis_url {
        wait_for_feed_subscribers(url, &w.app.settings.redis_namespace, 2).await;
    }
    let mut on_b = open(&b, &w.centre).await;
    let case = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    let got = on_b.take(1, PROMPTLY).await;
    assert_eq!(
        (got[0].event.as_str(), got[0].data["incident_id"].as_str()),
        ("incident.reported", Some(case_id(&case)))
    );
}

#[actix_web::test]
async fn an_idle_stream_gets_a_keep_alive_comment() {
    let w = world_on(
        TestApp::spawn_with(Options {
            sse_heartbeat_s: 1,
            ..Options::default()
        })
        .await,
    )
    .await;
    let mut s = open(&w.app, &w.centre).await;
    assert_eq!(s.next_item(PROMPTLY).await, Some(Item::Retry(2000)));
    let started = std::time::Instant::now();
    assert_eq!(
        s.next_item(Duration::from_secs(3)).await,
        Some(Item::Comment("keep-alive".into()))
    );
    // The first falls between half and all of the interval (streams tick apart), the next
    // a whole interval later.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before half the interval"
    );
    let first = std::time::Instant::now();
    assert_eq!(
        s.next_item(Duration::from_secs(3)).await,
        Some(Item::Comment("keep-alive".into()))
    );
    assert!(
        first.elapsed() >= Duration::from_millis(800),
        "not before the interval"
    );
}

#[actix_web::test]
async fn the_stream_needs_a_login_a_reader_of_incidents_and_a_free_place() {
    let w = world_on(
        TestApp::spawn_with(Options {
            sse_max_streams: 1,
            // The server learns that a client left when a write fails: at the next heartbeat.
            sse_heartbeat_s: 1,
            ..Options::default()
        })
        .await,
    )
    .await;
    let anonymous = refused(&w.app, None).await;
    assert_eq!(
        (anonymous.status, anonymous.code().as_str()),
        (401, "unauthorized")
    );
    // Administrators run the system, not cases; a worker with no unit reads no case.
    for token in [&w.app.admin_token, &w.app.worker_token] {
        let r = refused(&w.app, Some(token)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "forbidden"),
            "{}",
            r.text
        );
    }
    let held = open(&w.app, &w.centre).await;
    let full = refused(&w.app, Some(&w.staff)).await;
    assert_eq!(
        (full.status, full.code().as_str()),
        (503, "too_many_streams")
    );
    assert_eq!(full.header("retry-after").as_deref(), Some("5"));
    // A closed stream gives its place back (by its next heartbeat at the latest).
    drop(held);
    opens_again(&w.app, &w.staff, 503).await;
}

/// Opens a stream for `token` once a place is free, within 10 s; until then every refusal
/// must be `refused` (the place a closed stream held is given back by its next heartbeat).
async fn opens_again(app: &TestApp, token: &str, refused: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Err(r) = sse::open(app, Some(token), "", &[]).await {
        assert_eq!(r.status, refused, "{}", r.text);
        assert!(
            std::time::Instant::now() < deadline,
            "the place was never given back"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn one_account_cannot_take_every_place() {
    let w = world_on(
        TestApp::spawn_with(Options {
            sse_max_streams_per_account: 2,
            sse_heartbeat_s: 1,
            ..Options::default()
        })
        .await,
    )
    .await;
    let first = open(&w.app, &w.worker).await;
    let _second = open(&w.app, &w.worker).await;
    let third = refused(&w.app, Some(&w.worker)).await;
    assert_eq!(
        (third.status, third.code().as_str()),
        (429, "too_many_account_streams"),
        "{}",
        third.text
    );
    assert_eq!(third.header("retry-after").as_deref(), Some("5"));
    // The command centre still finds a place.
    let _board = open(&w.app, &w.centre).await;
    // A closed stream gives the account its place back.
    drop(first);
    opens_again(&w.app, &w.worker, 429).await;
}

#[actix_web::test]
async fn a_stream_ends_with_its_session() {
    let w = world_on(
        TestApp::spawn_with(Options {
            sse_heartbeat_s: 1,
            ..Options::default()
        })
        .await,
    )
    .await;
    let mut s = open(&w.app, &w.centre).await;
    let mut other = open(&w.app, &w.staff).await;
    let out = w
        .app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&w.centre),
            None,
            &[],
        )
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert!(
        s.ends_within(Duration::from_secs(5)).await,
        "the stream outlived its session"
    );
    // Another session's stream goes on.
    assert!(!other.ends_within(Duration::from_millis(1500)).await);
}

#[actix_web::test]
async fn a_stream_follows_its_account_when_a_unit_is_taken_from_it() {
    let w = world_on(
        TestApp::spawn_with(Options {
            sse_heartbeat_s: 1,
            ..Options::default()
        })
        .await,
    )
    .await;
    let (moved_id, moved) = w
        .app
        .user(
            "ev.moved",
            &["grid_worker"],
            &[(id(&w.grid.community), false)],
        )
        .await;
    let mut s = open(&w.app, &moved).await;
    let before = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    let seen = s.next_event(PROMPTLY).await.expect("the community's case");
    assert_eq!(seen.data["incident_id"], before["id"]);
    // The account is moved to the east subdistrict; its session, and the stream, go on.
    let r = w
        .app
        .put(
            &format!("/api/v1/users/{moved_id}/assignments"),
            json!({"assignments": [{"unit_id": id(&w.grid.east), "capture": false}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // By the next heartbeat the stream has asked again who it is for.
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let left = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    let east = cases::report(&w.app, &w.staff, "0101", IN_EAST).await;
    let next = s.next_event(PROMPTLY).await.expect("the east's case");
    assert_eq!(
        next.data["incident_id"], east["id"],
        "the community's case {} reached an account moved away from it",
        left["id"]
    );
    // With no unit left it reads no case at all: the stream ends at its next heartbeat.
    let r = w
        .app
        .put(
            &format!("/api/v1/users/{moved_id}/assignments"),
            json!({"assignments": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        s.ends_within(Duration::from_secs(5)).await,
        "the stream outlived the account's last unit"
    );
}

/// A private `redis-server` on a fixed port, so the test can stop it and start it again.
struct RedisProcess {
    port: u16,
    child: Option<std::process::Child>,
}

impl RedisProcess {
    fn available() -> bool {
        std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let me = Self {
            port,
            child: Some(child),
        };
        // Up when it answers PING.
        let client = redis::Client::open(me.url()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return me;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

#[actix_web::test]
async fn with_redis_gone_each_instance_serves_its_own_writes_and_fan_out_returns_with_it() {
    const TEST: &str =
        "with_redis_gone_each_instance_serves_its_own_writes_and_fan_out_returns_with_it";
    if !RedisProcess::available() {
        helpers::note(TEST, "skipped: no redis-server binary to stop and restart");
        return;
    }
    let port = RedisProcess::free_port();
    let mut redis = RedisProcess::start(port).await;
    let opts = Options {
        redis_url: Some(redis.url()),
        // Slower than any wait below: what arrives was pushed, in-process or through Redis.
        sse_poll_ms: 120_000,
        ..Options::default()
    };
    let w = world_on(TestApp::spawn_with(opts.clone()).await).await;
    let b = TestApp::spawn_on(w.app.db.clone(), opts).await;
    let ns = w.app.settings.redis_namespace.clone();
    wait_for_feed_subscribers(&redis.url(), &ns, 2).await;
    let mut sa = open(&w.app, &w.centre).await;
    let mut sb = open(&b, &w.centre).await;
    let mut case = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    let reported = sa.take(1, PROMPTLY).await;
    assert_eq!(
        sb.take(1, PROMPTLY).await,
        reported,
        "fan-out through Redis"
    );

    redis.stop();
    // Each instance still serves its own writes to its own subscribers.
    case = cases::act(&w.app, &w.staff, &case, json!({"action": "register"})).await;
    let on_a = sa.until(PROMPTLY, |e| e.data["action"] == "register").await;
    let other = cases::report(&b, &w.worker, "0101", IN_COMMUNITY).await;
    let on_b = sb
        .until(PROMPTLY, |e| e.data["incident_id"] == case_id(&other))
        .await;
    assert_eq!(on_a.last().unwrap().data["incident_id"], case_id(&case));
    assert_eq!(on_b.last().unwrap().data["action"], "report");

    // Redis returns on the same port: both instances subscribe again, and fan-out works.
    redis = RedisProcess::start(port).await;
    wait_for_feed_subscribers(&redis.url(), &ns, 2).await;
    cases::act(&w.app, &w.staff, &case, json!({"action": "dispatch"})).await;
    let rest_b = sb.until(PROMPTLY, |e| e.data["action"] == "dispatch").await;
    let rest_a = sa.until(PROMPTLY, |e| e.data["action"] == "dispatch").await;
    // Both streams hold every event, once, in order: nothing was lost while Redis was away.
    let all = incident_positions(&w.app, 0).await;
    for got in [
        [reported.clone(), on_a, rest_a].concat(),
        [reported.clone(), on_b, rest_b].concat(),
    ] {
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), all);
    }
    // And a resume from the change feed loses nothing either.
    let after = reported[0].id.to_string();
    let mut again = sse::open(
        &b,
        Some(&w.centre),
        "",
        &[("last-event-id", after.as_str())],
    )
    .await
    .ok()
    .unwrap();
    let resumed = again.take(all.len() - 1, PROMPTLY).await;
    assert_eq!(resumed.iter().map(|e| e.id).collect::<Vec<_>>(), all[1..]);
}
