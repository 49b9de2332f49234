//! One simulated phone: its copy of its scope, the work it does offline, and how it sends
//! that work over a bad link until every operation has a final answer.

use super::link::Link;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What the phone did, and what became of it.
pub struct Op {
    /// The record the operation creates or changes.
    pub entity_id: String,
    /// How the server's mark of it is found: a visit, a case, or a history row of this kind.
    pub mark: Mark,
    /// As sent in `recorded_at` and as the server stores it (milliseconds, UTC).
    pub recorded_at: String,
    pub body: Value,
    pub photo: Option<Vec<u8>>,
    /// Answers `applied` seen, over every attempt and every late copy.
    pub applied_seen: u32,
    /// The final status (`applied`, `already_applied`, `conflict`, `rejected`).
    pub status: Option<String>,
    /// A refusal's problem code.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Visit,
    Incident,
    History(&'static str),
}

pub struct Phone {
    pub name: String,
    pub token: String,
    pub unit_id: String,
    /// A point inside the phone's community.
    pub point: (f64, f64),
    pub link: Link,
    /// Every record held, by (entity, id): its version and data.
    pub records: BTreeMap<(String, String), (i64, Value)>,
    cursor: Option<String>,
    pub ops: Vec<Op>,
    pending: Vec<usize>,
    last_batch: Vec<usize>,
    /// The phone's clock for `recorded_at`: strictly rising.
    clock: DateTime<Utc>,
    /// The patrol being walked, and how many fixes it has.
    patrol: Option<(String, u32)>,
}

/// Metres north between two fixes of a patrol (a walker's few seconds to a minute).
const FIX_STEP_M: f64 = 10.0;

/// A JPEG as far as its content goes, different for each `n`.
fn photo(n: u64) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01,
    ];
    b.extend_from_slice(&n.to_be_bytes());
    b.extend(std::iter::repeat_n(0x5A, 2048));
    b
}

