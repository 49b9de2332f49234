//! Storage for Wangge through diesel, on SQLite (the embedded default) or PostgreSQL, with one
//! set of query code. Functions take `&mut AnyConnection` and run inside the caller's
//! transaction where they must be atomic.

pub mod db;
pub mod departments;
pub mod error;
pub mod grid;
pub mod schema;
pub mod sessions;
pub mod users;

pub use db::{AnyConnection, BackendKind, Pool, PooledConn};
pub use error::{ImportProblem, StoreError};

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
