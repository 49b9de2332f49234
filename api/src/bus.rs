//! Change notifications between instances. With Redis, a write publishes the new coverage
//! generation and every instance refreshes its locate index at once; without Redis (or when
//! a message is lost) each instance still polls the generation. The database stays the only
//! source of truth.

use crate::startup::AppState;
use actix_web::web;
use futures_util::StreamExt;
use std::time::Duration;

/// The channel coverage changes are announced on.
fn coverage_channel(state: &AppState) -> String {
    format!("{}:coverage", state.settings.redis_namespace)
}

/// Refreshes the locate index from the database on the blocking pool.
pub async fn refresh_locator(state: &web::Data<AppState>) {
    let st = state.clone();
    let span = tracing::Span::current();
    let result = web::block(move || {
        let _e = span.enter();
        let mut conn = st.pool.get()?;
        st.locator.refresh(&mut conn)
    })
    .await;
    match result {
        Ok(Ok(true)) => state.record_locator_metrics(),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::warn!(error.cause = %e, "locate index refresh failed"),
        Err(e) => tracing::warn!(error.cause = %e, "locate index refresh failed"),
    }
}

/// Tells the other instances that coverage changed (best effort: they also poll).
pub async fn publish_coverage_change(state: &web::Data<AppState>) {
    if let Some(redis) = &state.redis {
        let mut conn = redis.clone();
        let generation = state.locator.snapshot().generation;
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(coverage_channel(state))
            .arg(generation)
            .query_async(&mut conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error.cause = %e, "could not publish the coverage change to Redis");
        }
    }
}

/// Background task: poll the generation every `poll` and, with Redis, refresh on every
/// notification. Runs until the server stops.
pub async fn watch(state: web::Data<AppState>, redis_url: Option<String>, poll: Duration) {
    if let Some(url) = redis_url {
        let st = state.clone();
        actix_web::rt::spawn(async move { subscribe_loop(st, url).await });
    }
    let mut tick = actix_web::rt::time::interval(poll.max(Duration::from_millis(200)));
    loop {
        tick.tick().await;
        refresh_locator(&state).await;
    }
}

async fn subscribe_loop(state: web::Data<AppState>, url: String) {
    loop {
        match subscribe_once(&state, &url).await {
            Ok(()) => tracing::warn!("Redis subscription ended; reconnecting"),
            Err(e) => tracing::warn!(error.cause = %e, "Redis subscription failed; retrying"),
        }
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn subscribe_once(state: &web::Data<AppState>, url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(coverage_channel(state)).await?;
    let mut messages = pubsub.on_message();
    while let Some(_msg) = messages.next().await {
        refresh_locator(state).await;
    }
    Ok(())
}
