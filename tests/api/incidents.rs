//! Incidents: reporting with routing and duplicates, who sees a case, the state machine
//! through the API (refusals, history, races, retries), departments summoned to a case.

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);
const IN_WEST_ONLY: (f64, f64) = (21.6, 111.09);
const IN_EAST: (f64, f64) = (21.6, 111.15);

struct World {
    app: TestApp,
    grid: SmallGrid,
    /// A grid worker with capture over the community.
    worker: String,
    /// Community staff with capture over the whole district.
    staff: String,
    /// A subdistrict officer with capture over the district.
    officer: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "inc.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("inc.staff", &grid).await;
    let (_, officer) = app
        .user(
            "inc.officer",
            &["subdistrict_officer"],
            &[(id(&grid.district), true)],
        )
        .await;
    World {
        app,
        grid,
        worker,
        staff,
        officer,
    }
}

fn body(category: &str, (lat, lng): (f64, f64)) -> Value {
    json!({"category": category, "description": "路边堆放垃圾", "location": {"lat": lat, "lng": lng}})
}

async fn report(w: &World, token: &str, b: Value) -> crate::helpers::Res {
    w.app
        .send(Method::POST, "/api/v1/incidents", Some(token), Some(b), &[])
        .await
}

async fn act(w: &World, token: &str, case: &Value, b: Value) -> crate::helpers::Res {
    let path = format!(
        "/api/v1/incidents/{}/transitions",
        case["id"].as_str().unwrap()
    );
    let etag = format!("\"{}\"", case["version"]);
    w.app
        .send(
            Method::POST,
            &path,
            Some(token),
            Some(b),
            &[("if-match", etag.as_str())],
        )
        .await
}

/// A department and one clerk account bound to it: (department id, clerk's token).
async fn department_clerk(w: &World, code: &str, clerk: &str) -> (String, String) {
    let dept = w
        .app
        .post(
            "/api/v1/departments",
            json!({"code": code, "name": "职能部门"}),
        )
        .await;
    assert_eq!(dept.status, 201, "{}", dept.text);
    let id = dept.json()["id"].as_str().unwrap().to_owned();
    let (_, token) = w.app.user_in(clerk, &["department"], &[], Some(&id)).await;
    (id, token)
}

