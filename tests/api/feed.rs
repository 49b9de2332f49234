//! One record of every change: history, outbox and change feed, written in the change's own
//! transaction; the feed's positions grow in commit order.

use crate::helpers::{Res, SmallGrid, TestApp, id, on_postgres, rect};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Reads the feed after `after` to its end.
async fn read_feed(app: &TestApp, after: &str) -> (Vec<Value>, String) {
    let mut cursor = after.to_owned();
    let mut items = Vec::new();
    loop {
        let page = app
            .get(&format!("/api/v1/changes?after={cursor}&limit=500"))
            .await
            .json();
        let got = page["items"].as_array().unwrap().clone();
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if got.is_empty() {
            return (items, cursor);
        }
        items.extend(got);
    }
}

/// The feed's entries for one record, waiting (briefly) until `n` are numbered.
async fn entries_of(app: &TestApp, record: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (all, _) = read_feed(app, "0").await;
        let mine: Vec<Value> = all.into_iter().filter(|c| c["id"] == record).collect();
        if mine.len() >= n || Instant::now() > deadline {
            return mine;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn path_of(units: &[&Value]) -> String {
    let mut p = String::from("/");
    for u in units {
        p.push_str(id(u));
        p.push('/');
    }
    p
}

#[actix_web::test]
async fn every_change_is_in_the_feed_with_where_the_record_was_and_is() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("feed.staff", &grid).await;
    let community = path_of(&[&grid.district, &grid.west, &grid.community]);
    let east = path_of(&[&grid.district, &grid.east]);
    let h = app.household(&staff, "变更路 1 号", 21.6, 111.05).await;
    let hid = h["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/households/{hid}");
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&staff),
            Some(json!({ "location": { "lat": 21.6, "lng": 111.15 } })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let resident = app
        .send(
            Method::POST,
            &format!("{path}/residents"),
            Some(&staff),
            Some(json!({ "name": "陈某", "relation": "head" })),
            &[],
        )
        .await
        .json();
    assert_eq!(
        app.send(Method::DELETE, &path, Some(&staff), None, &[])
            .await
            .status,
        204
    );

    let h = entries_of(&app, &hid, 3).await;
    let shape: Vec<(i64, bool, Option<&str>, Option<&str>)> = h
        .iter()
        .map(|c| {
            (
                c["version"].as_i64().unwrap(),
                c["deleted"].as_bool().unwrap(),
                c["unit_path_before"].as_str(),
                c["unit_path_after"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, false, None, Some(community.as_str())),
            (2, false, Some(community.as_str()), Some(east.as_str())),
            (3, true, Some(east.as_str()), None),
        ],
        "created, moved east, deleted"
    );
    assert!(h.iter().all(|c| c["entity"] == "household"));
    // The resident went with its household: a tombstone of its own.
    let rid = resident["id"].as_str().unwrap();
    let r = entries_of(&app, rid, 2).await;
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0]["entity"].as_str(), r[0]["deleted"].as_bool()),
        (Some("resident"), Some(false))
    );
    assert_eq!(
        (r[1]["deleted"].as_bool(), r[1]["unit_path_before"].as_str()),
        (Some(true), Some(east.as_str()))
    );
    // Units and their coverage are there too, and every entry names an entity of the list.
    let (all, next) = read_feed(&app, "0").await;
    let units: Vec<&Value> = all
        .iter()
        .filter(|c| c["id"] == grid.community["id"])
        .collect();
    assert_eq!(units.len(), 2, "created, then its coverage set");
    assert_eq!(units[1]["unit_path_after"], community.as_str());
    let positions: Vec<i64> = all
        .iter()
        .map(|c| c["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in position order"
    );
    assert_eq!(next, positions.last().unwrap().to_string());
    // Nothing new: the cursor stays.
    let page = app
        .get(&format!("/api/v1/changes?after={next}"))
        .await
        .json();
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["next_cursor"].as_str()
        ),
        (0, Some(next.as_str()))
    );
    for bad in ["x", "-1", "1.5"] {
        let r = app.get(&format!("/api/v1/changes?after={bad}")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_cursor"),
            "{bad}"
        );
    }
    // Only administrators who reach everything read it for now.
    let r = app.get_as(&staff, "/api/v1/changes").await;
    assert_eq!(r.status, 403);
}

