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

/// The channel revoked sessions are announced on.
fn revoked_channel(state: &AppState) -> String {
    format!("{}:revoked", state.settings.redis_namespace)
}

/// How long a revoked session must be remembered: until its last access token expires.
fn remember_until_s(state: &AppState, now_s: u64) -> u64 {
    now_s.saturating_add(state.settings.access_token_ttl_s + 60)
}

/// Refuses a session's access tokens on this instance at once and tells the others; they also
/// read revocations from the database at every poll, in case a message is lost.
pub async fn announce_revoked(state: &web::Data<AppState>, session_id: &str) {
    let now_s = crate::auth::now_s();
    state
        .revoked
        .insert(session_id, now_s, remember_until_s(state, now_s));
    if let Some(redis) = &state.redis {
        let mut conn = redis.clone();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(revoked_channel(state))
            .arg(session_id)
            .query_async(&mut conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error.cause = %e, "could not publish a revoked session to Redis");
        }
    }
}

/// Loads the sessions revoked within an access token's lifetime from the database.
pub async fn refresh_revocations(state: &web::Data<AppState>) {
    let st = state.clone();
    let now_s = crate::auth::now_s();
    let since = chrono::DateTime::from_timestamp(
        i64::try_from(now_s.saturating_sub(state.settings.access_token_ttl_s + 60)).unwrap_or(0),
        0,
    )
    .unwrap_or_default()
    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let loaded = web::block(move || {
        let mut conn = st.pool.get()?;
        wangge_persistence::sessions::revoked_since(&mut conn, &since)
    })
    .await;
    match loaded {
        Ok(Ok(ids)) => {
            let until = remember_until_s(state, now_s);
            state
                .revoked
                .insert_all(ids.iter().map(String::as_str), now_s, until);
        }
        Ok(Err(e)) => tracing::warn!(error.cause = %e, "loading revoked sessions failed"),
        Err(e) => tracing::warn!(error.cause = %e, "loading revoked sessions failed"),
    }
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
        refresh_revocations(&state).await;
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
    let coverage = coverage_channel(state);
    // One SUBSCRIBE for both channels: Redis registers them together.
    pubsub
        .subscribe(&[coverage.clone(), revoked_channel(state)])
        .await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        if msg.get_channel_name() == coverage {
            refresh_locator(state).await;
        } else if let Ok(session_id) = msg.get_payload::<String>() {
            let now_s = crate::auth::now_s();
            state
                .revoked
                .insert(&session_id, now_s, remember_until_s(state, now_s));
        }
    }
    Ok(())
}
