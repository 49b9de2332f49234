//! Configuration from environment variables (documented in the README's table). Secrets are
//! wrapped so they never reach a log line.

use std::fmt;
use std::path::PathBuf;
use wangge_geo::Resolution;
use wangge_persistence::BackendKind;

/// A secret value: `Debug` and `Display` print a placeholder.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("{0}")]
    Missing(String),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `WANGGE_BIND`, default `127.0.0.1:8080`.
    pub bind: String,
    /// `DATABASE_URL`; default an SQLite file under `WANGGE_DATA_DIR`.
    pub database_url: String,
    /// `REDIS_URL`, optional.
    pub redis_url: Option<String>,
    /// `WANGGE_REDIS_NAMESPACE`, default `wangge`: prefix of Redis keys and channels, so that
    /// several deployments (or test runs) can share one Redis.
    pub redis_namespace: String,
    /// `WANGGE_JWT_SECRET`: required on PostgreSQL; generated and kept in the data dir on the
    /// embedded default.
    pub jwt_secret: Option<Secret>,
    /// `WANGGE_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// `WANGGE_H3_RESOLUTION`: the finest (leaf) resolution of coverage, default 11.
    pub leaf: Resolution,
    /// `WANGGE_SEED_DEMO`: load the Dianbai demo into an empty database. Default: true on the
    /// embedded SQLite default, false on PostgreSQL.
    pub seed_demo: bool,
    /// `WANGGE_DEMO_HOUSEHOLDS`: how many synthetic households the demo seeds, default
    /// 200,000 (Dianbai's real scale).
    pub demo_households: usize,
    /// `WANGGE_DEMO_INCIDENTS`: how many synthetic incidents over the past year the demo
    /// seeds, default 50,000.
    pub demo_incidents: usize,
    /// `WANGGE_DB_POOL_SIZE`, default 8.
    pub pool_size: u32,
    /// `WANGGE_SQLITE_BUSY_TIMEOUT_MS`: how long an SQLite write waits for the one write
    /// lock (held by a long import, say) before it answers 503, default 10,000.
    pub sqlite_busy_timeout_ms: u32,
    /// `WANGGE_ACCESS_TOKEN_TTL_S`, default 900 (15 minutes).
    pub access_token_ttl_s: u64,
    /// `WANGGE_REFRESH_TOKEN_TTL_S`, default 1,209,600 (14 days).
    pub refresh_token_ttl_s: u64,
    /// `WANGGE_SESSION_MAX_AGE_S`, default 2,592,000 (30 days): however often it is
    /// refreshed, a session ends this long after its login.
    pub session_max_age_s: u64,
    /// `WANGGE_RATE_LIMIT_PER_MIN`: requests per minute per client address on /api/v1,
    /// default 6000; 0 turns the limit off.
    pub rate_limit_per_min: u32,
    /// `WANGGE_PII_KEY`: `<key id>:<64 hex digits>`, the AES-256 key that seals personal data.
    /// Required on PostgreSQL; generated and kept in the data dir on the embedded default.
    pub pii_key: Option<Secret>,
    /// `WANGGE_PII_OLD_KEYS`: earlier keys, comma-separated, still needed to open old data.
    pub pii_old_keys: Option<Secret>,
    /// `WANGGE_PII_HASH_KEY`: 64 hex digits, the HMAC key of the search hashes. Never rotated
    /// without recomputing every stored hash.
    pub pii_hash_key: Option<Secret>,
    /// `WANGGE_LOCATE_POLL_S`: how often an instance checks whether coverage changed elsewhere
    /// (a fallback to Redis notifications), default 5.
    pub locate_poll_s: u64,
    /// `WANGGE_CLOCK_INTERVAL_S`: how often the escalation clock looks for overdue cases,
    /// default 60; 0 turns this instance's clock off (another instance's runs).
    pub clock_interval_s: u64,
    /// `WANGGE_REFRESH_RETRY_S`: how long a spent refresh token may come back and get a new
    /// pair instead of ending the session (a phone whose answer was lost), default 30; 0 off.
    pub refresh_retry_s: u64,
    /// `WANGGE_IDEMPOTENCY_TTL_S`: how long idempotency keys and their answers are kept,
    /// default 86,400 (24 hours); pruned after.
    pub idempotency_ttl_s: u64,
    /// `WANGGE_PII_SEARCHES_PER_HOUR`: searches by identity number or phone (and refusals
    /// that reveal a registered number) per account and hour, default 60.
    pub pii_searches_per_hour: u32,
    /// `WANGGE_TRUSTED_PROXIES`: addresses or CIDRs of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` name the client; from any other peer those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `WANGGE_SSE_HEARTBEAT_S`: how often an idle event stream gets a comment line, so
    /// proxies keep it open, default 15.
    pub sse_heartbeat_s: u64,
    /// `WANGGE_SSE_MAX_STREAMS`: event streams one instance serves at once, default 1,000;
    /// past it, 503 with `Retry-After`.
    pub sse_max_streams: usize,
    /// `WANGGE_SSE_MAX_STREAMS_PER_ACCOUNT`: event streams one account may hold open on one
    /// instance, default 10, so no account can take every place; past it, 429.
    pub sse_max_streams_per_account: usize,
    /// `WANGGE_SSE_POLL_MS`: how often an instance reads the change feed for events when no
    /// notification came (another instance's writes without Redis, or a lost message),
    /// default 1,000.
    pub sse_poll_ms: u64,
}

