//! Bulk household imports over HTTP: all or nothing, with a report of every rejected row.

use crate::helpers::{Res, SmallGrid, TestApp, id};
use crate::households::id_card;
use reqwest::Method;
use serde_json::json;

async fn import(app: &TestApp, token: &str, content_type: &str, body: &str) -> Res {
    app.send_raw(
        Method::POST,
        "/api/v1/households/import",
        Some(token),
        content_type,
        body.as_bytes().to_vec(),
    )
    .await
}

async fn count(app: &TestApp, token: &str) -> usize {
    app.get_as(token, "/api/v1/households?limit=500")
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len()
}

#[actix_web::test]
async fn a_csv_import_stores_households_with_their_residents_in_one_go() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app
        .user(
            "import.staff",
            &["community_staff"],
            &[(id(&grid.west), true)],
        )
        .await;
    let a = id_card("44090419500101901");
    let b = id_card("44090419520202902");
    // A BOM, quoted fields with commas, two residents in h1, none in h2, staff placement in h3.
    let csv = format!(
        "\u{feff}household_ref,address,lat,lng,crs,unit_code,unit_reason,tags,notes,name,relation,gender,birth_date,id_card,phone,resident_tags\n\
         h1,\"幸福路 1 号, 2 栋\",21.6,111.05,,,,elderly_alone;veteran,,陈某1,head,,,{a},13812345678,elderly_alone\n\
         h1,,,,,,,,,陈某2,spouse,,,{b},,\n\
         h2,幸福路 2 号,21.61,111.05,wgs84,,,,\"多行\n备注\",,,,,,,\n\
         h3,建设路 3 号,21.6,111.05,,440904001,户籍在街道,,,,,,,,,\n"
    );
    let r = import(&app, &staff, "text/csv; charset=utf-8", &csv).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json(), json!({ "households": 3, "residents": 2 }));
    let list = app
        .get_as(&staff, "/api/v1/households?tag=veteran")
        .await
        .json();
    let h1 = &list["items"][0];
    assert_eq!(h1["address"], "幸福路 1 号, 2 栋");
    assert_eq!(h1["unit"]["code"], "440904001001", "located");
    let residents = app
        .get_as(
            &staff,
            &format!(
                "/api/v1/households/{}/residents",
                h1["id"].as_str().unwrap()
            ),
        )
        .await
        .json();
    let names: Vec<&str> = residents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["陈某1", "陈某2"]);
    assert_eq!(residents["items"][0]["phone"], "138****5678");
    let history = app
        .get_as(
            &staff,
            &format!("/api/v1/households/{}/history", h1["id"].as_str().unwrap()),
        )
        .await
        .json();
    assert_eq!(history["items"][0]["details"]["source"], "import");
    let placed = app
        .get_as(&staff, "/api/v1/households?q=%E5%BB%BA%E8%AE%BE")
        .await
        .json();
    assert_eq!(placed["items"][0]["unit"]["code"], "440904001");
    assert_eq!(placed["items"][0]["unit_reason"], "户籍在街道");
    let audit = app
        .get("/api/v1/audit?action=households.imported")
        .await
        .json();
    assert_eq!(audit["items"][0]["details"]["households"], 3);
}

#[actix_web::test]
async fn a_rejected_import_reports_every_bad_row_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "import.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let registered = id_card("44090419600303903");
    let r = import(
        &app,
        &worker,
        "application/x-ndjson",
        &json!({ "ref": "r0", "address": "已登记", "location": { "lat": 21.6, "lng": 111.05 },
                 "residents": [{ "name": "周某", "relation": "head", "id_card": registered }] })
        .to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let good = id_card("44090419700404904");
    let csv = format!(
        "household_ref,address,lat,lng,name,relation,id_card\n\
         ok,幸福路 9 号,21.6,111.05,林某,head,{good}\n\
         bad-id,幸福路 10 号,21.6,111.05,林某,head,440904197004049049\n\
         east,东风路 1 号,21.6,111.15,,,\n\
         nowhere,远方,30.0,120.0,,,\n\
         dup,幸福路 11 号,21.6,111.05,周某,head,{registered}\n\
         ,无编号,21.6,111.05,,,\n\
         badrel,幸福路 12 号,21.6,111.05,吴某,boss,\n"
    );
    let r = import(&app, &worker, "text/csv", &csv).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "rows_rejected"),
        "{}",
        r.text
    );
    let rows = r.json()["rows"].as_array().unwrap().clone();
    let lines: Vec<(u64, &str)> = rows
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // Parsing problems first (all of them), placement and registry problems need a clean
    // parse; this file fails parsing on lines 3, 7 and 8.
    assert_eq!(
        lines,
        [(3, "id_card"), (7, "household_ref"), (8, "relation")],
        "{rows:?}"
    );
    assert_eq!(
        count(&app, &worker).await,
        1,
        "nothing of the file was written"
    );

    // Once parsing is clean, the placement and registry problems are all reported together.
    let csv = format!(
        "household_ref,address,lat,lng,name,relation,id_card\n\
         ok,幸福路 9 号,21.6,111.05,林某,head,{good}\n\
         east,东风路 1 号,21.6,111.15,,,\n\
         nowhere,远方,30.0,120.0,,,\n\
         dup,幸福路 11 号,21.6,111.05,周某,head,{registered}\n"
    );
    let r = import(&app, &worker, "text/csv", &csv).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let rows = r.json()["rows"].as_array().unwrap().clone();
    let lines: Vec<(u64, &str)> = rows
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["household_ref"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [(3, "east"), (4, "nowhere"), (5, "dup")], "{rows:?}");
    assert_eq!(
        count(&app, &worker).await,
        1,
        "nothing of the file was written"
    );

    let r = import(&app, &worker, "application/json", "[]").await;
    assert_eq!(r.status, 415);
    let r = import(
        &app,
        &worker,
        "text/csv",
        "household_ref,address,lat,lng,secret\nx,y,1,2,3\n",
    )
    .await;
    assert_eq!(r.status, 422, "unknown columns are refused");
    assert_eq!(
        import(&app, &app.admin_token.clone(), "text/csv", &csv)
            .await
            .status,
        403
    );
}
