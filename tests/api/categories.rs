//! Incident categories: the standard tree is seeded once, every role reads it, administrators
//! of the whole grid change it, and a category in use is retired rather than deleted.

use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/incident-categories";

fn limits() -> Value {
    let s = json!({"register": {"hours": 2}, "sign": {"hours": 4}, "close": {"working_days": 3}});
    json!({"urgent": s, "normal": s, "complex": s})
}

#[actix_web::test]
async fn the_standard_tree_is_seeded_once_and_every_role_reads_it() {
    let app = TestApp::spawn().await;
    let page = app
        .get_as(&app.worker_token, &format!("{BASE}?limit=500"))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let items = page.json()["items"].as_array().unwrap().clone();
    let classes = items
        .iter()
        .filter(|c| c.get("parent_code").is_none())
        .count();
    assert_eq!((items.len(), classes), (63, 13));
    for leaf in items.iter().filter(|c| c.get("parent_code").is_some()) {
        let (code, parent) = (
            leaf["code"].as_str().unwrap(),
            leaf["parent_code"].as_str().unwrap(),
        );
        assert!(code.starts_with(parent) && parent.len() == 2, "{leaf}");
    }
    let one = app.get_as(&app.worker_token, &format!("{BASE}/0101")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.header("etag").as_deref(), Some("\"1\""));
    let c = one.json();
    assert_eq!(
        (c["name"].as_str(), c["key"].as_str()),
        (Some("私搭乱建"), Some("illegal_structure"))
    );
    assert_eq!(
        c["time_limits"]["normal"]["close"],
        json!({"working_days": 5})
    );
    assert_eq!(c["lowest_level"], 3);
    // Without departments (no demo) a component routes by place and names none.
    let component = app.get(&format!("{BASE}/1301")).await.json();
    assert_eq!(component["routing"], "locality");
    assert!(component.get("department_id").is_none(), "{component}");
    // Seeded through the use cases: audited and in the feed, by the named system actor.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'category.created' AND actor_name = 'system:reference'"),
        63
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM changes WHERE entity = 'category'"),
        63
    );
    // A second instance on the same database seeds nothing more.
    let again = TestApp::spawn_on(app.db.clone(), crate::helpers::Options::default()).await;
    assert_eq!(
        again.get(&format!("{BASE}/0101")).await.json()["version"],
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM incident_categories"),
        63
    );
    let not_code = app.get(&format!("{BASE}/abc")).await;
    assert_eq!(
        (not_code.status, not_code.code().as_str()),
        (400, "invalid_id")
    );
    assert_eq!(app.get(&format!("{BASE}/9999")).await.status, 404);
}

#[actix_web::test]
async fn admins_create_change_retire_and_delete_categories() {
    let app = TestApp::spawn().await;
    let dept = app
        .post(
            "/api/v1/departments",
            json!({"code": "urban_x", "name": "城管"}),
        )
        .await
        .json();
    let dept_id = dept["id"].as_str().unwrap().to_owned();
    let new = |code: &str, key: &str| {
        json!({"code": code, "parent_code": "01", "name": "共享单车乱停", "key": key,
               "department_id": dept_id, "lowest_level": 3, "routing": "owner",
               "time_limits": limits()})
    };
    // Refused before anything is written: each rule of the tree and the policy.
    let mut owner_without_department = new("0199", "shared_bikes");
    owner_without_department
        .as_object_mut()
        .unwrap()
        .remove("department_id");
    let mut orphan = new("9901", "shared_bikes");
    orphan["parent_code"] = json!("99");
    let mut zero_limit = new("0199", "shared_bikes");
    zero_limit["time_limits"]["urgent"]["sign"] = json!({"hours": 0});
    for (bad, field) in [
        (owner_without_department, "department_id"),
        (new("0299", "shared_bikes"), "code"),
        (orphan, "parent_code"),
        (zero_limit, "time_limits.urgent.sign"),
    ] {
        let r = app.post(BASE, bad).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "validation_failed"),
            "{}",
            r.text
        );
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let denied = app
        .send(
            Method::POST,
            BASE,
            Some(&app.worker_token),
            Some(new("0199", "shared_bikes")),
            &[],
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM incident_categories WHERE code = '0199'"),
        0
    );

    let created = app.post(BASE, new("0199", "shared_bikes")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!("{BASE}/0199");
    assert_eq!(created.header("location").as_deref(), Some(path.as_str()));
    assert_eq!(
        created.json()["department_id"].as_str(),
        Some(dept_id.as_str())
    );
    let dup = app.post(BASE, new("0199", "other_key")).await;
    assert_eq!((dup.status, dup.code().as_str()), (409, "duplicate_code"));
    assert_eq!(dup.json()["category_code"], "0199");
    let dup_key = app.post(BASE, new("0198", "shared_bikes")).await;
    assert_eq!(
        (dup_key.status, dup_key.code().as_str()),
        (409, "duplicate_key")
    );
    assert_eq!(dup_key.json()["category_code"], "0199");

    let stale = app
        .send(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"retired": true})),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.code().as_str()),
        (412, "version_mismatch")
    );
    let empty = app.patch(&path, json!({})).await;
    assert_eq!(
        (empty.status, empty.code().as_str()),
        (422, "validation_failed")
    );
    let unrouted = app.patch(&path, json!({"department_id": null})).await;
    assert_eq!(
        unrouted.status, 422,
        "an owner-routed category keeps its department"
    );
    let retired = app
        .send(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"retired": true, "name": "单车乱停"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(retired.status, 200, "{}", retired.text);
    assert_eq!(retired.header("etag").as_deref(), Some("\"2\""));
    let listed = |v: Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "0199")
    };
    assert!(!listed(app.get(&format!("{BASE}?limit=500")).await.json()));
    assert!(listed(
        app.get(&format!("{BASE}?limit=500&include_retired=true"))
            .await
            .json()
    ));

    // The department is named by the category; the class has leaves: both refuse deletion.
    let dept_in_use = app.delete(&format!("/api/v1/departments/{dept_id}")).await;
    assert_eq!(
        (dept_in_use.status, dept_in_use.code().as_str()),
        (409, "department_in_use")
    );
    assert_eq!(dept_in_use.json()["categories"], 1);
    let class = app.delete(&format!("{BASE}/01")).await;
    assert_eq!(
        (class.status, class.code().as_str()),
        (409, "category_in_use")
    );

    let gone = app
        .send(
            Method::DELETE,
            &path,
            Some(&app.admin_token),
            None,
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(app.get(&path).await.status, 404);
    let rows = |table: &str, column: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM {table} WHERE {column} = '0199'"
        ))
    };
    assert_eq!(rows("history", "entity_id"), 3, "created, updated, deleted");
    assert_eq!(rows("outbox", "aggregate_id"), 3);
    assert_eq!(rows("audit_events", "subject_id"), 3);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM changes WHERE entity_id = '0199' AND deleted = TRUE AND version = 3"),
        1
    );
}

#[actix_web::test]
async fn a_category_create_retried_with_its_key_creates_one() {
    let app = TestApp::spawn().await;
    let body = json!({"code": "14", "name": "森林防火", "key": "forest_fire", "lowest_level": 2,
                      "routing": "locality", "time_limits": limits()});
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            app.send(
                Method::POST,
                BASE,
                Some(&app.admin_token),
                Some(body.clone()),
                &[("idempotency-key", "cat-14")],
            )
            .await,
        );
    }
    assert!(
        answers
            .iter()
            .all(|r| r.status == 201 && r.text == answers[0].text),
        "{}",
        answers[2].text
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM history WHERE entity_id = '14'"),
        1
    );
}
