//! The end of a simulated day: what each phone should hold, as the server's own lists show
//! it, and whether each operation left its mark on the server exactly once.

use super::phone::{Mark, Op};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use wangge_persistence::AnyConnection;

/// A reliable client for the checks (no loss: the checks are not under test).
pub struct Truth {
    pub client: reqwest::Client,
    pub base: String,
}

impl Truth {
    async fn get(&self, token: &str, path: &str) -> Result<Value, String> {
        let res = self
            .client
            .request(Method::GET, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("GET {path}: {}", res.status()));
        }
        res.json().await.map_err(|e| format!("GET {path}: {e}"))
    }

    /// Every item of a paged list.
    async fn all(&self, token: &str, path: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=500&cursor={c}"),
                None => format!("{path}{sep}limit=500"),
            };
            let page = self.get(token, &url).await?;
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// What a phone of `token`, assigned `unit` (which has no units below it), should hold:
    /// every category and calendar day, its unit and those above, the households of its
    /// scope with their residents, the cases its list shows, and its tasks.
    ///
    /// # Errors
    /// A read that failed.
    pub async fn view(
        &self,
        token: &str,
        unit: &str,
    ) -> Result<BTreeMap<(String, String), i64>, String> {
        let mut out = BTreeMap::new();
        let above = self
            .get(token, &format!("/api/v1/units/{unit}/ancestors"))
            .await?;
        let own = self.get(token, &format!("/api/v1/units/{unit}")).await?;
        for u in above["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .chain(std::iter::once(&own))
        {
            if let (Some(id), Some(v)) = (u["id"].as_str(), u["version"].as_i64()) {
                out.insert(("unit".to_owned(), id.to_owned()), v);
            }
        }
        let mut put = |entity: &str, id: Option<&str>, v: &Value| {
            if let (Some(id), Some(v)) = (id, v["version"].as_i64()) {
                out.insert((entity.to_owned(), id.to_owned()), v);
            }
        };
        for c in self
            .all(token, "/api/v1/incident-categories?include_retired=true")
            .await?
        {
            put("category", c["code"].as_str(), &c);
        }
        for d in self.get(token, "/api/v1/calendar").await?["days"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            put("calendar_day", d["date"].as_str(), &d);
        }
        for c in self.all(token, "/api/v1/incidents").await? {
            put("incident", c["id"].as_str(), &c);
        }
        for h in self.all(token, "/api/v1/households").await? {
            let hid = h["id"].as_str().unwrap_or_default().to_owned();
            put("household", Some(&hid), &h);
            let people = self
                .get(token, &format!("/api/v1/households/{hid}/residents"))
                .await?;
            for p in people["items"].as_array().cloned().unwrap_or_default() {
                put("resident", p["id"].as_str(), &p);
            }
        }
        // The tasks as a set: their order moves with the clock (overdue first).
        for t in self.get(token, "/api/v1/me/tasks?limit=200").await?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            out.insert(("task".to_owned(), task_key(&t)), 0);
        }
        Ok(out)
    }
}

/// A task as `<kind>:<id of its household or case>`, from `GET /me/tasks` or a sync.
#[must_use]
pub fn task_key(t: &Value) -> String {
    let id = t["household"]["id"]
        .as_str()
        .or(t["incident"]["id"].as_str())
        .or(t["incident_id"].as_str())
        .unwrap_or_default();
    format!("{}:{id}", t["kind"].as_str().unwrap_or_default())
}

/// How many times the server shows an operation's effect (0: lost; 2 or more: duplicated).
///
/// # Errors
/// Database errors.
pub fn marks(conn: &mut AnyConnection, op: &Op) -> Result<i64, String> {
    use wangge_persistence::probe;
    let n = match op.mark {
        Mark::Visit => probe::visits_with_id(conn, &op.entity_id),
        Mark::Incident => probe::history_rows(conn, &op.entity_id, "report", &op.recorded_at),
        Mark::History(kind) => probe::history_rows(conn, &op.entity_id, kind, &op.recorded_at),
    };
    n.map_err(|e| e.to_string())
}