#[actix_web::test]
async fn a_report_goes_to_the_deepest_unit_raised_to_its_category_level() {
    let w = world().await;
    // 私搭乱建 may be owned by a community: the community owns it.
    let r = report(&w, &w.worker, body("0101", IN_COMMUNITY)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.json();
    let path = format!("/api/v1/incidents/{}", case["id"].as_str().unwrap());
    assert_eq!(r.header("location").as_deref(), Some(path.as_str()));
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(
        (case["status"].as_str(), case["routing"]["rule"].as_str()),
        (Some("reported"), Some("locality"))
    );
    assert_eq!(case["owner_unit"]["id"], w.grid.community["id"]);
    assert_eq!(case["owner_chain"].as_array().unwrap().len(), 3);
    assert!(
        case["deadlines"]["register"]["seconds_left"]
            .as_i64()
            .unwrap()
            > 0,
        "{case}"
    );
    assert_eq!(case["history"][0]["action"], "report");
    // The answer is built without reading the case back: it must equal what a read shows
    // (deadlines aside, whose time left moves).
    let strip = |mut v: Value| {
        let o = v.as_object_mut().unwrap();
        o.remove("possible_duplicates");
        o["deadlines"]["register"]
            .as_object_mut()
            .unwrap()
            .remove("seconds_left");
        v
    };
    let read_back = w.app.get_as(&w.worker, &path).await.json();
    assert_eq!(strip(case.clone()), strip(read_back));
    assert_eq!(case["history"][0]["actor"], "inc.worker");

    // 管道破裂 is handled no lower than a subdistrict: raised at once, and recorded so.
    let raised = report(&w, &w.worker, body("0401", IN_COMMUNITY))
        .await
        .json();
    assert_eq!(raised["routing"]["rule"], "lowest_level");
    assert_eq!(raised["owner_unit"]["id"], w.grid.west["id"]);
    assert_eq!(
        raised["routing"]["locality_unit_id"],
        w.grid.community["id"]
    );
    assert_eq!(raised["history"][1]["action"], "escalate");
    assert_eq!(raised["history"][1]["reason"], "beyond_competence");

    // Outside the community the deepest unit is the subdistrict (staff reach it).
    let west = report(&w, &w.staff, body("0101", IN_WEST_ONLY))
        .await
        .json();
    assert_eq!(
        (
            west["owner_unit"]["id"].clone(),
            west["routing"]["rule"].clone()
        ),
        (w.grid.west["id"].clone(), json!("locality"))
    );

    // Refusals, each before anything is written.
    let before = w.app.count("SELECT count(*) AS n FROM incidents");
    let outside = report(&w, &w.worker, body("0101", IN_EAST)).await;
    assert_eq!(outside.status, 403, "{}", outside.text);
    let nowhere = report(&w, &w.worker, body("0101", (30.0, 120.0))).await;
    assert_eq!(
        (nowhere.status, nowhere.code().as_str()),
        (422, "not_covered")
    );
    let class = report(&w, &w.worker, body("01", IN_COMMUNITY)).await;
    assert_eq!(
        (class.status, class.code().as_str()),
        (422, "validation_failed")
    );
    assert!(class.text.contains("category"), "{}", class.text);
    let unknown = report(&w, &w.worker, body("0999", IN_COMMUNITY)).await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (422, "validation_failed")
    );
    assert!(
        unknown.text.contains("names no category"),
        "{}",
        unknown.text
    );
    let mut both = body("0101", IN_COMMUNITY);
    both["household_id"] = json!(uuid::Uuid::now_v7().to_string());
    let both = report(&w, &w.worker, both).await;
    assert_eq!(
        (both.status, both.code().as_str()),
        (422, "validation_failed")
    );
    let admin = report(&w, &w.app.admin_token, body("0101", IN_COMMUNITY)).await;
    assert_eq!(admin.status, 403, "admins run the system, not cases");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM incidents"), before);

    // Who sees it: the reporter and staff above; not a worker elsewhere, not the admin.
    assert_eq!(w.app.get_as(&w.staff, &path).await.status, 200);
    let (_, east_worker) = w
        .app
        .user("east.worker", &["grid_worker"], &[(id(&w.grid.east), true)])
        .await;
    assert_eq!(w.app.get_as(&east_worker, &path).await.status, 404);
    assert_eq!(w.app.get_as(&w.app.admin_token, &path).await.status, 404);
    let listed = w.app.get_as(&east_worker, "/api/v1/incidents").await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let mine = w.app.get_as(&w.worker, "/api/v1/incidents").await.json();
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        1,
        "only the case owned in the community"
    );
    let all = w
        .app
        .get_as(&w.staff, "/api/v1/incidents?status=reported&category=01")
        .await
        .json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        w.app
            .get_as(&w.app.admin_token, "/api/v1/incidents")
            .await
            .status,
        403
    );

    // The spine's rows, in the report's transaction.
    let rows = |table: &str, column: &str| {
        w.app.count(&format!(
            "SELECT count(*) AS n FROM {table} WHERE {column} = '{}'",
            case["id"].as_str().unwrap()
        ))
    };
    assert_eq!(
        (
            rows("history", "entity_id"),
            rows("outbox", "aggregate_id"),
            rows("changes", "entity_id")
        ),
        (1, 1, 1)
    );
}