/// `WANGGE_TRUSTED_PROXIES`: comma-separated addresses or CIDRs.
fn parse_proxies(v: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    var: "WANGGE_TRUSTED_PROXIES",
                    reason: format!("{p:?} is not an address or CIDR"),
                })
        })
        .collect()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            var: name,
            reason: format!("{v:?}: {e}"),
        }),
    }
}

impl Settings {
    /// Reads the environment.
    ///
    /// # Errors
    /// A variable that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(var("WANGGE_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("wangge.db").display()));
        let embedded = BackendKind::of_url(&database_url) == BackendKind::Sqlite;
        let res: u8 = parse_var("WANGGE_H3_RESOLUTION", 11)?;
        let leaf = Resolution::try_from(res)
            .ok()
            .filter(|r| (5..=13).contains(&u8::from(*r)))
            .ok_or(ConfigError::Invalid {
                var: "WANGGE_H3_RESOLUTION",
                reason: format!("{res} is not a resolution from 5 to 13"),
            })?;
        Ok(Self {
            bind: var("WANGGE_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url,
            redis_url: var("REDIS_URL"),
            redis_namespace: var("WANGGE_REDIS_NAMESPACE").unwrap_or_else(|| "wangge".into()),
            jwt_secret: var("WANGGE_JWT_SECRET").map(Secret::new),
            data_dir,
            leaf,
            seed_demo: parse_var("WANGGE_SEED_DEMO", embedded)?,
            demo_households: parse_var("WANGGE_DEMO_HOUSEHOLDS", wangge_app::demo::HOUSEHOLDS)?,
            demo_incidents: parse_var("WANGGE_DEMO_INCIDENTS", wangge_app::demo::INCIDENTS)?,
            pool_size: parse_var("WANGGE_DB_POOL_SIZE", 8)?,
            sqlite_busy_timeout_ms: parse_var(
                "WANGGE_SQLITE_BUSY_TIMEOUT_MS",
                wangge_persistence::db::DEFAULT_BUSY_TIMEOUT_MS,
            )?,
            access_token_ttl_s: parse_var("WANGGE_ACCESS_TOKEN_TTL_S", 900)?,
            refresh_token_ttl_s: parse_var("WANGGE_REFRESH_TOKEN_TTL_S", 1_209_600)?,
            session_max_age_s: parse_var("WANGGE_SESSION_MAX_AGE_S", 2_592_000)?,
            rate_limit_per_min: parse_var("WANGGE_RATE_LIMIT_PER_MIN", 6000)?,
            locate_poll_s: parse_var("WANGGE_LOCATE_POLL_S", 5)?,
            pii_key: var("WANGGE_PII_KEY").map(Secret::new),
            pii_old_keys: var("WANGGE_PII_OLD_KEYS").map(Secret::new),
            pii_hash_key: var("WANGGE_PII_HASH_KEY").map(Secret::new),
            refresh_retry_s: parse_var("WANGGE_REFRESH_RETRY_S", 30)?,
            clock_interval_s: parse_var("WANGGE_CLOCK_INTERVAL_S", 60)?,
            idempotency_ttl_s: parse_var("WANGGE_IDEMPOTENCY_TTL_S", 86_400)?,
            pii_searches_per_hour: parse_var("WANGGE_PII_SEARCHES_PER_HOUR", 60)?,
            trusted_proxies: parse_proxies(var("WANGGE_TRUSTED_PROXIES").as_deref())?,
            sse_heartbeat_s: parse_var("WANGGE_SSE_HEARTBEAT_S", 15)?,
            sse_max_streams: parse_var("WANGGE_SSE_MAX_STREAMS", 1000)?,
            // At least one: zero would refuse every stream.
            sse_max_streams_per_account: parse_var(
                "WANGGE_SSE_MAX_STREAMS_PER_ACCOUNT",
                std::num::NonZeroUsize::MIN.saturating_add(9),
            )?
            .get(),
            sse_poll_ms: parse_var("WANGGE_SSE_POLL_MS", 1000)?,
        })
    }

    /// The settings the use cases follow.
    #[must_use]
    pub fn app_config(&self) -> wangge_app::Config {
        wangge_app::Config {
            leaf: self.leaf,
            session: wangge_domain::session::SessionPolicy {
                refresh_ttl_s: self.refresh_token_ttl_s,
                session_max_age_s: self.session_max_age_s,
                retry_window_s: self.refresh_retry_s,
            },
            idempotency_ttl_s: self.idempotency_ttl_s,
            idempotency_lease_s: 10,
            pii_searches_per_hour: i64::from(self.pii_searches_per_hour),
        }
    }