/// Eight writers at once while a reader pages the feed from the start: in the end the reader
/// has every change exactly once, in the order of its positions, and never met a position
/// below one it had passed.
#[actix_web::test]
async fn the_feed_has_every_change_exactly_once_in_commit_order_under_concurrent_writers() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("feed.staff", &grid).await;
    let (_, start) = read_feed(&app, "0").await;
    let per_writer = if on_postgres() { 60 } else { 25 };
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = (0..8).map(|w| {
        let (app, staff) = (&app, &staff);
        async move {
            let mut written: Vec<(String, i64)> = Vec::new();
            for k in 0..per_writer {
                let lat = 21.52 + 0.0015 * k as f64 + 0.0002 * f64::from(w);
                let h = app
                    .household(staff, &format!("并发路 {w}-{k}"), lat, 111.03)
                    .await;
                let hid = h["id"].as_str().unwrap().to_owned();
                written.push((hid.clone(), 1));
                let r = app
                    .send(
                        Method::PATCH,
                        &format!("/api/v1/households/{hid}"),
                        Some(staff),
                        Some(json!({ "notes": format!("{w}/{k}") })),
                        &[],
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                written.push((hid, 2));
            }
            written
        }
    });
    let reader = async {
        let mut seen: Vec<Value> = Vec::new();
        let mut cursor = start.clone();
        let mut idle_since: Option<Instant> = None;
        loop {
            let page: Res = app
                .get(&format!("/api/v1/changes?after={cursor}&limit=37"))
                .await;
            let page = page.json();
            let items = page["items"].as_array().unwrap().clone();
            let last = cursor.parse::<i64>().unwrap();
            for c in &items {
                let p = c["position"].as_i64().unwrap();
                assert!(
                    p > last,
                    "position {p} came after the reader had passed {last}"
                );
            }
            cursor = page["next_cursor"].as_str().unwrap().to_owned();
            if items.is_empty() {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    // Caught up once the writers stopped and the sequencer had time to number
                    // what they committed last.
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(2) {
                        return seen;
                    }
                }
                actix_web::rt::time::sleep(Duration::from_millis(5)).await;
            } else {
                idle_since = None;
                seen.extend(items);
            }
        }
    };
    let writes = async {
        let all = futures_util::future::join_all(writers).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        all.into_iter().flatten().collect::<Vec<_>>()
    };
    let (written, seen) = futures_util::join!(writes, reader);
    let positions: Vec<i64> = seen
        .iter()
        .map(|c| c["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing"
    );
    let mut got: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for c in seen.iter().filter(|c| c["entity"] == "household") {
        *got.entry((
            c["id"].as_str().unwrap().to_owned(),
            c["version"].as_i64().unwrap(),
        ))
        .or_default() += 1;
    }
    let expected: HashSet<(String, i64)> = written.into_iter().collect();
    assert_eq!(expected.len(), 8 * per_writer * 2);
    for (k, n) in &got {
        assert_eq!(*n, 1, "{k:?} came {n} times");
    }
    let got: HashSet<(String, i64)> = got.into_keys().collect();
    assert_eq!(got, expected, "every change, none missed");
    // The whole feed read again now holds nothing the reader missed.
    let (again, _) = read_feed(&app, &start).await;
    assert_eq!(again.len(), seen.len());
}