#[actix_web::test]
async fn open_cases_of_the_category_nearby_come_back_as_possible_duplicates() {
    let w = world().await;
    let first = report(&w, &w.worker, body("0102", IN_COMMUNITY))
        .await
        .json();
    assert_eq!(first["possible_duplicates"], json!([]));
    // About 22 m north: suggested, with its distance; never refused.
    let near = report(&w, &w.worker, body("0102", (21.6002, 111.05))).await;
    assert_eq!(near.status, 201);
    let dups = near.json()["possible_duplicates"].clone();
    assert_eq!(dups.as_array().unwrap().len(), 1, "{dups}");
    assert_eq!(dups[0]["id"], first["id"]);
    let d = dups[0]["distance_m"].as_f64().unwrap();
    assert!((20.0..25.0).contains(&d), "{d}");
    // About 220 m away, or another category: nothing.
    let far = report(&w, &w.worker, body("0102", (21.602, 111.05)))
        .await
        .json();
    assert_eq!(far["possible_duplicates"], json!([]));
    let other = report(&w, &w.worker, body("0104", IN_COMMUNITY))
        .await
        .json();
    assert_eq!(other["possible_duplicates"], json!([]));

    // Staff merge the duplicate: it closes with the reason, both keep their history.
    let second = near.json();
    let merged = act(
        &w,
        &w.staff,
        &second,
        json!({"action": "merge_into", "into": first["id"], "note": "同一堆垃圾"}),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    let m = merged.json();
    assert_eq!(
        (m["status"].as_str(), m["merged_into"].clone()),
        (Some("closed"), first["id"].clone())
    );
    let kept = w
        .app
        .get_as(
            &w.staff,
            &format!("/api/v1/incidents/{}", first["id"].as_str().unwrap()),
        )
        .await
        .json();
    let last = kept["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].clone(), last["duplicate"].clone()),
        (json!("merged"), second["id"].clone())
    );
    // A closed case is no duplicate of anything.
    let after = report(&w, &w.worker, body("0102", (21.6002, 111.05)))
        .await
        .json();
    let ids: Vec<Value> = after["possible_duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(ids, vec![first["id"].clone()]);
}

#[actix_web::test]
async fn a_report_at_a_household_takes_its_place_and_a_bad_category_is_named_first() {
    let w = world().await;
    let h = w
        .app
        .household(&w.staff, "上报路 1 号", IN_COMMUNITY.0, IN_COMMUNITY.1)
        .await;
    let at_point = report(&w, &w.worker, body("0102", IN_COMMUNITY))
        .await
        .json();
    let b = json!({"category": "0102", "description": "门前垃圾", "household_id": h["id"]});
    let r = report(&w, &w.worker, b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.json();
    assert_eq!(case["household_id"], h["id"], "{case}");
    assert_eq!(
        (&case["location"]["lat"], &case["location"]["lng"]),
        (&h["location"]["lat"], &h["location"]["lng"]),
        "the household's own place"
    );
    assert_eq!(case["location"], at_point["location"]);
    assert_eq!(case["owner_unit"], at_point["owner_unit"]);
    // The case at the same point is found as a duplicate from the household's place too.
    let dups: Vec<&Value> = case["possible_duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert_eq!(dups, vec![&at_point["id"]]);

    // Two faults at once: the category is named, whatever the place.
    let field = |r: &crate::helpers::Res| (r.status, r.json()["field"].as_str().map(str::to_owned));
    let unseen = uuid::Uuid::now_v7().to_string();
    let b = json!({"category": "0999", "description": "x", "household_id": unseen});
    let both = report(&w, &w.worker, b).await;
    assert_eq!(
        field(&both),
        (422, Some("category".into())),
        "{}",
        both.text
    );
    let class_off_the_map = report(&w, &w.worker, body("01", (95.0, 111.05))).await;
    assert_eq!(field(&class_off_the_map), (422, Some("category".into())));
    let off_the_map = report(&w, &w.worker, body("0102", (95.0, 111.05))).await;
    assert_eq!(field(&off_the_map), (422, Some("location".into())));
    let b = json!({"category": "0102", "description": "x", "household_id": unseen});
    let unseen = report(&w, &w.worker, b).await;
    assert_eq!(field(&unseen), (422, Some("household_id".into())));
}

#[actix_web::test]
async fn possible_duplicates_are_only_cases_the_reporter_may_see() {
    let w = world().await;
    // An open case the community's worker cannot see: reported by the officer, then
    // escalated to the subdistrict.
    let case = report(&w, &w.officer, body("0103", IN_COMMUNITY))
        .await
        .json();
    let up = act(
        &w,
        &w.officer,
        &case,
        json!({"action": "escalate", "note": "社区无力处置"}),
    )
    .await;
    assert_eq!(
        up.json()["owner_unit"]["id"],
        w.grid.west["id"],
        "{}",
        up.text
    );
    let by_worker = report(&w, &w.worker, body("0103", IN_COMMUNITY))
        .await
        .json();
    assert_eq!(by_worker["possible_duplicates"], json!([]), "{by_worker}");
    // The officer sees both (at the same spot: in the order reported).
    let by_officer = report(&w, &w.officer, body("0103", IN_COMMUNITY))
        .await
        .json();
    let ids: Vec<Value> = by_officer["possible_duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(ids, vec![case["id"].clone(), by_worker["id"].clone()]);
}

#[actix_web::test]
async fn the_loop_is_guarded_by_the_state_machine_and_every_step_is_history() {
    let w = world().await;
    let mut case = report(&w, &w.worker, body("0101", IN_COMMUNITY))
        .await
        .json();
    // A worker may not register; an illegal action lists what the caller may do.
    let denied = act(&w, &w.worker, &case, json!({"action": "register"})).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let early = act(&w, &w.staff, &case, json!({"action": "verify"})).await;
    assert_eq!(
        (early.status, early.code().as_str()),
        (409, "transition_not_allowed")
    );
    let allowed = early.json()["allowed"].clone();
    assert_eq!(
        allowed,
        json!(["register", "reject", "escalate", "merge_into"])
    );
    let no_reason = act(&w, &w.staff, &case, json!({"action": "reject"})).await;
    assert_eq!(
        (no_reason.status, no_reason.code().as_str()),
        (422, "validation_failed")
    );
    let stale = w
        .app
        .send(
            Method::POST,
            &format!(
                "/api/v1/incidents/{}/transitions",
                case["id"].as_str().unwrap()
            ),
            Some(&w.staff),
            Some(json!({"action": "register"})),
            &[("if-match", "\"9\"")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.code().as_str()),
        (412, "version_mismatch")
    );
    let bad_action = act(&w, &w.staff, &case, json!({"action": "teleport"})).await;
    assert_eq!(
        (bad_action.status, bad_action.code().as_str()),
        (422, "validation_failed")
    );

    for (token, step, status) in [
        (
            &w.staff,
            json!({"action": "register", "note": "属实"}),
            "registered",
        ),
        (&w.staff, json!({"action": "dispatch"}), "dispatched"),
        (&w.worker, json!({"action": "sign"}), "signed"),
        (&w.worker, json!({"action": "start"}), "in_progress"),
        (
            &w.staff,
            json!({"action": "hold", "note": "待拆迁"}),
            "on_hold",
        ),
        (&w.staff, json!({"action": "resume"}), "in_progress"),
    ] {
        let r = act(&w, token, &case, step.clone()).await;
        assert_eq!(r.status, 200, "{step}: {}", r.text);
        case = r.json();
        assert_eq!(case["status"], status, "{step}");
    }
    assert!(
        case["deadlines"].get("close").is_some(),
        "dispatching starts the clock: {case}"
    );
    assert!(case["deadlines"].get("register").is_none());
    // Reporting back needs a photo of the result; attachments are not built yet.
    let resolve = act(&w, &w.worker, &case, json!({"action": "resolve"})).await;
    assert_eq!(
        (resolve.status, resolve.code().as_str()),
        (422, "validation_failed")
    );
    assert!(resolve.text.contains("attachments"), "{}", resolve.text);

    // Escalation: up one level, where it is dispatched anew; never past the district.
    let up = act(
        &w,
        &w.staff,
        &case,
        json!({"action": "escalate", "note": "社区无力处置"}),
    )
    .await
    .json();
    assert_eq!(
        (
            up["status"].as_str(),
            up["owner_unit"]["id"].clone(),
            up["escalations"].as_i64()
        ),
        (Some("registered"), w.grid.west["id"].clone(), Some(1))
    );
    let top = act(
        &w,
        &w.officer,
        &up,
        json!({"action": "escalate", "note": "街道无力处置"}),
    )
    .await
    .json();
    assert_eq!(top["owner_unit"]["id"], w.grid.district["id"]);
    let past = act(
        &w,
        &w.officer,
        &top,
        json!({"action": "escalate", "note": "再上报"}),
    )
    .await;
    assert_eq!(
        (past.status, past.code().as_str()),
        (409, "transition_not_allowed")
    );
    // Another worker of the community no longer sees a case owned above it; the reporter
    // still follows it, with nothing left to do.
    let case_path = format!("/api/v1/incidents/{}", case["id"].as_str().unwrap());
    let (_, colleague) = w
        .app
        .user(
            "inc.colleague",
            &["grid_worker"],
            &[(id(&w.grid.community), true)],
        )
        .await;
    assert_eq!(w.app.get_as(&colleague, &case_path).await.status, 404);
    let followed = w.app.get_as(&w.worker, &case_path).await;
    assert_eq!(
        (followed.status, followed.json()["allowed_actions"].clone()),
        (200, json!([]))
    );

    let history = top["history"].as_array().unwrap();
    let steps: Vec<&str> = history
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "report", "register", "dispatch", "sign", "start", "hold", "resume", "escalate",
            "escalate"
        ]
    );
    assert_eq!(history[1]["note"], "属实");
    assert_eq!(
        (history[4]["from"].as_str(), history[4]["to"].as_str()),
        (Some("signed"), Some("in_progress"))
    );
    assert_eq!(top["version"], 9);
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM changes WHERE entity = 'incident' AND entity_id = '{}'",
            top["id"].as_str().unwrap()
        )),
        9
    );
}

