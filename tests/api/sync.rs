//! Field sync, download: a phone's copy of its scope (`GET /api/v1/sync`), checked against
//! the server's own lists.

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);
const IN_EAST: (f64, f64) = (21.6, 111.15);

/// What a phone keeps: every record it holds, by (entity, id), with its version and data.
#[derive(Default)]
pub(crate) struct Phone {
    pub(crate) records: BTreeMap<(String, String), (i64, Value)>,
    /// Every change received, in order.
    pub(crate) log: Vec<Value>,
    pub(crate) cursor: Option<String>,
    /// Takes a version it holds again without failing (see its one use).
    pub(crate) repeats_allowed: bool,
}

/// A first sync's page holds at most `limit` changes, counting the shared kinds it begins
/// with, unless it holds one household (which never splits from its residents).
fn fits(page: &Value, limit: u32) {
    let changes = page["changes"].as_array().unwrap();
    let shared = changes
        .iter()
        .filter(|c| c["entity"] == "category" || c["entity"] == "calendar_day")
        .count();
    let households = changes
        .iter()
        .filter(|c| c["entity"] == "household")
        .count();
    let budget = usize::try_from(limit)
        .unwrap()
        .saturating_sub(shared)
        .max(1);
    assert!(
        changes.len() - shared <= budget || households <= 1,
        "a page of {} changes ({shared} shared, {households} households) at limit={limit}",
        changes.len()
    );
}

impl Phone {
    /// Syncs until the server says nothing more is waiting. No upsert may bring a version the
    /// phone holds already (a duplicate); a tombstone of a record it never had is harmless.
    pub(crate) async fn sync(&mut self, app: &TestApp, token: &str, limit: u32) -> usize {
        let mut n = 0;
        loop {
            let path = match &self.cursor {
                Some(c) => format!("/api/v1/sync?cursor={c}&limit={limit}"),
                None => format!("/api/v1/sync?limit={limit}"),
            };
            let first_sync = self.cursor.as_deref().is_none_or(|c| c.starts_with("w."));
            let r = app.get_as(token, &path).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
            let page = r.json();
            if first_sync {
                fits(&page, limit);
            }
            n += self.fold(&page);
            if page["more"] == json!(false) {
                return n;
            }
        }
    }

    /// Takes in one page: its changes, and its cursor. Returns how many changes it held.
    fn fold(&mut self, page: &Value) -> usize {
        let changes = page["changes"].as_array().unwrap();
        // The tasks come again whole only where the cursor asked with holds none: after a
        // first sync or a scope change (`w.`, `r.`, or `f.` without a digest).
        let holds_tasks = self
            .cursor
            .as_deref()
            .is_some_and(|c| c.starts_with("f.") && c.split('.').count() == 5);
        self.log.extend(changes.iter().cloned());
        for c in changes {
            let (entity, rid) = (c["entity"].as_str().unwrap(), c["id"].as_str().unwrap());
            let (version, op) = (c["version"].as_i64().unwrap(), c["op"].as_str().unwrap());
            let key = (entity.to_owned(), rid.to_owned());
            assert!(
                op == "delete"
                    || self.repeats_allowed
                    || (entity == "tasks" && !holds_tasks)
                    || self.records.get(&key).map(|r| r.0) != Some(version),
                "sent a version the phone holds: {c}"
            );
            if op == "delete" {
                self.records.remove(&key);
            } else {
                assert_eq!(op, "upsert");
                assert!(!has_null(&c["data"]), "no nulls on the wire: {c}");
                self.records.insert(key, (version, c["data"].clone()));
            }
        }
        self.cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
        changes.len()
    }

    /// Households and residents held (the records of the scope, not the shared ones).
    pub(crate) fn local(&self) -> usize {
        self.records
            .keys()
            .filter(|(e, _)| e == "household" || e == "resident")
            .count()
    }

    /// What the server's lists show too: every record but units (see `units_of`) and the
    /// caller's tasks (see `tasks`).
    pub(crate) fn versions(&self) -> BTreeMap<(String, String), i64> {
        self.records
            .iter()
            .filter(|((e, _), _)| e != "unit" && e != "tasks")
            .map(|(k, (v, _))| (k.clone(), *v))
            .collect()
    }

