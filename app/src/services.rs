//! What every use case may need besides the database: the personal-data keys, the locate
//! snapshot and the settings that shape the rules.

use crate::locate::Locator;
use crate::pii::PiiKeys;
use std::sync::Arc;
use wangge_domain::session::SessionPolicy;
use wangge_geo::Resolution;

/// The settings the use cases follow (taken from the environment by `api`).
#[derive(Debug, Clone)]
pub struct Config {
    /// The leaf resolution of coverage.
    pub leaf: Resolution,
    pub session: SessionPolicy,
    /// How long an idempotency key and its answer are kept.
    pub idempotency_ttl_s: u64,
    /// How long a claimed key stays claimed before a retry may take it over (its first
    /// request must have died).
    pub idempotency_lease_s: u64,
    /// Searches by identity number or phone (and refusals that reveal a registered number)
    /// an account may make per hour.
    pub pii_searches_per_hour: i64,
}

impl Config {
    /// Settings for a leaf resolution, the rest at their defaults.
    #[must_use]
    pub fn with_leaf(leaf: Resolution) -> Self {
        Self {
            leaf,
            session: SessionPolicy {
                refresh_ttl_s: 1_209_600,
                session_max_age_s: 2_592_000,
                retry_window_s: 30,
            },
            idempotency_ttl_s: 86_400,
            idempotency_lease_s: 10,
            pii_searches_per_hour: 60,
        }
    }
}

pub struct Services {
    pub pii: PiiKeys,
    pub locator: Arc<Locator>,
    pub config: Config,
    /// Password hashing, counted.
    pub passwords: crate::password::Hasher,
    /// Uploaded contents (incident attachments).
    pub blobs: Arc<dyn crate::blobs::BlobStore>,
}
