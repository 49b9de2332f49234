//! `wangge simulate field`: a day of field work by `N` phones over a lossy link, against the
//! real server, while staff change the same records. Phones visit, report cases (with
//! photos), take their cases through sign, start and resolve (with a photo of the result),
//! and correct households, mostly offline, sending their work in batches that the network
//! drops before or after the server acts, delays, and repeats late. At the end every phone
//! syncs, and the day is judged:
//!
//! - a phone is consistent when its copy equals, record for record and version for version,
//!   what the server's own lists show its account;
//! - an operation is applied once when its final answer was `applied` or `already_applied`,
//!   `applied` was never answered twice, and the server shows its effect exactly once (a
//!   visit or a case by its id, a change by the history row carrying its `recorded_at`);
//! - lost: an operation never answered, or answered as applied with no effect on the server;
//!   duplicated: an effect shown twice, or `applied` answered twice;
//! - a refusal is expected only for a change based on an earlier operation of the phone that
//!   conflicted (`based_on_failed`); any other refusal fails the day.
//!
//! The server runs in this process on port 0, on the database the settings name: the command
//! gives it a fresh SQLite file unless `DATABASE_URL` is set, which should then name an
//! empty database (the simulation's grid lies over Dianbai and would overlap real units).

mod check;
mod link;
mod phone;

use crate::config::Settings;
use crate::startup::Application;
use chrono::{Duration, Utc};
use link::{Link, Rng, Traffic};
use phone::Phone;
use reqwest::Method;
use serde_json::{Value, json};
use std::cell::Cell;
use std::fmt;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Args {
    pub workers: usize,
    pub hours: u32,
    /// The share of exchanges the network loses (0 to 0.9).
    pub loss: f64,
    pub seed: u64,
}

/// The day's verdict.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub devices: usize,
    pub devices_consistent: usize,
    pub operations: usize,
    pub applied_once: usize,
    pub conflicts_reported: usize,
    /// Refused because an operation they were based on was not applied (it conflicted):
    /// told to the phone, as it should be.
    pub rejected: usize,
    /// Refused for anything else: a phone that sends only well-formed work on records it
    /// may change should see none.
    pub refused_unexpectedly: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// Of the operations, those of patrols (start, fixes, finish).
    pub patrol_operations: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "devices_consistent={}/{} operations={} applied_once={} conflicts_reported={} lost={} duplicated={}",
            self.devices_consistent,
            self.devices,
            self.operations,
            self.applied_once,
            self.conflicts_reported,
            self.lost,
            self.duplicated
        )
    }
}

/// The settings of the simulated server: `base` with a fresh data directory, port 0, no
/// demo, no rate limit (every phone comes from 127.0.0.1).
#[must_use]
pub fn settings(mut base: Settings, dir: &std::path::Path) -> Settings {
    base.bind = "127.0.0.1:0".into();
    base.data_dir = dir.to_path_buf();
    base.seed_demo = false;
    base.rate_limit_per_min = u32::MAX / 2;
    base
}

/// Runs the day.
///
/// # Errors
/// What kept the simulation itself from running (not a failed check: those are counted).
pub fn run(args: &Args, settings: Settings) -> Result<Counts, String> {
    actix_web::rt::System::new().block_on(day(args.clone(), settings))
}

struct World {
    base: String,
    client: reqwest::Client,
    staff: String,
    phones: Vec<Phone>,
}

