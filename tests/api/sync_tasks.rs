//! The caller's tasks in field sync: one `tasks` record on the page that ends a sync, sent
//! again only when the list changed (by a change in the scope, a visit, a visit rule, or the
//! clock), always equal to what `GET /me/tasks` says.

use crate::cases::act;
use crate::helpers::id;
use crate::sync::Phone;
use crate::tasks::{World, household, subject, tasks, world};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);

fn subjects(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|t| {
            let (k, i) = subject(t);
            (k.to_owned(), i.to_owned())
        })
        .collect()
}

/// Syncs the worker's phone once the feed has numbered every change; returns the changes it
/// brought. The tasks the phone then holds are those `GET /me/tasks` lists, in its order,
/// cases by id.
async fn sync(w: &World, phone: &mut Phone) -> Vec<Value> {
    crate::sync::settled(&w.app).await;
    let before = phone.log.len();
    phone.sync(&w.app, &w.worker, 200).await;
    let (_, held) = phone
        .tasks()
        .expect("a sync leaves the phone with its tasks");
    assert_eq!(
        subjects(&held),
        subjects(&tasks(w, &w.worker).await),
        "{held:#?}"
    );
    for t in &held {
        assert!(t.get("incident").is_none(), "cases go by id: {t}");
    }
    phone.log[before..].to_vec()
}

fn tasks_in(changes: &[Value]) -> Vec<&Value> {
    changes.iter().filter(|c| c["entity"] == "tasks").collect()
}

async fn visit(w: &World, token: &str, household: &str, at: chrono::DateTime<chrono::Utc>) {
    let r = w
        .app
        .send(
            Method::POST,
            &format!("/api/v1/households/{household}/visits"),
            Some(token),
            Some(json!({ "visited_at": at.to_rfc3339(), "notes": "走访" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[actix_web::test]
async fn a_sync_ends_with_the_callers_tasks_and_sends_them_again_only_when_they_change() {
    let w = world().await;
    let overdue = household(&w, 1, &["elderly_alone"], Some(8)).await;
    let never = household(&w, 2, &["elderly_alone"], None).await;
    let mut phone = Phone::default();
    let first = sync(&w, &mut phone).await;
    // The first sync's last change is the tasks record, under the worker's id.
    let last = first.last().unwrap();
    assert_eq!(
        (&last["entity"], &last["id"], &last["op"]),
        (&json!("tasks"), &json!(w.worker_id), &json!("upsert")),
        "{last}"
    );
    assert_eq!(tasks_in(&first).len(), 1);
    let (v1, held) = phone.tasks().unwrap();
    assert_eq!(
        subjects(&held),
        [
            ("visit".to_owned(), overdue.clone()),
            ("visit".to_owned(), never.clone())
        ]
    );

    // Nothing new: nothing sent, the same cursor, a small answer.
    let cursor = phone.cursor.clone().unwrap();
    let r = w
        .app
        .get_as(
            &w.worker,
            &format!("/api/v1/sync?cursor={cursor}&limit=200"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["changes"], json!([]));
    assert_eq!(r.json()["next_cursor"], json!(cursor));
    assert!(r.text.len() < 1024, "{} bytes", r.text.len());

    // A household of the scope changes, which its tasks do not show: it comes, they do not.
    let r = w
        .app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{overdue}"),
            Some(&w.staff),
            Some(json!({ "notes": "门牌换新" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = sync(&w, &mut phone).await;
    assert!(
        got.iter()
            .any(|c| c["entity"] == "household" && c["id"] == json!(overdue)),
        "{got:#?}"
    );
    assert!(tasks_in(&got).is_empty(), "the same tasks again: {got:#?}");
    assert_eq!(phone.tasks().unwrap().0, v1);

    // A case dispatched to the worker: the case and the tasks naming it arrive together.
    let (lat, lng) = IN_COMMUNITY;
    let r = w
        .app
        .send(Method::POST, "/api/v1/incidents", Some(&w.staff),
              Some(json!({ "category": "0101", "description": "井盖破损", "location": { "lat": lat, "lng": lng } })), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = act(&w.app, &w.staff, &r.json(), json!({ "action": "register" })).await;
    let case = act(&w.app, &w.staff, &case, json!({ "action": "dispatch" })).await;
    let cid = case["id"].as_str().unwrap().to_owned();
    let got = sync(&w, &mut phone).await;
    assert!(
        got.iter()
            .any(|c| c["entity"] == "incident" && c["id"] == json!(cid))
    );
    assert_eq!(tasks_in(&got).len(), 1, "{got:#?}");
    let (v2, held) = phone.tasks().unwrap();
    assert_ne!(v1, v2);
    let signing = held.iter().find(|t| t["kind"] == "incident").unwrap();
    assert_eq!(signing["incident_id"], json!(cid));
    assert_eq!(signing["actions"], json!(["sign"]));

    // A colleague visits the household never visited: a visit is not a record the phone
    // holds, but its tasks follow it.
    let (_, colleague) = w
        .app
        .user(
            "tasks.colleague",
            &["grid_worker"],
            &[(id(&w.grid.community), true)],
        )
        .await;
    visit(&w, &colleague, &never, chrono::Utc::now()).await;
    let got = sync(&w, &mut phone).await;
    assert_eq!(
        got.iter().map(|c| &c["entity"]).collect::<Vec<_>>(),
        [&json!("tasks")],
        "{got:#?}"
    );
    let (v3, held) = phone.tasks().unwrap();
    assert_ne!(v2, v3);
    assert!(!subjects(&held).contains(&("visit".to_owned(), never.clone())));

    // Elderly people living alone due a visit monthly, not weekly: the household last
    // visited 8 days ago is no longer due.
    let r = w
        .app
        .put(
            "/api/v1/visit-rules/elderly_alone",
            json!({ "every_days": 30 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = sync(&w, &mut phone).await;
    assert_eq!(tasks_in(&got).len(), 1, "{got:#?}");
    let (_, held) = phone.tasks().unwrap();
    assert_eq!(subjects(&held), [("incident".to_owned(), cid)]);
}

#[actix_web::test]
async fn the_clock_alone_makes_a_task_overdue_on_the_phone() {
    let w = world().await;
    let hid = household(&w, 1, &["elderly_alone"], None).await;
    // Visited a week ago less four seconds: due a visit in four seconds.
    let due = chrono::Utc::now() + chrono::Duration::seconds(4);
    visit(&w, &w.worker, &hid, due - chrono::Duration::days(7)).await;
    let mut phone = Phone::default();
    sync(&w, &mut phone).await;
    let (v1, held) = phone.tasks().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["overdue"], false, "{}", held[0]);

    // Before it is due, a sync brings nothing.
    let got = sync(&w, &mut phone).await;
    assert!(got.is_empty() || chrono::Utc::now() >= due, "{got:#?}");

    // Once it is due, the next sync brings the tasks again, overdue, and nothing else.
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    actix_web::rt::time::sleep(wait + Duration::from_millis(1_100)).await;
    let got = sync(&w, &mut phone).await;
    assert_eq!(tasks_in(&got).len(), 1, "{got:#?}");
    assert_eq!(got.len(), 1, "{got:#?}");
    let (v2, held) = phone.tasks().unwrap();
    assert_ne!(v1, v2);
    assert_eq!(held[0]["overdue"], true, "{}", held[0]);
}