#[actix_web::test]
async fn racing_actions_with_one_if_match_let_exactly_one_through() {
    let w = world().await;
    let rounds = if crate::helpers::on_postgres() {
        40
    } else {
        10
    };
    for round in 0..rounds {
        let case = report(&w, &w.worker, body("0101", IN_COMMUNITY))
            .await
            .json();
        let path = format!(
            "/api/v1/incidents/{}/transitions",
            case["id"].as_str().unwrap()
        );
        let reqs = (0..2)
            .map(|i| {
                let b = if i == 0 {
                    json!({"action": "register"})
                } else {
                    json!({"action": "reject", "note": "重复"})
                };
                w.app.request(
                    Method::POST,
                    &path,
                    &w.staff,
                    Some(b),
                    &[("if-match", "\"1\"")],
                )
            })
            .collect();
        let mut statuses: Vec<u16> = w.app.race(reqs).await.iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
        assert_eq!(
            w.app.count(&format!(
                "SELECT count(*) AS n FROM history WHERE entity_id = '{}'",
                case["id"].as_str().unwrap()
            )),
            2,
            "round {round}: the report and one action"
        );
    }
}

#[actix_web::test]
async fn an_action_retried_with_its_key_is_taken_once() {
    let w = world().await;
    let case = report(&w, &w.worker, body("0101", IN_COMMUNITY))
        .await
        .json();
    let path = format!(
        "/api/v1/incidents/{}/transitions",
        case["id"].as_str().unwrap()
    );
    let reqs = (0..8)
        .map(|_| {
            w.app.request(
                Method::POST,
                &path,
                &w.staff,
                Some(json!({"action": "register"})),
                &[("if-match", "\"1\""), ("idempotency-key", "register-once")],
            )
        })
        .collect();
    let answers = w.app.race(reqs).await;
    let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert!(
        !ok.is_empty() && ok.iter().all(|r| r.text == ok[0].text),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        answers
            .iter()
            .all(|r| r.status == 200 || r.code() == "idempotency_in_flight")
    );
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM history WHERE entity_id = '{}' AND kind = 'register'",
            case["id"].as_str().unwrap()
        )),
        1
    );
}