    /// The caller's tasks held: their version (a digest) and items.
    pub(crate) fn tasks(&self) -> Option<(i64, Vec<Value>)> {
        self.records
            .iter()
            .find(|((e, _), _)| e == "tasks")
            .map(|(_, (v, d))| (*v, d["items"].as_array().unwrap().clone()))
    }

    /// The units held: id → (version, data).
    pub(crate) fn units(&self) -> BTreeMap<String, (i64, Value)> {
        self.records
            .iter()
            .filter(|((e, _), _)| e == "unit")
            .map(|((_, id), r)| (id.clone(), r.clone()))
            .collect()
    }
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.values().any(has_null),
        Value::Array(a) => a.iter().any(has_null),
        _ => false,
    }
}

/// What the caller's phone should hold, as the server's lists show it now: every category
/// and calendar day, the households in scope and their residents.
pub(crate) async fn server_view(app: &TestApp, token: &str) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => {
                format!("/api/v1/incident-categories?include_retired=true&limit=100&cursor={c}")
            }
            None => "/api/v1/incident-categories?include_retired=true&limit=100".to_owned(),
        };
        let page = app.get_as(token, &path).await.json();
        for c in page["items"].as_array().unwrap() {
            out.insert(
                ("category".into(), c["code"].as_str().unwrap().to_owned()),
                c["version"].as_i64().unwrap(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for d in app.get_as(token, "/api/v1/calendar").await.json()["days"]
        .as_array()
        .unwrap()
    {
        out.insert(
            (
                "calendar_day".into(),
                d["date"].as_str().unwrap().to_owned(),
            ),
            d["version"].as_i64().unwrap(),
        );
    }
    cursor = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?limit=100&cursor={c}"),
            None => "/api/v1/incidents?limit=100".to_owned(),
        };
        let page = app.get_as(token, &path).await.json();
        for c in page["items"].as_array().unwrap() {
            out.insert(
                ("incident".into(), c["id"].as_str().unwrap().to_owned()),
                c["version"].as_i64().unwrap(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    cursor = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/households?limit=100&cursor={c}"),
            None => "/api/v1/households?limit=100".to_owned(),
        };
        let r = app.get_as(token, &path).await;
        if r.status == 403 {
            // A department reads no households: its phone holds none.
            return out;
        }
        let page = r.json();
        for h in page["items"].as_array().unwrap() {
            let hid = h["id"].as_str().unwrap().to_owned();
            out.insert(
                ("household".into(), hid.clone()),
                h["version"].as_i64().unwrap(),
            );
            let people = app
                .get_as(token, &format!("/api/v1/households/{hid}/residents"))
                .await
                .json();
            for p in people["items"].as_array().unwrap() {
                out.insert(
                    ("resident".into(), p["id"].as_str().unwrap().to_owned()),
                    p["version"].as_i64().unwrap(),
                );
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// Waits until every committed change has its position (the feed numbers them just after
/// commit).
pub(crate) async fn settled(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count("SELECT count(*) AS n FROM changes WHERE position IS NULL") > 0 {
        assert!(
            Instant::now() < deadline,
            "the feed did not number its changes"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) staff: String,
    pub(crate) worker: String,
}

pub(crate) async fn world() -> World {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("sync.staff", &grid).await;
    let (_, worker) = app
        .user(
            "sync.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    World { app, staff, worker }
}

pub(crate) async fn household(w: &World, n: usize, (lat, lng): (f64, f64)) -> Value {
    let h = w
        .app
        .household(&w.staff, &format!("同步路 {n} 号"), lat, lng)
        .await;
    let r = w
        .app
        .send(
            Method::POST,
            &format!("/api/v1/households/{}/residents", h["id"].as_str().unwrap()),
            Some(&w.staff),
            Some(json!({ "name": format!("住户{n}"), "relation": "head", "phone": format!("1380000{n:04}") })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    h
}

async fn patch(w: &World, h: &str, body: Value) -> Value {
    let r = w
        .app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{h}"),
            Some(&w.staff),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[actix_web::test]
async fn a_first_sync_is_the_scope_and_then_only_what_changed() {
    let w = world().await;
    for n in 0..5 {
        household(&w, n, IN_COMMUNITY).await;
    }
    household(&w, 99, IN_EAST).await;
    settled(&w.app).await;
    let mut phone = Phone::default();
    // Pages of two households: the whole scope, residents with their households, masked,
    // after every category and calendar day.
    phone.sync(&w.app, &w.worker, 2).await;
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
    let kinds = |e: &str| phone.records.keys().filter(|(k, _)| k == e).count();
    assert_eq!((kinds("household"), kinds("resident")), (5, 5));
    assert!(
        kinds("category") >= 46 && kinds("calendar_day") >= 30,
        "the seeded ones"
    );
    let resident = phone
        .records
        .iter()
        .find(|((e, _), _)| e == "resident")
        .map(|(_, (_, d))| d.clone())
        .unwrap();
    assert_eq!(resident["phone"], json!("138****0000"), "{resident}");
    assert_eq!(resident["revealed"], json!(false));

    // Nothing new: nothing sent.
    assert_eq!(phone.sync(&w.app, &w.worker, 2).await, 0);
    // A change and a new household: exactly those.
    let (first, _) = phone
        .records
        .keys()
        .find(|(e, _)| e == "household")
        .cloned()
        .map(|(_, i)| (i, ()))
        .unwrap();
    patch(&w, &first, json!({ "notes": "改了" })).await;
    household(&w, 5, IN_COMMUNITY).await;
    settled(&w.app).await;
    assert_eq!(phone.sync(&w.app, &w.worker, 50).await, 3);
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
    assert_eq!(
        phone.records[&("household".into(), first)].1["notes"],
        json!("改了")
    );
}

#[actix_web::test]
async fn a_household_that_leaves_the_scope_is_a_tombstone_and_one_that_enters_comes_whole() {
    let w = world().await;
    let h = household(&w, 1, IN_COMMUNITY).await;
    let hid = h["id"].as_str().unwrap().to_owned();
    settled(&w.app).await;
    let mut phone = Phone::default();
    phone.sync(&w.app, &w.worker, 50).await;
    assert_eq!(phone.local(), 2, "the household and its resident");

    // Moved to the east subdistrict, outside the worker's community.
    let (lat, lng) = IN_EAST;
    patch(&w, &hid, json!({ "location": { "lat": lat, "lng": lng } })).await;
    settled(&w.app).await;
    phone.sync(&w.app, &w.worker, 50).await;
    assert_eq!(phone.local(), 0, "{:?}", phone.records.keys());
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);

    // And back: the household and its resident, whole.
    let (lat, lng) = IN_COMMUNITY;
    patch(&w, &hid, json!({ "location": { "lat": lat, "lng": lng } })).await;
    settled(&w.app).await;
    phone.sync(&w.app, &w.worker, 50).await;
    assert_eq!(phone.local(), 2);
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);

    // Deleted: a tombstone for it and its resident.
    let version = phone.records[&("household".to_owned(), hid.clone())].0;
    let r = w
        .app
        .send(
            Method::DELETE,
            &format!("/api/v1/households/{hid}"),
            Some(&w.staff),
            None,
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    settled(&w.app).await;
    phone.sync(&w.app, &w.worker, 50).await;
    assert_eq!(phone.local(), 0, "{:?}", phone.records.keys());
}

#[actix_web::test]
async fn a_first_sync_racing_writers_hands_over_with_no_gap_and_no_duplicate() {
    let w = world().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(
            household(&w, n, IN_COMMUNITY).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    settled(&w.app).await;
    let mut phone = Phone::default();
    // One household a page; between pages the staff change, add, move out and back in.
    let mut step = 0;
    loop {
        let path = match &phone.cursor {
            Some(c) => format!("/api/v1/sync?cursor={c}&limit=1"),
            None => "/api/v1/sync?limit=1".to_owned(),
        };
        let page = w.app.get_as(&w.worker, &path).await.json();
        let whole = page["next_cursor"].as_str().unwrap().starts_with('w');
        phone.fold(&page);
        match step % 4 {
            0 => {
                patch(
                    &w,
                    &ids[step % ids.len()],
                    json!({ "notes": format!("第{step}次") }),
                )
                .await;
            }
            1 => {
                household(&w, 100 + step, IN_COMMUNITY).await;
            }
            2 => {
                let (lat, lng) = IN_EAST;
                patch(
                    &w,
                    &ids[(step + 5) % ids.len()],
                    json!({ "location": { "lat": lat, "lng": lng } }),
                )
                .await;
            }
            _ => {
                // Back in: the one moved out a step before.
                let (lat, lng) = IN_COMMUNITY;
                patch(
                    &w,
                    &ids[(step + 4) % ids.len()],
                    json!({ "location": { "lat": lat, "lng": lng }, "tags": ["elderly_alone"] }),
                )
                .await;
            }
        }
        step += 1;
        if !whole {
            break;
        }
    }
    assert!(
        step >= 12,
        "the first sync took a page per household ({step})"
    );
    settled(&w.app).await;
    phone.sync(&w.app, &w.worker, 3).await;
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
}

#[actix_web::test]
async fn cursors_expire_with_the_pruned_feed_and_bad_ones_are_refused() {
    let w = world().await;
    household(&w, 1, IN_COMMUNITY).await;
    settled(&w.app).await;
    let mut phone = Phone::default();
    phone.sync(&w.app, &w.worker, 50).await;
    let old = phone.cursor.clone().unwrap();
    household(&w, 2, IN_COMMUNITY).await;
    settled(&w.app).await;
    let mut conn = wangge_persistence::db::establish(&w.app.settings.database_url).unwrap();
    assert!(wangge_app::changes::prune(&mut conn, 0).unwrap() > 0);
    let r = w
        .app
        .get_as(&w.worker, &format!("/api/v1/sync?cursor={old}"))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (410, "cursor_expired"),
        "{}",
        r.text
    );
    // Starting again works, and gives the whole scope.
    let mut again = Phone::default();
    again.sync(&w.app, &w.worker, 50).await;
    assert_eq!(again.versions(), server_view(&w.app, &w.worker).await);

    let (bad, old) = ((400, "invalid_cursor"), (410, "cursor_expired"));
    for (cursor, want) in [
        ("x.1", bad),
        ("f.-1", bad),
        ("f.1.2", bad),
        ("f.1.0123456789ABCDEF", bad),
        ("w.1.0123456789abcdef.not-an-id.x", bad),
        // Shapes issued before cursors carried a scope tag: start again.
        ("f.1", old),
        ("w.1.i", old),
    ] {
        let r = w
            .app
            .get_as(&w.worker, &format!("/api/v1/sync?cursor={cursor}"))
            .await;
        assert_eq!((r.status, r.code().as_str()), want, "{cursor}");
    }
    let r = w
        .app
        .get_as(
            &w.worker,
            "/api/v1/sync?cursor=f.999999999.0123456789abcdef",
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (410, "cursor_expired"),
        "a position never given"
    );
    let (_, nobody) = w.app.user("sync.nobody", &["grid_worker"], &[]).await;
    let r = w.app.get_as(&nobody, "/api/v1/sync").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn a_change_of_a_category_or_the_calendar_reaches_every_phone() {
    let w = world().await;
    let mut phone = Phone::default();
    phone.sync(&w.app, &w.worker, 50).await;
    let retired = w
        .app
        .send(
            Method::PATCH,
            "/api/v1/incident-categories/0101",
            Some(&w.app.admin_token),
            Some(json!({"retired": true})),
            &[],
        )
        .await;
    assert_eq!(retired.status, 200, "{}", retired.text);
    let path = "/api/v1/calendar/2026-11-13";
    let set = w
        .app
        .put(path, json!({"kind": "holiday", "name": "防台风停工"}))
        .await;
    assert_eq!(set.status, 201, "{}", set.text);
    settled(&w.app).await;
    assert_eq!(phone.sync(&w.app, &w.worker, 50).await, 2);
    let key = |e: &str, i: &str| (e.to_owned(), i.to_owned());
    assert_eq!(
        phone.records[&key("category", "0101")].1["retired"],
        json!(true)
    );
    assert_eq!(
        phone.records[&key("calendar_day", "2026-11-13")].1["kind"],
        json!("holiday")
    );
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);

    let removed = w
        .app
        .send(Method::DELETE, path, Some(&w.app.admin_token), None, &[])
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    settled(&w.app).await;
    assert_eq!(phone.sync(&w.app, &w.worker, 50).await, 1);
    assert!(
        !phone
            .records
            .contains_key(&key("calendar_day", "2026-11-13"))
    );
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
}

pub(crate) async fn report(w: &World, (lat, lng): (f64, f64)) -> Value {
    let r = w
        .app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&w.staff),
            Some(json!({"category": "0101", "description": "路边堆放垃圾", "location": {"lat": lat, "lng": lng}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

async fn act(w: &World, case: &Value, body: Value) -> crate::helpers::Res {
    let path = format!(
        "/api/v1/incidents/{}/transitions",
        case["id"].as_str().unwrap()
    );
    w.app
        .send(Method::POST, &path, Some(&w.staff), Some(body), &[])
        .await
}

#[actix_web::test]
async fn cases_of_the_workers_units_sync_and_one_escalated_away_leaves() {
    let w = world().await;
    let mine = report(&w, IN_COMMUNITY).await;
    report(&w, IN_EAST).await;
    settled(&w.app).await;
    let mut phone = Phone::default();
    phone.sync(&w.app, &w.worker, 1).await;
    let cases: Vec<&String> = phone
        .records
        .keys()
        .filter(|(e, _)| e == "incident")
        .map(|(_, i)| i)
        .collect();
    assert_eq!(cases, vec![mine["id"].as_str().unwrap()]);
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);

    // Registered: the new version; then escalated to the subdistrict: gone from the phone.
    let registered = act(&w, &mine, json!({"action": "register"})).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let second = report(&w, IN_COMMUNITY).await;
    settled(&w.app).await;
    assert_eq!(phone.sync(&w.app, &w.worker, 50).await, 2);
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
    let up = act(
        &w,
        &second,
        json!({"action": "escalate", "note": "社区无力处置"}),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    settled(&w.app).await;
    assert_eq!(phone.sync(&w.app, &w.worker, 50).await, 1);
    let key = (
        "incident".to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    assert!(!phone.records.contains_key(&key));
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
}

#[actix_web::test]
async fn a_household_that_moves_in_during_a_first_sync_comes_once_with_its_residents() {
    let w = world().await;
    household(&w, 1, IN_COMMUNITY).await;
    household(&w, 2, IN_COMMUNITY).await;
    // Made after those, so it sorts after them once it is in the community too.
    let outside = household(&w, 3, IN_EAST).await;
    settled(&w.app).await;
    let mut phone = Phone::default();
    let first = w.app.get_as(&w.worker, "/api/v1/sync?limit=1").await.json();
    phone.fold(&first);
    // Moved in after the first sync began, before its page is read.
    let (lat, lng) = IN_COMMUNITY;
    patch(
        &w,
        outside["id"].as_str().unwrap(),
        json!({ "location": { "lat": lat, "lng": lng } }),
    )
    .await;
    settled(&w.app).await;
    phone.sync(&w.app, &w.worker, 1).await;
    assert_eq!(phone.local(), 6, "three households, three residents");
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
}

#[actix_web::test]
async fn a_household_that_came_and_went_shows_nothing_of_its_time_outside() {
    let w = world().await;
    let h = household(&w, 1, IN_EAST).await;
    let hid = h["id"].as_str().unwrap().to_owned();
    settled(&w.app).await;
    let mut phone = Phone::default();
    phone.sync(&w.app, &w.worker, 50).await;
    assert_eq!(phone.local(), 0);
    let seen = phone.log.len();
    // In and out again before the phone looks; then a resident added while it is outside.
    for (lat, lng) in [IN_COMMUNITY, IN_EAST] {
        patch(&w, &hid, json!({ "location": { "lat": lat, "lng": lng } })).await;
    }
    let added = w
        .app
        .send(
            Method::POST,
            &format!("/api/v1/households/{hid}/residents"),
            Some(&w.staff),
            Some(json!({ "name": "后来的", "relation": "spouse" })),
            &[],
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    let late = added.json()["id"].as_str().unwrap().to_owned();
    settled(&w.app).await;
    phone.sync(&w.app, &w.worker, 1).await;
    let new = &phone.log[seen..];
    assert!(
        new.iter().all(|c| c["op"] == "delete"),
        "nothing of it as it is outside: {new:?}"
    );
    assert!(
        new.iter().all(|c| c["id"] != json!(late)),
        "not even the id of a resident it gained outside: {new:?}"
    );
    assert_eq!(phone.local(), 0);
    assert_eq!(phone.versions(), server_view(&w.app, &w.worker).await);
}

/// A unit as the server shows it: its version, and its coverage's cells.
async fn unit_now(app: &TestApp, unit: &Value) -> (i64, Vec<String>) {
    let u = app.get(&format!("/api/v1/units/{}", id(unit))).await.json();
    let c = app
        .get(&format!("/api/v1/units/{}/coverage", id(unit)))
        .await
        .json();
    let cells = c["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    (u["version"].as_i64().unwrap(), cells)
}

#[actix_web::test]
async fn units_of_the_scope_come_with_coverage_those_above_by_name_and_a_deleted_one_leaves() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "units.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    settled(&app).await;
    let mut phone = Phone::default();
    phone.sync(&app, &worker, 50).await;
    let held = phone.units();
    // The community with its cells; the subdistrict and district above it, by name only;
    // nothing of the east.
    let ids: Vec<&str> = held.keys().map(String::as_str).collect();
    let mut want = vec![id(&grid.district), id(&grid.west), id(&grid.community)];
    want.sort_unstable();
    assert_eq!(ids, want);
    let (version, cells) = unit_now(&app, &grid.community).await;
    let (v, data) = &held[id(&grid.community)];
    assert_eq!(*v, version);
    assert!(!cells.is_empty());
    assert_eq!(data["coverage"]["cells"], json!(cells));
    assert_eq!(data["name"], "一社区");
    assert!(
        held[id(&grid.district)].1.get("coverage").is_none(),
        "above: no cells"
    );

    // The district renamed, the community's area cut, a resident group made and deleted,
    // the east renamed: the phone hears of what concerns it, and only of that.
    let r = app
        .patch(
            &format!("/api/v1/units/{}", id(&grid.district)),
            json!({ "name": "电白区（改）" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/units/{}", id(&grid.east)),
            json!({ "name": "东街道（改）" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .set_polygon(
            id(&grid.community),
            &crate::helpers::rect(111.03, 21.55, 111.07, 21.65),
            false,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let group = app
        .create_unit("440904001001001", "一组", 4, Some(id(&grid.community)))
        .await;
    let r = app
        .set_polygon(
            id(&group),
            &crate::helpers::rect(111.04, 21.58, 111.05, 21.59),
            false,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    settled(&app).await;
    phone.sync(&app, &worker, 50).await;
    let held = phone.units();
    assert_eq!(held.len(), 4);
    assert_eq!(held[id(&grid.district)].1["name"], "电白区（改）");
    let (version, cells) = unit_now(&app, &grid.community).await;
    assert_eq!(held[id(&grid.community)].0, version);
    assert_eq!(
        held[id(&grid.community)].1["coverage"]["cells"],
        json!(cells)
    );
    let (version, cells) = unit_now(&app, &group).await;
    assert_eq!(held[id(&group)].0, version);
    assert_eq!(held[id(&group)].1["coverage"]["cells"], json!(cells));
    assert!(
        !phone.log.iter().any(|c| c["id"] == id(&grid.east)),
        "nothing of the east"
    );
    let version = held[id(&group)].0;
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/units/{}", id(&group)),
            Some(&app.admin_token.clone()),
            None,
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    settled(&app).await;
    phone.sync(&app, &worker, 50).await;
    assert!(
        !phone.units().contains_key(id(&group)),
        "a deleted unit leaves"
    );
    assert_eq!(phone.units().len(), 3);
}
