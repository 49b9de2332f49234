//! Field sync, upload (`POST /api/v1/sync`): a day of offline work in one batch, applied in
//! order, exactly once however often it is sent, never over a newer change.

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);

struct World {
    app: TestApp,
    staff: String,
    /// A community's worker who also registers cases (one account, two roles).
    field: String,
    household: Value,
    resident: Value,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("upload.staff", &grid).await;
    let (_, field) = app
        .user(
            "upload.field",
            &["grid_worker", "community_staff"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (lat, lng) = IN_COMMUNITY;
    let household = app.household(&staff, "离线路 1 号", lat, lng).await;
    let r = app
        .send(
            Method::POST,
            &format!(
                "/api/v1/households/{}/residents",
                household["id"].as_str().unwrap()
            ),
            Some(&staff),
            Some(json!({ "name": "陈阿婆", "relation": "head", "phone": "13800001111" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    World {
        app,
        staff,
        field,
        household,
        resident: r.json(),
    }
}

fn v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339()
}

async fn upload(app: &TestApp, token: &str, ops: &[Value]) -> Vec<Value> {
    let r = app
        .send(
            Method::POST,
            "/api/v1/sync",
            Some(token),
            Some(json!({ "operations": ops })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let results = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), ops.len(), "one result per operation");
    for (op, res) in ops.iter().zip(&results) {
        assert_eq!(res["op_id"], op["op_id"], "results in the order given");
    }
    results
}

fn statuses(results: &[Value]) -> Vec<&str> {
    results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

/// Rows a replay must not add to.
fn written(app: &TestApp) -> [i64; 5] {
    [
        app.count("SELECT count(*) AS n FROM incidents"),
        app.count("SELECT count(*) AS n FROM visits"),
        app.count("SELECT count(*) AS n FROM history"),
        app.count("SELECT count(*) AS n FROM changes"),
        app.count("SELECT count(*) AS n FROM outbox"),
    ]
}

/// A day: a visit, a case reported and then registered (based on the report's own result),
/// the household and a resident corrected.
fn day(w: &World) -> Vec<Value> {
    let hid = w.household["id"].as_str().unwrap();
    let (lat, lng) = IN_COMMUNITY;
    let case = v7();
    let report = v7();
    vec![
        json!({ "op_id": v7(), "type": "visit.create", "recorded_at": ago(3),
                "data": { "household_id": hid, "id": v7(), "notes": "上门走访，身体尚可" } }),
        json!({ "op_id": report, "type": "incident.create", "recorded_at": ago(2),
                "data": { "id": case, "category": "0101", "description": "路边堆放垃圾",
                          "location": { "lat": lat, "lng": lng } } }),
        json!({ "op_id": v7(), "type": "incident.transition", "based_on_version": report,
                "recorded_at": ago(2),
                "data": { "incident_id": case, "action": "register" } }),
        json!({ "op_id": v7(), "type": "household.update", "recorded_at": ago(1),
                "based_on_version": w.household["version"],
                "data": { "household_id": hid, "notes": "独居老人，每周走访" } }),
        json!({ "op_id": v7(), "type": "resident.update", "recorded_at": ago(1),
                "based_on_version": w.resident["version"],
                "data": { "household_id": hid, "resident_id": w.resident["id"], "name": "陈阿婆婆" } }),
    ]
}

#[actix_web::test]
async fn a_day_of_offline_work_applies_in_order_and_sent_again_changes_nothing() {
    let w = world().await;
    let ops = day(&w);
    let first = upload(&w.app, &w.field, &ops).await;
    assert_eq!(statuses(&first), ["applied"; 5], "{first:?}");
    // Each result is the record after the operation, as a download sends it.
    assert_eq!(
        first
            .iter()
            .map(|r| r["entity"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["visit", "incident", "incident", "household", "resident"]
    );
    let (reported, registered) = (&first[1], &first[2]);
    assert_eq!(reported["data"]["status"], "reported");
    assert_eq!(registered["data"]["status"], "registered");
    assert!(registered["version"].as_i64() > reported["version"].as_i64());
    assert_eq!(first[3]["data"]["notes"], "独居老人，每周走访");
    assert_eq!(first[4]["data"]["name"], "陈阿婆婆");
    assert_eq!(
        first[4]["data"]["phone"], "138****1111",
        "masked as in lists"
    );
    // The phone's time beside the server's.
    for (op, r) in ops.iter().zip(&first) {
        let recorded =
            chrono::DateTime::parse_from_rfc3339(op["recorded_at"].as_str().unwrap()).unwrap();
        let kept =
            chrono::DateTime::parse_from_rfc3339(r["recorded_at"].as_str().unwrap()).unwrap();
        assert_eq!(recorded.timestamp(), kept.timestamp());
        assert!(r["received_at"].as_str().unwrap() > r["recorded_at"].as_str().unwrap());
    }
    assert_eq!(
        first[0]["data"]["visited_at"].as_str().map(|t| &t[..16]),
        ops[0]["recorded_at"].as_str().map(|t| &t[..16]),
        "a visit sent without its time happened when the phone recorded it"
    );
    let case = w
        .app
        .get_as(
            &w.field,
            &format!("/api/v1/incidents/{}", reported["id"].as_str().unwrap()),
        )
        .await
        .json();
    assert_eq!(case["status"], "registered");
    assert!(
        case["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["recorded_at"].is_string()),
        "the history keeps when it was done offline: {}",
        case["history"]
    );

    // The answer was lost: the phone sends the whole batch again, twice, then a prefix.
    let before = written(&w.app);
    for batch in [&ops[..], &ops[..], &ops[..2]] {
        let again = upload(&w.app, &w.field, batch).await;
        assert!(
            statuses(&again).iter().all(|s| *s == "already_applied"),
            "{again:?}"
        );
        for (a, f) in again.iter().zip(&first) {
            for k in ["entity", "id", "version", "received_at", "data"] {
                assert_eq!(a[k], f[k], "a replay answers what the first time did");
            }
        }
    }
    assert_eq!(written(&w.app), before, "a replay writes nothing");
}

#[actix_web::test]
async fn a_change_on_an_old_version_is_a_conflict_for_every_kind_and_overwrites_nothing() {
    let w = world().await;
    let hid = w.household["id"].as_str().unwrap().to_owned();
    let rid = w.resident["id"].as_str().unwrap().to_owned();
    // The phone reports a case; meanwhile staff change the household, the resident and the
    // case on the server.
    let case = v7();
    let (lat, lng) = IN_COMMUNITY;
    let reported = upload(
        &w.app,
        &w.field,
        &[json!({ "op_id": v7(), "type": "incident.create",
                  "data": { "id": case, "category": "0101", "description": "井盖缺失",
                            "location": { "lat": lat, "lng": lng } } })],
    )
    .await;
    let case_v = reported[0]["version"].clone();
    let staff_edits = [
        (
            format!("/api/v1/households/{hid}"),
            json!({ "notes": "已由社区更新" }),
            &w.household,
        ),
        (
            format!("/api/v1/households/{hid}/residents/{rid}"),
            json!({ "name": "陈桂英" }),
            &w.resident,
        ),
    ];
    for (path, body, rec) in &staff_edits {
        let etag = format!("\"{}\"", rec["version"]);
        let r = w
            .app
            .send(
                Method::PATCH,
                path,
                Some(&w.staff),
                Some(body.clone()),
                &[("if-match", &etag)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = w
        .app
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{case}/transitions"),
            Some(&w.staff),
            Some(json!({ "action": "register" })),
            &[("if-match", &format!("\"{case_v}\""))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let results = upload(
        &w.app,
        &w.field,
        &[
            json!({ "op_id": v7(), "type": "household.update", "based_on_version": w.household["version"],
                    "data": { "household_id": hid, "notes": "手机上的备注" } }),
            json!({ "op_id": v7(), "type": "resident.update", "based_on_version": w.resident["version"],
                    "data": { "household_id": hid, "resident_id": rid, "name": "陈阿婆" } }),
            json!({ "op_id": v7(), "type": "incident.transition", "based_on_version": case_v,
                    "data": { "incident_id": case, "action": "reject", "note": "不属实" } }),
        ],
    )
    .await;
    assert_eq!(statuses(&results), ["conflict"; 3], "{results:?}");
    let field = |r: &Value, f: &str| {
        r["differs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["field"] == f)
            .cloned()
            .unwrap_or_else(|| panic!("{f} not in {r}"))
    };
    assert_eq!(
        field(&results[0], "notes"),
        json!({ "field": "notes", "yours": "手机上的备注", "server": "已由社区更新" })
    );
    assert_eq!(
        field(&results[1], "name"),
        json!({ "field": "name", "yours": "陈阿婆", "server": "陈桂英" })
    );
    assert_eq!(results[2]["current"]["data"]["status"], "registered");
    for (r, base) in results
        .iter()
        .zip([&w.household["version"], &w.resident["version"], &case_v])
    {
        assert_eq!(&r["based_on_version"], base);
        assert_eq!(r["version"], r["current"]["version"], "{r}");
        assert!(r["version"].as_i64() > base.as_i64());
        assert_eq!(field(r, "version")["server"], r["version"]);
    }
    // Nothing of the phone's was written over the staff's.
    let h = w
        .app
        .get_as(&w.staff, &format!("/api/v1/households/{hid}"))
        .await
        .json();
    assert_eq!(h["notes"], "已由社区更新");
    let case_now = w
        .app
        .get_as(&w.staff, &format!("/api/v1/incidents/{case}"))
        .await
        .json();
    assert_eq!(case_now["status"], "registered");
}

#[actix_web::test]
async fn a_bad_operation_is_rejected_alone_with_its_problem() {
    let w = world().await;
    let hid = w.household["id"].as_str().unwrap().to_owned();
    let visit = |notes: &str| {
        json!({ "op_id": v7(), "type": "visit.create",
                "data": { "household_id": hid, "notes": notes } })
    };
    let good = visit("按时走访");
    let mut reused = visit("另一次走访");
    reused["op_id"] = good["op_id"].clone();
    let failed_create = json!({ "op_id": v7(), "type": "incident.create",
        "data": { "category": "9999", "description": "无此分类", "location": { "lat": 21.6, "lng": 111.05 } } });
    let ops = vec![
        good.clone(),
        json!({ "op_id": v7(), "type": "patrol.teleport", "data": {} }),
        json!({ "op_id": "6f1c2b9e-3d4a-4c8e-9b7a-2e5f1d3c4b6a", "type": "visit.create",
                "data": { "household_id": hid, "notes": "v4" } }),
        json!({ "op_id": v7(), "type": "visit.create",
                "recorded_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
                "data": { "household_id": hid, "notes": "来自未来" } }),
        json!({ "op_id": v7(), "type": "household.update",
                "data": { "household_id": hid, "notes": "没有版本" } }),
        failed_create.clone(),
        json!({ "op_id": v7(), "type": "incident.transition", "based_on_version": failed_create["op_id"],
                "data": { "incident_id": v7(), "action": "register" } }),
        json!({ "op_id": v7(), "type": "incident.transition", "based_on_version": v7(),
                "data": { "incident_id": v7(), "action": "register" } }),
        reused,
        json!({ "op_id": v7(), "type": "visit.create", "data": { "household_id": "nope", "notes": "x" } }),
        json!({ "op_id": v7(), "type": "visit.create", "data": { "household_id": hid, "notes": "x", "mood": "good" } }),
        visit("最后一次走访"),
    ];
    let results = upload(&w.app, &w.field, &ops).await;
    let codes: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["problem"]["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("applied", ""),
            ("rejected", "validation_failed"),
            ("rejected", "validation_failed"),
            ("rejected", "clock_ahead"),
            ("rejected", "validation_failed"),
            ("rejected", "validation_failed"),
            ("rejected", "based_on_failed"),
            ("rejected", "based_on_unknown"),
            ("rejected", "idempotency_key_reused"),
            ("rejected", "validation_failed"),
            ("rejected", "validation_failed"),
            ("applied", ""),
        ],
        "{results:#?}"
    );
    for r in &results[1..11] {
        assert!(
            r["problem"]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{r}"
        );
        assert_eq!(
            r["problem"]["type"],
            format!(
                "urn:wangge:problem:{}",
                r["problem"]["code"].as_str().unwrap()
            )
        );
    }
    assert!(
        results[3]["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("ahead")
    );
    assert_eq!(w.app.count("SELECT count(*) AS n FROM visits"), 2);

    // Too many at once is refused whole, before anything runs.
    let many: Vec<Value> = (0..501).map(|_| visit("批量")).collect();
    let r = w
        .app
        .send(
            Method::POST,
            "/api/v1/sync",
            Some(&w.field),
            Some(json!({ "operations": many })),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "too_many_operations".to_owned()),
        "{}",
        r.text
    );
    assert_eq!(w.app.count("SELECT count(*) AS n FROM visits"), 2);
}

#[actix_web::test]
async fn the_same_batch_sent_four_times_at_once_is_applied_once() {
    let w = world().await;
    let ops = day(&w);
    let before = written(&w.app);
    let body = json!({ "operations": ops });
    let sent = w
        .app
        .race(
            (0..4)
                .map(|_| {
                    w.app.request(
                        Method::POST,
                        "/api/v1/sync",
                        &w.field,
                        Some(body.clone()),
                        &[],
                    )
                })
                .collect(),
        )
        .await;
    let mut applied = vec![0; ops.len()];
    for r in &sent {
        assert_eq!(r.status, 200, "{}", r.text);
        for (i, res) in r.json()["results"].as_array().unwrap().iter().enumerate() {
            match res["status"].as_str().unwrap() {
                "applied" => applied[i] += 1,
                "already_applied" => {}
                // Another copy held the operation at that moment: the phone sends it again.
                "rejected" => assert_eq!(res["problem"]["code"], "idempotency_in_flight", "{res}"),
                other => panic!("{other}: {res}"),
            }
        }
    }
    assert_eq!(
        applied,
        vec![1; ops.len()],
        "each operation applied exactly once"
    );
    // Sent once more after the storm, everything is done already.
    let last = upload(&w.app, &w.field, &ops).await;
    assert_eq!(statuses(&last), ["already_applied"; 5], "{last:?}");
    let after = written(&w.app);
    assert_eq!(after[0] - before[0], 1, "one case");
    assert_eq!(after[1] - before[1], 1, "one visit");
}

/// `n` fixes walking north through the community, 50 m and 40 s apart, from `hours` ago.
fn track(n: i64, hours: i64) -> Vec<Value> {
    // Whole seconds: times are kept to the millisecond.
    let t0 =
        chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() - hours * 3600, 0).unwrap();
    (0..n)
        .map(|i| {
            let step = f64::from(i32::try_from(i).unwrap());
            json!({ "lat": IN_COMMUNITY.0 + step * 50.0 / 111_320.0, "lng": IN_COMMUNITY.1,
                    "accuracy_m": 8.0, "at": (t0 + chrono::Duration::seconds(i * 40)).to_rfc3339() })
        })
        .collect()
}

#[actix_web::test]
async fn a_patrol_walked_offline_uploads_as_operations_once() {
    let w = world().await;
    let patrol = v7();
    let fixes = track(12, 3);
    let op = |kind: &str, data: Value, at: &str| json!({ "op_id": v7(), "type": kind, "recorded_at": at, "data": data });
    let ops = vec![
        op(
            "patrol.start",
            json!({ "id": patrol }),
            fixes[0]["at"].as_str().unwrap(),
        ),
        op(
            "patrol.points",
            json!({ "patrol_id": patrol, "points": fixes[..8] }),
            &ago(3),
        ),
        // The second batch repeats two fixes of the first: they are dropped.
        op(
            "patrol.points",
            json!({ "patrol_id": patrol, "crs": "wgs84", "points": fixes[6..] }),
            &ago(2),
        ),
        op(
            "patrol.finish",
            json!({ "patrol_id": patrol }),
            fixes[11]["at"].as_str().unwrap(),
        ),
    ];
    let results = upload(&w.app, &w.field, &ops).await;
    for r in &results {
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!((&r["entity"], &r["id"]), (&json!("patrol"), &json!(patrol)));
    }
    let done = &results[3]["data"];
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(
        (&done["points"], &done["duplicates"]),
        (&json!(12), &json!(2))
    );
    // Started and finished when the phone says (the first and the last fix).
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(at(&done["started_at"]), at(&fixes[0]["at"]));
    assert_eq!(at(&done["finished_at"]), at(&fixes[11]["at"]));
    let distance = done["summary"]["distance_m"].as_f64().unwrap();
    assert!((distance - 550.0).abs() < 5.0, "{distance}");

    // Sent again (the answer was lost): the same results, and no fix twice.
    let again = upload(&w.app, &w.field, &ops).await;
    for (first, second) in results.iter().zip(&again) {
        assert_eq!(second["status"], "already_applied", "{second}");
        assert_eq!(second["data"], first["data"]);
    }
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM patrol_points WHERE patrol_id = '{patrol}'"
        )),
        12
    );
    // Staff who see the patrol may not add to another's walk: refused, with its problem.
    let r = upload(
        &w.app,
        &w.staff,
        &[op(
            "patrol.points",
            json!({ "patrol_id": patrol, "points": track(1, 1) }),
            &ago(1),
        )],
    )
    .await;
    assert_eq!(r[0]["status"], "rejected", "{}", r[0]);
    assert_eq!(r[0]["problem"]["status"], 403, "{}", r[0]);
}
