//! A small Server-Sent Events client for the tests: a real HTTP stream read chunk by chunk
//! (`reqwest::Response::chunk`, the same pull as `bytes_stream()` without another feature)
//! and a line parser per the SSE format (events end at a blank line; `:` starts a comment).

use crate::contract;
use crate::helpers::{Res, TestApp};
use serde_json::Value;
use std::time::Duration;

/// One event as the stream sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// What one block of the stream held.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(Event),
    Comment(String),
    Retry(u64),
}

pub struct Sse {
    resp: reqwest::Response,
    buf: String,
    pub headers: reqwest::header::HeaderMap,
}

pub const PATH: &str = "/api/v1/events/stream";

/// Opens a stream as `token` (`query` is appended to the path, e.g. `?after=3`). A refusal
/// comes back as the checked response.
pub async fn open(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Sse, Res> {
    let path = format!("{PATH}{query}");
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    if status != 200 {
        let text = resp.text().await.unwrap();
        contract::check("GET", &path, status, &headers, &text);
        return Err(Res {
            status,
            headers,
            text,
        });
    }
    // The headers and the content type; the body never ends, its events are checked below.
    contract::check("GET", &path, status, &headers, "");
    Ok(Sse {
        resp,
        buf: String::new(),
        headers,
    })
}

impl Sse {
    /// The next block within `within`, or `None` when nothing came in time. Panics if the
    /// server ended the stream.
    pub async fn next_item(&mut self, within: Duration) -> Option<Item> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(item) = parse(&block) {
                    return Some(item);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("reading the stream failed")
                .expect("the server ended the stream");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Whether the server ends the stream within `within` (whatever it sends before).
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// The next event within `within` (comments and `retry:` skipped), or `None`.
    pub async fn next_event(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_item(left).await? {
                Item::Event(e) => return Some(e),
                Item::Comment(_) | Item::Retry(_) => {}
            }
        }
    }

    /// `n` events, each within `within` of the one before; panics with what came otherwise.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<Event> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self.next_event(within).await {
                Some(e) => got.push(e),
                None => panic!("expected {n} events, got {}: {got:#?}", got.len()),
            }
        }
        got
    }

    /// Events up to and including the first that `last` accepts.
    pub async fn until(&mut self, within: Duration, last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut got = Vec::new();
        loop {
            match self.next_event(within).await {
                Some(e) => {
                    let done = last(&e);
                    got.push(e);
                    if done {
                        return got;
                    }
                }
                None => panic!("the awaited event did not come; got {got:#?}"),
            }
        }
    }
}

/// One block: an event (its data checked against the contract), a comment or a `retry:`.
fn parse(block: &str) -> Option<Item> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix(':') {
            return Some(Item::Comment(c.trim().to_owned()));
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse::<i64>().expect("a numeric id")),
            "event" => event = Some(value.to_owned()),
            "data" => data = Some(serde_json::from_str::<Value>(value).expect("JSON data")),
            "retry" => return Some(Item::Retry(value.parse().expect("retry in ms"))),
            other => panic!("unknown SSE field {other:?} in {block:?}"),
        }
    }
    let e = Event {
        id: id.expect("every event has an id"),
        event: event.expect("every event has a type"),
        data: data.expect("every event has data"),
    };
    contract::check_schema("IncidentEvent", &e.data);
    assert_eq!(e.data["position"], e.id, "the id is the position: {e:?}");
    assert_eq!(e.data["type"], e.event.as_str(), "{e:?}");
    Some(Item::Event(e))
}
