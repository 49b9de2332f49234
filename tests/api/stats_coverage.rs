//! `GET /stats/coverage`: a unit's cells walked and households visited in a period, in all and
//! per worker, and the cells nobody walked.
//!
//! The walks go from cell centre to cell centre of neighbouring cells at the tests' leaf
//! resolution (9: centres about 300 m apart, 71 s apart), so the cells each walk covers are
//! known without the analysis: the cells of its fixes.

use crate::helpers::{Res, SmallGrid, TestApp, id};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use wangge_geo::{CellIndex, LatLng, Resolution};

const LEAF: Resolution = Resolution::Nine;
const STEP_S: i64 = 71;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

fn centre(c: CellIndex) -> (f64, f64) {
    let ll = LatLng::from(c);
    (ll.lat(), ll.lng())
}

fn fix((lat, lng): (f64, f64), at: DateTime<Utc>) -> Value {
    json!({ "lat": lat, "lng": lng, "accuracy_m": 8.0, "at": time(at) })
}

/// Fixes at the centres of `cells`, `STEP_S` apart from `t0`.
fn walk(cells: &[CellIndex], t0: DateTime<Utc>) -> Vec<Value> {
    (0..)
        .zip(cells)
        .map(|(i, c)| fix(centre(*c), t0 + Duration::seconds(i * STEP_S)))
        .collect()
}

async fn call(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let r = app
        .send(Method::POST, path, Some(token), Some(body), &[])
        .await;
    assert!(matches!(r.status, 200 | 201), "{path}: {}", r.text);
    r.json()
}

/// Starts a patrol (in `unit` if named) at `t0`, sends `points`, finishes it if asked.
async fn patrol(
    app: &TestApp,
    token: &str,
    unit: Option<&str>,
    t0: DateTime<Utc>,
    points: Vec<Value>,
    finish: bool,
) {
    let mut body = json!({ "started_at": time(t0 - Duration::seconds(1)) });
    if let Some(u) = unit {
        body["unit_id"] = json!(u);
    }
    let p = call(app, token, "/api/v1/patrols", body).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    call(
        app,
        token,
        &format!("/api/v1/patrols/{pid}/points"),
        json!({ "points": points }),
    )
    .await;
    if finish {
        let done = call(
            app,
            token,
            &format!("/api/v1/patrols/{pid}/finish"),
            json!({}),
        )
        .await;
        assert_eq!(done["status"], "finished", "{done}");
    }
}

async fn visit(app: &TestApp, token: &str, household: &Value, at: DateTime<Utc>) {
    let hid = household["id"].as_str().unwrap();
    call(
        app,
        token,
        &format!("/api/v1/households/{hid}/visits"),
        json!({ "notes": "走访", "visited_at": time(at) }),
    )
    .await;
}

