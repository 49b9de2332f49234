//! Fan-out of incident events to this instance's event streams. One pump per instance reads
//! new events from the change feed (the database is the only source of truth) and hands them
//! to the streams through a bounded broadcast channel. It reads when woken: by this
//! instance's sequencer after it numbered changes, by a Redis message from another
//! instance's sequencer (`<ns>:feed`, the new head), or by a fallback poll
//! (`WANGGE_SSE_POLL_MS`) when Redis is absent or a message was lost. Redis only says "read
//! now"; what is read always comes from the database, so losing Redis delays, never loses.

use crate::startup::{AppState, StateExt};
use actix_web::web;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};
use wangge_app::events::CaseEvent;

/// Events read from the database at a time, by the pump and by a stream catching up.
pub const PAGE: i64 = 200;
/// Events the broadcast holds for a slow stream before it falls behind (and catches up from
/// the database instead).
const CHANNEL: usize = 1024;
/// After a write of this instance that another instance's sequencer numbered, the pump reads
/// this often for a while, instead of waiting for a message that may come from elsewhere.
const CLOSE_POLL: Duration = Duration::from_millis(50);
const CLOSE_FOR: Duration = Duration::from_secs(1);
/// The pump reads at most once in this long however often it is woken: under a stream of
/// writes the sequencer numbers a batch every few milliseconds, and a read (a transaction of
/// up to five statements) per batch took CPU from the writes themselves (docs/benchmarks.md).
/// An event waits at most this long more.
const MIN_GAP: Duration = Duration::from_millis(25);
/// How soon a head that could not be published is tried again.
const RETRY_PUBLISH: Duration = Duration::from_millis(500);

/// The instance's side of the fan-out, shared by the pump and every stream.
pub struct Hub {
    events: broadcast::Sender<Arc<CaseEvent>>,
    wake: Notify,
    /// The newest head this instance's sequencer numbered, for the publisher.
    heads: watch::Sender<i64>,
    /// The position the pump has read up to.
    pumped: AtomicI64,
    close_until: Mutex<Option<Instant>>,
    streams: AtomicUsize,
    max_streams: usize,
    /// Streams open per account, and how many one account may hold.
    per_account: Mutex<HashMap<String, usize>>,
    max_per_account: usize,
}

/// Why a stream found no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The instance serves its maximum (`WANGGE_SSE_MAX_STREAMS`).
    Instance,
    /// The account holds its maximum (`WANGGE_SSE_MAX_STREAMS_PER_ACCOUNT`).
    Account,
}

impl Hub {
    #[must_use]
    pub fn new(max_streams: usize, max_per_account: usize) -> Arc<Self> {
        Arc::new(Self {
            events: broadcast::channel(CHANNEL).0,
            wake: Notify::new(),
            heads: watch::Sender::new(0),
            pumped: AtomicI64::new(0),
            close_until: Mutex::new(None),
            streams: AtomicUsize::new(0),
            max_streams,
            per_account: Mutex::new(HashMap::new()),
            max_per_account,
        })
    }

    /// The events the pump reads from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CaseEvent>> {
        self.events.subscribe()
    }

    /// Asks the pump to read the feed now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A write of this instance may be numbered by another instance: read now, and often for
    /// a moment.
    pub fn follow_closely(&self) {
        *self
            .close_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + CLOSE_FOR);
        self.wake();
    }

    fn poll_interval(&self, poll: Duration) -> Duration {
        let close = self
            .close_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|t| Instant::now() < t);
        if close { CLOSE_POLL.min(poll) } else { poll }
    }

    /// A place for one more stream of `account`.
    ///
    /// # Errors
    /// When the instance serves its maximum, or the account holds its own.
    pub fn slot(self: &Arc<Self>, account: &str) -> Result<Slot, Full> {
        let mut held = self
            .per_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mine = held.entry(account.to_owned()).or_insert(0);
        if *mine >= self.max_per_account {
            return Err(Full::Account);
        }
        let taken = self.streams.fetch_add(1, Ordering::AcqRel);
        if taken >= self.max_streams {
            self.streams.fetch_sub(1, Ordering::AcqRel);
            if *mine == 0 {
                held.remove(account);
            }
            return Err(Full::Instance);
        }
        *mine += 1;
        Ok(Slot {
            hub: self.clone(),
            account: account.to_owned(),
        })
    }
}