async fn day(args: Args, settings: Settings) -> Result<Counts, String> {
    let url = settings.database_url.clone();
    let app = Application::build(settings)
        .await
        .map_err(|e| format!("the server did not start: {e}"))?;
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    let mut world = setup(&args, &base, &url).await?;
    for p in &mut world.phones {
        p.sync_down().await?;
    }
    let staff_rng = Rng::new(args.seed ^ 0x5747);
    for hour in 0..args.hours {
        for (i, p) in world.phones.iter_mut().enumerate() {
            p.work(hour, &street(i));
        }
        // Phones online this hour send and sync, all at once; staff work meanwhile.
        let online: Vec<&mut Phone> = world
            .phones
            .iter_mut()
            .filter(|p| p.link.rng.chance(0.6))
            .collect();
        let phones = futures_util::future::join_all(online.into_iter().map(|p| async move {
            p.flush().await;
            p.sync_down().await
        }));
        let staff = meddle(&world.client, &world.base, &world.staff, &staff_rng);
        let (synced, staffed) = futures_util::future::join(phones, staff).await;
        synced.into_iter().collect::<Result<Vec<_>, _>>()?;
        staffed?;
    }
    // Evening: every phone back online until each operation has its final answer.
    for _ in 0..50 {
        let waiting: Vec<&mut Phone> = world
            .phones
            .iter_mut()
            .filter(|p| p.unanswered() > 0)
            .collect();
        if waiting.is_empty() {
            break;
        }
        futures_util::future::join_all(waiting.into_iter().map(|p| p.flush())).await;
    }
    settle(&url).await?;
    for p in &mut world.phones {
        p.sync_down().await?;
    }
    verdict(&world, &url).await
}

/// The street of the households in phone `i`'s care.
fn street(i: usize) -> String {
    format!("模拟路 {i} 巷 ")
}