async fn leaf_cells(app: &TestApp, unit: &Value) -> i64 {
    let r = app
        .get(&format!("/api/v1/units/{}/coverage", id(unit)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["leaf_cell_count"].as_i64().unwrap()
}

struct World {
    app: TestApp,
    grid: SmallGrid,
    a: String,
    officer: String,
    outsider: String,
    ids: [String; 4],
    /// The cells walked in the period: the centre cell and its ring.
    walked: Vec<CellIndex>,
    /// A GPS spike's cell, inside the community, not walked.
    spike: CellIndex,
    period: String,
}

/// In the community, between 5 days ago and in an hour: cov.a walks and finishes a patrol
/// (3 cells) and visits two households (three visits, and one more 10 days ago); cov.b walks
/// a patrol still under way (3 cells, one fix a GPS spike) and visits one household; cov.s,
/// community staff of the west subdistrict above it, walks a patrol placed there (3 cells);
/// cov.c is a grid worker of the community who did nothing. Together they walked 7 cells. A
/// patrol of cov.a 10 days ago walked elsewhere. A fourth household lies in the west
/// subdistrict outside the community.
async fn world() -> World {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let community = id(&grid.community).to_owned();
    let (a_id, a) = app
        .user("cov.a", &["grid_worker"], &[(&community, true)])
        .await;
    let (b_id, b) = app
        .user("cov.b", &["grid_worker"], &[(&community, true)])
        .await;
    let (c_id, _) = app
        .user("cov.c", &["grid_worker"], &[(&community, true)])
        .await;
    let (s_id, s) = app
        .user("cov.s", &["community_staff"], &[(id(&grid.west), true)])
        .await;
    // Reads the community, records nothing there: not a worker of it.
    app.user("cov.viewer", &["grid_worker"], &[(&community, false)])
        .await;
    let (_, officer) = app
        .user(
            "cov.officer",
            &["subdistrict_officer"],
            &[(id(&grid.district), false)],
        )
        .await;
    let (_, outsider) = app
        .user("cov.east", &["grid_worker"], &[(id(&grid.east), true)])
        .await;

    let c0 = LatLng::new(21.55, 111.05).unwrap().to_cell(LEAF);
    let ring: Vec<CellIndex> = c0.grid_ring_fast(1).map(Option::unwrap).collect();
    assert_eq!(ring.len(), 6);
    let now = Utc::now();
    let t0 = now - Duration::hours(2);
    patrol(&app, &a, None, t0, walk(&[ring[0], c0, ring[1]], t0), true).await;
    // A jump of 5.5 km in 10 s and back: flagged, its cell not walked.
    let spike_at = (21.60, 111.05);
    let spike = LatLng::new(spike_at.0, spike_at.1).unwrap().to_cell(LEAF);
    let mut points = vec![
        fix(centre(c0), t0),
        fix(spike_at, t0 + Duration::seconds(10)),
    ];
    points.extend(walk(
        &[c0, ring[2], c0, ring[3]],
        t0 + Duration::seconds(20),
    ));
    patrol(&app, &b, None, t0, points, false).await;
    patrol(
        &app,
        &s,
        Some(id(&grid.west)),
        t0,
        walk(&[ring[4], c0, ring[5]], t0),
        true,
    )
    .await;
    // Before the period, elsewhere in the community.
    let old = now - Duration::days(10);
    let far = LatLng::new(21.62, 111.05).unwrap().to_cell(LEAF);
    let far_ring: Vec<CellIndex> = far.grid_ring_fast(1).map(Option::unwrap).collect();
    patrol(&app, &a, None, old, walk(&[far, far_ring[0]], old), true).await;

    let h1 = app.household(&a, "幸福路 1 号", 21.56, 111.04).await;
    let h2 = app.household(&a, "幸福路 2 号", 21.57, 111.04).await;
    let h3 = app.household(&a, "幸福路 3 号", 21.58, 111.04).await;
    for h in [&h1, &h2, &h3] {
        assert_eq!(h["unit"]["id"], community.as_str(), "{h}");
    }
    let west = app.household(&s, "西街 9 号", 21.6, 111.09).await;
    assert_eq!(west["unit"]["id"], id(&grid.west), "{west}");
    visit(&app, &a, &h1, now - Duration::minutes(1)).await;
    visit(&app, &a, &h1, now - Duration::hours(1)).await;
    visit(&app, &a, &h2, now - Duration::minutes(1)).await;
    visit(&app, &a, &h3, now - Duration::days(10)).await;
    visit(&app, &b, &h2, now - Duration::minutes(1)).await;

    let mut walked = vec![c0];
    walked.extend(&ring);
    let period = format!(
        "from={}&to={}",
        urlencode(&time(now - Duration::days(5))),
        urlencode(&time(now + Duration::hours(1)))
    );
    World {
        app,
        grid,
        a,
        officer,
        outsider,
        ids: [a_id, b_id, c_id, s_id],
        walked,
        spike,
        period,
    }
}

async fn coverage(w: &World, token: &str, unit: &Value) -> Res {
    w.app
        .get_as(
            token,
            &format!("/api/v1/stats/coverage?unit_id={}&{}", id(unit), w.period),
        )
        .await
}

fn share(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The not-walked features' leaf cells, summed, after checking none holds a walked cell.
fn not_walked_cells(body: &Value, walked: &[CellIndex]) -> (i64, Vec<CellIndex>) {
    let fc = &body["not_walked"];
    assert_eq!(fc["type"], "FeatureCollection");
    let mut sum = 0;
    let mut cells = Vec::new();
    for f in fc["features"].as_array().unwrap() {
        let cell: CellIndex = f["properties"]["cell"].as_str().unwrap().parse().unwrap();
        assert_eq!(f["id"], f["properties"]["cell"]);
        assert_eq!(f["geometry"]["type"], "Polygon");
        let leaf = f["properties"]["leaf_cells"].as_i64().unwrap();
        assert_eq!(
            u64::try_from(leaf).unwrap(),
            cell.children_count(LEAF),
            "{f}"
        );
        for c in walked {
            assert_ne!(c.parent(cell.resolution()), Some(cell), "{c} is walked");
        }
        sum += leaf;
        cells.push(cell);
    }
    (sum, cells)
}

#[actix_web::test]
async fn patrolled_cells_and_visited_households_are_counted_in_all_and_per_worker() {
    let w = world().await;
    let community_cells = leaf_cells(&w.app, &w.grid.community).await;
    let r = coverage(&w, &w.officer, &w.grid.community).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.json();
    assert_eq!(c["unit"]["id"], id(&w.grid.community));
    assert_eq!(c["unit"]["level"], 3);
    assert_eq!(c["res"], 9);
    assert_eq!(c["cells_total"], community_cells);
    assert_eq!(c["cells_patrolled"], 7, "{c}");
    let cells_total = f64::from(i32::try_from(community_cells).unwrap());
    assert!((share(&c, "patrolled_share") - 7.0 / cells_total).abs() < 1e-12);
    // Three households in the community; two visited in the period (the third only before).
    assert_eq!(c["households_total"], 3);
    assert_eq!(c["households_visited"], 2);
    assert!((share(&c, "visited_share") - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!((&c["patrols"], &c["visits"]), (&json!(3), &json!(4)));

    // By username: a, b, c (assigned, nothing done), s (from the unit above); the viewer
    // without capture scope is no worker.
    let [a_id, b_id, c_id, s_id] = &w.ids;
    let workers = c["workers"].as_array().unwrap();
    let names: Vec<&str> = workers
        .iter()
        .map(|x| x["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cov.a", "cov.b", "cov.c", "cov.s"], "{c}");
    let figures = |x: &Value| {
        (
            x["user_id"].as_str().unwrap().to_owned(),
            x["cells_patrolled"].as_i64().unwrap(),
            x["households_visited"].as_i64().unwrap(),
            x["patrols"].as_i64().unwrap(),
            x["visits"].as_i64().unwrap(),
        )
    };
    assert_eq!(figures(&workers[0]), (a_id.clone(), 3, 2, 1, 3));
    assert_eq!(figures(&workers[1]), (b_id.clone(), 3, 1, 1, 1));
    assert_eq!(figures(&workers[2]), (c_id.clone(), 0, 0, 0, 0));
    assert_eq!(figures(&workers[3]), (s_id.clone(), 3, 0, 1, 0));
    assert!((share(&workers[0], "patrolled_share") - 3.0 / cells_total).abs() < 1e-12);
    assert!((share(&workers[0], "visited_share") - 2.0 / 3.0).abs() < 1e-12);
    assert!((share(&workers[1], "visited_share") - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(share(&workers[2], "patrolled_share"), 0.0);
    assert_eq!(workers[0]["display_name"], "cov.a");

    // The cells not walked are the rest of the coverage, the spike's among them.
    let (rest, cells) = not_walked_cells(&c, &w.walked);
    assert_eq!(rest, community_cells - 7);
    assert!(
        cells
            .iter()
            .any(|c| w.spike.parent(c.resolution()) == Some(*c))
    );

    // The district holds the west subdistrict's household too, and the same walks.
    let district_cells = leaf_cells(&w.app, &w.grid.district).await;
    let d = coverage(&w, &w.officer, &w.grid.district).await.json();
    assert_eq!(
        (
            &d["cells_total"],
            &d["cells_patrolled"],
            &d["households_total"],
            &d["households_visited"],
            &d["patrols"],
        ),
        (
            &json!(district_cells),
            &json!(7),
            &json!(4),
            &json!(2),
            &json!(3)
        )
    );
    assert_eq!(not_walked_cells(&d, &w.walked).0, district_cells - 7);
    // Nothing happened in the east: shares of 0, and none of households it has not.
    let e = coverage(&w, &w.officer, &w.grid.east).await.json();
    assert_eq!(
        (&e["cells_patrolled"], &e["patrolled_share"]),
        (&json!(0), &json!(0.0))
    );
    assert_eq!(e["households_total"], 0);
    assert!(e.get("visited_share").is_none(), "{e}");
    // Its one worker, with zeros.
    let east = e["workers"].as_array().unwrap();
    assert_eq!(east.len(), 1, "{e}");
    assert_eq!(
        (
            &east[0]["username"],
            &east[0]["cells_patrolled"],
            &east[0]["visits"]
        ),
        (&json!("cov.east"), &json!(0), &json!(0))
    );
    assert!(east[0].get("visited_share").is_none(), "{e}");
    assert_eq!(
        not_walked_cells(&e, &[]).0,
        leaf_cells(&w.app, &w.grid.east).await
    );

    // A period before the walks: nothing walked, the visit of 10 days ago counted.
    let before = format!(
        "from={}&to={}",
        urlencode(&time(Utc::now() - Duration::days(12))),
        urlencode(&time(Utc::now() - Duration::days(8)))
    );
    let r = w
        .app
        .get_as(
            &w.officer,
            &format!(
                "/api/v1/stats/coverage?unit_id={}&{before}",
                id(&w.grid.community)
            ),
        )
        .await;
    let old = r.json();
    assert_eq!(
        (&old["households_visited"], &old["visits"], &old["patrols"]),
        (&json!(1), &json!(1), &json!(1))
    );
    // The old walk's two cells.
    assert_eq!(old["cells_patrolled"], 2, "{old}");

    // The answer carries an ETag; asked again with it, 304.
    let tag = r.header("etag").unwrap();
    let again = w
        .app
        .send(
            Method::GET,
            &format!(
                "/api/v1/stats/coverage?unit_id={}&{before}",
                id(&w.grid.community)
            ),
            Some(&w.officer),
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(again.status, 304, "{}", again.text);
}

#[actix_web::test]
async fn coverage_is_read_within_scope_and_bad_queries_are_refused() {
    let w = world().await;
    // A worker of the community reads it, not the district above; a worker of the east
    // does not see the community; an administrator reads no household.
    assert_eq!(coverage(&w, &w.a, &w.grid.community).await.status, 200);
    for (token, unit) in [(&w.a, &w.grid.district), (&w.outsider, &w.grid.community)] {
        let r = coverage(&w, token, unit).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "not_found"),
            "{}",
            r.text
        );
    }
    let r = coverage(&w, &w.app.admin_token, &w.grid.community).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{}",
        r.text
    );
    let r = w
        .app
        .get_as(
            &w.officer,
            "/api/v1/stats/coverage?unit_id=01936f3e-0000-7000-8000-000000000000",
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "{}",
        r.text
    );

    let community = id(&w.grid.community);
    for bad in [
        "/api/v1/stats/coverage".to_owned(),
        "/api/v1/stats/coverage?unit_id=nope".to_owned(),
        format!("/api/v1/stats/coverage?unit_id={community}&from=yesterday"),
        format!("/api/v1/stats/coverage?unit_id={community}&from=2026-03-01&to=2026-02-01"),
        format!("/api/v1/stats/coverage?unit_id={community}&from=2026-02-01&to=2026-02-01"),
        // 367 days.
        format!("/api/v1/stats/coverage?unit_id={community}&from=2025-01-01&to=2026-01-03"),
        format!("/api/v1/stats/coverage?unit_id={community}&colour=red"),
    ] {
        let r = w.app.get_as(&w.officer, &bad).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{bad}: {}",
            r.text
        );
    }
    // 366 days is the longest period.
    let r = w
        .app
        .get_as(
            &w.officer,
            &format!("/api/v1/stats/coverage?unit_id={community}&from=2025-01-01&to=2026-01-02"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