#[actix_web::test]
async fn a_summoned_department_sees_its_case_reports_in_and_sees_nothing_else() {
    let w = world().await;
    let (dept_id, water) = department_clerk(&w, "water_x", "water.clerk").await;
    let case = report(&w, &w.worker, body("0101", IN_COMMUNITY))
        .await
        .json();
    let other = report(&w, &w.worker, body("0104", IN_COMMUNITY))
        .await
        .json();
    let path = format!("/api/v1/incidents/{}", case["id"].as_str().unwrap());
    assert_eq!(
        w.app.get_as(&water, &path).await.status,
        404,
        "not summoned yet"
    );
    let registered = act(&w, &w.staff, &case, json!({"action": "register"}))
        .await
        .json();
    // Only the officer and the centre summon.
    let denied = act(
        &w,
        &w.staff,
        &registered,
        json!({"action": "summon", "department_ids": [dept_id]}),
    )
    .await;
    assert_eq!(denied.status, 403);
    // At most twenty at once (the contract's maxItems), refused before anything is written.
    let many: Vec<String> = (0..21)
        .map(|i| format!("01900000-0000-7000-8000-{i:012}"))
        .collect();
    let too_many = act(
        &w,
        &w.officer,
        &registered,
        json!({"action": "summon", "department_ids": many}),
    )
    .await;
    assert_eq!(
        (too_many.status, too_many.code().as_str()),
        (422, "validation_failed"),
        "{}",
        too_many.text
    );
    let refusal = too_many.json();
    assert_eq!(refusal["field"], "department_ids", "{}", too_many.text);
    assert!(
        refusal["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most 20")),
        "{}",
        too_many.text
    );
    // A department named twice is summoned once.
    let summoned = act(
        &w,
        &w.officer,
        &registered,
        json!({"action": "summon", "department_ids": [dept_id, dept_id]}),
    )
    .await;
    assert_eq!(summoned.status, 200, "{}", summoned.text);
    let s = summoned.json();
    assert_eq!(s["version"], registered["version"].as_i64().unwrap() + 1);
    assert_eq!(
        s["departments"]["summoned"].as_array().map(|a| a
            .iter()
            .map(|d| d["department_id"].clone())
            .collect::<Vec<_>>()),
        Some(vec![json!(dept_id)])
    );
    assert_eq!(
        s["history"].as_array().unwrap().last().unwrap()["department_ids"],
        json!([dept_id])
    );
    assert!(s["departments"]["summoned"][0]["reported_in_at"].is_null());

    let seen = w.app.get_as(&water, &path).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.json()["allowed_actions"], json!(["report_in"]));
    let listed = w.app.get_as(&water, "/api/v1/incidents").await.json();
    let ids: Vec<Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, vec![case["id"].clone()]);
    assert_eq!(
        w.app
            .get_as(
                &water,
                &format!("/api/v1/incidents/{}", other["id"].as_str().unwrap())
            )
            .await
            .status,
        404
    );

    let reported = act(&w, &water, &s, json!({"action": "report_in"})).await;
    assert_eq!(reported.status, 200, "{}", reported.text);
    let r = reported.json();
    assert!(r["departments"]["summoned"][0]["reported_in_at"].is_string());
    assert_eq!(r["allowed_actions"], json!([]));
    let again = act(&w, &water, &r, json!({"action": "report_in"})).await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (409, "transition_not_allowed")
    );
}

