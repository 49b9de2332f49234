//! A phone's bad network: requests lost on the way, answers lost after the server acted,
//! delays that reorder one phone's requests against everyone else's.

use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use std::cell::Cell;
use std::time::Duration;

/// A small seeded generator (SplitMix64): the same seed walks the same day.
pub struct Rng(Cell<u64>);

impl Rng {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(Cell::new(seed))
    }

    pub fn next_u64(&self) -> u64 {
        let s = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.0.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    pub fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (`n` > 0).
    #[allow(clippy::cast_possible_truncation)]
    pub fn below(&self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Why a request came to nothing, as the phone sees it: it cannot tell the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    Request,
    Answer,
}

/// What went over the link.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub sent: u64,
    pub requests_lost: u64,
    pub answers_lost: u64,
}

/// The link: an HTTP client that loses a share `loss` of exchanges, half before the server
/// sees them and half after it answered.
pub struct Link {
    pub client: reqwest::Client,
    pub base: String,
    pub loss: f64,
    pub rng: Rng,
    pub traffic: Cell<Traffic>,
}

impl Link {
    /// A request as built, ready to go over the link.
    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Sends it, maybe. `Ok` is the status and the JSON answer (`Null` when not JSON).
    ///
    /// # Errors
    /// [`Lost`] as the network decides; a transport failure counts as a lost request.
    pub async fn call(&self, req: RequestBuilder) -> Result<(u16, Value), Lost> {
        let mut t = self.traffic.get();
        t.sent += 1;
        let roll = self.rng.unit();
        let delay_ms = self.rng.next_u64() % 15;
        actix_web::rt::time::sleep(Duration::from_millis(delay_ms)).await;
        if roll < self.loss / 2.0 {
            t.requests_lost += 1;
            self.traffic.set(t);
            return Err(Lost::Request);
        }
        let Ok(res) = req.send().await else {
            t.requests_lost += 1;
            self.traffic.set(t);
            return Err(Lost::Request);
        };
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(|_| Lost::Answer)?;
        if roll < self.loss {
            t.answers_lost += 1;
            self.traffic.set(t);
            return Err(Lost::Answer);
        }
        self.traffic.set(t);
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// Sends until an answer comes back, each time the same request (the same ids).
    ///
    /// # Errors
    /// The last [`Lost`] after `tries` attempts.
    pub async fn persist(
        &self,
        tries: usize,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(u16, Value), Lost> {
        let mut last = Lost::Request;
        for _ in 0..tries.max(1) {
            match self.call(build()).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}
