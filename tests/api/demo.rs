//! The Dianbai demo at resolution 9 (the same code as the default 11, 49x fewer cells).

use crate::helpers::{Options, TestApp};
use h3o::Resolution;

#[actix_web::test]
async fn the_demo_has_the_real_scale_and_every_point_locates_to_a_household_group() {
    let app = TestApp::spawn_with(Options {
        leaf: Resolution::Nine,
        seed_demo: true,
        ..Options::default()
    })
    .await;
    let mut per_level = [0usize; 6];
    for (level, count) in per_level.iter_mut().enumerate().skip(1) {
        let mut path = format!("/api/v1/units?level={level}&limit=500");
        loop {
            let page = app.get(&path).await.json();
            *count += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/units?level={level}&limit=500&cursor={c}"),
                None => break,
            }
        }
    }
    assert_eq!(&per_level[1..], &[1, 28, 409, 4_641, 9_443]);

    // Points on a lattice over the district: those inside the real outline must all reach
    // a household group with a full chain of five.
    let boundary: serde_json::Value =
        serde_json::from_str(include_str!("../../app/demo/dianbai_boundary.geojson")).unwrap();
    let shape = wangge_geo::parse_polygons(&boundary["features"][0]["geometry"]).unwrap();
    let cov = wangge_geo::Coverage::from_polygons(&shape, Resolution::Nine).unwrap();
    let mut inside = 0;
    for i in 0..20 {
        for j in 0..20 {
            let lat = 21.3735 + (21.9916 - 21.3735) * (f64::from(i) + 0.5) / 20.0;
            let lng = 110.8625 + (111.4544 - 110.8625) * (f64::from(j) + 0.5) / 20.0;
            let ll = h3o::LatLng::new(lat, lng).unwrap();
            if !cov.contains_point(ll, Resolution::Nine) {
                continue;
            }
            inside += 1;
            let r = app.locate(lat, lng, "wgs84").await;
            assert_eq!(r.status, 200, "({lat}, {lng}): {}", r.text);
            let units = r.json()["units"].as_array().unwrap().clone();
            let levels: Vec<i64> = units.iter().map(|u| u["level"].as_i64().unwrap()).collect();
            assert_eq!(levels, vec![5, 4, 3, 2, 1], "({lat}, {lng})");
            assert_eq!(units[4]["code"], "440904");
        }
    }
    assert!(
        inside > 100,
        "the lattice samples the district ({inside} points inside)"
    );

    // The district's functional departments come with the demo.
    let departments = app.get("/api/v1/departments?limit=500").await.json();
    let codes: Vec<&str> = departments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 12);
    for code in [
        "housing",
        "urban_management",
        "public_security",
        "health",
        "emergency",
        "market_regulation",
    ] {
        assert!(codes.contains(&code), "{code} missing");
    }

    // People: the households are spread over the household groups, each placed where locate
    // puts its point; residents carry valid (synthetic) identity numbers; workers serve the
    // resident groups.
    let district_id = {
        let d = app.get("/api/v1/units?level=1").await.json();
        d["items"][0]["id"].as_str().unwrap().to_owned()
    };
    let (_, centre) = app
        .user(
            "demo.test.centre",
            &["command_centre"],
            &[(&district_id, false)],
        )
        .await;
    let mut households = Vec::new();
    let mut path = "/api/v1/households?limit=500".to_owned();
    loop {
        let page = app.get_as(&centre, &path).await.json();
        households.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/households?limit=500&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(households.len(), 3_000);
    for h in households.iter().step_by(60) {
        let r = app
            .locate(
                h["location"]["lat"].as_f64().unwrap(),
                h["location"]["lng"].as_f64().unwrap(),
                "wgs84",
            )
            .await;
        assert_eq!(r.json()["units"][0]["id"], h["unit"]["id"], "{h}");
        assert!(
            h["address"].as_str().unwrap().ends_with("（演示）"),
            "clearly synthetic"
        );
    }
    let hid = households[0]["id"].as_str().unwrap();
    let residents = app
        .get_as(
            &centre,
            &format!("/api/v1/households/{hid}/residents?reveal=true"),
        )
        .await
        .json();
    let members = residents["items"].as_array().unwrap();
    assert!((1..=5).contains(&members.len()));
    for m in members {
        let number = m["id_card"].as_str().unwrap();
        assert!(
            wangge_domain::IdCardNumber::parse(number).is_ok(),
            "{number}"
        );
        assert!(
            m["name"].as_str().unwrap().contains('某'),
            "clearly fake names"
        );
    }
    let unit = households[0]["unit"]["id"].as_str().unwrap();
    let workers = app
        .get_as(&centre, &format!("/api/v1/units/{unit}/workers"))
        .await
        .json();
    let grid_workers = workers["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["username"].as_str().unwrap().starts_with("gw") && w["inherited"] == true)
        .count();
    assert!((2..=3).contains(&grid_workers), "{workers}");
    let all_workers = app.get("/api/v1/users?role=grid_worker&limit=1").await;
    assert_eq!(all_workers.status, 200);

    demo_incidents_cover_every_state_and_give_the_figures_meaning(&app, &centre).await;
}

/// The demo's synthetic year of cases: every state, consistent histories, figures that are
/// neither empty nor perfect.
async fn demo_incidents_cover_every_state_and_give_the_figures_meaning(
    app: &TestApp,
    centre: &str,
) {
    assert_eq!(app.count("SELECT count(*) AS n FROM incidents"), 2_000);
    for status in [
        "reported",
        "registered",
        "dispatched",
        "signed",
        "in_progress",
        "resolved",
        "verified",
        "closed",
        "rejected",
        "on_hold",
    ] {
        let n = app.count(&format!(
            "SELECT count(*) AS n FROM incidents WHERE status = '{status}'"
        ));
        assert!(n > 0, "no demo case is {status}");
    }
    // Missed deadlines are there (overdue cases), but none waits for the clock: a fresh
    // install does not escalate a year of stalled cases at its first tick.
    let now = wangge_app::tx::stored_time(chrono::Utc::now());
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM incidents WHERE next_due < '{now}'"
        )),
        0
    );
    // Every case has its history from the report on, one entry per version.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM incidents i WHERE i.version <> \
             (SELECT count(*) FROM history h WHERE h.entity = 'incident' AND h.entity_id = i.id)"
        ),
        0
    );
    let district = app.get("/api/v1/units?level=1").await.json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let from = (chrono::Utc::now() - chrono::Duration::days(366)).format("%Y-%m-%d");
    let s = app
        .get_as(
            centre,
            &format!("/api/v1/stats/units/{district}?from={from}"),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    let t = &s.json()["totals"];
    assert!(t["registered"].as_i64().unwrap() > 1_500, "{t}");
    for rate in [
        "closure_rate",
        "on_time_rate",
        "reply_rate",
        "satisfaction_rate",
    ] {
        let r = t[rate].as_f64().unwrap();
        assert!(r > 0.3 && r < 1.0, "{rate} = {r}");
    }
    assert!(t["overdue_now"].as_i64().unwrap() > 0, "{t}");
    let by_child = s.json()["by_child"].as_array().unwrap().clone();
    assert_eq!(by_child.len(), 28);
    // Spread over the district: every subdistrict with households has cases (a unit path is
    // `/` and 36 characters a level, so a subdistrict's is the first 75).
    let peopled = app.count(
        "SELECT count(DISTINCT substr(u.path, 1, 75)) AS n FROM households h \
         JOIN units u ON u.id = h.unit_id",
    );
    let with_cases = by_child
        .iter()
        .filter(|c| c["registered"].as_i64().unwrap() > 0)
        .count();
    assert_eq!(i64::try_from(with_cases).unwrap(), peopled);
    let list = app
        .get_as(centre, "/api/v1/incidents?overdue=true&limit=5")
        .await;
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 5);
}