#[actix_web::test]
async fn an_extension_is_asked_before_the_deadline_and_granted_or_refused_by_an_officer() {
    let w = world().await;
    let mut case = report(&w, &w.worker, body("0101", IN_COMMUNITY))
        .await
        .json();
    for step in [json!({"action": "register"}), json!({"action": "dispatch"})] {
        case = act(&w, &w.staff, &case, step).await.json();
    }
    let due_before = case["deadlines"]["close"]["due"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_reason = act(&w, &w.worker, &case, json!({"action": "request_extension"})).await;
    assert_eq!(
        (no_reason.status, no_reason.code().as_str()),
        (422, "validation_failed")
    );
    case = act(
        &w,
        &w.worker,
        &case,
        json!({"action": "request_extension", "note": "等待物业配合"}),
    )
    .await
    .json();
    assert_eq!(case["extension_pending"], true);
    let twice = act(
        &w,
        &w.worker,
        &case,
        json!({"action": "request_extension", "note": "再次"}),
    )
    .await;
    assert_eq!(
        (twice.status, twice.code().as_str()),
        (409, "transition_not_allowed")
    );
    // Community staff do not grant time; the subdistrict officer does.
    let staff = act(&w, &w.staff, &case, json!({"action": "grant_extension"})).await;
    assert_eq!(staff.status, 403);
    case = act(
        &w,
        &w.officer,
        &case,
        json!({"action": "grant_extension", "note": "同意延期"}),
    )
    .await
    .json();
    let due_after = case["deadlines"]["close"]["due"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(case["extension_pending"], false);
    assert!(due_after > due_before, "{due_before} -> {due_after}");
    // Asked again, refused: the deadline stays.
    case = act(
        &w,
        &w.worker,
        &case,
        json!({"action": "request_extension", "note": "仍需时间"}),
    )
    .await
    .json();
    case = act(
        &w,
        &w.officer,
        &case,
        json!({"action": "refuse_extension", "note": "不予延期"}),
    )
    .await
    .json();
    assert_eq!(
        (
            case["extension_pending"].clone(),
            case["deadlines"]["close"]["due"].as_str()
        ),
        (json!(false), Some(due_after.as_str()))
    );
    let steps: Vec<&str> = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "report",
            "register",
            "dispatch",
            "request_extension",
            "grant_extension",
            "request_extension",
            "refuse_extension"
        ]
    );
}

