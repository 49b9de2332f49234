//! Who reported a case: a reporter's name and phone sealed, masked and revealed only on an
//! audited request; an anonymous report hidden from every role but the command centre.

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

const HERE: (f64, f64) = (21.6, 111.05);

async fn report(app: &TestApp, token: &str, extra: Value) -> Value {
    let mut b = json!({"category": "0102", "description": "有人乱倒垃圾",
                       "location": {"lat": HERE.0, "lng": HERE.1}});
    if let (Some(o), Value::Object(e)) = (b.as_object_mut(), extra) {
        o.extend(e);
    }
    let r = app
        .send(Method::POST, "/api/v1/incidents", Some(token), Some(b), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

fn audits(app: &TestApp, case: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'pii.revealed' AND subject_id = '{case}'"
    ))
}

#[actix_web::test]
async fn a_reporters_name_and_phone_are_sealed_masked_and_revealed_with_an_audit() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (worker_id, worker) = app
        .user(
            "rep.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("rep.staff", &grid).await;
    let (_, leader) = app
        .user(
            "rep.leader",
            &["group_leader"],
            &[(id(&grid.community), true)],
        )
        .await;
    let case = report(
        &app,
        &worker,
        json!({"reporter": {"name": "陈大明", "phone": "138 0013 8000"}}),
    )
    .await;
    let cid = case["id"].as_str().unwrap().to_owned();
    assert_eq!(
        case["reporter"],
        json!({"account_id": worker_id, "name": "陈**", "phone": "138****8000", "revealed": false})
    );
    // Nothing of it in plain text at rest.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM incident_reporters WHERE incident_id = '{cid}' \
             AND name_cipher IS NOT NULL AND phone_cipher IS NOT NULL AND name_masked = '陈**'"
        )),
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM incident_reporters WHERE name_masked LIKE '%大明%' \
             OR phone_masked LIKE '%0013%'"
        ),
        0
    );
    // Staff read it masked, and reveal it in full, audited; a group leader may not.
    let seen = app
        .get_as(&staff, &format!("/api/v1/incidents/{cid}"))
        .await
        .json();
    assert_eq!(seen["reporter"]["phone"], "138****8000");
    let r = app
        .get_as(&leader, &format!("/api/v1/incidents/{cid}/reporter"))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    assert_eq!(audits(&app, &cid), 0);
    let r = app
        .get_as(&staff, &format!("/api/v1/incidents/{cid}/reporter"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        r.json(),
        json!({"incident_id": cid, "anonymous": false, "revealed": true, "account_id": worker_id,
               "account": "rep.worker", "name": "陈大明", "phone": "13800138000"})
    );
    assert_eq!(audits(&app, &cid), 1);
    // A bad phone is refused before anything is stored.
    let bad = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&worker),
            Some(json!({"category": "0102", "description": "x", "location": {"lat": HERE.0, "lng": HERE.1},
                        "reporter": {"phone": "12345"}})),
            &[],
        )
        .await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (422, "validation_failed")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM incidents"), 1);
}

#[actix_web::test]
async fn a_case_sent_again_under_its_id_must_name_the_same_reporter() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "again.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let cid = uuid::Uuid::now_v7().to_string();
    let send = |reporter: Value| {
        let mut b = json!({"id": cid, "category": "0102", "description": "有人乱倒垃圾",
                           "location": {"lat": HERE.0, "lng": HERE.1}});
        if !reporter.is_null() {
            b["reporter"] = reporter;
        }
        let (app, worker) = (&app, &worker);
        async move {
            app.send(
                Method::POST,
                "/api/v1/incidents",
                Some(worker),
                Some(b),
                &[],
            )
            .await
        }
    };
    let first = send(json!({"name": "陈大明", "phone": "138 0013 8000"})).await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The same reporter, the phone written otherwise: the same create, answered again.
    let again = send(json!({"name": "陈大明", "phone": "13800138000"})).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["reporter"]["name"], "陈**");
    // Another reporter, or none: other content under the id.
    for other in [
        json!({"name": "别人", "phone": "138 0013 8000"}),
        json!({"name": "陈大明", "phone": "13900139000"}),
        Value::Null,
    ] {
        let r = send(other.clone()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (409, "id_taken"),
            "{other}: {}",
            r.text
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM incident_reporters WHERE incident_id = '{cid}' \
             AND name_masked = '陈**'"
        )),
        1
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM incidents"), 1);
}

