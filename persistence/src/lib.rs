//! Storage for Wangge through diesel, on SQLite (the embedded default) or PostgreSQL, with one
//! set of query code. Functions take `&mut AnyConnection` and run inside the caller's
//! transaction where they must be atomic.

/// Runs `$body` with `$c` bound to the concrete connection, for the few statements diesel
/// offers per backend but not on the multi-backend connection (multi-row INSERT).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Postgresql($c) => $body,
            $crate::db::AnyConnection::Sqlite($c) => $body,
        }
    };
}

pub mod audit;
pub mod db;
pub mod departments;
pub mod error;
pub mod grid;
pub mod households;
pub mod schema;
mod scoped;
pub mod sealed;
pub mod sessions;
pub mod users;

pub use db::{AnyConnection, BackendKind, Pool, PooledConn};
pub use error::{ImportProblem, StoreError};

/// A sealed piece of personal data as stored: ciphertext (with its nonce), the id of the key
/// that sealed it, a keyed hash for exact-match search, and the masked form shown by default.
/// Sealing and opening happen above this layer; the plain text never reaches it.
#[derive(Clone)]
pub struct Sealed {
    pub cipher: Vec<u8>,
    pub key_id: String,
    pub hash: String,
    pub masked: String,
}

/// Timestamps are stored as RFC 3339 UTC text of fixed width, so they sort as text on both
/// backends.
#[must_use]
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new UUIDv7 in hyphenated form.
#[must_use]
pub fn uuid_v7() -> String {
    uuid::Uuid::now_v7().as_hyphenated().to_string()
}

/// Runs `f` in a transaction: committed when it returns `Ok`, rolled back otherwise.
///
/// # Errors
/// `f`'s error, or the database's when beginning or committing fails.
pub fn transaction<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
{
    diesel::Connection::transaction(conn, f)
}

/// Optimistic concurrency: `If-Match` named `expected`, but the record is at `current`.
///
/// # Errors
/// `VersionMismatch` when both are known and differ.
pub(crate) fn check_version(current: i64, expected: Option<i64>) -> Result<(), StoreError> {
    match expected {
        Some(v) if v != current => Err(StoreError::VersionMismatch {
            expected: v,
            current,
        }),
        _ => Ok(()),
    }
}
