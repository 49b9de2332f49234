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

// PostgreSQL's advisory locks (idempotency keys), here so that every module sees them.
diesel::define_sql_function! {
    fn pg_try_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}
diesel::define_sql_function! {
    fn hashtextextended(
        text: diesel::sql_types::Text,
        seed: diesel::sql_types::BigInt,
    ) -> diesel::sql_types::BigInt;
}

pub mod audit;
pub mod calendar;
pub mod categories;
pub mod changes;
pub mod client_ids;
pub mod daily;
pub mod db;
pub mod departments;
pub mod error;
pub mod grid;
pub mod households;
pub mod idempotency;
pub mod incident_feed;
pub mod incidents;
pub mod journal;
pub mod locks;
pub mod patrols;
pub mod probe;
pub mod residents;
pub mod schema;
mod scoped;
pub mod sealed;
pub mod sessions;
pub mod stats;
pub mod sync_scopes;
pub mod uploads;
pub mod users;
pub mod visit_rules;
pub mod visits;

pub use db::{AnyConnection, BackendKind, Pool, PooledConn};
/// diesel's error, for layers above that run `write_transaction` with errors of their own.
pub use diesel::result::Error as DieselError;
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

/// Runs `f` in a write transaction: committed when it returns `Ok`, rolled back otherwise.
///
/// On SQLite the transaction begins `IMMEDIATE`: it takes the one write lock at its start, so
/// a writer that must wait does so under the busy timeout. A deferred transaction that reads
/// first cannot upgrade its lock once another writer committed, and fails at once (`BUSY`).
/// On PostgreSQL it is a plain `BEGIN`; writes are made safe by conditional statements and
/// row locks, not by one lock for all.
///
/// # Errors
/// `f`'s error, or the database's when beginning or committing fails.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
        }
        AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    run_and_end(conn, f)
}

/// Runs `f` over one snapshot, for a report made of several queries (figures that add up).
/// On PostgreSQL the transaction is `REPEATABLE READ READ ONLY`, without parallel workers.
///
/// # Errors
/// `f`'s error, or the database's when beginning or ending fails.
pub fn report_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, SimpleConnection};
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
        AnyConnection::Postgresql(c) => {
            AnsiTransactionManager::begin_transaction_sql(
                c,
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            )?;
            // Small reads of many parts: workers cost more to start than they save.
            c.batch_execute("SET LOCAL max_parallel_workers_per_gather = 0")?;
        }
    }
    run_and_end(conn, f)
}

/// Runs `f`'s reads in one transaction whose statements PostgreSQL plans for their values,
/// for reads whose best plan depends on how large a table has grown. Connections plan
/// statements once (see `establish_with`), and without statistics (autovacuum off, or not
/// yet run) a plan fixed while a table was nearly empty scans it whole for ever after: the
/// event pump's lookup of a page's cases by id did, 1.6 times a second on a table of 120,000
/// cases, and fell minutes behind the feed.
///
/// # Errors
/// `f`'s error, or the database's when beginning or ending fails.
pub fn planned_read<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::AnsiTransactionManager;
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
        AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan",
        )?,
    }
    run_and_end(conn, f)
}

/// Runs `f` in the transaction just begun: commits when it returns `Ok`, else rolls back.
fn run_and_end<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{Connection, TransactionManager};
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// [`write_transaction`], for callers that expect the name.
///
/// # Errors
/// As [`write_transaction`].
pub fn transaction<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
{
    write_transaction(conn, f)
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