#[actix_web::test]
async fn a_department_handles_a_case_dispatched_to_it_and_no_other() {
    let w = world().await;
    let (dept_id, clerk) = department_clerk(&w, "urban_z", "urban.clerk").await;
    let mut case = report(&w, &w.worker, body("0101", IN_COMMUNITY))
        .await
        .json();
    case = act(&w, &w.staff, &case, json!({"action": "register"}))
        .await
        .json();
    let unknown = act(
        &w,
        &w.staff,
        &case,
        json!({"action": "dispatch", "department_id": uuid::Uuid::now_v7().to_string()}),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (422, "validation_failed")
    );
    case = act(
        &w,
        &w.staff,
        &case,
        json!({"action": "dispatch", "department_id": dept_id}),
    )
    .await
    .json();
    assert_eq!(case["departments"]["dispatched_to"], dept_id.as_str());
    // The department sees it and may sign for it (or ask for more time), then handle it.
    let seen = w
        .app
        .get_as(
            &clerk,
            &format!("/api/v1/incidents/{}", case["id"].as_str().unwrap()),
        )
        .await
        .json();
    assert_eq!(
        seen["allowed_actions"],
        json!(["sign", "request_extension"])
    );
    for step in ["sign", "start"] {
        case = act(&w, &clerk, &case, json!({"action": step})).await.json();
        assert_eq!(
            case["status"],
            if step == "sign" {
                "signed"
            } else {
                "in_progress"
            }
        );
    }
    let verify = act(&w, &clerk, &case, json!({"action": "verify"})).await;
    assert_eq!(verify.status, 403, "a department does not verify");
    // Another department's clerk sees nothing of it.
    let (_, stranger) = department_clerk(&w, "water_z", "water.clerk2").await;
    assert_eq!(
        w.app
            .get_as(
                &stranger,
                &format!("/api/v1/incidents/{}", case["id"].as_str().unwrap())
            )
            .await
            .status,
        404
    );
    let listed = w.app.get_as(&stranger, "/api/v1/incidents").await.json();
    assert_eq!(listed["items"], json!([]));
}

