//! Reads for phones on slow links: compressed as the client asks, conditional (`ETag`,
//! `If-None-Match` → 304), and sparse (`fields=`).

use crate::helpers::{SmallGrid, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read as _;

async fn with_households(n: usize) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let grid = SmallGrid::build(&app).await;
    let (_, staff) = app.staff("shape.staff", &grid).await;
    for i in 0..n {
        app.household(&staff, &format!("压缩路 {i} 号"), 21.6, 111.05)
            .await;
    }
    (app, staff)
}

/// The raw bytes of a GET with `Accept-Encoding`, and the encoding answered.
async fn raw(app: &TestApp, token: &str, path: &str, encoding: &str) -> (Vec<u8>, Option<String>) {
    let r = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("accept-encoding", encoding)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let enc = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.bytes().await.unwrap().to_vec(), enc)
}

#[actix_web::test]
async fn reads_are_compressed_with_gzip_or_brotli_as_the_client_asks() {
    let (app, staff) = with_households(40).await;
    let path = "/api/v1/households?limit=100";
    let (plain, enc) = raw(&app, &staff, path, "identity").await;
    assert_eq!(enc, None);
    let plain: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(plain["items"].as_array().unwrap().len(), 40);

    let (gz, enc) = raw(&app, &staff, path, "gzip").await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), plain);
    assert!(
        gz.len() * 4 < out.len(),
        "gzip: {} of {} bytes",
        gz.len(),
        out.len()
    );

    let (br, enc) = raw(&app, &staff, path, "br").await;
    assert_eq!(enc.as_deref(), Some("br"));
    let mut out = Vec::new();
    brotli::Decompressor::new(&br[..], 4096)
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), plain);
    assert!(
        br.len() * 4 < out.len(),
        "brotli: {} of {} bytes",
        br.len(),
        out.len()
    );
}

/// A sync page is compressed by its route (a window sized to the body), the rest by the
/// middleware: both decode to the plain body.
#[actix_web::test]
async fn a_sync_page_is_compressed_as_the_client_asks() {
    let (app, staff) = with_households(40).await;
    // Every change numbered, so that the three first syncs are taken at one position.
    crate::sync::settled(&app).await;
    let path = "/api/v1/sync?limit=500";
    let (plain, enc) = raw(&app, &staff, path, "identity").await;
    assert_eq!(enc, None);
    assert!(plain.len() > 16 * 1024, "{} bytes", plain.len());
    let (gz, enc) = raw(&app, &staff, path, "gzip").await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    let mut from_gz = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut from_gz)
        .unwrap();
    let (br, enc) = raw(&app, &staff, path, "br, gzip").await;
    assert_eq!(enc.as_deref(), Some("br"));
    let mut from_br = Vec::new();
    brotli::Decompressor::new(&br[..], 4096)
        .read_to_end(&mut from_br)
        .unwrap();
    let page: Value = serde_json::from_slice(&plain).unwrap();
    let shared = 102; // the seeded categories and calendar days
    assert_eq!(page["changes"].as_array().map(Vec::len), Some(shared + 40));
    assert!(from_gz == plain, "gzip decodes to the page");
    assert!(from_br == plain, "brotli decodes to the page");
    assert!(br.len() * 4 < plain.len() && gz.len() * 4 < plain.len());

    // Asked again with its tag: 304, saying still that the answer varies by encoding.
    let get = |tag: Option<String>| {
        let mut r = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&staff)
            .header("accept-encoding", "br, gzip");
        if let Some(t) = tag {
            r = r.header("if-none-match", t);
        }
        r.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = get(Some(tag.clone())).await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
    assert_eq!(
        again.headers()["vary"].to_str().unwrap().to_lowercase(),
        "accept-encoding"
    );
}

#[actix_web::test]
async fn a_read_whose_answer_has_not_changed_is_304_until_it_changes() {
    let (app, staff) = with_households(3).await;
    let path = "/api/v1/households?limit=10";
    let first = app.get_as(&staff, path).await;
    let tag = first.header("etag").expect("every JSON read has a tag");
    assert!(tag.starts_with("W/\""), "{tag}");
    // The same answer again: the same tag; asked with it, no body.
    assert_eq!(
        app.get_as(&staff, path).await.header("etag"),
        Some(tag.clone())
    );
    let again = app
        .send(
            Method::GET,
            path,
            Some(&staff),
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(again.status, 304, "{}", again.text);
    assert_eq!(again.text, "");
    assert_eq!(again.header("etag"), Some(tag.clone()));
    // Another list, another tag; a stale tag gets the body.
    let other = app
        .send(
            Method::GET,
            path,
            Some(&staff),
            None,
            &[("if-none-match", "W/\"0000\"")],
        )
        .await;
    assert_eq!(other.status, 200);
    let hid = first.json()["items"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/households/{hid}"),
            Some(&staff),
            Some(json!({ "notes": "改了" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let changed = app
        .send(
            Method::GET,
            path,
            Some(&staff),
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(changed.status, 200, "changed since: the body again");
    assert_ne!(changed.header("etag"), Some(tag));
    // A record's own tag is its version, and works the same way.
    let one = app
        .get_as(&staff, &format!("/api/v1/households/{hid}"))
        .await;
    let version_tag = one.header("etag").unwrap();
    assert_eq!(version_tag, format!("\"{}\"", one.json()["version"]));
    let same = app
        .send(
            Method::GET,
            &format!("/api/v1/households/{hid}"),
            Some(&staff),
            None,
            &[("if-none-match", &version_tag)],
        )
        .await;
    assert_eq!(same.status, 304);
}

#[actix_web::test]
async fn fields_keeps_the_named_members_of_each_item_and_the_id() {
    let (app, staff) = with_households(2).await;
    let full = app
        .get_as(&staff, "/api/v1/households?limit=10")
        .await
        .json();
    let sparse = app
        .get_as(&staff, "/api/v1/households?limit=10&fields=address,version")
        .await;
    assert_eq!(sparse.status, 200, "{}", sparse.text);
    let sparse = sparse.json();
    for (s, f) in sparse["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(full["items"].as_array().unwrap())
    {
        assert_eq!(
            s,
            &json!({ "id": f["id"], "address": f["address"], "version": f["version"] })
        );
    }
    assert_eq!(
        sparse["next_cursor"], full["next_cursor"],
        "the page's own members stay"
    );
    // On one record, the record keeps them; a name it lacks is simply absent.
    let hid = full["items"][0]["id"].as_str().unwrap();
    let one = app
        .get_as(
            &staff,
            &format!("/api/v1/households/{hid}?fields=unit,nothing"),
        )
        .await
        .json();
    assert_eq!(one, json!({ "id": hid, "unit": full["items"][0]["unit"] }));
    // Routes that refuse unknown parameters still take `fields`, and still refuse others.
    let units = app.get_as(&staff, "/api/v1/units?fields=name").await;
    assert_eq!(units.status, 200, "{}", units.text);
    for bad in ["fields=Address", "fields=", "fields=a.b", "bogus=1"] {
        let r = app
            .get_as(&staff, &format!("/api/v1/households?{bad}"))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_query".to_owned()),
            "{bad}: {}",
            r.text
        );
    }
}