/// A stream's place under `WANGGE_SSE_MAX_STREAMS` and its account's, given back when the
/// stream ends.
pub struct Slot {
    hub: Arc<Hub>,
    account: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.streams.fetch_sub(1, Ordering::AcqRel);
        let mut held = self
            .hub
            .per_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.account);
            }
        }
    }
}

fn channel(state: &AppState) -> String {
    format!("{}:feed", state.settings.redis_namespace)
}

/// After this instance's sequencer numbered changes up to `head`: its own pump reads at once
/// (even with Redis away), and the publisher tells the other instances.
pub fn announce(state: &web::Data<AppState>, head: i64) {
    state.feed.wake();
    state.feed.heads.send_replace(head);
}

/// Publishes the newest head this instance numbered on `<ns>:feed`, one at a time: only the
/// newest matters, so heads numbered while Redis is away collapse into one, sent (again and
/// again, until it goes through) once Redis is back. The others also poll meanwhile.
pub async fn publish_heads(state: web::Data<AppState>, mut redis: redis::aio::ConnectionManager) {
    let mut heads = state.feed.heads.subscribe();
    let channel = channel(&state);
    let mut failing = false;
    while heads.changed().await.is_ok() {
        loop {
            let head = *heads.borrow_and_update();
            let sent = actix_web::rt::time::timeout(
                Duration::from_secs(2),
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(head)
                    .query_async::<i64>(&mut redis),
            )
            .await;
            match sent {
                Ok(Ok(_)) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("publishing the feed's head to Redis works again");
                    }
                    break;
                }
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::warn!(error.cause = %e, "could not publish the feed's head to Redis; retrying");
                }
                Err(_) if !failing => {
                    failing = true;
                    tracing::warn!("publishing the feed's head to Redis timed out; retrying");
                }
                _ => {}
            }
            actix_web::rt::time::sleep(RETRY_PUBLISH).await;
        }
    }
}

/// The pump: reads new events after the last position it read and broadcasts them, on every
/// wake-up and at least every `WANGGE_SSE_POLL_MS`. Runs until the server stops.
pub async fn pump(state: web::Data<AppState>) {
    let hub = state.feed.clone();
    let poll = Duration::from_millis(state.settings.sse_poll_ms.max(10));
    // Streams catch up on anything older from the database themselves.
    let mut pumped = loop {
        match state.db(|c| Ok(wangge_app::events::head(c)?)).await {
            Ok(h) => break h,
            Err(e) => {
                tracing::warn!(error.cause = %e.detail, "reading the feed's head failed; retrying");
                actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    hub.pumped.store(pumped, Ordering::Release);
    loop {
        let _ = actix_web::rt::time::timeout(hub.poll_interval(poll), hub.wake.notified()).await;
        let started = Instant::now();
        loop {
            let after = pumped;
            let page = state
                .db(move |c| Ok(wangge_app::events::read_after(c, after, PAGE)?))
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error.cause = %e.detail, "reading events from the feed failed; retrying");
                    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            };
            let full = i64::try_from(page.events.len()).unwrap_or(i64::MAX) >= PAGE;
            for e in page.events {
                // An error only says that no stream is open.
                let _ = hub.events.send(Arc::new(e));
            }
            pumped = page.upto.max(pumped);
            hub.pumped.store(pumped, Ordering::Release);
            if !full {
                break;
            }
        }
        actix_web::rt::time::sleep_until((started + MIN_GAP).into()).await;
    }
}

/// Listens for other instances' announcements, reconnecting whenever Redis goes away.
pub async fn subscribe_loop(state: web::Data<AppState>, url: String) {
    loop {
        match subscribe_once(&state, &url).await {
            Ok(()) => tracing::warn!("Redis feed subscription ended; reconnecting"),
            Err(e) => tracing::warn!(error.cause = %e, "Redis feed subscription failed; retrying"),
        }
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe_once(state: &web::Data<AppState>, url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel(state)).await?;
    // What was announced while this instance was not listening is read now.
    state.feed.wake();
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let head = msg.get_payload::<i64>().unwrap_or(i64::MAX);
        if head > state.feed.pumped.load(Ordering::Acquire) {
            state.feed.wake();
        }
    }
    Ok(())
}
