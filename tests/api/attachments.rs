//! Evidence and result photos: told by their content, stored once, seen like their case,
//! and the loop closes once a result photo is there.

use crate::cases;
use crate::helpers::{Res, SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::json;

/// A JPEG as far as its content goes (the start of a JFIF file).
pub(crate) fn jpeg(n: u8) -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, n,
    ];
    v.extend(std::iter::repeat_n(n, 2048));
    v
}

fn mp4() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 24];
    v.extend_from_slice(b"ftypisom");
    v.extend(std::iter::repeat_n(7, 512));
    v
}

const BOUNDARY: &str = "wangge-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart body with one part: `name`, declared file name and type (which must not
/// matter), and the bytes.
pub(crate) fn multipart(name: &str, filename: &str, declared: &str, bytes: &[u8]) -> Vec<u8> {
    let mut b = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {declared}\r\n\r\n"
    )
    .into_bytes();
    b.extend_from_slice(bytes);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}

pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    case: &str,
    kind: &str,
    body: Vec<u8>,
) -> Res {
    app.send_raw(
        Method::POST,
        &format!("/api/v1/incidents/{case}/attachments?kind={kind}"),
        Some(token),
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        body,
    )
    .await
}

#[actix_web::test]
async fn photos_are_told_by_content_stored_once_and_close_the_loop() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "att.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, staff) = app.staff("att.staff", &grid).await;
    let (_, stranger) = app
        .user("att.east", &["grid_worker"], &[(id(&grid.east), true)])
        .await;
    let r = app
        .send(Method::POST, "/api/v1/incidents", Some(&worker),
            Some(json!({"category": "0102", "description": "垃圾堆积", "location": {"lat": 21.6, "lng": 111.05}})), &[])
        .await;
    let mut case = r.json();
    let cid = case["id"].as_str().unwrap().to_owned();

    // Who may attach is asked before the upload is read: a stranger's oversized upload is a
    // 404, not a 413.
    let huge = multipart(
        "file",
        "a.jpg",
        "image/jpeg",
        &vec![0xFF; 20 * 1024 * 1024 + 1],
    );
    let unseen = upload(&app, &stranger, &cid, "evidence", huge.clone()).await;
    assert_eq!(unseen.status, 404, "{}", unseen.text);
    let too_big = upload(&app, &worker, &cid, "evidence", huge).await;
    assert_eq!(
        (too_big.status, too_big.code().as_str()),
        (413, "body_too_large")
    );
    // The content decides, not the name or declared type.
    let pdf = upload(
        &app,
        &worker,
        &cid,
        "evidence",
        multipart("file", "photo.jpg", "image/jpeg", b"%PDF-1.7 not a photo"),
    )
    .await;
    assert_eq!(
        (pdf.status, pdf.code().as_str()),
        (422, "unsupported_media")
    );
    let wrong_part = upload(
        &app,
        &worker,
        &cid,
        "evidence",
        multipart("photo", "a.jpg", "image/jpeg", &jpeg(1)),
    )
    .await;
    assert_eq!(
        (wrong_part.status, wrong_part.code().as_str()),
        (400, "malformed_body")
    );
    let bad_kind = upload(
        &app,
        &worker,
        &cid,
        "selfie",
        multipart("file", "a.jpg", "image/jpeg", &jpeg(1)),
    )
    .await;
    assert_eq!(
        (bad_kind.status, bad_kind.code().as_str()),
        (400, "invalid_query")
    );

    let evidence = upload(
        &app,
        &worker,
        &cid,
        "evidence",
        multipart("file", "x.bin", "application/octet-stream", &jpeg(1)),
    )
    .await;
    assert_eq!(evidence.status, 201, "{}", evidence.text);
    let e = evidence.json();
    let hash = wangge_app::blobs::sha256_hex(&jpeg(1));
    assert_eq!(
        (
            e["hash"].as_str(),
            e["media_type"].as_str(),
            e["kind"].as_str()
        ),
        (Some(hash.as_str()), Some("jpeg"), Some("evidence"))
    );
    assert_eq!(evidence.header("location").as_deref(), e["url"].as_str());
    let again = upload(
        &app,
        &worker,
        &cid,
        "evidence",
        multipart("file", "y.jpg", "image/jpeg", &jpeg(1)),
    )
    .await;
    assert_eq!(
        (again.status, again.json()["hash"].clone()),
        (200, json!(hash))
    );
    let video = upload(
        &app,
        &worker,
        &cid,
        "evidence",
        multipart("file", "v.mp4", "video/mp4", &mp4()),
    )
    .await;
    assert_eq!(
        (video.status, video.json()["media_type"].clone()),
        (201, json!("mp4"))
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM incident_attachments WHERE incident_id = '{cid}'"
        )),
        2
    );

    // Seen like the case: the bytes as sent, with their type; nothing for a stranger.
    let url = e["url"].as_str().unwrap().to_owned();
    let got = app.get_as(&worker, &url).await;
    assert_eq!(
        (got.status, got.header("content-type").as_deref()),
        (200, Some("image/jpeg"))
    );
    let raw = app
        .client
        .get(format!("{}{url}", app.address))
        .bearer_auth(&worker)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.bytes().await.unwrap().to_vec(), jpeg(1));
    assert_eq!(app.get_as(&stranger, &url).await.status, 404);
    let bad_hash = app
        .get_as(
            &worker,
            &format!("/api/v1/incidents/{cid}/attachments/nothex"),
        )
        .await;
    assert_eq!(
        (bad_hash.status, bad_hash.code().as_str()),
        (400, "invalid_id")
    );
    let other = wangge_app::blobs::sha256_hex(b"never attached");
    assert_eq!(
        app.get_as(
            &worker,
            &format!("/api/v1/incidents/{cid}/attachments/{other}")
        )
        .await
        .status,
        404
    );

    for step in [json!({"action": "register"}), json!({"action": "dispatch"})] {
        case = cases::act(&app, &staff, &case, step).await;
    }
    for step in [json!({"action": "sign"}), json!({"action": "start"})] {
        case = cases::act(&app, &worker, &case, step).await;
    }
    // A video is no result photo; the report back needs one.
    let video_result = upload(
        &app,
        &worker,
        &cid,
        "result",
        multipart("file", "v.mp4", "video/mp4", &mp4()),
    )
    .await;
    assert_eq!(
        (video_result.status, video_result.code().as_str()),
        (422, "validation_failed")
    );
    let result = upload(
        &app,
        &worker,
        &cid,
        "result",
        multipart("file", "done.jpg", "image/jpeg", &jpeg(2)),
    )
    .await;
    assert_eq!(result.status, 201, "{}", result.text);
    case = app
        .get_as(&worker, &format!("/api/v1/incidents/{cid}"))
        .await
        .json();
    assert_eq!(case["attachments"].as_array().unwrap().len(), 3);

    case = cases::act(&app, &worker, &case, json!({"action": "resolve"})).await;
    assert_eq!(case["status"], "resolved");
    for step in [json!({"action": "verify"}), json!({"action": "close"})] {
        case = cases::act(&app, &staff, &case, step).await;
    }
    assert!(case["closed_at"].is_string());
    // An unsatisfied reporter reopens the case, with a new close deadline.
    case = cases::act(
        &app,
        &staff,
        &case,
        json!({"action": "callback", "satisfied": false}),
    )
    .await;
    assert_eq!(
        (case["status"].as_str(), case["satisfied"].as_bool()),
        (Some("in_progress"), Some(false))
    );
    assert!(
        case.get("closed_at").is_none() && case["deadlines"].get("close").is_some(),
        "{case}"
    );
    case = cases::act(&app, &worker, &case, json!({"action": "resolve"})).await;
    for step in [
        json!({"action": "verify"}),
        json!({"action": "close"}),
        json!({"action": "callback", "satisfied": true}),
    ] {
        case = cases::act(&app, &staff, &case, step).await;
    }
    assert_eq!(
        (case["status"].as_str(), case["satisfied"].as_bool()),
        (Some("closed"), Some(true))
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
            "report", "attach", "attach", "register", "dispatch", "sign", "start", "attach",
            "resolve", "verify", "close", "callback", "resolve", "verify", "close", "callback"
        ]
    );
}
