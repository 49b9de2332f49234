//! Login throttling: after 5 failed logins for one username, or 20 from one address, within
//! 15 minutes, login answers 429 with `Retry-After` until the window ends. With Redis the
//! counts are shared by every instance; without it each instance counts its own.

use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

pub const WINDOW_S: u64 = 15 * 60;
pub const MAX_PER_USERNAME: u64 = 5;
pub const MAX_PER_ADDRESS: u64 = 20;

/// Where the counts live.
pub enum LoginThrottle {
    Local(Mutex<HashMap<String, (u64, u64)>>),
    Redis {
        conn: ConnectionManager,
        namespace: String,
    },
}

/// Above this many tracked keys the local table drops finished windows.
const MAX_LOCAL_KEYS: usize = 100_000;

impl LoginThrottle {
    #[must_use]
    pub fn new(redis: Option<ConnectionManager>, namespace: &str) -> Self {
        match redis {
            Some(conn) => Self::Redis {
                conn,
                namespace: namespace.to_owned(),
            },
            None => Self::Local(Mutex::new(HashMap::new())),
        }
    }

    fn keys(&self, username: &str, address: &str) -> [(String, u64); 2] {
        let ns = match self {
            Self::Redis { namespace, .. } => namespace.as_str(),
            Self::Local(_) => "local",
        };
        [
            (format!("{ns}:login:user:{username}"), MAX_PER_USERNAME),
            (format!("{ns}:login:addr:{address}"), MAX_PER_ADDRESS),
        ]
    }

    /// `Some(seconds to wait)` when either count has reached its limit.
    ///
    /// # Errors
    /// Redis errors (the caller lets the login through rather than lock everyone out).
    pub async fn blocked(
        &self,
        username: &str,
        address: &str,
        now_s: u64,
    ) -> redis::RedisResult<Option<u64>> {
        let mut wait = None;
        for (key, max) in self.keys(username, address) {
            let (count, retry) = match self {
                Self::Local(map) => {
                    let map = map.lock().unwrap_or_else(PoisonError::into_inner);
                    match map.get(&key) {
                        Some((count, start)) if now_s < start + WINDOW_S => {
                            (*count, start + WINDOW_S - now_s)
                        }
                        _ => (0, 0),
                    }
                }
                Self::Redis { conn, .. } => {
                    let mut c = conn.clone();
                    let (count, ttl): (Option<u64>, i64) = redis::pipe()
                        .cmd("GET")
                        .arg(&key)
                        .cmd("TTL")
                        .arg(&key)
                        .query_async(&mut c)
                        .await?;
                    (
                        count.unwrap_or(0),
                        u64::try_from(ttl).unwrap_or(WINDOW_S).max(1),
                    )
                }
            };
            if count >= max {
                wait = Some(wait.map_or(retry, |w: u64| w.max(retry)));
            }
        }
        Ok(wait)
    }

    /// Counts a failed login against the username and the address.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn failed(
        &self,
        username: &str,
        address: &str,
        now_s: u64,
    ) -> redis::RedisResult<()> {
        for (key, _) in self.keys(username, address) {
            match self {
                Self::Local(map) => {
                    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                    if map.len() > MAX_LOCAL_KEYS {
                        map.retain(|_, (_, start)| now_s < *start + WINDOW_S);
                    }
                    let entry = map.entry(key).or_insert((0, now_s));
                    if now_s >= entry.1 + WINDOW_S {
                        *entry = (0, now_s);
                    }
                    entry.0 += 1;
                }
                Self::Redis { conn, .. } => {
                    let mut c = conn.clone();
                    // The window starts at the first failure: EXPIRE NX sets it only once.
                    let _: (u64, i64) = redis::pipe()
                        .cmd("INCR")
                        .arg(&key)
                        .cmd("EXPIRE")
                        .arg(&key)
                        .arg(WINDOW_S)
                        .arg("NX")
                        .query_async(&mut c)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A successful login clears the username's count (not the address's).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn succeeded(&self, username: &str, address: &str) -> redis::RedisResult<()> {
        let [(user_key, _), _] = self.keys(username, address);
        match self {
            Self::Local(map) => {
                map.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&user_key);
            }
            Self::Redis { conn, .. } => {
                let mut c = conn.clone();
                let _: i64 = redis::cmd("DEL").arg(&user_key).query_async(&mut c).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[actix_web::test]
    async fn local_counts_block_and_expire() {
        let t = LoginThrottle::new(None, "x");
        for _ in 0..MAX_PER_USERNAME {
            assert_eq!(t.blocked("u", "a", 1000).await.unwrap(), None);
            t.failed("u", "a", 1000).await.unwrap();
        }
        assert_eq!(
            t.blocked("u", "a", 1100).await.unwrap(),
            Some(WINDOW_S - 100)
        );
        // Another username from the same address is not blocked yet.
        assert_eq!(t.blocked("v", "a", 1100).await.unwrap(), None);
        // The window ends.
        assert_eq!(t.blocked("u", "a", 1000 + WINDOW_S).await.unwrap(), None);
        // Success clears the username.
        t.succeeded("u", "a").await.unwrap();
        assert_eq!(t.blocked("u", "a", 1100).await.unwrap(), None);
    }
}
