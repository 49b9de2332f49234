//! Database work runs on a fixed set of threads, as many as the pool has connections.
//!
//! With `web::block`, every request in flight took a thread of the blocking pool (up to 512
//! per worker), and all but a few then slept on the pool's condition variable for a
//! connection: each request cost extra thread wake-ups, and the allocator saw blocks made on
//! dozens of threads. Here a request's closure waits in a queue instead, and a thread that
//! holds a connection takes the next closure as soon as it is done with the last one. On the
//! households benchmark this is the difference between p99 52–64 ms and 27–33 ms
//! (docs/benchmarks.md). CPU-bound work that is not database work (password hashing,
//! parsing uploads) stays on `web::block`, so it never holds up reads.

use crate::error::ApiError;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

type Job = Box<dyn FnOnce() + Send>;

/// How many closures may wait for a thread before requests are refused with 503: at about a
/// millisecond each, a few seconds of work, which is as long as a client should wait.
const QUEUE_LEN: usize = 4096;

pub struct DbThreads {
    queue: SyncSender<Job>,
}

impl DbThreads {
    /// Starts `n` threads (at least one). They end when this value is dropped.
    ///
    /// # Errors
    /// When the operating system refuses a thread.
    pub fn start(n: usize) -> std::io::Result<Self> {
        let (queue, jobs) = sync_channel::<Job>(QUEUE_LEN);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..n.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("db-{i}"))
                .spawn(move || work(&jobs))?;
        }
        Ok(Self { queue })
    }

    /// Runs `f` on a database thread and waits for its result without blocking the caller's
    /// thread.
    ///
    /// # Errors
    /// 503 when the queue is full; 500 when `f` panics.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A panic must not take the thread with it; the caller gets a 500.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)).ok());
        });
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => ApiError::unavailable(&"the database queue is full"),
            TrySendError::Disconnected(_) => ApiError::internal(&"the database threads ended"),
        })?;
        rx.await
            .ok()
            .flatten()
            .ok_or_else(|| ApiError::internal(&"database work panicked"))
    }
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        // One idle thread waits on the channel, the others on the lock; a poisoned lock only
        // means another thread panicked while waiting, which leaves the receiver sound.
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::DbThreads;

    #[actix_web::test]
    async fn runs_work_and_survives_a_panic() {
        let threads = DbThreads::start(2).unwrap();
        assert_eq!(threads.run(|| 6 * 7).await.unwrap(), 42);
        let err = threads.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert_eq!(actix_web::ResponseError::status_code(&err).as_u16(), 500);
        // The threads still serve after the panic.
        let names: Vec<String> =
            futures_util::future::join_all((0..8).map(|_| {
                threads.run(|| std::thread::current().name().unwrap_or_default().to_owned())
            }))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(names.iter().all(|n| n.starts_with("db-")), "{names:?}");
    }
}