    /// The personal-data keys: from configuration; on the embedded default, generated once
    /// and kept in the data directory (like the JWT secret). On PostgreSQL (production)
    /// missing keys are an error.
    ///
    /// # Errors
    /// Missing or malformed keys, or a key file that cannot be read or written.
    pub fn pii_keys(&self) -> Result<wangge_app::pii::PiiKeys, ConfigError> {
        let (key, hash) = match (&self.pii_key, &self.pii_hash_key) {
            (Some(k), Some(h)) => (k.clone(), h.clone()),
            (None, None) if self.backend() == BackendKind::Sqlite => self.local_pii_keys()?,
            _ => {
                return Err(ConfigError::Missing(
                    "WANGGE_PII_KEY and WANGGE_PII_HASH_KEY must both be set when running on PostgreSQL \
                     (or when either is set); only the embedded SQLite default generates local ones"
                        .into(),
                ));
            }
        };
        wangge_app::pii::PiiKeys::from_parts(
            key.expose(),
            self.pii_old_keys.as_ref().map(Secret::expose),
            hash.expose(),
        )
        .map_err(|e| ConfigError::Invalid {
            var: e.var,
            reason: e.reason,
        })
    }

    /// The embedded default's keys: read from `<data dir>/pii-keys`, or generated there once.
    fn local_pii_keys(&self) -> Result<(Secret, Secret), ConfigError> {
        self.ensure_data_dir()?;
        let path = self.data_dir.join("pii-keys");
        let io = |source| ConfigError::DataDir {
            path: path.display().to_string(),
            source,
        };
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mut key = None;
            let mut hash = None;
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("key=") {
                    key = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("hash=") {
                    hash = Some(v.trim().to_owned());
                }
            }
            if let (Some(k), Some(h)) = (key, hash) {
                return Ok((Secret::new(k), Secret::new(h)));
            }
        }
        let random = wangge_app::pii::random_hex32;
        let (k, h) = (format!("local1:{}", random()), random());
        if h.is_empty() {
            return Err(ConfigError::Missing(
                "the system random generator failed".into(),
            ));
        }
        write_private(&path, &format!("key={k}\nhash={h}\n")).map_err(io)?;
        tracing::warn!(
            secret.path = %path.display(),
            "WANGGE_PII_KEY is not set: generated local keys for personal data and kept them in the data directory (set WANGGE_PII_KEY and WANGGE_PII_HASH_KEY in production, and keep them: without them the data cannot be read)"
        );
        Ok((Secret::new(k), Secret::new(h)))
    }

    #[must_use]
    pub fn backend(&self) -> BackendKind {
        BackendKind::of_url(&self.database_url)
    }

    /// Creates the data directory when the embedded default needs it.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn ensure_data_dir(&self) -> Result<(), ConfigError> {
        if self.backend() == BackendKind::Sqlite {
            std::fs::create_dir_all(&self.data_dir).map_err(|source| ConfigError::DataDir {
                path: self.data_dir.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// The JWT signing secret: from configuration; on the embedded default, generated once and
    /// kept in the data directory. On PostgreSQL (production) a missing secret is an error.
    ///
    /// # Errors
    /// Missing in production, too short, or the key file cannot be read or written.
    pub fn resolve_jwt_secret(&self) -> Result<Secret, ConfigError> {
        if let Some(s) = &self.jwt_secret {
            if s.expose().len() < 32 {
                return Err(ConfigError::Invalid {
                    var: "WANGGE_JWT_SECRET",
                    reason: "must be at least 32 bytes".into(),
                });
            }
            return Ok(s.clone());
        }
        if self.backend() == BackendKind::Postgres {
            return Err(ConfigError::Missing(
                "WANGGE_JWT_SECRET must be set (at least 32 random bytes) when running on PostgreSQL; \
                 only the embedded SQLite default generates a local one"
                    .into(),
            ));
        }
        self.ensure_data_dir()?;
        let path = self.data_dir.join("jwt-secret");
        let io = |source| ConfigError::DataDir {
            path: path.display().to_string(),
            source,
        };
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let existing = existing.trim().to_owned();
            if existing.len() >= 32 {
                return Ok(Secret::new(existing));
            }
        }
        let generated = wangge_app::password::random_token(48);
        write_private(&path, &generated).map_err(io)?;
        tracing::warn!(
            secret.path = %path.display(),
            "WANGGE_JWT_SECRET is not set: generated a local signing secret and kept it in the data directory (set WANGGE_JWT_SECRET in production)"
        );
        Ok(Secret::new(generated))
    }
}

/// Writes a file readable by the owner only.
pub(crate) fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(content.as_bytes())
}
