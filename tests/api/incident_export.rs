//! The incident list as CSV for Excel users (every page of the same query, UTF-8 with a BOM,
//! formulas defused) and its H3 cell filter.

use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

async fn report(app: &TestApp, token: &str, description: &str, (lat, lng): (f64, f64)) -> Value {
    let r = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(token),
            Some(json!({"category": "0102", "description": description,
                        "location": {"lat": lat, "lng": lng}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

async fn csv(
    app: &TestApp,
    token: &str,
    query: &str,
    accept: Option<&str>,
) -> (u16, String, String) {
    let mut req = app
        .client
        .get(format!("{}/api/v1/incidents{query}", app.address))
        .bearer_auth(token);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[actix_web::test]
async fn the_list_streams_as_csv_with_every_page_and_defused_formulas() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "csv.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("csv.staff", &grid).await;
    // More than one page of the stream (500), sent 16 at a time.
    let n = 503;
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let sends = chunk.iter().map(|i| {
            let (app, worker) = (&app, &worker);
            async move { report(app, worker, &format!("垃圾{i}"), (21.6, 111.05)).await }
        });
        futures_util::future::join_all(sends).await;
    }
    let tricky = report(
        &app,
        &worker,
        "=HYPERLINK(\"http://evil\"),\"引号\"\n第二行",
        (21.6, 111.05),
    )
    .await;

    let (status, ct, body) = csv(&app, &staff, "", Some("text/csv")).await;
    assert_eq!((status, ct.as_str()), (200, "text/csv; charset=utf-8"));
    assert!(
        body.starts_with("\u{feff}id,category,priority,status,"),
        "{}",
        &body[..80]
    );
    // Every case once, in report order, like the JSON pages.
    let ids: Vec<&str> = body
        .split("\r\n")
        .skip(1)
        .filter(|l| l.len() > 36 && l.as_bytes()[8] == b'-')
        .map(|l| &l[..36])
        .collect();
    assert_eq!(ids.len(), n + 1);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, ids, "in id order, no case twice");
    // The formula is shown as text, quotes doubled, the line end kept inside the quotes.
    let tid = tricky["id"].as_str().unwrap();
    assert!(
        body.contains(",\"'=HYPERLINK(\"\"http://evil\"\"),\"\"引号\"\"\n第二行\"\r\n"),
        "{}",
        body.lines()
            .find(|l| l.starts_with(tid))
            .unwrap_or_default()
    );
    // format=csv does the same with filters; a filter that matches nothing leaves the header.
    let (_, _, filtered) = csv(&app, &staff, "?format=csv&status=closed", None).await;
    assert_eq!(filtered.split("\r\n").filter(|l| !l.is_empty()).count(), 1);
    // Refusals before the stream are problems, not files.
    let (status, ct, _) = csv(&app, &staff, "?format=csv&status=nope", None).await;
    assert_eq!((status, ct.as_str()), (400, "application/problem+json"));
    let r = app.get_as(&staff, "/api/v1/incidents?format=xml").await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    // JSON stays the default, also for an Accept that refuses CSV.
    let (status, ct, _) = csv(
        &app,
        &staff,
        "?limit=1",
        Some("text/csv;q=0, application/json"),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    // Weights decide: JSON preferred over CSV is JSON, CSV preferred is CSV.
    let (status, ct, _) = csv(
        &app,
        &staff,
        "?limit=1",
        Some("application/json, text/csv;q=0.1"),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let (status, ct, _) = csv(
        &app,
        &staff,
        "?status=closed",
        Some("application/json;q=0.4, text/csv;q=0.5"),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "text/csv; charset=utf-8"));
    // `limit` is checked as anywhere, but does not cut the export.
    for limit in ["1", "500"] {
        let (status, ct, body) =
            csv(&app, &staff, &format!("?format=csv&limit={limit}"), None).await;
        assert_eq!(
            (status, ct.as_str()),
            (200, "text/csv; charset=utf-8"),
            "{body}"
        );
        assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), n + 2);
    }
}

#[actix_web::test]
async fn the_list_filters_by_h3_cells_at_any_coarser_resolution() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("cells.staff", &grid).await;
    let here = (21.6, 111.05);
    let there = (21.55, 111.15);
    let a = report(&app, &staff, "这里", here).await;
    let b = report(&app, &staff, "那里", there).await;
    let cell_at = |(lat, lng): (f64, f64), r| {
        wangge_geo::LatLng::new(lat, lng)
            .unwrap()
            .to_cell(r)
            .to_string()
    };
    let ids = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for res in [wangge_geo::Resolution::Six, wangge_geo::Resolution::Nine] {
        let here_cell = cell_at(here, res);
        let got = app
            .get_as(&staff, &format!("/api/v1/incidents?cells={here_cell}"))
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(
            ids(got.json()),
            vec![a["id"].as_str().unwrap().to_owned()],
            "res {res}"
        );
        let both = app
            .get_as(
                &staff,
                &format!(
                    "/api/v1/incidents?cells={here_cell},{}",
                    cell_at(there, res)
                ),
            )
            .await;
        assert_eq!(ids(both.json()).len(), 2);
    }
    let _ = b;
    for bad in [
        "cells=nothex".to_owned(),
        format!("cells={}", cell_at(here, wangge_geo::Resolution::Fifteen)),
        format!(
            "cells={}",
            vec![cell_at(here, wangge_geo::Resolution::Six); 101].join(",")
        ),
    ] {
        let r = app
            .get_as(&staff, &format!("/api/v1/incidents?{bad}"))
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{bad}: {}",
            r.text
        );
    }
}

#[actix_web::test]
async fn a_units_open_cases_page_in_id_order_either_way() {
    // The open-cases index path: a unit's open cases, a page at a time, in id order.
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("open.staff", &grid).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            report(&app, &staff, &format!("开放{i}"), (21.6, 111.05)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // One closed-to-the-list case (rejected) is left out.
    let gone = report(&app, &staff, "驳回", (21.6, 111.05)).await;
    let r = app
        .send(
            Method::POST,
            &format!(
                "/api/v1/incidents/{}/transitions",
                gone["id"].as_str().unwrap()
            ),
            Some(&staff),
            Some(json!({"action": "reject", "note": "重复"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let community = id(&grid.community);
    for (order, mut want) in [
        ("oldest", ids.clone()),
        ("newest", ids.iter().rev().cloned().collect()),
    ] {
        let mut got = Vec::new();
        let mut path = format!(
            "/api/v1/incidents?unit_id={community}&status=reported,registered&limit=2&order={order}"
        );
        loop {
            let page = app.get_as(&staff, &path).await.json();
            for item in page["items"].as_array().unwrap() {
                got.push(item["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => {
                    path = format!(
                        "/api/v1/incidents?unit_id={community}&status=reported,registered&limit=2&order={order}&cursor={c}"
                    )
                }
                None => break,
            }
        }
        want.truncate(5);
        assert_eq!(got, want, "{order}");
    }
}