#[actix_web::test]
async fn an_anonymous_reporter_is_hidden_from_every_role_but_the_command_centre() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (worker_id, worker) = app
        .user(
            "anon.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("anon.staff", &grid).await;
    let (_, officer) = app
        .user(
            "anon.officer",
            &["subdistrict_officer"],
            &[(id(&grid.district), true)],
        )
        .await;
    let (_, centre) = app
        .user(
            "anon.centre",
            &["command_centre"],
            &[(id(&grid.district), false)],
        )
        .await;
    let case = report(
        &app,
        &worker,
        json!({"anonymous": true, "reporter": {"name": "李四", "phone": "13900139000"}}),
    )
    .await;
    let cid = case["id"].as_str().unwrap().to_owned();
    // The reporter sees their own report as theirs.
    assert_eq!(case["reporter"]["account_id"], worker_id.as_str());
    let own = app
        .get_as(&worker, &format!("/api/v1/incidents/{cid}"))
        .await
        .json();
    assert_eq!(own["history"][0]["actor"], "anon.worker");
    // Registered, then the reporter adds a photo: that step must not name them either.
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{cid}/transitions"),
            Some(&staff),
            Some(json!({"action": "register"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let photo = crate::attachments::upload(
        &app,
        &worker,
        &cid,
        "evidence",
        crate::attachments::multipart("file", "p.jpg", "image/jpeg", &crate::attachments::jpeg(3)),
    )
    .await;
    assert_eq!(photo.status, 201, "{}", photo.text);
    // Everyone else: no reporter, and no step of the reporter's names them.
    for token in [&staff, &officer, &centre] {
        let seen = app
            .get_as(token, &format!("/api/v1/incidents/{cid}"))
            .await
            .json();
        assert_eq!(seen["anonymous"], true);
        assert!(seen.get("reporter").is_none(), "{seen}");
        assert_eq!(seen["history"][0]["actor"], "anonymous");
        let attach = seen["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["action"] == "attach");
        assert_eq!(
            attach.map(|h| h["actor"].clone()),
            Some(json!("anonymous")),
            "{seen}"
        );
        assert!(!seen.to_string().contains("anon.worker"), "{seen}");
    }
    // A filter by reporter does not tell which anonymous cases are theirs…
    let by = format!("/api/v1/incidents?reporter_id={worker_id}");
    let listed = app.get_as(&staff, &by).await.json();
    assert_eq!(listed["items"], json!([]));
    // …except to the reporter.
    assert_eq!(
        app.get_as(&worker, &by).await.json()["items"][0]["id"],
        cid.as_str()
    );
    // Only the command centre reveals, and that is audited as the reveal of an anonymous one.
    for token in [&staff, &officer] {
        let r = app
            .get_as(token, &format!("/api/v1/incidents/{cid}/reporter"))
            .await;
        assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    }
    assert_eq!(audits(&app, &cid), 0);
    let r = app
        .get_as(&centre, &format!("/api/v1/incidents/{cid}/reporter"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.json()["account"].clone(),
            r.json()["name"].clone(),
            r.json()["anonymous"].clone()
        ),
        (json!("anon.worker"), json!("李四"), json!(true))
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'pii.revealed' \
             AND subject_id = '{cid}' AND actor_name = 'anon.centre' AND details LIKE '%\"anonymous\":true%'"
        )),
        1
    );
    // A stranger's reveal looks like a case that does not exist.
    let (_, stranger) = app
        .user("anon.east", &["grid_worker"], &[(id(&grid.east), true)])
        .await;
    let r = app
        .get_as(&stranger, &format!("/api/v1/incidents/{cid}/reporter"))
        .await;
    assert_eq!(r.status, 404);
}
