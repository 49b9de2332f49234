//! A per-address request limit on `/api/v1` (fixed one-minute windows), so one client cannot
//! starve the others. In-process: each instance counts its own share; login throttling, which
//! must be shared, is a separate mechanism.

use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

const SHARDS: usize = 16;
/// Above this many tracked addresses a shard forgets old windows.
const MAX_TRACKED_PER_SHARD: usize = 4096;

pub struct Limiter {
    per_min: u32,
    shards: Vec<Mutex<HashMap<IpAddr, (u64, u32)>>>,
}

impl Limiter {
    #[must_use]
    pub fn new(per_min: u32) -> Self {
        Self {
            per_min,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Counts one request; `Err(seconds until the window ends)` when over the limit.
    pub fn hit(&self, ip: IpAddr, now_s: u64) -> Result<(), u64> {
        if self.per_min == 0 {
            return Ok(());
        }
        let window = now_s / 60;
        let shard = match ip {
            IpAddr::V4(v4) => usize::from(v4.octets()[3]),
            IpAddr::V6(v6) => usize::from(v6.octets()[15]),
        } % SHARDS;
        let Some(lock) = self.shards.get(shard) else {
            return Ok(());
        };
        let mut map = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > MAX_TRACKED_PER_SHARD {
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(ip).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        if entry.1 > self.per_min {
            Err(60 - now_s % 60)
        } else {
            Ok(())
        }
    }
}

/// Middleware for the `/api/v1` scope.
/// A refusal is answered here as a response, not an error, so the outer middleware still
/// sees it and adds the request id.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let client = actix_web::HttpMessage::extensions(&req)
        .get::<crate::client::ClientAddr>()
        .map(|c| c.0)
        .or_else(|| req.peer_addr().map(|a| a.ip()));
    if let (Some(state), Some(ip)) = (req.app_data::<web::Data<AppState>>(), client) {
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if let Err(retry) = state.limiter.hit(ip, now_s) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests from this address; retry after the time in Retry-After",
            );
            e.retry_after_s = Some(retry);
            return Ok(req.into_response(e.error_response()));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_window() {
        let l = Limiter::new(2);
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(l.hit(ip, 120).is_ok());
        assert!(l.hit(ip, 121).is_ok());
        assert_eq!(l.hit(ip, 130), Err(50));
        // A new minute starts a new window.
        assert!(l.hit(ip, 180).is_ok());
    }

    #[test]
    fn zero_means_off() {
        let l = Limiter::new(0);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..100 {
            assert!(l.hit(ip, 0).is_ok());
        }
    }
}
