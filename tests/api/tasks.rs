//! A grid worker's tasks (`GET /me/tasks`) and the visit rules behind them (`/visit-rules`).

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) grid: SmallGrid,
    pub(crate) staff: String,
    pub(crate) worker: String,
    pub(crate) worker_id: String,
}

pub(crate) async fn world() -> World {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("tasks.staff", &grid).await;
    let (worker_id, worker) = app
        .user(
            "tasks.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    World {
        app,
        grid,
        staff,
        worker,
        worker_id,
    }
}

/// A household with tags, visited `days_ago` days ago (or never).
pub(crate) async fn household(w: &World, n: u32, tags: &[&str], days_ago: Option<i64>) -> String {
    let (lat, lng) = IN_COMMUNITY;
    let h = w
        .app
        .household(&w.staff, &format!("任务路 {n} 号"), lat, lng)
        .await;
    let hid = h["id"].as_str().unwrap().to_owned();
    let r = w
        .app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{hid}"),
            Some(&w.staff),
            Some(json!({ "tags": tags })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    if let Some(d) = days_ago {
        let at = (chrono::Utc::now() - chrono::Duration::days(d)).to_rfc3339();
        let r = w
            .app
            .send(
                Method::POST,
                &format!("/api/v1/households/{hid}/visits"),
                Some(&w.worker),
                Some(json!({ "visited_at": at, "notes": "走访" })),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    hid
}

pub(crate) async fn tasks(w: &World, token: &str) -> Vec<Value> {
    let r = w.app.get_as(token, "/api/v1/me/tasks").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"].as_array().unwrap().clone()
}

/// A task's kind and the id of its household or case (by `incident_id` in a sync).
pub(crate) fn subject(t: &Value) -> (&str, &str) {
    let id = t["household"]["id"]
        .as_str()
        .or(t["incident"]["id"].as_str())
        .or(t["incident_id"].as_str())
        .unwrap();
    (t["kind"].as_str().unwrap(), id)
}

#[actix_web::test]
async fn a_workers_tasks_are_cases_waiting_for_them_and_households_due_a_visit_most_urgent_first() {
    let w = world().await;
    let overdue = household(&w, 1, &["elderly_alone"], Some(8)).await;
    let never = household(&w, 2, &["elderly_alone", "minimum_income"], None).await;
    household(&w, 3, &["elderly_alone"], Some(3)).await;
    household(&w, 4, &[], None).await;
    household(&w, 5, &["minimum_income"], Some(10)).await;
    // A case the worker reported: nothing for them to do until staff dispatch it.
    let (lat, lng) = IN_COMMUNITY;
    let r = w
        .app
        .send(Method::POST, "/api/v1/incidents", Some(&w.worker),
              Some(json!({ "category": "0101", "description": "井盖破损", "location": { "lat": lat, "lng": lng } })), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut case = r.json();
    let cid = case["id"].as_str().unwrap().to_owned();
    let mine = tasks(&w, &w.worker).await;
    assert_eq!(
        mine.iter().map(subject).collect::<Vec<_>>(),
        [("visit", overdue.as_str()), ("visit", never.as_str())],
        "{mine:#?}"
    );
    assert_eq!(mine[0]["overdue"], true);
    // Reasons in words that stay true offline: the date of the last visit, in China time.
    let eight_days_ago = (chrono::Utc::now() - chrono::Duration::days(8))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        mine[0]["reason"],
        format!("elderly_alone: last visited on {eight_days_ago}, due every 7 days"),
        "{}",
        mine[0]
    );
    let due = chrono::DateTime::parse_from_rfc3339(mine[0]["due"].as_str().unwrap()).unwrap();
    let visited = chrono::DateTime::parse_from_rfc3339(
        mine[0]["household"]["last_visited_at"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(due - visited, chrono::Duration::days(7), "{}", mine[0]);
    assert!(
        mine[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("elderly_alone: never visited"),
        "{}",
        mine[1]
    );
    // Never visited: due now, so no date to name, and it sorts as due now.
    assert!(mine[1].get("due").is_none(), "{}", mine[1]);
    assert_eq!(mine[1]["overdue"], false);
    // Staff see the case waiting for them to register it.
    let staff = tasks(&w, &w.staff).await;
    let theirs = staff.iter().find(|t| t["kind"] == "incident").unwrap();
    assert_eq!(theirs["incident"]["id"].as_str(), Some(cid.as_str()));
    assert!(
        theirs["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("register"))
    );
    assert!(theirs["due"].is_string(), "the register deadline: {theirs}");
    for action in ["register", "dispatch"] {
        let r = w
            .app
            .send(
                Method::POST,
                &format!("/api/v1/incidents/{cid}/transitions"),
                Some(&w.staff),
                Some(json!({ "action": action })),
                &[("if-match", &format!("\"{}\"", case["version"]))],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        case = r.json();
    }
    // Dispatched: now it waits for the worker to sign for it, after the overdue visit.
    let mine = tasks(&w, &w.worker).await;
    let kinds: Vec<(&str, &str)> = mine.iter().map(subject).collect();
    assert_eq!(kinds[0], ("visit", overdue.as_str()), "{mine:#?}");
    let signing = mine.iter().find(|t| t["kind"] == "incident").unwrap();
    assert_eq!(signing["actions"], json!(["sign"]), "{signing}");
    assert_eq!(signing["reason"], "dispatched: waiting for you to sign");
    assert_eq!(mine.len(), 3);
}

#[actix_web::test]
async fn visit_rules_are_changed_by_administrators_of_the_whole_grid_only() {
    let w = world().await;
    let hid = household(&w, 1, &["veteran"], None).await;
    let rules = w.app.get_as(&w.worker, "/api/v1/visit-rules").await.json();
    let tags: Vec<&str> = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tag"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "disabled",
            "elderly_alone",
            "left_behind_child",
            "minimum_income",
            "special_attention"
        ]
    );
    assert!(
        tasks(&w, &w.worker).await.is_empty(),
        "veterans have no rule yet"
    );

    let put = |token: String, tag: &'static str, body: Value, etag: Option<&'static str>| {
        let app = &w.app;
        async move {
            let h: Vec<(&str, &str)> = etag.map(|e| vec![("if-match", e)]).unwrap_or_default();
            app.send(
                Method::PUT,
                &format!("/api/v1/visit-rules/{tag}"),
                Some(&token),
                Some(body),
                &h,
            )
            .await
        }
    };
    let r = put(
        w.staff.clone(),
        "veteran",
        json!({ "every_days": 30 }),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden".to_owned()),
        "{}",
        r.text
    );
    let admin = w.app.admin_token.clone();
    let r = put(admin.clone(), "veteran", json!({ "every_days": 30 }), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json()["version"].clone(), r.header("etag")),
        (json!(1), Some("\"1\"".to_owned()))
    );
    let mine = tasks(&w, &w.worker).await;
    assert_eq!(
        mine.iter().map(subject).collect::<Vec<_>>(),
        [("visit", hid.as_str())]
    );

    let r = put(
        admin.clone(),
        "elderly_alone",
        json!({ "every_days": 3 }),
        Some("\"1\""),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["every_days"].clone()),
        (200, json!(3)),
        "{}",
        r.text
    );
    let r = put(
        admin.clone(),
        "elderly_alone",
        json!({ "every_days": 5 }),
        Some("\"1\""),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (412, "version_mismatch".to_owned()),
        "{}",
        r.text
    );
    let r = put(
        admin.clone(),
        "elderly_alone",
        json!({ "every_days": 0 }),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed".to_owned()),
        "{}",
        r.text
    );
    let r = put(admin.clone(), "astronaut", json!({ "every_days": 7 }), None).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found".to_owned()),
        "{}",
        r.text
    );

    let r = w
        .app
        .send(
            Method::DELETE,
            "/api/v1/visit-rules/veteran",
            Some(&admin),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(
        tasks(&w, &w.worker).await.is_empty(),
        "no rule, no visit due"
    );
    let r = w
        .app
        .send(
            Method::DELETE,
            "/api/v1/visit-rules/veteran",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM audit_events WHERE action = 'visit_rule.changed'"),
        3
    );
}
