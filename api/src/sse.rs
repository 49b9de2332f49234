//! One Server-Sent Events stream of incident events. It catches up from the database after
//! its start position in pages, then follows the pump's broadcast, dropping anything at or
//! below the last position it handled; when it falls behind the broadcast (`Lagged`) it
//! catches up from the database again. So events arrive in position order, with no gap and
//! no duplicate, whatever Redis does. The body is pulled: a frame is made only when the
//! client has read the previous ones, so a slow client holds at most a page of frames.

use crate::feed::{PAGE, Slot};
use crate::startup::{AppState, StateExt};
use actix_web::web::Bytes;
use actix_web::{ResponseError, web};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use wangge_app::Who;
use wangge_app::events::{CaseEvent, Watcher};

/// The reconnection delay a browser's `EventSource` should use, sent first.
const RETRY: &[u8] = b"retry: 2000\n\n";
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

pub struct Stream {
    state: web::Data<AppState>,
    watcher: Watcher,
    events: broadcast::Receiver<Arc<CaseEvent>>,
    /// The last position handled (sent, or not for this subscriber): nothing at or below it
    /// is sent again.
    cursor: i64,
    frames: VecDeque<Bytes>,
    catching_up: bool,
    heartbeat: tokio::time::Interval,
    session_id: String,
    /// Who the stream is for, to ask again at each heartbeat whether they still read what
    /// the watcher lets through (assignments change without ending the session).
    who: Who,
    _slot: Slot,
}

impl Stream {
    /// A stream that starts after `start`. Subscribe to the broadcast before calling this
    /// (the first catch-up reads the database after that), so nothing falls between.
    #[must_use]
    pub fn new(
        state: web::Data<AppState>,
        watcher: Watcher,
        start: i64,
        events: broadcast::Receiver<Arc<CaseEvent>>,
        slot: Slot,
        session_id: String,
        who: Who,
    ) -> Self {
        let every = Duration::from_secs(state.settings.sse_heartbeat_s.max(1));
        // Streams opened together (clients back after a restart) tick apart, so their
        // re-reads of the account do not all fall in one moment.
        let first = every.mul_f64(0.5 + 0.5 * spread(&session_id));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            state,
            watcher,
            events,
            cursor: start,
            frames: VecDeque::from([Bytes::from_static(RETRY)]),
            catching_up: true,
            heartbeat,
            session_id,
            who,
            _slot: slot,
        }
    }

    /// The response body.
    pub fn into_body(
        self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
        futures_util::stream::unfold(self, |mut s| async move {
            s.next_frame().await.map(|f| (Ok(f), s))
        })
    }

    /// The next frame to send, or `None` to end the stream.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Some(f);
            }
            // A logout or a change of roles ends the session: its streams end with it.
            if self.state.revoked.contains(&self.session_id) {
                return None;
            }
            if self.catching_up {
                self.catch_up().await?;
                continue;
            }
            tokio::select! {
                got = self.events.recv() => match got {
                    Ok(e) => {
                        if e.position > self.cursor {
                            self.cursor = e.position;
                            if let Some(f) = frame(&e).filter(|_| self.watcher.sees(&e)) {
                                return Some(f);
                            }
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.catching_up = true,
                    Err(RecvError::Closed) => return None,
                },
                _ = self.heartbeat.tick() => {
                    // The caller as they stand now. One who may no longer read incidents
                    // (or is gone) ends the stream; a database busy or away for a moment
                    // keeps the last answer, as a stream that never asked would.
                    let who = self.who.clone();
                    match self.state.read(who, wangge_app::events::watcher).await {
                        Ok(w) => self.watcher = w,
                        Err(e) if e.status_code().is_client_error() => return None,
                        Err(_) => {}
                    }
                    return Some(Bytes::from_static(KEEP_ALIVE));
                }
            }
        }
    }

    /// Reads one page after the cursor; `None` when the database failed (the stream ends and
    /// the client resumes with `Last-Event-ID`, losing nothing).
    async fn catch_up(&mut self) -> Option<()> {
        let after = self.cursor;
        let page = self
            .state
            .db(move |c| Ok(wangge_app::events::read_after(c, after, PAGE)?))
            .await
            .ok()?;
        self.catching_up = i64::try_from(page.events.len()).unwrap_or(i64::MAX) >= PAGE;
        for e in page.events.iter().filter(|e| self.watcher.sees(e)) {
            if let Some(f) = frame(e) {
                self.frames.push_back(f);
            }
        }
        self.cursor = page.upto.max(self.cursor);
        Some(())
    }
}

/// A number in [0, 1) that differs from stream to stream.
fn spread(seed: &str) -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let h = RandomState::new().hash_one(seed);
    (h % 1000) as f64 / 1000.0
}

/// `id:` the feed position, `event:` the type, `data:` the event as one line of JSON.
fn frame(e: &CaseEvent) -> Option<Bytes> {
    let data = serde_json::to_string(e).ok()?;
    Some(Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        e.position,
        e.kind.as_str()
    )))
}