#[actix_web::test]
async fn the_list_filters_by_reporter_time_class_and_pages_in_either_order() {
    let w = world().await;
    let mut cases = Vec::new();
    for (token, category) in [
        (&w.worker, "0101"),
        (&w.worker, "0102"),
        (&w.worker, "0401"),
        (&w.staff, "0101"),
    ] {
        let r = report(&w, token, body(category, IN_COMMUNITY)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        cases.push(r.json());
    }
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let case_ids: Vec<String> = cases
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let me = w.app.get_as(&w.worker, "/api/v1/me").await.json();
    let mine = w
        .app
        .get_as(
            &w.staff,
            &format!(
                "/api/v1/incidents?reporter_id={}",
                me["id"].as_str().unwrap()
            ),
        )
        .await
        .json();
    assert_eq!(ids(&mine), case_ids[..3].to_vec());
    let class = w
        .app
        .get_as(&w.staff, "/api/v1/incidents?category=01")
        .await
        .json();
    assert_eq!(
        ids(&class),
        vec![
            case_ids[0].clone(),
            case_ids[1].clone(),
            case_ids[3].clone()
        ]
    );
    let since = cases[2]["created_at"].as_str().unwrap().replace('+', "%2B");
    let late = w
        .app
        .get_as(&w.staff, &format!("/api/v1/incidents?created_from={since}"))
        .await
        .json();
    assert_eq!(ids(&late), case_ids[2..].to_vec());
    let before = w
        .app
        .get_as(&w.staff, &format!("/api/v1/incidents?created_to={since}"))
        .await
        .json();
    assert_eq!(ids(&before), case_ids[..2].to_vec());

    // Newest first, two at a time: every case once, in reverse.
    let first = w
        .app
        .get_as(&w.staff, "/api/v1/incidents?order=newest&limit=2")
        .await
        .json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = w
        .app
        .get_as(
            &w.staff,
            &format!("/api/v1/incidents?order=newest&limit=2&cursor={cursor}"),
        )
        .await
        .json();
    let mut all = ids(&first);
    all.extend(ids(&second));
    let mut reversed = case_ids.clone();
    reversed.reverse();
    assert_eq!(all, reversed);
    assert!(second["next_cursor"].is_null());

    // Closed cases by when they closed.
    let rejected = act(
        &w,
        &w.staff,
        &cases[1],
        json!({"action": "reject", "note": "不属实"}),
    )
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    let closed = w
        .app
        .get_as(
            &w.staff,
            "/api/v1/incidents?closed_from=2000-01-01T00:00:00Z",
        )
        .await
        .json();
    assert_eq!(ids(&closed), vec![case_ids[1].clone()]);

    // A box around the community holds every case; one beside it, none.
    let inside = w
        .app
        .get_as(&w.staff, "/api/v1/incidents?bbox=111.02,21.52,111.08,21.68")
        .await
        .json();
    assert_eq!(ids(&inside).len(), 4);
    let beside = w
        .app
        .get_as(&w.staff, "/api/v1/incidents?bbox=111.1,21.5,111.2,21.7")
        .await
        .json();
    assert_eq!(ids(&beside).len(), 0);

    for bad in [
        "created_from=yesterday",
        // Its UTC form is past the year 9999, which compares as text before every time.
        "created_to=9999-12-31T23:59:59-00:01",
        "closed_to=9999-12-31T23:59:59-00:01",
        "order=random",
        "status=done",
        "reporter_id=me",
        "category=abc",
        "bbox=1,2,3",
        "bbox=111.1,21.5,111.0,21.7",
        "bbox=NaN,1,2,3",
    ] {
        let r = w
            .app
            .get_as(&w.staff, &format!("/api/v1/incidents?{bad}"))
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{bad}"
        );
    }
}
