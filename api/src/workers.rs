//! Background workers of an instance: the change feed's sequencer (which also tells the event
//! streams' pump, here and through Redis, that the feed advanced), the pruning of expired
//! idempotency keys and the escalation clock. All are safe with many instances: the
//! sequencer takes the sequence's row with `SKIP LOCKED` (one numbers, the others find
//! nothing to do), and pruning deletes what any instance may delete.

use crate::startup::{AppState, StateExt};
use actix_web::web;
use std::time::Duration;

/// Changes numbered per transaction.
const BATCH: i64 = 5_000;
/// How long a wake-up waits for more commits before numbering.
const GATHER: Duration = Duration::from_millis(5);
/// Writes of other instances are numbered by theirs; this catches any left behind (a crash
/// between a commit and the wake-up).
const POLL: Duration = Duration::from_millis(500);

/// Numbers committed changes soon after every write.
pub async fn sequence_changes(state: web::Data<AppState>) {
    loop {
        // Woken by a write of this instance (rather than by the timer).
        let woken = actix_web::rt::time::timeout(POLL, state.sequencer.notified())
            .await
            .is_ok();
        if woken {
            // Under load, the writes of the next few milliseconds join this batch instead of
            // taking a transaction each.
            actix_web::rt::time::sleep(GATHER).await;
        }
        let done = state
            .db(|conn| {
                let n = wangge_app::changes::sequence(conn, BATCH)?;
                let head = if n > 0 {
                    Some(wangge_app::events::head(conn)?)
                } else {
                    None
                };
                Ok(head)
            })
            .await;
        match done {
            Ok(Some(head)) => crate::feed::announce(&state, head),
            // This instance's write was numbered (or is being numbered) by another
            // instance's sequencer, whose announcement may not reach us.
            Ok(None) if woken => state.feed.follow_closely(),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error.cause = %e, "numbering the change feed failed; retrying");
                actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Deletes idempotency keys past their time, hourly.
pub async fn prune_idempotency_keys(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match state
            .db(|conn| Ok(wangge_app::idempotency::prune(conn)?))
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(idempotency.pruned = n, "expired idempotency keys deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error.cause = %e, "pruning idempotency keys failed"),
        }
    }
}

/// The escalation clock: every `interval`, escalates the cases whose deadline passed (see
/// `wangge_app::incidents::clock`). Every instance may run it.
pub async fn clock(state: web::Data<AppState>, interval: Duration) {
    let mut tick = actix_web::rt::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let svc = state.svc.clone();
        let done = state
            .db(move |conn| {
                Ok(wangge_app::incidents::clock::tick(
                    conn,
                    &svc,
                    chrono::Utc::now(),
                )?)
            })
            .await;
        match done {
            Ok(r) if r.escalated + r.flagged + r.report_ins_missed > 0 => tracing::info!(
                clock.escalated = r.escalated,
                clock.flagged = r.flagged,
                clock.report_ins_missed = r.report_ins_missed,
                "overdue cases acted on"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error.cause = %e, "the escalation clock failed; next tick retries")
            }
        }
    }
}
