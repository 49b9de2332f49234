//! The working-day calendar: the 2026 arrangement is seeded, deadlines follow it across the
//! Spring Festival and National Day and their make-up days, and administrators keep it.

use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;

async fn due(app: &TestApp, query: &str) -> String {
    let r = app
        .get_as(
            &app.worker_token,
            &format!("/api/v1/calendar/deadline?{query}"),
        )
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.json()["deadline"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn deadlines_follow_the_2026_holidays_and_make_up_days() {
    let app = TestApp::spawn().await;
    let feb = app
        .get_as(
            &app.worker_token,
            "/api/v1/calendar?from=2026-02-01&to=2026-02-28",
        )
        .await
        .json();
    let days: Vec<(String, String)> = feb["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(days.len(), 11, "{days:?}");
    assert_eq!(days[0], ("2026-02-14".into(), "workday".into()));
    assert_eq!(days[1], ("2026-02-15".into(), "holiday".into()));
    assert_eq!(days[10], ("2026-02-28".into(), "workday".into()));
    assert!(days[1..10].iter().all(|d| d.1 == "holiday"));

    // Friday 13 Feb, 10:00 Beijing: Saturday the 14th is worked, 15–23 are off; two working
    // days end with Tuesday the 24th (24:00 Beijing = 16:00 UTC).
    let start = "start=2026-02-13T10:00:00%2B08:00";
    assert_eq!(
        due(&app, &format!("{start}&working_days=1")).await,
        "2026-02-14T16:00:00Z"
    );
    assert_eq!(
        due(&app, &format!("{start}&working_days=2")).await,
        "2026-02-24T16:00:00Z"
    );
    // The make-up Saturday 28 Feb counts: Wed 25, Thu 26, Fri 27, Sat 28.
    assert_eq!(
        due(&app, &format!("{start}&working_days=6")).await,
        "2026-02-28T16:00:00Z"
    );
    // National Day: 1–7 October off, Saturday 10 October worked.
    let sept30 = "start=2026-09-30T09:00:00%2B08:00";
    assert_eq!(
        due(&app, &format!("{sept30}&working_days=1")).await,
        "2026-10-08T16:00:00Z"
    );
    assert_eq!(
        due(&app, &format!("{sept30}&working_days=3")).await,
        "2026-10-10T16:00:00Z"
    );
    // Hours and seconds run on the clock, holidays or not.
    assert_eq!(
        due(&app, &format!("{sept30}&hours=48")).await,
        "2026-10-02T01:00:00Z"
    );
    assert_eq!(
        due(&app, &format!("{sept30}&seconds=90")).await,
        "2026-09-30T01:01:30Z"
    );

    for bad in [
        sept30.to_owned(),
        format!("{sept30}&hours=1&working_days=1"),
        format!("{sept30}&working_days=0"),
        format!("{sept30}&working_days=251"),
        "start=tomorrow&hours=1".to_owned(),
        "start=2026-09-30T09:00:00&hours=1".to_owned(),
        // A leap second, and a time whose deadline or whose UTC form passes the year 9999:
        // no RFC 3339 answer could be given.
        "start=2026-06-30T23:59:60%2B08:00&working_days=1".to_owned(),
        "start=9999-12-31T09:00:00%2B08:00&working_days=250".to_owned(),
        "start=9999-12-31T23:59:59-00:01&hours=1".to_owned(),
    ] {
        let r = app.get(&format!("/api/v1/calendar/deadline?{bad}")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{bad}: {}",
            r.text
        );
    }
    let bad_from = app.get("/api/v1/calendar?from=2026-2-1").await;
    assert_eq!(
        (bad_from.status, bad_from.code().as_str()),
        (400, "invalid_query")
    );
}

#[actix_web::test]
async fn administrators_keep_the_calendar_and_deadlines_follow_at_once() {
    let app = TestApp::spawn().await;
    // Thursday 12 November 2026: one working day ends with Friday the 13th...
    let q = "start=2026-11-12T09:00:00%2B08:00&working_days=1";
    assert_eq!(due(&app, q).await, "2026-11-13T16:00:00Z");
    let path = "/api/v1/calendar/2026-11-13";
    let body = json!({"kind": "holiday", "name": "防台风停工"});
    let denied = app
        .send(
            Method::PUT,
            path,
            Some(&app.worker_token),
            Some(body.clone()),
            &[],
        )
        .await;
    assert_eq!(denied.status, 403);
    let early = app
        .send(
            Method::PUT,
            path,
            Some(&app.admin_token),
            Some(body.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!((early.status, early.code().as_str()), (404, "not_found"));
    let set = app.put(path, body.clone()).await;
    assert_eq!(set.status, 201, "{}", set.text);
    assert_eq!(set.header("etag").as_deref(), Some("\"1\""));
    // ...until it is a day off: then with Monday the 16th.
    assert_eq!(due(&app, q).await, "2026-11-16T16:00:00Z");
    // The same PUT again changes nothing and records nothing.
    let again = app.put(path, body).await;
    assert_eq!(
        (again.status, again.json()["version"].as_i64()),
        (200, Some(1))
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM history WHERE entity_id = '2026-11-13'"),
        1
    );
    let stale = app
        .send(
            Method::PUT,
            path,
            Some(&app.admin_token),
            Some(json!({"kind": "workday", "name": "x"})),
            &[("if-match", "\"5\"")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.code().as_str()),
        (412, "version_mismatch")
    );
    let renamed = app
        .send(
            Method::PUT,
            path,
            Some(&app.admin_token),
            Some(json!({"kind": "holiday", "name": "台风停工"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.json()["version"].as_i64()),
        (200, Some(2))
    );

    for (bad_path, status, code) in [
        ("/api/v1/calendar/2026-13-01", 400, "invalid_id"),
        ("/api/v1/calendar/1999-12-31", 422, "validation_failed"),
    ] {
        let r = app
            .put(bad_path, json!({"kind": "holiday", "name": "x"}))
            .await;
        assert_eq!((r.status, r.code().as_str()), (status, code), "{bad_path}");
    }
    let bad_kind = app.put(path, json!({"kind": "weekend", "name": "x"})).await;
    assert_eq!(
        (bad_kind.status, bad_kind.code().as_str()),
        (422, "validation_failed")
    );

    let removed = app
        .send(
            Method::DELETE,
            path,
            Some(&app.admin_token),
            None,
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert_eq!(due(&app, q).await, "2026-11-13T16:00:00Z");
    assert_eq!(app.delete(path).await.status, 404);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM changes WHERE entity = 'calendar_day' AND entity_id = '2026-11-13'"),
        3
    );
}
