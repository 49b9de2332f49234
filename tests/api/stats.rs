//! The command centre's figures, on a crafted set of cases where every figure has a value
//! counted by hand (the means are recounted from the cases' own history), and the heat map.

use crate::attachments::{jpeg, multipart, upload};
use crate::cases;
use crate::helpers::{Options, SmallGrid, TestApp, id};
use chrono::Datelike;
use serde_json::{Value, json};
use std::time::Duration;

const IN_COMMUNITY: (f64, f64) = (21.6, 111.05);
const IN_EAST: (f64, f64) = (21.6, 111.15);
/// Three seconds to close: a case closed at once is on time, one closed after a wait is late.
const FAST: &str = "0197";

struct World {
    app: TestApp,
    grid: SmallGrid,
    worker: String,
    staff: String,
    officer: String,
}

async fn fetch(w: &World, case: &Value) -> Value {
    w.app
        .get_as(
            &w.staff,
            &format!("/api/v1/incidents/{}", case["id"].as_str().unwrap()),
        )
        .await
        .json()
}

/// Registered, dispatched (to `department` if named) and signed for.
async fn signed(w: &World, case: Value, department: Option<&str>) -> Value {
    let mut c = cases::act(&w.app, &w.staff, &case, json!({"action": "register"})).await;
    let dispatch = match department {
        Some(d) => json!({"action": "dispatch", "department_id": d}),
        None => json!({"action": "dispatch"}),
    };
    c = cases::act(&w.app, &w.staff, &c, dispatch).await;
    cases::act(&w.app, &w.staff, &c, json!({"action": "sign"})).await
}

/// From signed for to closed: handled, a result photo, reported back, verified, closed.
async fn closed(w: &World, case: Value) -> Value {
    let mut c = cases::act(&w.app, &w.staff, &case, json!({"action": "start"})).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let photo = upload(
        &w.app,
        &w.staff,
        &cid,
        "result",
        multipart("file", "r.jpg", "image/jpeg", &jpeg(9)),
    )
    .await;
    assert_eq!(photo.status, 201, "{}", photo.text);
    c = fetch(w, &c).await;
    for step in ["resolve", "verify", "close"] {
        c = cases::act(&w.app, &w.staff, &c, json!({"action": step})).await;
    }
    c
}

/// The time of the case's last history entry of `action`.
fn at(case: &Value, action: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let e = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|h| h["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {case}"));
    chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap()
}

async fn world() -> World {
    world_with(Options::default()).await
}

async fn world_with(opts: Options) -> World {
    let app = TestApp::spawn_with(opts).await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "st.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("st.staff", &grid).await;
    let (_, officer) = app
        .user(
            "st.officer",
            &["subdistrict_officer"],
            &[(id(&grid.district), true)],
        )
        .await;
    let fast =
        json!({"register": {"seconds": 600}, "sign": {"seconds": 600}, "close": {"seconds": 3}});
    let cat = app
        .post(
            "/api/v1/incident-categories",
            json!({"code": FAST, "parent_code": "01", "name": "限时演练", "key": "fast_drill",
                   "lowest_level": 3, "routing": "locality",
                   "time_limits": {"urgent": fast, "normal": fast, "complex": fast}}),
        )
        .await;
    assert_eq!(cat.status, 201, "{}", cat.text);
    World {
        app,
        grid,
        worker,
        staff,
        officer,
    }
}

