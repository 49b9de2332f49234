//! Login throttling: after 5 failed logins for one username, or 20 from one address, within
//! 15 minutes, login answers 429 with `Retry-After` until the window ends. With Redis the
//! counts are shared by every instance; without it each instance counts its own.
//!
//! An attempt is counted *before* the password is checked, atomically, so parallel guesses
//! cannot all slip through while the count is still low; a success then takes its attempt
//! back (and clears the username's count).

use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

pub const WINDOW_S: u64 = 15 * 60;
pub const MAX_PER_USERNAME: u64 = 5;
pub const MAX_PER_ADDRESS: u64 = 20;

/// Above this many tracked keys the local table drops finished windows, and if that is not
/// enough starts over (counting fails open rather than growing without bound).
const MAX_LOCAL_KEYS: usize = 100_000;

/// Counts one attempt on each key and gives each key's count and seconds left. The window
/// starts at the first attempt; a key found without expiry (never expected) gets one, so no
/// key can block forever. Works on Redis 6 and 7.
const ATTEMPT_LUA: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local c = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if c == 1 or ttl < 0 then
    redis.call('EXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = c
  out[#out + 1] = ttl
end
return out
";

/// Takes a successful attempt back from the address and clears the username.
const SUCCESS_LUA: &str = r"
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 and tonumber(redis.call('GET', KEYS[2])) > 0 then
  redis.call('DECR', KEYS[2])
end
return 0
";

/// Where the counts live.
pub enum LoginThrottle {
    Local(Mutex<HashMap<String, (u64, u64)>>),
    Redis {
        conn: ConnectionManager,
        namespace: String,
    },
}

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

    /// Counts an attempt. `Some(seconds to wait)` when the username has already failed 5
    /// times or the address 20 times in the window: the attempt must be refused unchecked.
    ///
    /// # Errors
    /// Redis errors (the caller lets the login through rather than lock everyone out).
    pub async fn attempt(
        &self,
        username: &str,
        address: &str,
        now_s: u64,
    ) -> redis::RedisResult<Option<u64>> {
        let keys = self.keys(username, address);
        let counts: Vec<(u64, u64)> = match self {
            Self::Local(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                if map.len() > MAX_LOCAL_KEYS {
                    map.retain(|_, (_, start)| now_s < *start + WINDOW_S);
                    if map.len() > MAX_LOCAL_KEYS {
                        map.clear();
                    }
                }
                keys.iter()
                    .map(|(key, _)| {
                        let entry = map.entry(key.clone()).or_insert((0, now_s));
                        if now_s >= entry.1 + WINDOW_S {
                            *entry = (0, now_s);
                        }
                        entry.0 += 1;
                        (entry.0, entry.1 + WINDOW_S - now_s)
                    })
                    .collect()
            }
            Self::Redis { conn, .. } => {
                let mut c = conn.clone();
                let out: Vec<i64> = redis::cmd("EVAL")
                    .arg(ATTEMPT_LUA)
                    .arg(2)
                    .arg(&keys[0].0)
                    .arg(&keys[1].0)
                    .arg(WINDOW_S)
                    .query_async(&mut c)
                    .await?;
                out.chunks(2)
                    .map(|p| {
                        let n = |i: usize| {
                            p.get(i)
                                .copied()
                                .map_or(0, |v| u64::try_from(v).unwrap_or(0))
                        };
                        (n(0), n(1).max(1))
                    })
                    .collect()
            }
        };
        // Over the limit when the failures before this attempt already reached it.
        Ok(keys
            .iter()
            .zip(counts)
            .filter(|((_, max), (count, _))| *count > *max)
            .map(|(_, (_, wait))| wait)
            .max())
    }

    /// A successful login: its attempt is taken back from the address, and the username's
    /// count is cleared.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn succeeded(&self, username: &str, address: &str) -> redis::RedisResult<()> {
        let [(user_key, _), (addr_key, _)] = self.keys(username, address);
        match self {
            Self::Local(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                map.remove(&user_key);
                if let Some(entry) = map.get_mut(&addr_key) {
                    entry.0 = entry.0.saturating_sub(1);
                }
            }
            Self::Redis { conn, .. } => {
                let mut c = conn.clone();
                let _: i64 = redis::cmd("EVAL")
                    .arg(SUCCESS_LUA)
                    .arg(2)
                    .arg(&user_key)
                    .arg(&addr_key)
                    .query_async(&mut c)
                    .await?;
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
            assert_eq!(t.attempt("u", "a", 1000).await.unwrap(), None);
        }
        // The sixth attempt within the window is refused, with the time left.
        assert_eq!(
            t.attempt("u", "a", 1100).await.unwrap(),
            Some(WINDOW_S - 100)
        );
        // Another username from the same address is not blocked.
        assert_eq!(t.attempt("v", "a", 1100).await.unwrap(), None);
        // The window ends.
        assert_eq!(t.attempt("u", "a", 1000 + WINDOW_S).await.unwrap(), None);
    }

    #[actix_web::test]
    async fn successes_do_not_count_as_failures() {
        let t = LoginThrottle::new(None, "x");
        for _ in 0..(MAX_PER_ADDRESS * 2) {
            assert_eq!(t.attempt("u", "a", 1000).await.unwrap(), None);
            t.succeeded("u", "a").await.unwrap();
        }
    }
}