/// Waits until the feed has numbered every committed change.
async fn settle(url: &str) -> Result<(), String> {
    let mut conn = wangge_persistence::db::establish(url).map_err(|e| e.to_string())?;
    for _ in 0..500 {
        if wangge_persistence::probe::unnumbered_changes(&mut conn).map_err(|e| e.to_string())? == 0
        {
            return Ok(());
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err("the change feed did not settle".into())
}

async fn verdict(world: &World, url: &str) -> Result<Counts, String> {
    let truth = check::Truth {
        client: world.client.clone(),
        base: world.base.clone(),
    };
    let mut conn = wangge_persistence::db::establish(url).map_err(|e| e.to_string())?;
    let mut c = Counts {
        devices: world.phones.len(),
        ..Counts::default()
    };
    let mut traffic = Traffic::default();
    for p in &world.phones {
        let t = p.link.traffic.get();
        traffic.sent += t.sent;
        traffic.requests_lost += t.requests_lost;
        traffic.answers_lost += t.answers_lost;
        let server = truth.view(&p.token, &p.unit_id).await?;
        if p.versions() == server {
            c.devices_consistent += 1;
        } else {
            let mine = p.versions();
            let differ = server
                .iter()
                .filter(|(k, v)| mine.get(*k) != Some(*v))
                .chain(mine.iter().filter(|(k, _)| !server.contains_key(*k)))
                .take(3)
                .collect::<Vec<_>>();
            eprintln!("{}: differs from the server at {differ:?}", p.name);
        }
        for op in &p.ops {
            c.operations += 1;
            if op.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("patrol."))
            {
                c.patrol_operations += 1;
            }
            let marks = check::marks(&mut conn, op)?;
            let duplicated = marks > 1 || op.applied_seen > 1;
            match op.status.as_deref() {
                _ if duplicated => c.duplicated += 1,
                None => c.lost += 1,
                Some("applied" | "already_applied") if marks == 1 => c.applied_once += 1,
                Some("applied" | "already_applied") => c.lost += 1,
                Some("conflict") if marks == 0 => c.conflicts_reported += 1,
                Some("rejected") if marks == 0 => {
                    if op.refused.as_deref() == Some("based_on_failed") {
                        c.rejected += 1;
                    } else {
                        c.refused_unexpectedly += 1;
                        eprintln!("{}: refused: {:?} {}", p.name, op.refused, op.body);
                    }
                }
                // A conflict or a refusal that left a mark after all.
                Some(_) => c.duplicated += 1,
            }
        }
    }
    eprintln!(
        "requests={} requests_lost={} answers_lost={} rejected_after_a_conflict={} refused_unexpectedly={} patrol_operations={}",
        traffic.sent,
        traffic.requests_lost,
        traffic.answers_lost,
        c.rejected,
        c.refused_unexpectedly,
        c.patrol_operations
    );
    Ok(c)
}

/// Staff in the command centre (a good network): they correct households and move cases
/// along, on the same records the phones change offline.
async fn meddle(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    rng: &Rng,
) -> Result<(), String> {
    let staff = Link {
        client: client.clone(),
        base: base.to_owned(),
        loss: 0.0,
        rng: Rng::new(rng.next_u64()),
        traffic: Cell::new(Traffic::default()),
    };
    let get = |path: String| {
        let staff = &staff;
        async move {
            match staff.call(staff.request(Method::GET, &path, token)).await {
                Ok((200, v)) => Ok(v),
                other => Err(format!("staff GET {path}: {other:?}")),
            }
        }
    };
    let homes = get("/api/v1/households?limit=500".into()).await?;
    for h in homes["items"].as_array().into_iter().flatten() {
        if !rng.chance(0.15) {
            continue;
        }
        let path = format!(
            "/api/v1/households/{}",
            h["id"].as_str().unwrap_or_default()
        );
        let req = staff
            .request(Method::PATCH, &path, token)
            .header("if-match", format!("\"{}\"", h["version"]))
            .json(&json!({ "notes": format!("社区核实 {}", rng.next_u64() % 1000) }));
        // 412 when a phone changed it meanwhile: staff read again another time.
        let _ = staff.call(req).await;
    }
    let cases = get("/api/v1/incidents?limit=500".into()).await?;
    for case in cases["items"].as_array().into_iter().flatten() {
        let action = match case["status"].as_str() {
            Some("reported") => json!({ "action": "register" }),
            Some("registered") => json!({ "action": "dispatch" }),
            Some("resolved") => json!({ "action": "verify" }),
            Some("verified") => json!({ "action": "close" }),
            _ => continue,
        };
        if !rng.chance(0.7) {
            continue;
        }
        let path = format!(
            "/api/v1/incidents/{}/transitions",
            case["id"].as_str().unwrap_or_default()
        );
        let req = staff
            .request(Method::POST, &path, token)
            .header("if-match", format!("\"{}\"", case["version"]))
            .json(&action);
        let _ = staff.call(req).await;
    }
    Ok(())
}

/// The grid (a district, a subdistrict, one community per ten phones), the accounts, and
/// four households with a resident each per phone.
#[allow(clippy::cast_precision_loss, clippy::too_many_lines)]
async fn setup(args: &Args, base: &str, url: &str) -> Result<World, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let password = wangge_app::password::random_token(18);
    let hash = wangge_app::password::hash(&password).map_err(|e| e.to_string())?;
    let mut conn = wangge_persistence::db::establish(url).map_err(|e| e.to_string())?;
    let tag = wangge_app::password::random_token(6).to_lowercase();
    let account = |conn: &mut _, name: &str, role: &str, all: bool, units: &[(String, bool)]| {
        let rec = wangge_persistence::users::insert(
            conn,
            &wangge_persistence::users::NewUser {
                id: &uuid::Uuid::now_v7().to_string(),
                username: &wangge_domain::Username::parse(name).map_err(|e| e.to_string())?,
                password_hash: &hash,
                roles: &[role.parse().map_err(|_| format!("role {role}"))?],
                must_change_password: false,
                display_name: name,
                phone: None,
                department_id: None,
                all_units: all,
            },
            &wangge_app::tx::stored_time(Utc::now()),
        )
        .map_err(|e| e.to_string())?;
        wangge_persistence::users::insert_assignments(conn, &rec.id, units)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(rec.id)
    };
    let login = |name: String| {
        let client = client.clone();
        let password = password.clone();
        async move {
            let r: Value = client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({ "username": name, "password": password }))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            r["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("login of {name}: {r}"))
        }
    };
    account(&mut conn, &format!("sim-admin-{tag}"), "admin", true, &[])?;
    let admin = login(format!("sim-admin-{tag}")).await?;
    let send = |token: String, method: Method, path: String, body: Value| {
        let client = client.clone();
        async move {
            let res = client
                .request(method, format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = res.status();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                Ok(v)
            } else {
                Err(format!("{path}: {status} {v}"))
            }
        }
    };
    let ring = |w: f64, s: f64, e: f64, n: f64| json!({ "type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]] });
    let communities = args.workers.div_ceil(10).max(1);
    // A code of its own, so a simulation can share a database with other data.
    let code = 100_000 + uuid::Uuid::now_v7().as_u128() % 800_000;
    let unit = |parent: Option<String>, code: String, level: u8, geometry: Value| {
        let admin = admin.clone();
        let send = &send;
        async move {
            let u = send(admin.clone(), Method::POST, "/api/v1/units".into(),
                json!({ "code": code, "name": format!("模拟{code}"), "level": level, "parent_id": parent })).await?;
            let id = u["id"].as_str().unwrap_or_default().to_owned();
            send(
                admin,
                Method::PUT,
                format!("/api/v1/units/{id}/coverage"),
                json!({ "geometry": geometry }),
            )
            .await?;
            Ok::<_, String>(id)
        }
    };
    let (w, s, e, n) = (111.0, 21.5, 111.2, 21.7);
    let district = unit(None, format!("{code}"), 1, ring(w, s, e, n)).await?;
    let subdistrict = unit(
        Some(district.clone()),
        format!("{code}001"),
        2,
        ring(w, s, e, n),
    )
    .await?;
    let width = (e - w) / communities as f64;
    let mut strips = Vec::new();
    for i in 0..communities {
        let (cw, ce) = (
            w + width * i as f64 + 0.001,
            w + width * (i + 1) as f64 - 0.001,
        );
        let id = unit(
            Some(subdistrict.clone()),
            format!("{code}001{:03}", i + 1),
            3,
            ring(cw, s + 0.01, ce, n - 0.01),
        )
        .await?;
        strips.push((id, ((s + n) / 2.0, (cw + ce) / 2.0)));
    }
    account(
        &mut conn,
        &format!("sim-staff-{tag}"),
        "community_staff",
        false,
        &[(district, true)],
    )?;
    let staff = login(format!("sim-staff-{tag}")).await?;
    let mut phones = Vec::new();
    for i in 0..args.workers {
        let (unit_id, (lat, lng)) = strips[i / 10].clone();
        let name = format!("sim-worker-{tag}-{i}");
        account(
            &mut conn,
            &name,
            "grid_worker",
            false,
            &[(unit_id.clone(), true)],
        )?;
        let token = login(name.clone()).await?;
        for k in 0..4 {
            let h = send(staff.clone(), Method::POST, "/api/v1/households".into(),
                json!({ "address": format!("{}{k} 号", street(i)), "location": { "lat": lat + 0.001 * k as f64, "lng": lng } })).await?;
            let hid = h["id"].as_str().unwrap_or_default();
            send(
                staff.clone(),
                Method::POST,
                format!("/api/v1/households/{hid}/residents"),
                json!({ "name": format!("居民{i}{k}"), "relation": "head" }),
            )
            .await?;
        }
        let link = Link {
            client: client.clone(),
            base: base.to_owned(),
            loss: args.loss,
            rng: Rng::new(args.seed.wrapping_add(i as u64 * 7919)),
            traffic: Cell::new(Traffic::default()),
        };
        phones.push(Phone::new(
            name,
            token,
            unit_id,
            (lat, lng),
            link,
            Utc::now() - Duration::hours(i64::from(args.hours) + 1),
        ));
    }
    Ok(World {
        base: base.to_owned(),
        client,
        staff,
        phones,
    })
}
