//! Photos by content hash (`/api/v1/uploads`): only what the server lacks is sent, in pieces
//! when the network is poor, and the operations of a sync upload name them by hash.

use crate::attachments::jpeg;
use crate::helpers::{SmallGrid, TestApp, id};
use reqwest::Method;
use serde_json::{Value, json};

fn sha256(bytes: &[u8]) -> String {
    wangge_app::blobs::sha256_hex(bytes)
}

async fn put(
    app: &TestApp,
    token: &str,
    hash: &str,
    body: &[u8],
    range: Option<String>,
) -> (u16, Value) {
    let mut req = app
        .client
        .put(format!("{}/api/v1/uploads/{hash}", app.address))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec());
    if let Some(r) = range {
        req = req.header("content-range", r);
    }
    let r = app
        .finish(Method::PUT, &format!("/api/v1/uploads/{hash}"), req)
        .await;
    (
        r.status,
        serde_json::from_str(&r.text).unwrap_or(Value::Null),
    )
}

async fn missing(app: &TestApp, token: &str, hashes: &[&str]) -> Value {
    let r = app
        .send(
            Method::POST,
            "/api/v1/uploads/missing",
            Some(token),
            Some(json!({ "hashes": hashes })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["missing"].clone()
}

#[actix_web::test]
async fn a_photo_goes_up_in_pieces_once_and_only_if_missing() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "upload.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (_, other) = app
        .user(
            "upload.other",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let (a, b) = (jpeg(1).repeat(20), jpeg(2).repeat(20));
    let (ha, hb) = (sha256(&a), sha256(&b));
    assert_eq!(
        missing(&app, &worker, &[&ha, &hb]).await,
        json!([{ "hash": ha, "received_bytes": 0 }, { "hash": hb, "received_bytes": 0 }])
    );
    // Whole in one request.
    let (status, body) = put(&app, &worker, &ha, &a, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["media_type"], "image/jpeg");
    assert_eq!(body["complete"], true);
    // In pieces: the first arrives, the network drops, the phone asks where it stands.
    let cut = 100;
    let total = b.len();
    let (status, body) = put(
        &app,
        &worker,
        &hb,
        &b[..cut],
        Some(format!("bytes 0-{}/{total}", cut - 1)),
    )
    .await;
    assert_eq!(
        (status, body["received_bytes"].clone()),
        (202, json!(cut)),
        "{body}"
    );
    assert_eq!(
        missing(&app, &worker, &[&ha, &hb]).await,
        json!([{ "hash": hb, "received_bytes": cut }])
    );
    // A piece from the wrong place is refused with where the upload stands.
    let (status, body) = put(
        &app,
        &worker,
        &hb,
        &b[50..cut + 10],
        Some(format!("bytes 50-{}/{total}", cut + 9)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("upload_offset_mismatch")),
        "{body}"
    );
    assert_eq!(body["received_bytes"], cut);
    let (status, body) = put(
        &app,
        &worker,
        &hb,
        &b[cut..],
        Some(format!("bytes {cut}-{}/{total}", total - 1)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Sent again after its answer was lost: already there.
    let (status, body) = put(&app, &worker, &hb, &b, None).await;
    assert_eq!(
        (status, body["complete"].clone()),
        (200, json!(true)),
        "{body}"
    );
    assert_eq!(missing(&app, &worker, &[&ha, &hb]).await, json!([]));
    // Another account's uploads are its own.
    assert_eq!(
        missing(&app, &other, &[&ha])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A content that is not what its hash says, or not a photo, is refused and starts over.
    let (status, body) = put(&app, &worker, &sha256(b"other"), &a, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("hash_mismatch")),
        "{body}"
    );
    let text = b"just some text, not a photo".to_vec();
    let (status, body) = put(&app, &worker, &sha256(&text), &text, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("unsupported_media")),
        "{body}"
    );
    assert_eq!(
        missing(&app, &worker, &[&sha256(&text)]).await[0]["received_bytes"],
        0
    );
    // Malformed asks.
    let (status, body) = put(&app, &worker, &ha, &a, Some("bytes 0-1/2".into())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_content_range")),
        "{body}"
    );
    let (status, body) = put(&app, &worker, "not-a-hash", &a, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_id")),
        "{body}"
    );
    let r = app
        .send(
            Method::POST,
            "/api/v1/uploads/missing",
            Some(&worker),
            Some(json!({ "hashes": ["ABC"] })),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed".to_owned()),
        "{}",
        r.text
    );
    // An account that handles no cases may not upload: asked before the body is read.
    let (status, body) = put(&app, &app.admin_token.clone(), &ha, &a, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
}

#[actix_web::test]
async fn a_case_reported_offline_carries_the_photos_uploaded_by_hash() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "photo.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let photo = jpeg(7).repeat(10);
    let hash = sha256(&photo);
    let report = |case: &str, photos: Vec<&str>| {
        json!({ "op_id": uuid::Uuid::now_v7().to_string(), "type": "incident.create",
                "data": { "id": case, "category": "0101", "description": "占道经营",
                          "location": { "lat": 21.6, "lng": 111.05 }, "photos": photos } })
    };
    let sync = |ops: Vec<Value>| {
        let app = &app;
        let worker = worker.clone();
        async move {
            let r = app
                .send(
                    Method::POST,
                    "/api/v1/sync",
                    Some(&worker),
                    Some(json!({ "operations": ops })),
                    &[],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()["results"][0].clone()
        }
    };
    // Named before it was uploaded: refused, nothing reported.
    let case = uuid::Uuid::now_v7().to_string();
    let r = sync(vec![report(&case, vec![&hash])]).await;
    assert_eq!(
        (r["status"].as_str(), r["problem"]["code"].as_str()),
        (Some("rejected"), Some("photo_not_uploaded")),
        "{r}"
    );
    assert_eq!(r["problem"]["hash"], hash);
    assert_eq!(app.count("SELECT count(*) AS n FROM incidents"), 0);
    // Uploaded now. The refused operation sent again is still refused (its answer never
    // changes); the phone sends the work again as a new operation.
    let refused = report(&case, vec![&hash]);
    let first = sync(vec![refused.clone()]).await;
    assert_eq!(first["problem"]["code"], "photo_not_uploaded", "{first}");
    let (status, _) = put(&app, &worker, &hash, &photo, None).await;
    assert_eq!(status, 201);
    let again = sync(vec![refused]).await;
    assert_eq!(again, first, "a refusal is kept like a result");
    assert_eq!(app.count("SELECT count(*) AS n FROM incidents"), 0);
    let r = sync(vec![report(&case, vec![&hash])]).await;
    assert_eq!(r["status"], "applied", "{r}");
    let got = app
        .get_as(&worker, &format!("/api/v1/incidents/{case}"))
        .await
        .json();
    let attached: Vec<(&str, &str)> = got["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["hash"].as_str().unwrap(), a["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(attached, [(hash.as_str(), "evidence")]);
    let r = sync(vec![report(&uuid::Uuid::now_v7().to_string(), vec!["xyz"])]).await;
    assert_eq!(r["problem"]["code"], "validation_failed", "{r}");

    // An action with a photo on a version the case no longer has is a conflict (told
    // before any photo is read), not a refusal.
    let (_, staff) = app.staff("photo.staff", &grid).await;
    let etag = format!("\"{}\"", got["version"]);
    let moved = app
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{case}/transitions"),
            Some(&staff),
            Some(json!({ "action": "register" })),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let r = sync(vec![
        json!({ "op_id": uuid::Uuid::now_v7().to_string(), "type": "incident.transition",
        "based_on_version": got["version"],
        "data": { "incident_id": case, "action": "sign", "photos": [hash] } }),
    ])
    .await;
    assert_eq!(r["status"], "conflict", "{r}");
    assert_eq!(r["current"]["data"]["status"], "registered", "{r}");
}

#[actix_web::test]
async fn an_upload_refused_whole_starts_over_from_its_first_piece() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "over.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let photo = jpeg(5).repeat(20);
    let hash = sha256(&photo);
    let total = photo.len();
    let (status, _) = put(
        &app,
        &worker,
        &hash,
        &photo[..200],
        Some(format!("bytes 0-199/{total}")),
    )
    .await;
    assert_eq!(status, 202);
    // The rest arrives garbled: the whole does not check against its hash.
    let mut garbled = photo[200..].to_vec();
    garbled[0] ^= 0xFF;
    let (status, body) = put(
        &app,
        &worker,
        &hash,
        &garbled,
        Some(format!("bytes 200-{}/{total}", total - 1)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("hash_mismatch")),
        "{body}"
    );
    // The upload stands at nothing now, and takes the content again from its start.
    assert_eq!(
        missing(&app, &worker, &[&hash]).await,
        json!([{ "hash": hash, "received_bytes": 0 }])
    );
    let (status, body) = put(
        &app,
        &worker,
        &hash,
        &photo[200..],
        Some(format!("bytes 200-{}/{total}", total - 1)),
    )
    .await;
    assert_eq!(
        (status, body["received_bytes"].clone()),
        (409, json!(0)),
        "{body}"
    );
    let (status, body) = put(&app, &worker, &hash, &photo, None).await;
    assert_eq!(status, 201, "{body}");
    // A Content-Range whose numbers overflow is refused, not a crash.
    let (status, body) = put(
        &app,
        &worker,
        &hash,
        &photo[..1],
        Some("bytes 0-18446744073709551615/5".into()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_content_range")),
        "{body}"
    );
}

#[actix_web::test]
async fn the_content_sent_whole_starts_an_upload_over_wherever_it_stood() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "whole.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let photo = jpeg(6).repeat(20);
    let (hash, total) = (sha256(&photo), photo.len());
    // Two pieces arrive; the phone gives up on pieces and sends the content whole.
    for (from, to) in [(0, 100), (100, 200)] {
        let (status, body) = put(
            &app,
            &worker,
            &hash,
            &photo[from..to],
            Some(format!("bytes {from}-{}/{total}", to - 1)),
        )
        .await;
        assert_eq!((status, body["received_bytes"].clone()), (202, json!(to)));
    }
    let (status, body) = put(&app, &worker, &hash, &photo, None).await;
    assert_eq!(
        (
            status,
            body["complete"].clone(),
            body["received_bytes"].clone()
        ),
        (201, json!(true), json!(total)),
        "{body}"
    );
    assert_eq!(missing(&app, &worker, &[&hash]).await, json!([]));

    // An upload begun at a wrong size refuses pieces of the right one, and says to send the
    // content whole; sent whole, as one piece from 0 to the end, it is taken.
    let other = jpeg(7).repeat(20);
    let (hash, total) = (sha256(&other), other.len());
    let wrong = total + 1000;
    let (status, _) = put(
        &app,
        &worker,
        &hash,
        &other[..100],
        Some(format!("bytes 0-99/{wrong}")),
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = put(
        &app,
        &worker,
        &hash,
        &other[100..200],
        Some(format!("bytes 100-199/{total}")),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("send its content whole")),
        "{body}"
    );
    let (status, body) = put(
        &app,
        &worker,
        &hash,
        &other,
        Some(format!("bytes 0-{}/{total}", total - 1)),
    )
    .await;
    assert_eq!(
        (status, body["complete"].clone()),
        (201, json!(true)),
        "{body}"
    );
}

/// Sends the piece `from..to` four times at once; returns the statuses, sorted, and the
/// answers.
async fn race_piece(
    app: &TestApp,
    token: &str,
    content: &[u8],
    from: usize,
    to: usize,
) -> Vec<(u16, Value)> {
    let hash = sha256(content);
    let path = format!("/api/v1/uploads/{hash}");
    let sent = app
        .race(
            (0..4)
                .map(|_| {
                    let req = app
                        .client
                        .put(format!("{}{path}", app.address))
                        .bearer_auth(token)
                        .header(
                            "content-range",
                            format!("bytes {from}-{}/{}", to - 1, content.len()),
                        )
                        .body(content[from..to].to_vec());
                    (Method::PUT, path.clone(), req)
                })
                .collect(),
        )
        .await;
    let mut out: Vec<(u16, Value)> = sent.iter().map(|r| (r.status, r.json())).collect();
    out.sort_by_key(|(s, _)| *s);
    out
}

#[actix_web::test]
async fn the_same_piece_sent_four_times_at_once_is_taken_once() {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, worker) = app
        .user(
            "race.worker",
            &["grid_worker"],
            &[(id(&grid.community), true)],
        )
        .await;
    let photo = jpeg(9).repeat(30);
    // The first piece (the upload begins four times at once), then the next: each time one
    // writer takes it, and the others find the upload moved on and are told where.
    for (from, to) in [(0, 100), (100, 300)] {
        let answers = race_piece(&app, &worker, &photo, from, to).await;
        let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        assert_eq!(statuses, [202, 409, 409, 409], "{answers:?}");
        assert_eq!(answers[0].1["received_bytes"], to);
        for (_, body) in &answers[1..] {
            assert_eq!(body["received_bytes"], to);
        }
    }
    let total = photo.len();
    let hash = sha256(&photo);
    let (status, body) = put(
        &app,
        &worker,
        &hash,
        &photo[300..],
        Some(format!("bytes 300-{}/{total}", total - 1)),
    )
    .await;
    assert_eq!(
        status, 201,
        "the content is whole and checks against its hash: {body}"
    );
}