#[actix_web::test]
async fn history_outbox_and_feed_rows_are_written_with_the_change_or_not_at_all() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("feed.staff", &grid).await;
    let count = |table: &str| {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<N>(&mut conn)
            .unwrap()
            .n
    };
    let tables = ["units", "history", "outbox", "changes", "audit_events"];
    let before: Vec<i64> = tables.iter().map(|t| count(t)).collect();
    // An import whose second unit overlaps the first: the first was written, journal and
    // all, before the overlap was found; the rollback leaves nothing of either.
    let feature = |code: &str, ring: Vec<[f64; 2]>| {
        json!({ "type": "Feature", "geometry": { "type": "Polygon", "coordinates": [ring] },
                "properties": { "code": code, "name": code, "level": 3, "parent_code": "440904002" } })
    };
    let doc = json!({ "type": "FeatureCollection", "features": [
        feature("440904002101", rect(111.12, 21.52, 111.16, 21.56)),
        feature("440904002102", rect(111.14, 21.54, 111.18, 21.58)),
    ]});
    let r = app.post("/api/v1/units/import", doc).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "import_rejected"),
        "{}",
        r.text
    );
    let after: Vec<i64> = tables.iter().map(|t| count(t)).collect();
    assert_eq!(
        before, after,
        "nothing of a failed write is left: {tables:?}"
    );

    // A change that succeeds leaves each of its rows once; its outbox event has no personal
    // data.
    let h = app.household(&staff, "事件路 1 号", 21.6, 111.05).await;
    let hid = h["id"].as_str().unwrap();
    let number = crate::households::id_card("44090419850615123");
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/households/{hid}/residents"),
            Some(&staff),
            Some(json!({ "name": "黄某", "relation": "head", "id_card": number, "phone": "13812345678" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201);
    let rid = r.json()["id"].as_str().unwrap().to_owned();
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let events = wangge_persistence::journal::outbox_of(&mut conn, &rid).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].event_type.as_str(), events[0].aggregate_version),
        ("resident.created", 1)
    );
    for secret in [number.as_str(), "13812345678", "黄某"] {
        assert!(
            !events[0].payload.contains(secret),
            "{secret} in the outbox"
        );
    }
    let household_events = wangge_persistence::journal::outbox_of(&mut conn, hid).unwrap();
    assert_eq!(household_events.len(), 1);
    assert_eq!(household_events[0].event_type, "household.created");
    let history = app
        .get_as(&staff, &format!("/api/v1/households/{hid}/history"))
        .await
        .json();
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "resident_added"]);
    assert!(!history.to_string().contains(&number));
}

