//! Key rotation for personal data: re-sealing moves every value to the current key, after
//! which the old key is no longer needed.

use crate::helpers::{PII_KEY, SmallGrid, TestApp, id};
use crate::households::id_card;
use reqwest::Method;
use serde_json::json;
use wangge_api::config::Secret;
use wangge_app::Who;
use wangge_app::pii::{PiiKeys, PiiKind};
use wangge_app::reseal::{self, ResealError};
use wangge_persistence::sealed::{self, SealedColumn};

const NEW_KEY: &str = "t2:abababababababababababababababababababababababababababababababab";

fn counts(conn: &mut wangge_persistence::AnyConnection) -> Vec<Vec<(String, i64)>> {
    SealedColumn::ALL
        .iter()
        .map(|c| sealed::count_by_key(conn, *c).unwrap())
        .collect()
}

fn under(key: &str, n: i64) -> Vec<(String, i64)> {
    vec![(key.to_owned(), n)]
}

#[actix_web::test]
async fn resealing_moves_personal_data_to_the_current_key_so_the_old_one_can_go() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (staff_id, staff) = app
        .user("staff", &["community_staff"], &[(id(&grid.district), true)])
        .await;
    let h = app
        .send(
            Method::POST,
            "/api/v1/households",
            Some(&staff),
            Some(json!({ "address": "幸福路 9 号", "location": { "lat": 21.6, "lng": 111.05 } })),
            &[],
        )
        .await;
    assert_eq!(h.status, 201, "{}", h.text);
    let residents = format!(
        "/api/v1/households/{}/residents",
        h.json()["id"].as_str().unwrap()
    );
    let numbers = [id_card("44090419850615123"), id_card("44090419900101002")];
    let mut resident_ids = Vec::new();
    for (i, n) in numbers.iter().enumerate() {
        let r = app
            .send(
                Method::POST,
                &residents,
                Some(&staff),
                Some(json!({ "name": format!("李某{i}"), "relation": if i == 0 { "head" } else { "spouse" }, "id_card": n, "phone": format!("1381234567{i}") })),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        resident_ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{staff_id}"),
            Some(&app.admin_token),
            Some(json!({ "phone": "13912345678" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A report with its reporter's own name and phone (sealed the same way).
    let r = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&staff),
            Some(json!({"category": "0102", "description": "举报", "location": {"lat": 21.6, "lng": 111.05},
                        "reporter": {"name": "王五", "phone": "13700137000"}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let mut conn = wangge_persistence::db::establish(&app.settings.database_url).unwrap();
    let old_id = PII_KEY.split(':').next().unwrap();
    assert_eq!(
        counts(&mut conn),
        [
            under(old_id, 2),
            under(old_id, 2),
            under(old_id, 1),
            under(old_id, 1),
            under(old_id, 1)
        ]
    );

    // A key nobody configured cannot open the values: nothing is written.
    let mut stranger = app.settings.clone();
    stranger.pii_key = Some(Secret::new(NEW_KEY.into()));
    let stranger = stranger.pii_keys().unwrap();
    let err = reseal::reseal(&mut conn, &stranger, &Who::operator(), 10, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ResealError::Open { .. }), "{err}");
    assert_eq!(counts(&mut conn)[0], under(old_id, 2));

    // A value written between reading and replacing is left alone, under whatever key.
    let stale = sealed::not_under_key(&mut conn, SealedColumn::ResidentPhone, "t2", "", 10)
        .unwrap()
        .into_iter()
        .find(|v| v.row_id == resident_ids[0])
        .unwrap();
    let r = app
        .send(
            Method::PATCH,
            &format!("{residents}/{}", resident_ids[0]),
            Some(&staff),
            Some(json!({ "phone": "13800000000" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!sealed::replace(&mut conn, SealedColumn::ResidentPhone, &stale, b"x", "t2").unwrap());

    // Rotated: the new key is current and the old one kept for opening.
    let mut rotated = app.settings.clone();
    rotated.pii_key = Some(Secret::new(NEW_KEY.into()));
    rotated.pii_old_keys = Some(Secret::new(PII_KEY.into()));
    let rotated = rotated.pii_keys().unwrap();
    let mut progress = Vec::new();
    let report = reseal::reseal(&mut conn, &rotated, &Who::operator(), 1, &mut |n| {
        progress.push(n)
    })
    .unwrap();
    let moved: Vec<u64> = report.resealed.iter().map(|(_, n)| *n).collect();
    assert_eq!(moved, [2, 2, 1, 1, 1]);
    assert_eq!(progress, [1, 2, 3, 4, 5, 6, 7], "one call per batch of one");
    assert_eq!(
        counts(&mut conn),
        [
            under("t2", 2),
            under("t2", 2),
            under("t2", 1),
            under("t2", 1),
            under("t2", 1)
        ]
    );
    let again = reseal::reseal(&mut conn, &rotated, &Who::operator(), 10, &mut |_| {}).unwrap();
    assert!(
        again.resealed.iter().all(|(_, n)| *n == 0),
        "nothing left to do"
    );

    // Only the new key is needed now, and the values are the ones sealed.
    let mut only_new = app.settings.clone();
    only_new.pii_key = Some(Secret::new(NEW_KEY.into()));
    let only_new: PiiKeys = only_new.pii_keys().unwrap();
    let mut opened = Vec::new();
    for (col, kind) in [
        (SealedColumn::ResidentIdCard, PiiKind::IdCard),
        (SealedColumn::ResidentPhone, PiiKind::Phone),
        (SealedColumn::UserPhone, PiiKind::Phone),
        (SealedColumn::ReporterName, PiiKind::Name),
        (SealedColumn::ReporterPhone, PiiKind::Phone),
    ] {
        for v in sealed::not_under_key(&mut conn, col, "none", "", 10).unwrap() {
            opened.push(only_new.open(kind, &v.cipher, &v.key_id).unwrap());
        }
    }
    opened.sort();
    let mut expected = vec![
        numbers[0].clone(),
        numbers[1].clone(),
        "13800000000".to_owned(),
        "13812345671".to_owned(),
        "13912345678".to_owned(),
        "王五".to_owned(),
        "13700137000".to_owned(),
    ];
    expected.sort();
    assert_eq!(opened, expected);
    // The keyed hashes did not change: exact-match search still finds the household.
    let found = app
        .send(
            Method::GET,
            &format!("/api/v1/households?id_card={}", numbers[1]),
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json()["items"].as_array().unwrap().len(), 1);

    // Every run is on record, the one that stopped too.
    let events = app.get("/api/v1/audit?action=pii.resealed").await.json();
    let mut details: Vec<serde_json::Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"].clone())
        .collect();
    details.sort_by_key(|d| d["values"]["residents.id_card"].as_u64());
    assert_eq!(details.len(), 3, "{events}");
    assert!(
        details.iter().filter(|d| d["error"].is_string()).count() == 1,
        "{events}"
    );
    assert_eq!(
        details[2]["values"],
        json!({ "residents.id_card": 2, "residents.phone": 2, "users.phone": 1,
                "incident_reporters.name": 1, "incident_reporters.phone": 1 })
    );
}
