//! Field sync when the scope itself changes: a worker given other units, and units moved
//! across the edge of a worker's scope. Records that left arrive as tombstones, those that
//! entered arrive whole, and the phone ends holding what a new phone would.

use crate::cases;
use crate::helpers::{SmallGrid, TestApp, id, rect};
use crate::sync::{Phone, server_view, settled};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);
const IN_OTHER: (f64, f64) = (21.6, 111.15);

struct Scene {
    app: TestApp,
    grid: SmallGrid,
    /// A second community, in the east subdistrict.
    other: Value,
    staff: String,
    worker_id: String,
    worker: String,
}

async fn scene() -> Scene {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let other = app
        .create_unit("440904002001", "二社区", 3, Some(id(&grid.east)))
        .await;
    let r = app
        .set_polygon(id(&other), &rect(111.12, 21.52, 111.18, 21.68), false)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, staff) = app.staff("scope.staff", &grid).await;
    let (worker_id, worker) = app
        .user(
            "scope.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    Scene {
        app,
        grid,
        other,
        staff,
        worker_id,
        worker,
    }
}

/// A household with one resident, at a point or (with `unit`) placed in a unit by hand.
async fn home(s: &Scene, n: usize, (lat, lng): (f64, f64), unit: Option<&Value>) -> String {
    let mut body =
        json!({ "address": format!("范围路 {n} 号"), "location": { "lat": lat, "lng": lng } });
    if let Some(u) = unit {
        body["unit_id"] = json!(id(u));
        body["unit_reason"] = json!("新设小组，边界未划");
    }
    let r = s
        .app
        .send(
            Method::POST,
            "/api/v1/households",
            Some(&s.staff),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hid = r.json()["id"].as_str().unwrap().to_owned();
    let r = s
        .app
        .send(
            Method::POST,
            &format!("/api/v1/households/{hid}/residents"),
            Some(&s.staff),
            Some(json!({ "name": format!("住户{n}"), "relation": "head" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    hid
}

async fn edit(s: &Scene, hid: &str, notes: &str) {
    let r = s
        .app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{hid}"),
            Some(&s.staff),
            Some(json!({ "notes": notes })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn report(s: &Scene, (lat, lng): (f64, f64)) -> String {
    let r = s
        .app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&s.staff),
            Some(json!({"category": "0101", "description": "路边堆放垃圾", "location": {"lat": lat, "lng": lng}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// The administrator gives the account these units instead of its own.
async fn assign(s: &Scene, user_id: &str, units: &[&Value]) {
    let etag = s
        .app
        .get(&format!("/api/v1/users/{user_id}"))
        .await
        .header("etag")
        .unwrap();
    let assignments: Vec<Value> = units
        .iter()
        .map(|u| json!({ "unit_id": id(u), "capture": true }))
        .collect();
    let r = s
        .app
        .send(
            Method::PUT,
            &format!("/api/v1/users/{user_id}/assignments"),
            Some(&s.app.admin_token),
            Some(json!({ "assignments": assignments })),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn move_unit(s: &Scene, unit: &Value, parent: &Value) {
    let r = s
        .app
        .patch(
            &format!("/api/v1/units/{}", id(unit)),
            json!({ "parent_id": id(parent) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The phone holds what a new phone's first sync would, record for record and version for
/// version, and what the server's own lists show.
async fn holds_the_scope(s: &Scene, phone: &Phone, token: &str) {
    let mut fresh = Phone::default();
    fresh.sync(&s.app, token, 100).await;
    let held = |p: &Phone| -> Vec<((String, String), i64)> {
        p.records
            .iter()
            .map(|(k, (v, _))| (k.clone(), *v))
            .collect()
    };
    assert_eq!(held(phone), held(&fresh), "the phone against a new phone");
    assert_eq!(phone.versions(), server_view(&s.app, token).await);
}

/// The (entity, id) of the changes in `log` with `op`.
fn ops(log: &[Value], op: &str) -> BTreeSet<(String, String)> {
    log.iter()
        .filter(|c| c["op"] == op)
        .map(|c| {
            (
                c["entity"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn key(entity: &str, id: &str) -> (String, String) {
    (entity.to_owned(), id.to_owned())
}

#[actix_web::test]
async fn a_worker_given_another_community_loses_the_old_records_and_gets_the_new_whole() {
    let s = scene().await;
    let mine = [
        home(&s, 1, IN_COMMUNITY, None).await,
        home(&s, 2, IN_COMMUNITY, None).await,
    ];
    let theirs = [
        home(&s, 3, IN_OTHER, None).await,
        home(&s, 4, IN_OTHER, None).await,
    ];
    let (my_case, their_case) = (report(&s, IN_COMMUNITY).await, report(&s, IN_OTHER).await);
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &s.worker, 2).await;
    assert_eq!(phone.local(), 4, "two households with a resident each");
    let cursor = phone.cursor.clone().unwrap();

    // Changed after the phone's last sync: one record of each community; then the worker is
    // moved to the other community, and the new one changes again.
    edit(&s, &mine[0], "旧社区改过").await;
    edit(&s, &theirs[0], "新社区改过").await;
    assign(&s, &s.worker_id, &[&s.other]).await;
    let fifth = home(&s, 5, IN_OTHER, None).await;
    settled(&s.app).await;
    let before = phone.log.len();
    // Pages of two: the move across goes unit by unit.
    phone.sync(&s.app, &s.worker, 2).await;
    assert!(
        phone.cursor.as_deref().unwrap().starts_with('f'),
        "{cursor} → {:?}",
        phone.cursor
    );
    let log = &phone.log[before..];
    let gone = ops(log, "delete");
    for h in &mine {
        assert!(gone.contains(&key("household", h)), "{gone:?}");
    }
    assert!(gone.contains(&key("incident", &my_case)));
    assert!(gone.contains(&key("unit", id(&s.grid.community))));
    assert!(gone.contains(&key("unit", id(&s.grid.west))));
    let came = ops(log, "upsert");
    for h in theirs.iter().chain([&fifth]) {
        assert!(came.contains(&key("household", h)), "{came:?}");
    }
    assert!(came.contains(&key("incident", &their_case)));
    assert!(came.contains(&key("unit", id(&s.other))));
    assert!(came.contains(&key("unit", id(&s.grid.east))));
    assert_eq!(phone.local(), 6, "three households with a resident each");
    assert_eq!(
        phone.records[&key("household", &theirs[0])].1["notes"],
        json!("新社区改过")
    );
    holds_the_scope(&s, &phone, &s.worker).await;
    assert_eq!(phone.sync(&s.app, &s.worker, 2).await, 0, "nothing new");

    // Back again, one change a page: the same, the other way.
    assign(&s, &s.worker_id, &[&s.grid.community]).await;
    settled(&s.app).await;
    phone.sync(&s.app, &s.worker, 1).await;
    assert_eq!(phone.local(), 4);
    holds_the_scope(&s, &phone, &s.worker).await;
}

#[actix_web::test]
async fn a_scope_changed_during_a_first_sync_starts_it_over() {
    let s = scene().await;
    home(&s, 1, IN_COMMUNITY, None).await;
    home(&s, 2, IN_COMMUNITY, None).await;
    settled(&s.app).await;
    let page = s.app.get_as(&s.worker, "/api/v1/sync?limit=1").await.json();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert!(cursor.starts_with('w'), "{cursor}");
    assign(&s, &s.worker_id, &[&s.other]).await;
    let r = s
        .app
        .get_as(&s.worker, &format!("/api/v1/sync?cursor={cursor}&limit=1"))
        .await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(r.code(), "cursor_expired");
    // Started over, the first sync is the new scope's.
    let mut phone = Phone::default();
    phone.sync(&s.app, &s.worker, 1).await;
    assert_eq!(phone.local(), 0);
    holds_the_scope(&s, &phone, &s.worker).await;
}

#[actix_web::test]
async fn a_unit_moved_across_the_edge_of_the_scope_takes_its_records_or_brings_them() {
    let s = scene().await;
    // Resident groups without coverage, so they may move between communities.
    let g1 = s
        .app
        .create_unit("440904001001001", "一组", 4, Some(id(&s.grid.community)))
        .await;
    let g2 = s
        .app
        .create_unit("440904002001001", "二组", 4, Some(id(&s.other)))
        .await;
    let h1 = home(&s, 1, IN_COMMUNITY, Some(&g1)).await;
    let h2 = home(&s, 2, IN_OTHER, Some(&g2)).await;
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &s.worker, 50).await;
    assert_eq!(phone.local(), 2);

    // The second group comes into the worker's community, changed while it was outside.
    edit(&s, &h2, "外面改的").await;
    move_unit(&s, &g2, &s.grid.community).await;
    settled(&s.app).await;
    let before = phone.log.len();
    phone.sync(&s.app, &s.worker, 50).await;
    let came = ops(&phone.log[before..], "upsert");
    assert!(came.contains(&key("household", &h2)), "{came:?}");
    assert!(came.contains(&key("unit", id(&g2))));
    assert_eq!(phone.local(), 4);
    assert_eq!(
        phone.records[&key("household", &h2)].1["notes"],
        json!("外面改的")
    );
    holds_the_scope(&s, &phone, &s.worker).await;

    // The first group leaves for the other community, changed just before it went.
    edit(&s, &h1, "走前改的").await;
    move_unit(&s, &g1, &s.other).await;
    settled(&s.app).await;
    let before = phone.log.len();
    phone.sync(&s.app, &s.worker, 50).await;
    let gone = ops(&phone.log[before..], "delete");
    assert!(gone.contains(&key("household", &h1)), "{gone:?}");
    assert!(gone.contains(&key("unit", id(&g1))));
    assert_eq!(phone.local(), 2);
    holds_the_scope(&s, &phone, &s.worker).await;
}

#[actix_web::test]
async fn a_worker_whose_own_unit_moves_keeps_its_records_and_misses_no_change() {
    let s = scene().await;
    let g = s
        .app
        .create_unit("440904001001001", "一组", 4, Some(id(&s.grid.community)))
        .await;
    let h = home(&s, 1, IN_COMMUNITY, Some(&g)).await;
    let (_, leader) = s
        .app
        .user("scope.leader", &["group_leader"], &[(id(&g), true)])
        .await;
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &leader, 50).await;
    assert_eq!(phone.local(), 2);

    // Changed, then the group (with the leader's scope) moves to another subdistrict: the
    // change was made at the old place and must still reach the phone.
    edit(&s, &h, "搬前改的").await;
    move_unit(&s, &g, &s.other).await;
    settled(&s.app).await;
    let before = phone.log.len();
    phone.sync(&s.app, &leader, 50).await;
    let log = &phone.log[before..];
    assert_eq!(
        phone.records[&key("household", &h)].1["notes"],
        json!("搬前改的")
    );
    let households: Vec<&Value> = log
        .iter()
        .filter(|c| c["entity"] == "household" || c["entity"] == "resident")
        .collect();
    assert_eq!(
        households.len(),
        1,
        "only the change, nothing resent: {households:?}"
    );
    let gone = ops(log, "delete");
    assert!(
        gone.contains(&key("unit", id(&s.grid.community))),
        "{gone:?}"
    );
    assert!(gone.contains(&key("unit", id(&s.grid.west))), "{gone:?}");
    let came = ops(log, "upsert");
    assert!(came.contains(&key("unit", id(&s.other))), "{came:?}");
    assert!(came.contains(&key("unit", id(&s.grid.east))), "{came:?}");
    holds_the_scope(&s, &phone, &leader).await;
}

#[actix_web::test]
async fn a_case_dispatched_to_another_department_leaves_the_first_ones_phones() {
    let s = scene().await;
    let (urban, water) = (
        s.app.department("urban_s").await,
        s.app.department("water_s").await,
    );
    let (_, urban_clerk) = s
        .app
        .user_in("urban.sync", &["department"], &[], Some(&urban))
        .await;
    let (_, water_clerk) = s
        .app
        .user_in("water.sync", &["department"], &[], Some(&water))
        .await;
    let mut case = cases::report(&s.app, &s.staff, "0101", IN_COMMUNITY).await;
    let other = cases::report(&s.app, &s.staff, "0101", IN_COMMUNITY).await;
    case = cases::act(&s.app, &s.staff, &case, json!({"action": "register"})).await;
    case = cases::act(
        &s.app,
        &s.staff,
        &case,
        json!({"action": "dispatch", "department_id": urban}),
    )
    .await;
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &urban_clerk, 50).await;
    let cid = case["id"].as_str().unwrap().to_owned();
    assert!(phone.records.contains_key(&key("incident", &cid)));
    holds_the_scope(&s, &phone, &urban_clerk).await;

    // Escalated (the subdistrict dispatches it anew) and given to the water department; a
    // case the urban department never had changes meanwhile, and is not named to it.
    case = cases::act(
        &s.app,
        &s.staff,
        &case,
        json!({"action": "escalate", "note": "上报"}),
    )
    .await;
    cases::act(
        &s.app,
        &s.staff,
        &case,
        json!({"action": "dispatch", "department_id": water}),
    )
    .await;
    cases::act(&s.app, &s.staff, &other, json!({"action": "register"})).await;
    settled(&s.app).await;
    let before = phone.log.len();
    phone.sync(&s.app, &urban_clerk, 50).await;
    let log = &phone.log[before..];
    assert_eq!(ops(log, "delete"), BTreeSet::from([key("incident", &cid)]));
    // Only its tasks, which the case leaves with it.
    assert!(
        ops(log, "upsert").iter().all(|(e, _)| e == "tasks"),
        "{log:?}"
    );
    assert_eq!(phone.tasks().map(|t| t.1), Some(Vec::new()));
    holds_the_scope(&s, &phone, &urban_clerk).await;
    let mut water_phone = Phone::default();
    water_phone.sync(&s.app, &water_clerk, 50).await;
    assert!(water_phone.records.contains_key(&key("incident", &cid)));
}

#[actix_web::test]
async fn a_household_that_left_then_came_back_with_its_unit_stays_on_the_phone() {
    let s = scene().await;
    let inside = s
        .app
        .create_unit("440904001001001", "一组", 4, Some(id(&s.grid.community)))
        .await;
    let outside = s
        .app
        .create_unit("440904002001001", "二组", 4, Some(id(&s.other)))
        .await;
    let h = home(&s, 1, IN_COMMUNITY, Some(&inside)).await;
    settled(&s.app).await;
    // Its resident comes again at the version the phone holds: the page coalesces "left"
    // and "came back with its unit", and the crossing cannot tell the phone kept it.
    let mut phone = Phone {
        repeats_allowed: true,
        ..Phone::default()
    };
    phone.sync(&s.app, &s.worker, 50).await;
    assert_eq!(phone.local(), 2);

    // The household is put in a group outside the scope, then that group comes inside: both
    // in the phone's next page, the household's own tombstone first by position.
    let r = s
        .app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{h}"),
            Some(&s.staff),
            Some(json!({ "unit_id": id(&outside), "unit_reason": "划入二组" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    move_unit(&s, &outside, &s.grid.community).await;
    settled(&s.app).await;
    phone.sync(&s.app, &s.worker, 50).await;
    assert!(phone.records.contains_key(&key("household", &h)));
    assert_eq!(phone.local(), 2);
    holds_the_scope(&s, &phone, &s.worker).await;
}

#[actix_web::test]
async fn a_unit_that_left_names_only_what_the_phone_could_have_held() {
    let s = scene().await;
    let g = s
        .app
        .create_unit("440904001001001", "一组", 4, Some(id(&s.grid.community)))
        .await;
    let h = home(&s, 1, IN_COMMUNITY, Some(&g)).await;
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &s.worker, 50).await;

    // The group goes to the other community, whose staff then register a household in it:
    // the phone is told its household left, and learns nothing of the new one.
    move_unit(&s, &g, &s.other).await;
    let later = home(&s, 2, IN_OTHER, Some(&g)).await;
    settled(&s.app).await;
    let before = phone.log.len();
    phone.sync(&s.app, &s.worker, 50).await;
    let named: BTreeSet<String> = phone.log[before..]
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(named.contains(&h), "{named:?}");
    assert!(!named.contains(&later), "{named:?}");
    assert_eq!(phone.local(), 0);
    holds_the_scope(&s, &phone, &s.worker).await;
}

#[actix_web::test]
async fn a_worker_left_without_units_keeps_nothing_of_the_old_scope() {
    let s = scene().await;
    let homes = [
        home(&s, 1, IN_COMMUNITY, None).await,
        home(&s, 2, IN_COMMUNITY, None).await,
    ];
    let case = report(&s, IN_COMMUNITY).await;
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &s.worker, 50).await;
    assert_eq!(phone.local(), 4, "two households with a resident each");

    // Every assignment taken away: a first sync is refused, but the phone's next sync takes
    // away all it held of the scope (residents' data included) instead of leaving it there.
    assign(&s, &s.worker_id, &[]).await;
    settled(&s.app).await;
    let r = s.app.get_as(&s.worker, "/api/v1/sync").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{}",
        r.text
    );
    let before = phone.log.len();
    phone.sync(&s.app, &s.worker, 50).await;
    let gone = ops(&phone.log[before..], "delete");
    for h in &homes {
        assert!(gone.contains(&key("household", h)), "{gone:?}");
    }
    assert!(gone.contains(&key("incident", &case)), "{gone:?}");
    let left: BTreeSet<&str> = phone.records.keys().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        left,
        BTreeSet::from(["calendar_day", "category", "tasks"]),
        "only what every account reads, and its (empty) tasks"
    );
    assert_eq!(phone.tasks().map(|t| t.1), Some(Vec::new()));
    assert_eq!(phone.sync(&s.app, &s.worker, 50).await, 0, "nothing new");
}

#[actix_web::test]
async fn a_unit_deleted_after_the_worker_moved_away_leaves_the_phone_too() {
    let s = scene().await;
    let group = s
        .app
        .create_unit("440904001001001", "一组", 4, Some(id(&s.grid.community)))
        .await;
    let gid = id(&group).to_owned();
    settled(&s.app).await;
    let mut phone = Phone::default();
    phone.sync(&s.app, &s.worker, 50).await;
    assert!(phone.records.contains_key(&key("unit", &gid)));

    // Moved to the other community; then the group the phone still holds is deleted. The
    // deletion is out of the new scope's sight, so only the move across can take it away.
    assign(&s, &s.worker_id, &[&s.other]).await;
    let r = s.app.delete(&format!("/api/v1/units/{gid}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    settled(&s.app).await;
    let before = phone.log.len();
    phone.sync(&s.app, &s.worker, 50).await;
    let gone = ops(&phone.log[before..], "delete");
    assert!(gone.contains(&key("unit", &gid)), "{gone:?}");
    assert!(!phone.records.contains_key(&key("unit", &gid)));
    holds_the_scope(&s, &phone, &s.worker).await;
}