fn v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Phone {
    pub fn new(
        name: String,
        token: String,
        unit_id: String,
        point: (f64, f64),
        link: Link,
        start: DateTime<Utc>,
    ) -> Self {
        Self {
            name,
            token,
            unit_id,
            point,
            link,
            records: BTreeMap::new(),
            cursor: None,
            ops: Vec::new(),
            pending: Vec::new(),
            last_batch: Vec::new(),
            clock: start,
            patrol: None,
        }
    }

    pub fn unanswered(&self) -> usize {
        self.pending.len()
    }

    fn tick(&mut self) -> String {
        self.clock +=
            Duration::milliseconds(1_000 + i64::try_from(self.link.rng.below(60_000)).unwrap_or(0));
        wangge_app::tx::stored_time(self.clock)
    }

    fn of(&self, entity: &str) -> Vec<(String, i64, Value)> {
        self.records
            .iter()
            .filter(|((e, _), _)| e == entity)
            .map(|((_, id), (v, d))| (id.clone(), *v, d.clone()))
            .collect()
    }

    fn push(
        &mut self,
        kind: &str,
        entity_id: String,
        mark: Mark,
        based_on: Option<Value>,
        data: Value,
        photo: Option<Vec<u8>>,
    ) {
        let recorded_at = self.tick();
        let op_id = v7();
        let mut body =
            json!({ "op_id": op_id, "type": kind, "recorded_at": recorded_at, "data": data });
        if let (Some(v), Some(o)) = (based_on, body.as_object_mut()) {
            o.insert("based_on_version".into(), v);
        }
        self.pending.push(self.ops.len());
        self.ops.push(Op {
            entity_id,
            mark,
            recorded_at,
            body,
            photo,
            applied_seen: 0,
            status: None,
            refused: None,
        });
    }

    /// A stretch of a patrol: started if none is walked, some fixes, sometimes the end.
    fn walk(&mut self) {
        let (id, walked) = match self.patrol.clone() {
            Some(p) => p,
            None => {
                let id = v7();
                self.push(
                    "patrol.start",
                    id.clone(),
                    Mark::History("started"),
                    None,
                    json!({ "id": id }),
                    None,
                );
                (id, 0)
            }
        };
        let n = 3 + u32::try_from(self.link.rng.below(5)).unwrap_or(0);
        let (lat, lng) = self.point;
        let fixes: Vec<Value> = (walked..walked + n)
            .map(|k| {
                json!({ "lat": lat + f64::from(k % 400) * FIX_STEP_M / 111_320.0, "lng": lng,
                        "accuracy_m": 10.0, "at": self.tick() })
            })
            .collect();
        self.push(
            "patrol.points",
            id.clone(),
            Mark::History("points_added"),
            None,
            json!({ "patrol_id": id, "points": fixes }),
            None,
        );
        self.patrol = Some((id.clone(), walked + n));
        if self.link.rng.chance(0.3) {
            self.push(
                "patrol.finish",
                id.clone(),
                Mark::History("finished"),
                None,
                json!({ "patrol_id": id }),
                None,
            );
            self.patrol = None;
        }
    }

    /// An hour of field work, recorded on the phone (sent later, when online): a stretch of
    /// patrol, the households in its care (`street`), and the cases it reported.
    pub fn work(&mut self, hour: u32, street: &str) {
        if self.link.rng.chance(0.6) {
            self.walk();
        }
        let homes: Vec<_> = self
            .of("household")
            .into_iter()
            .filter(|(_, _, d)| d["address"].as_str().is_some_and(|a| a.contains(street)))
            .collect();
        if !homes.is_empty() {
            let (hid, version, _) = homes[self.link.rng.below(homes.len())].clone();
            let id = v7();
            self.push(
                "visit.create",
                id.clone(),
                Mark::Visit,
                None,
                json!({ "household_id": hid, "id": id, "notes": format!("第 {hour} 时走访") }),
                None,
            );
            if self.link.rng.chance(0.4) {
                // On top of its own change not sent yet, a change is based on that operation.
                let base = self
                    .pending
                    .iter()
                    .rev()
                    .find(|i| {
                        self.ops[**i].entity_id == hid
                            && self.ops[**i].mark == Mark::History("updated")
                    })
                    .map_or(json!(version), |i| self.ops[*i].body["op_id"].clone());
                self.push(
                    "household.update",
                    hid.clone(),
                    Mark::History("updated"),
                    Some(base),
                    json!({ "household_id": hid, "notes": format!("{} 第 {hour} 时记", self.name) }),
                    None,
                );
            }
        }
        if self.link.rng.chance(0.5) {
            let id = v7();
            let (lat, lng) = self.point;
            let pic = self
                .link
                .rng
                .chance(0.3)
                .then(|| photo(self.link.rng.next_u64()));
            let mut data = json!({ "id": id, "category": "0101", "description": "巡查发现占道",
                                   "location": { "lat": lat, "lng": lng } });
            if let (Some(p), Some(o)) = (&pic, data.as_object_mut()) {
                o.insert("photos".into(), json!([wangge_app::blobs::sha256_hex(p)]));
            }
            self.push("incident.create", id, Mark::Incident, None, data, pic);
        }
        // The cases waiting for this phone's hands, one step each until the next sync.
        let busy: Vec<String> = self
            .pending
            .iter()
            .map(|i| self.ops[*i].entity_id.clone())
            .collect();
        let mine: Vec<String> = self
            .ops
            .iter()
            .filter(|o| o.mark == Mark::Incident)
            .map(|o| o.entity_id.clone())
            .collect();
        for (id, version, data) in self.of("incident") {
            let owned =
                data["owner_unit"]["id"].as_str() == Some(&self.unit_id) && mine.contains(&id);
            let next = match data["status"].as_str() {
                Some("dispatched") => "sign",
                Some("signed") => "start",
                Some("in_progress") => "resolve",
                _ => continue,
            };
            if !owned || busy.contains(&id) {
                continue;
            }
            let pic = (next == "resolve").then(|| photo(self.link.rng.next_u64()));
            let mut data = json!({ "incident_id": id, "action": next });
            if let (Some(p), Some(o)) = (&pic, data.as_object_mut()) {
                o.insert("photos".into(), json!([wangge_app::blobs::sha256_hex(p)]));
                o.insert("note".into(), json!("已处理"));
            }
            self.push(
                "incident.transition",
                id,
                Mark::History(next),
                Some(json!(version)),
                data,
                pic,
            );
        }
    }

    /// Sends the photos the server lacks, then every operation not answered yet.
    pub async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let photos: Vec<Vec<u8>> = self
            .pending
            .iter()
            .filter_map(|i| self.ops[*i].photo.clone())
            .collect();
        if !photos.is_empty() {
            let hashes: Vec<String> = photos
                .iter()
                .map(|p| wangge_app::blobs::sha256_hex(p))
                .collect();
            let asked = self
                .link
                .persist(10, || {
                    self.link
                        .request(Method::POST, "/api/v1/uploads/missing", &self.token)
                        .json(&json!({ "hashes": hashes }))
                })
                .await;
            let Ok((200, missing)) = asked else { return };
            for m in missing["missing"].as_array().into_iter().flatten() {
                let Some(p) = photos.iter().find(|p| {
                    Some(wangge_app::blobs::sha256_hex(p).as_str()) == m["hash"].as_str()
                }) else {
                    continue;
                };
                let path = format!("/api/v1/uploads/{}", wangge_app::blobs::sha256_hex(p));
                let _ = self
                    .link
                    .persist(10, || {
                        self.link
                            .request(Method::PUT, &path, &self.token)
                            .body(p.clone())
                    })
                    .await;
            }
        }
        let batch: Vec<usize> = self.pending.clone();
        self.send(&batch).await;
        // A copy of the previous batch that the network held back arrives late.
        if self.link.rng.chance(self.link.loss) && !self.last_batch.is_empty() {
            let late = self.last_batch.clone();
            self.send(&late).await;
        }
        self.last_batch = batch;
    }

    async fn send(&mut self, batch: &[usize]) {
        let bodies: Vec<Value> = batch.iter().map(|i| self.ops[*i].body.clone()).collect();
        let answer = self
            .link
            .persist(20, || {
                self.link
                    .request(Method::POST, "/api/v1/sync", &self.token)
                    .json(&json!({ "operations": bodies }))
            })
            .await;
        let Ok((200, answer)) = answer else { return };
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        for (i, r) in batch.iter().zip(results) {
            let status = r["status"].as_str().unwrap_or_default().to_owned();
            if status == "rejected" && r["problem"]["code"] == "idempotency_in_flight" {
                continue;
            }
            if status == "applied" {
                self.ops[*i].applied_seen += 1;
            }
            let record = if status == "conflict" {
                r["current"].clone()
            } else {
                r.clone()
            };
            self.fold_record(&record);
            if self.ops[*i].status.is_none() && status == "rejected" {
                self.ops[*i].refused = r["problem"]["code"].as_str().map(str::to_owned);
            }
            self.ops[*i].status.get_or_insert(status);
        }
        self.pending.retain(|i| self.ops[*i].status.is_none());
    }

    fn fold_record(&mut self, r: &Value) {
        let (Some(entity), Some(id), Some(version)) = (
            r["entity"].as_str(),
            r["id"].as_str(),
            r["version"].as_i64(),
        ) else {
            return;
        };
        let key = (entity.to_owned(), id.to_owned());
        if self.records.get(&key).is_none_or(|(v, _)| *v <= version) {
            self.records.insert(key, (version, r["data"].clone()));
        }
    }

    /// Downloads what changed since the cursor until nothing more waits; starts over after
    /// `410`.
    ///
    /// # Errors
    /// When the link stays down.
    pub async fn sync_down(&mut self) -> Result<(), String> {
        for _ in 0..10_000 {
            let path = match &self.cursor {
                Some(c) => format!("/api/v1/sync?cursor={c}&limit=200"),
                None => "/api/v1/sync?limit=200".to_owned(),
            };
            let (status, page) = self
                .link
                .persist(20, || self.link.request(Method::GET, &path, &self.token))
                .await
                .map_err(|e| format!("{}: sync kept failing ({e:?})", self.name))?;
            if status == 410 {
                self.cursor = None;
                self.records.clear();
                continue;
            }
            if status != 200 {
                return Err(format!("{}: sync answered {status}: {page}", self.name));
            }
            for c in page["changes"].as_array().into_iter().flatten() {
                let key = (
                    c["entity"].as_str().unwrap_or_default().to_owned(),
                    c["id"].as_str().unwrap_or_default().to_owned(),
                );
                if c["op"] == "delete" {
                    self.records.remove(&key);
                } else {
                    self.records.insert(
                        key,
                        (c["version"].as_i64().unwrap_or_default(), c["data"].clone()),
                    );
                }
            }
            self.cursor = page["next_cursor"].as_str().map(str::to_owned);
            if page["more"] != json!(true) {
                return Ok(());
            }
        }
        Err(format!("{}: sync did not end", self.name))
    }

    /// The phone's copy as (entity, id) → version, of the records a download brings, and
    /// each task it holds as (`task`, `<kind>:<id>`) → 0 (see `check::Truth::view`).
    pub fn versions(&self) -> BTreeMap<(String, String), i64> {
        let tasks = self
            .records
            .iter()
            .filter(|((e, _), _)| e == "tasks")
            .flat_map(|(_, (_, data))| data["items"].as_array().cloned().unwrap_or_default())
            .map(|t| (("task".to_owned(), super::check::task_key(&t)), 0));
        self.records
            .iter()
            .filter(|((e, _), _)| !["visit", "patrol", "tasks"].contains(&e.as_str()))
            .map(|(k, (v, _))| (k.clone(), *v))
            .chain(tasks)
            .collect()
    }
}