#[actix_web::test]
async fn the_figures_equal_a_hand_count_over_a_crafted_set_of_cases() {
    let w = world().await;
    let from = chrono::Utc::now() - chrono::Duration::minutes(1);
    let dept = w
        .app
        .post(
            "/api/v1/departments",
            json!({"code": "roads", "name": "公路局"}),
        )
        .await;
    let dept = dept.json()["id"].as_str().unwrap().to_owned();
    // A slow category of the seed: its close deadline is working days away, outside the period.
    let slow = "0101";

    // c1 closed at once (on time) and called back satisfied.
    let c1 = signed(
        &w,
        cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await,
        None,
    )
    .await;
    let c1 = closed(&w, c1).await;
    let c1 = cases::act(
        &w.app,
        &w.staff,
        &c1,
        json!({"action": "callback", "satisfied": true}),
    )
    .await;
    // c2 closed after its three seconds: late.
    let c2 = signed(
        &w,
        cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await,
        None,
    )
    .await;
    // c3 dispatched to the department and never signed for: due, not closed, overdue.
    let c3 = cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await;
    let c3 = cases::act(&w.app, &w.staff, &c3, json!({"action": "register"})).await;
    let c3 = cases::act(
        &w.app,
        &w.staff,
        &c3,
        json!({"action": "dispatch", "department_id": dept}),
    )
    .await;
    // c4 closed on time, then called back unsatisfied: open again, due anew, soon overdue.
    let c4 = closed(
        &w,
        signed(
            &w,
            cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await,
            None,
        )
        .await,
    )
    .await;
    let c4 = cases::act(
        &w.app,
        &w.staff,
        &c4,
        json!({"action": "callback", "satisfied": false}),
    )
    .await;
    // c5 slow: signed for, due in days; the department summoned, and reports in at once.
    let c5 = signed(
        &w,
        cases::report(&w.app, &w.worker, slow, IN_COMMUNITY).await,
        None,
    )
    .await;
    let c5 = cases::act(
        &w.app,
        &w.officer,
        &c5,
        json!({"action": "summon", "department_ids": [dept]}),
    )
    .await;
    let (_, clerk) = w
        .app
        .user_in("st.clerk", &["department"], &[], Some(&dept))
        .await;
    cases::act(&w.app, &clerk, &c5, json!({"action": "report_in"})).await;
    // c6 rejected as reported: counts in no figure.
    let c6 = cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await;
    cases::act(
        &w.app,
        &w.staff,
        &c6,
        json!({"action": "reject", "note": "不属实"}),
    )
    .await;
    // c7 in the east subdistrict, closed on time.
    let c7 = closed(
        &w,
        signed(
            &w,
            cases::report(&w.app, &w.staff, FAST, IN_EAST).await,
            None,
        )
        .await,
    )
    .await;

    // Three seconds on: c2 closes late; c3 and c4 are past their close deadlines.
    actix_web::rt::time::sleep(Duration::from_millis(3_300)).await;
    let c2 = closed(&w, c2).await;
    let c4 = fetch(&w, &c4).await;
    assert_eq!(c4["status"], "in_progress");

    let q = format!(
        "from={}&to={}",
        urlencode(&from.to_rfc3339()),
        urlencode(&(chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339())
    );
    let district = id(&w.grid.district).to_owned();
    let s = figures(&w, &district, &q).await;
    // The same figures however the period is cut: whole days are read from the sums kept per
    // day, partial days from the cases themselves. Today in China, as whole days; from
    // yesterday to a moment from now (a partial last day); from two days back at this time to
    // tomorrow (a partial first day and whole days); from yesterday to 13 hours on. "Today"
    // runs from the day in China when the cases began to the day it is now: two days when
    // the test ran across midnight there (16:00 UTC).
    let cst = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&wangge_domain::calendar::CST).date_naive()
    };
    let (today, tomorrow) = (cst(from), cst(chrono::Utc::now()).succ_opt().unwrap());
    let later = urlencode(&(chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let days_back = urlencode(&(chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339());
    let much_later = urlencode(&(chrono::Utc::now() + chrono::Duration::hours(13)).to_rfc3339());
    for other in [
        format!("from={today}&to={tomorrow}"),
        format!("from={}&to={later}", today.pred_opt().unwrap()),
        format!("from={days_back}&to={tomorrow}"),
        format!("from={}&to={much_later}", today.pred_opt().unwrap()),
        // Seventy days back: whole months and partial ones.
        format!("from={}&to={tomorrow}", today - chrono::Duration::days(70)),
    ] {
        let o = figures(&w, &district, &other).await;
        for part in ["totals", "own", "by_child", "by_category"] {
            assert_eq!(o[part], s[part], "{part} for {other} against {q}");
        }
        // This month, read from its month's sums: the figures counted on today's days agree (its
        // close deadlines may include the slow case's, so `due` may not). Two months when
        // "today" crossed into another.
        let first = today.with_day(1).unwrap();
        let last = tomorrow.pred_opt().unwrap().with_day(1).unwrap();
        let month = figures(
            &w,
            &district,
            &format!("from={first}&to={}", last + chrono::Months::new(1)),
        )
        .await;
        for k in [
            "registered",
            "closed_in_period",
            "replied",
            "satisfied",
            "signed",
            "overdue_now",
        ] {
            assert_eq!(month["totals"][k], s["totals"][k], "{k} of the month");
        }
    }
    let t = &s["totals"];
    // registered: all but the rejected c6. due: the fast ones but c6. closed of them: c1, c2,
    // c7 (c4 reopened); on time: c1, c7. Closed in the period: c1, c2, c7; called back: c1,
    // satisfied. Overdue now: c3, c4. Signed for: all but c3 and c6.
    for (k, v) in [
        ("registered", json!(6)),
        ("due", json!(5)),
        ("closed", json!(3)),
        ("closed_on_time", json!(2)),
        ("closure_rate", json!(0.6)),
        ("on_time_rate", json!(0.4)),
        ("closed_in_period", json!(3)),
        ("replied", json!(1)),
        ("reply_rate", json!(1.0 / 3.0)),
        ("satisfied", json!(1)),
        ("satisfaction_rate", json!(1.0)),
        ("overdue_now", json!(2)),
        ("signed", json!(5)),
    ] {
        assert_eq!(t[k], v, "{k} in {t}");
    }
    // The means, recounted from each case's history: whole seconds per case, then the mean.
    let whole = |a: chrono::DateTime<chrono::FixedOffset>,
                 b: chrono::DateTime<chrono::FixedOffset>| {
        (b - a).num_seconds()
    };
    let (c5, c7) = (fetch(&w, &c5).await, c7);
    let signs: Vec<i64> = [&c1, &c2, &c4, &c5, &c7]
        .iter()
        .map(|c| whole(at(c, "dispatch"), at(c, "sign")))
        .collect();
    assert_eq!(t["mean_sign_seconds"], json!(signs.iter().sum::<i64>() / 5));
    let closes: Vec<i64> = [&c1, &c2, &c7]
        .iter()
        .map(|c| whole(at(c, "report"), at(c, "close")))
        .collect();
    assert!(closes[1] >= 3, "c2 took its three seconds: {closes:?}");
    assert_eq!(
        t["mean_close_seconds"],
        json!(closes.iter().sum::<i64>() / 3)
    );

    // Split by child: the west subdistrict holds c1–c6, the east c7; the district owns none.
    let by_child = s["by_child"].as_array().unwrap();
    let child = |u: &Value| {
        by_child
            .iter()
            .find(|c| c["unit"]["id"] == u["id"])
            .unwrap()
            .clone()
    };
    let (west, east) = (child(&w.grid.west), child(&w.grid.east));
    assert_eq!(
        (
            west["registered"].clone(),
            west["due"].clone(),
            west["closed"].clone()
        ),
        (json!(5), json!(4), json!(2))
    );
    assert_eq!(
        (
            east["registered"].clone(),
            east["due"].clone(),
            east["closed_on_time"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(s["own"]["registered"], 0);
    assert!(
        s["own"].get("closure_rate").is_none(),
        "no rate without cases: {}",
        s["own"]
    );
    // Split by category: five fast, one slow.
    let by_cat = s["by_category"].as_array().unwrap();
    let cat = |code: &str| {
        by_cat
            .iter()
            .find(|c| c["category"]["code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(cat(FAST)["registered"], 5);
    assert_eq!(cat(FAST)["category"]["name"], "限时演练");
    assert_eq!(
        (cat(slow)["registered"].clone(), cat(slow)["due"].clone()),
        (json!(1), json!(0))
    );

    // The department: c3 dispatched to it (due, open, overdue); c5's summons answered in time.
    let r = w
        .app
        .get_as(&w.officer, &format!("/api/v1/stats/departments?{q}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = r.json()["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"]["id"] == dept.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            d["due"].clone(),
            d["closed"].clone(),
            d["overdue_now"].clone()
        ),
        (json!(1), json!(0), json!(1))
    );
    assert_eq!(
        d["summons"],
        json!({"summoned": 1, "reported_in": 1, "reported_in_on_time": 1, "missed": 0,
               "report_in_on_time_rate": 1.0})
    );

    // A period before any of it counts nothing but what is overdue now.
    let r = w
        .app
        .get_as(
            &w.officer,
            &format!("/api/v1/stats/units/{district}?from=2026-01-01&to=2026-02-01"),
        )
        .await;
    let t = &r.json()["totals"];
    assert_eq!(
        (
            t["registered"].clone(),
            t["due"].clone(),
            t["overdue_now"].clone()
        ),
        (json!(0), json!(0), json!(2))
    );
    let _ = (c3, c6);
    sums_match_a_rebuild(&w.app);
}

#[actix_web::test]
async fn the_sums_kept_by_day_follow_a_case_up_the_grid_and_a_unit_that_moves() {
    let w = world_with(Options {
        clock_interval_s: 1,
        ..Options::default()
    })
    .await;
    let district = id(&w.grid.district).to_owned();
    let today = chrono::Utc::now()
        .with_timezone(&wangge_domain::calendar::CST)
        .date_naive();
    // Two days, not one: the cases are made after `today` is read, and a run crossing
    // midnight in China would otherwise make them on a day outside the window.
    let days = format!(
        "from={today}&to={}",
        today.succ_opt().and_then(|d| d.succ_opt()).unwrap()
    );
    // One case signed for with three seconds to close, which the clock moves up to the west
    // subdistrict when they pass; one slow case registered, which stays in the community.
    let up = signed(
        &w,
        cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await,
        None,
    )
    .await;
    let stays = cases::report(&w.app, &w.worker, "0101", IN_COMMUNITY).await;
    cases::act(&w.app, &w.staff, &stays, json!({"action": "register"})).await;
    // One case owned by the district itself, with a second to register: it cannot climb, so
    // the clock notes it overdue, and it stays so.
    let second =
        json!({"register": {"seconds": 1}, "sign": {"seconds": 600}, "close": {"seconds": 600}});
    let top = w
        .app
        .post(
            "/api/v1/incident-categories",
            json!({"code": "0196", "parent_code": "01", "name": "区级演练", "key": "district_drill",
                   "lowest_level": 1, "routing": "locality",
                   "time_limits": {"urgent": second, "normal": second, "complex": second}}),
        )
        .await;
    assert_eq!(top.status, 201, "{}", top.text);
    let flagged = cases::report(&w.app, &w.worker, "0196", IN_COMMUNITY).await;
    assert_eq!(flagged["owner_unit"]["id"], w.grid.district["id"]);
    let mut owner = Value::Null;
    for _ in 0..100 {
        owner = fetch(&w, &up).await["owner_unit"]["id"].clone();
        if owner == w.grid.west["id"] {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(owner, w.grid.west["id"], "the clock moved the case up");
    let mut last = Value::Null;
    for _ in 0..100 {
        last = fetch(&w, &flagged).await["history"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["action"]
            .clone();
        if last == "overdue" {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "overdue", "the clock noted the district's case");
    sums_match_a_rebuild(&w.app);
    assert_eq!(
        w.app
            .count("SELECT CAST(SUM(n) AS BIGINT) AS n FROM incident_overdue WHERE own"),
        1,
        "the noted case is counted ahead"
    );
    let s = figures(&w, &district, &days).await;
    assert_eq!(
        (
            s["totals"]["overdue_now"].clone(),
            s["own"]["overdue_now"].clone()
        ),
        (json!(1), json!(1))
    );
    let child = |s: &Value, u: &Value| {
        s["by_child"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["unit"]["id"] == u["id"])
            .unwrap()["registered"]
            .clone()
    };
    assert_eq!(
        (child(&s, &w.grid.west), child(&s, &w.grid.east)),
        (json!(2), json!(0))
    );
    let west = figures(&w, id(&w.grid.west), &days).await;
    assert_eq!(
        (
            west["own"]["registered"].clone(),
            child(&west, &w.grid.community)
        ),
        (json!(1), json!(1))
    );

    // The community's ground is taken from it outside the API (the API never leaves a unit
    // without ground, and a unit with ground cannot leave a parent that covers it): its cases
    // stay its own, and it moves east with them. That case now counts under the east; the
    // escalated one stays west.
    let mut conn = wangge_persistence::db::establish(&w.app.settings.database_url).unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "DELETE FROM unit_coverage WHERE unit_id = '{}'",
            id(&w.grid.community)
        )),
        &mut conn,
    )
    .unwrap();
    let moved = w
        .app
        .patch(
            &format!("/api/v1/units/{}", id(&w.grid.community)),
            json!({"parent_id": id(&w.grid.east)}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    sums_match_a_rebuild(&w.app);
    let s = figures(&w, &district, &days).await;
    assert_eq!(
        (child(&s, &w.grid.west), child(&s, &w.grid.east)),
        (json!(1), json!(1))
    );
    assert_eq!(s["totals"]["registered"], 2);
    assert_eq!(s["totals"]["overdue_now"], 1);
    let east = figures(&w, id(&w.grid.east), &days).await;
    assert_eq!(child(&east, &w.grid.community), json!(1));
}

async fn figures(w: &World, unit: &str, q: &str) -> Value {
    let r = w
        .app
        .get_as(&w.officer, &format!("/api/v1/stats/units/{unit}?{q}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// Every row of the tables of sums kept per day and of overdue counts, as text, without rows
/// summing to nothing.
fn daily_rows(app: &TestApp) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    let figures = "registered, due, closed, closed_on_time, closed_in_period, replied, satisfied, signed, sign_seconds, close_seconds";
    let joined = figures.replace(", ", " || '|' || ");
    let zero = figures.replace(", ", " = 0 AND ") + " = 0";
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let mut out = Vec::new();
    for (table, key) in [
        (
            "incident_daily_units",
            "unit_id || '|' || day || '|' || CASE WHEN own THEN 'own' ELSE 'below' END",
        ),
        (
            "incident_daily_categories",
            "unit_id || '|' || day || '|' || category_code",
        ),
    ] {
        let q = format!(
            "SELECT '{table}|' || {key} || '|' || {joined} AS row FROM {table} WHERE NOT ({zero}) ORDER BY 1"
        );
        out.extend(
            diesel::RunQueryDsl::load::<Row>(diesel::sql_query(q), &mut conn)
                .unwrap()
                .into_iter()
                .map(|r| r.row),
        );
    }
    let q = "SELECT 'incident_overdue|' || unit_id || '|' || category_code || '|' || CASE WHEN own THEN 'own' ELSE 'below' END || '|' || n AS row FROM incident_overdue WHERE n <> 0 ORDER BY 1";
    out.extend(
        diesel::RunQueryDsl::load::<Row>(diesel::sql_query(q), &mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.row),
    );
    out
}

/// The sums and overdue counts each write kept equal those rebuilt from the cases (`wangge
/// stats rebuild`), and each month's sums equal its days'.
pub fn sums_match_a_rebuild(app: &TestApp) {
    let kept = daily_rows(app);
    assert!(!kept.is_empty(), "no sums were kept");
    let (months, days): (Vec<&String>, Vec<&String>) = kept
        .iter()
        .filter(|r| r.starts_with("incident_daily_units|"))
        .partition(|r| r.split('|').nth(2).is_some_and(|d| d.starts_with('M')));
    let mut by_month: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for r in days {
        let f: Vec<&str> = r.split('|').collect();
        let key = format!("{}|M{}|{}", f[1], &f[2][..7], f[3]);
        let sums = by_month.entry(key).or_insert_with(|| vec![0; 10]);
        for (s, v) in sums.iter_mut().zip(&f[4..]) {
            *s += v.parse::<i64>().unwrap();
        }
    }
    let months: std::collections::BTreeMap<String, Vec<i64>> = months
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split('|').collect();
            (
                format!("{}|{}|{}", f[1], f[2], f[3]),
                f[4..].iter().map(|v| v.parse().unwrap()).collect(),
            )
        })
        .collect();
    by_month.retain(|_, v| v.iter().any(|n| *n != 0));
    assert_eq!(months, by_month, "each month sums its days");
    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    wangge_persistence::write_transaction(&mut conn, |c| {
        wangge_app::stats::fold::rebuild(c).map(|_| ())
    })
    .unwrap();
    assert_eq!(kept, daily_rows(app));
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[actix_web::test]
async fn figures_are_read_within_scope_and_bad_periods_are_refused() {
    let w = world().await;
    let community = id(&w.grid.community).to_owned();
    let district = id(&w.grid.district).to_owned();
    // The worker reads their community's figures, and the district's not at all.
    assert_eq!(
        w.app
            .get_as(&w.worker, &format!("/api/v1/stats/units/{community}"))
            .await
            .status,
        200
    );
    let other = w
        .app
        .get_as(&w.worker, &format!("/api/v1/stats/units/{district}"))
        .await;
    assert_eq!((other.status, other.code().as_str()), (404, "not_found"));
    // Without a unit, the departments' figures are the caller's own top unit's.
    let own = w.app.get_as(&w.worker, "/api/v1/stats/departments").await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(own.json()["unit"]["id"], community.as_str());
    // A department account reads its own cases, not a unit's figures.
    let dept = w
        .app
        .post(
            "/api/v1/departments",
            json!({"code": "parks", "name": "园林"}),
        )
        .await;
    let dept = dept.json()["id"].as_str().unwrap().to_owned();
    let (_, clerk) = w
        .app
        .user_in("st.clerk2", &["department"], &[], Some(&dept))
        .await;
    let r = w
        .app
        .get_as(&clerk, &format!("/api/v1/stats/units/{community}"))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    for bad in [
        format!("/api/v1/stats/units/{district}?from=yesterday"),
        format!("/api/v1/stats/units/{district}?from=2026-1-1"),
        format!("/api/v1/stats/units/{district}?from=%2B2026-01-01"),
        format!("/api/v1/stats/units/{district}?to=9999-12-31T23:59:59-23:59"),
        format!("/api/v1/stats/units/{district}?from=2026-03-01&to=2026-02-01"),
        format!("/api/v1/stats/units/{district}?from=2010-01-01&to=2026-02-01"),
        "/api/v1/stats/heatmap?res=15".to_owned(),
        "/api/v1/stats/heatmap?format=kml".to_owned(),
        "/api/v1/stats/departments?unit_id=nope".to_owned(),
    ] {
        let r = w.app.get_as(&w.officer, &bad).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{bad}: {}",
            r.text
        );
    }
    let r = w
        .app
        .get_as(
            &w.officer,
            &format!("/api/v1/stats/units/{district}?colour=red"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[actix_web::test]
async fn the_heat_map_counts_reports_per_coarser_cell_as_json_and_geojson() {
    let w = world().await;
    for _ in 0..3 {
        cases::report(&w.app, &w.worker, FAST, IN_COMMUNITY).await;
    }
    cases::report(&w.app, &w.staff, FAST, IN_EAST).await;
    let r = w
        .app
        .get_as(&w.officer, "/api/v1/stats/heatmap?res=7")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = r.json();
    assert_eq!((m["res"].clone(), m["total"].clone()), (json!(7), json!(4)));
    let expect = |(lat, lng): (f64, f64)| {
        wangge_geo::LatLng::new(lat, lng)
            .unwrap()
            .to_cell(wangge_geo::Resolution::Seven)
            .to_string()
    };
    let mut want = vec![
        json!({"cell": expect(IN_COMMUNITY), "count": 3}),
        json!({"cell": expect(IN_EAST), "count": 1}),
    ];
    want.sort_by_key(|c| c["cell"].as_str().unwrap().to_owned());
    assert_eq!(m["cells"], json!(want));
    // The worker's map is their community's only.
    let mine = w
        .app
        .get_as(&w.worker, "/api/v1/stats/heatmap?res=7")
        .await
        .json();
    assert_eq!(mine["total"], 3);

    let g = w
        .app
        .client
        .get(format!("{}/api/v1/stats/heatmap?res=7", w.app.address))
        .bearer_auth(&w.officer)
        .header("accept", "application/geo+json")
        .send()
        .await
        .unwrap();
    assert_eq!(g.headers()["content-type"], "application/geo+json");
    let g: Value = g.json().await.unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    let features = g["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    for f in features {
        assert_eq!(f["geometry"]["type"], "Polygon");
        let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
        assert_eq!(ring.first(), ring.last(), "a closed ring");
        let cell: wangge_geo::CellIndex = f["id"].as_str().unwrap().parse().unwrap();
        let centre = wangge_geo::LatLng::from(cell);
        let lngs: Vec<f64> = ring.iter().map(|p| p[0].as_f64().unwrap()).collect();
        assert!(lngs.iter().any(|x| *x < centre.lng()) && lngs.iter().any(|x| *x > centre.lng()));
    }
    let counts: i64 = features
        .iter()
        .map(|f| f["properties"]["count"].as_i64().unwrap())
        .sum();
    assert_eq!(counts, 4);
}
