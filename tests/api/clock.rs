//! The escalation clock, with two instances ticking every second on one database: a case
//! whose deadline passes climbs one level per missed deadline, exactly once each, and at the
//! district is flagged once for the command centre, never escalated past it.

use crate::helpers::{Options, SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn history(app: &TestApp, token: &str, case: &str) -> Value {
    app.get_as(token, &format!("/api/v1/incidents/{case}"))
        .await
        .json()
}

#[actix_web::test]
async fn an_overdue_case_climbs_once_per_missed_deadline_on_two_instances() {
    let ticking = Options {
        clock_interval_s: 1,
        ..Options::default()
    };
    let a = TestApp::spawn_with(ticking.clone()).await;
    let b = TestApp::spawn_on(a.db.clone(), ticking).await;
    let grid = SmallGrid::build(&a).await;
    let (_, worker) = a
        .user(
            "clock.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, centre) = a
        .user(
            "clock.centre",
            &["command_centre"],
            &[(id(&grid.district), false)],
        )
        .await;
    // Two seconds to register, for a drill.
    let s = json!({"register": {"seconds": 2}, "sign": {"seconds": 2}, "close": {"seconds": 60}});
    let created = a
        .post(
            "/api/v1/incident-categories",
            json!({"code": "0199", "parent_code": "01", "name": "演练", "key": "drill",
                   "lowest_level": 3, "routing": "locality",
                   "time_limits": {"urgent": s, "normal": s, "complex": s}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    // Reported on the instance that built the grid (the other's locate index refreshes on
    // its own schedule); both clocks tick.
    let r = a
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&worker),
            Some(json!({"category": "0199", "description": "演练", "location": {"lat": 21.6, "lng": 111.05}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.json()["id"].as_str().unwrap().to_owned();

    // Community → subdistrict → district, two seconds each, then flagged: about 6 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = history(&a, &centre, &case).await;
    while !seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["action"] == "overdue")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never flagged: {seen}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        seen = history(&a, &centre, &case).await;
    }
    // More ticks on both instances change nothing: each deadline was acted on once.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let last = history(&b, &centre, &case).await;
    let steps: Vec<&str> = last["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["report", "escalate", "escalate", "overdue"],
        "{last}"
    );
    let h = last["history"].as_array().unwrap();
    assert_eq!(h[1]["to_unit"], grid.west["id"]);
    assert_eq!(h[2]["to_unit"], grid.district["id"]);
    for step in &h[1..] {
        assert_eq!(step["actor"], "system:clock");
        assert_eq!(
            (step["reason"].as_str(), step["stage"].as_str()),
            (Some("missed_deadline"), Some("register"))
        );
    }
    assert_eq!(last["owner_unit"]["id"], grid.district["id"]);
    assert_eq!(
        (last["escalations"].as_i64(), last["version"].as_i64()),
        (Some(2), Some(4))
    );
    assert_eq!(last["deadlines"]["register"]["overdue"], true);
    // One reminder per acted-on deadline, for whoever owned the case then.
    assert_eq!(
        a.count(&format!("SELECT count(*) AS n FROM outbox WHERE aggregate_id = '{case}' AND event_type = 'incident.reminder'")),
        3
    );
    // The command centre finds it among the overdue.
    let overdue = a
        .get_as(&centre, "/api/v1/incidents?overdue=true")
        .await
        .json();
    let ids: Vec<Value> = overdue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(case)]);
}

#[actix_web::test]
async fn a_summoned_department_that_does_not_report_in_is_told_to_the_command_centre_once() {
    let app = TestApp::spawn_with(Options {
        clock_interval_s: 1,
        ..Options::default()
    })
    .await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("rin.staff", &grid).await;
    let (_, officer) = app
        .user(
            "rin.officer",
            &["subdistrict_officer"],
            &[(id(&grid.district), true)],
        )
        .await;
    let dept = app
        .post(
            "/api/v1/departments",
            json!({"code": "water_y", "name": "水务"}),
        )
        .await
        .json();
    // A day to register and close; two seconds for a summoned department to report in.
    let s = json!({"register": {"hours": 24}, "sign": {"seconds": 2}, "close": {"hours": 24}});
    let c = app
        .post(
            "/api/v1/incident-categories",
            json!({"code": "0198", "parent_code": "01", "name": "演练", "key": "drill_report_in",
                   "lowest_level": 3, "routing": "locality",
                   "time_limits": {"urgent": s, "normal": s, "complex": s}}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let case = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&staff),
            Some(json!({"category": "0198", "description": "演练", "location": {"lat": 21.6, "lng": 111.05}})),
            &[],
        )
        .await
        .json();
    let cid = case["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{cid}/transitions");
    let r = app
        .send(
            Method::POST,
            &path,
            Some(&staff),
            Some(json!({"action": "register"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .send(
            Method::POST,
            &path,
            Some(&officer),
            Some(json!({"action": "summon", "department_ids": [dept["id"]]})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let missed = |v: &Value| {
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["action"] == "report_in_missed")
            .count()
    };
    let mut seen = history(&app, &officer, &cid).await;
    while missed(&seen) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "never noticed: {seen}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        seen = history(&app, &officer, &cid).await;
    }
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let last = history(&app, &officer, &cid).await;
    assert_eq!(missed(&last), 1, "told once: {last}");
    // The lead owner keeps the case.
    assert_eq!(
        (last["owner_unit"]["id"].clone(), last["status"].as_str()),
        (grid.community["id"].clone(), Some("registered"))
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM outbox WHERE aggregate_id = '{cid}' AND event_type = 'incident.report_in_missed'")),
        1
    );
}