#[actix_web::test]
async fn units_and_accounts_have_a_history_of_who_changed_what() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let path = format!("/api/v1/units/{}", id(&grid.community));
    let r = app.patch(&path, json!({ "name": "新一社区" })).await;
    assert_eq!(r.status, 200);
    let history = app.get(&format!("{path}/history")).await.json();
    let items = history["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "coverage_changed", "updated"]);
    assert_eq!(items[2]["details"]["from"]["name"], "一社区");
    assert_eq!(items[2]["details"]["to"]["name"], "新一社区");
    assert_eq!(items[2]["actor_name"], crate::helpers::ADMIN);
    assert_eq!(items[2]["version"], 3);
    // Paged like every list.
    let first = app.get(&format!("{path}/history?limit=2")).await.json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let rest = app
        .get(&format!(
            "{path}/history?limit=2&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(rest["items"][0]["kind"], "updated");
    assert_eq!(
        app.get(&format!("{path}/history?cursor=nope")).await.code(),
        "invalid_cursor"
    );

    let created = app
        .post(
            "/api/v1/users",
            json!({ "username": "hist.user", "display_name": "甲", "roles": ["grid_worker"],
                    "assignments": [{ "unit_id": id(&grid.community), "capture": true }] }),
        )
        .await
        .json();
    let user = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    let r = app
        .put(
            &format!("{user}/assignments"),
            json!({ "assignments": [{ "unit_id": id(&grid.west), "capture": false }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let history = app.get(&format!("{user}/history")).await.json();
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "assignments_changed"]);
    assert_eq!(
        history["items"][1]["details"]["to"][0]["unit_id"],
        id(&grid.west)
    );
    // Someone who may not read the account cannot read its history either.
    let (_, worker) = app
        .user("hist.worker", &["grid_worker"], &[(id(&grid.east), true)])
        .await;
    assert_eq!(
        app.get_as(&worker, &format!("{user}/history")).await.status,
        404
    );
}

#[actix_web::test]
async fn deleting_a_resident_an_account_or_a_department_leaves_its_history_event_and_tombstone() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("feed.staff", &grid).await;
    let community = path_of(&[&grid.district, &grid.west, &grid.community]);
    let outbox = |id: &str| -> Vec<(String, i64)> {
        let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
        wangge_persistence::journal::outbox_of(&mut conn, id)
            .unwrap()
            .into_iter()
            .map(|e| (e.event_type, e.aggregate_version))
            .collect()
    };

    // A resident, removed from its household.
    let h = app.household(&staff, "删除路 1 号", 21.6, 111.05).await;
    let hid = h["id"].as_str().unwrap();
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/households/{hid}/residents"),
            Some(&staff),
            Some(json!({ "name": "林某", "relation": "head" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rid = r.json()["id"].as_str().unwrap().to_owned();
    let resident = format!("/api/v1/households/{hid}/residents/{rid}");
    let gone = app
        .send(
            Method::DELETE,
            &resident,
            Some(&staff),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let list = app
        .get_as(&staff, &format!("/api/v1/households/{hid}/residents"))
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let history = app
        .get_as(&staff, &format!("/api/v1/households/{hid}/history"))
        .await
        .json();
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "resident_added", "resident_removed"]);
    assert_eq!(
        outbox(&rid),
        [
            ("resident.created".into(), 1),
            ("resident.deleted".into(), 2)
        ]
    );
    let feed = entries_of(&app, &rid, 2).await;
    assert_eq!(
        (
            feed[1]["entity"].as_str(),
            feed[1]["deleted"].as_bool(),
            feed[1]["unit_path_before"].as_str(),
            feed[1]["unit_path_after"].as_str()
        ),
        (Some("resident"), Some(true), Some(community.as_str()), None)
    );

    // An account that never recorded anything.
    let (uid, _) = app.user("feed.leaver", &["grid_worker"], &[]).await;
    let user = format!("/api/v1/users/{uid}");
    let version = app.get(&user).await.json()["version"].as_i64().unwrap();
    let gone = app
        .send(
            Method::DELETE,
            &user,
            Some(&app.admin_token),
            None,
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(app.get(&user).await.status, 404);
    let deleted = app.count(&format!(
        "SELECT count(*) AS n FROM history WHERE entity = 'user' AND entity_id = '{uid}' AND kind = 'deleted'"
    ));
    assert_eq!(deleted, 1);
    let audit = app.count(&format!(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'user.deleted' AND subject_id = '{uid}'"
    ));
    assert_eq!(audit, 1);
    let feed = entries_of(&app, &uid, 1).await;
    let last = feed.last().unwrap();
    assert_eq!(
        (
            last["entity"].as_str(),
            last["deleted"].as_bool(),
            last["version"].as_i64()
        ),
        (Some("user"), Some(true), Some(version + 1))
    );

    // A department no account is bound to.
    let d = app
        .post(
            "/api/v1/departments",
            json!({ "code": "water", "name": "水务" }),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.text);
    let did = d.json()["id"].as_str().unwrap().to_owned();
    let gone = app
        .send(
            Method::DELETE,
            &format!("/api/v1/departments/{did}"),
            Some(&app.admin_token),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(
        app.get(&format!("/api/v1/departments/{did}")).await.status,
        404
    );
    assert_eq!(
        outbox(&did),
        [
            ("department.created".into(), 1),
            ("department.deleted".into(), 2)
        ]
    );
    let feed = entries_of(&app, &did, 2).await;
    assert_eq!(
        (feed[1]["entity"].as_str(), feed[1]["deleted"].as_bool()),
        (Some("department"), Some(true))
    );
}
