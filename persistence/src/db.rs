//! One connection type over both backends, its pool and the embedded migrations.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::{Duration, Instant};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A connection to whichever backend the URL names. One set of query code runs on both.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Backend = MultiBackend;
pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Postgres,
    Sqlite,
}

impl BackendKind {
    #[must_use]
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Strips `sqlite://` or `sqlite:` so the rest is the file path SQLite expects.
#[must_use]
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Opens a connection, choosing the variant from the URL scheme ourselves so that a failure
/// keeps its real cause (diesel's own `establish` for multi-connections hides it).
///
/// # Errors
/// The backend's connection error.
pub fn establish(url: &str) -> Result<AnyConnection, diesel::ConnectionError> {
    establish_with(url, DEFAULT_BUSY_TIMEOUT_MS)
}

/// How long an SQLite writer waits for the write lock before giving up (busy), by default.
pub const DEFAULT_BUSY_TIMEOUT_MS: u32 = 10_000;

/// [`establish`], with SQLite's busy timeout given.
///
/// # Errors
/// The backend's connection error.
pub fn establish_with(
    url: &str,
    busy_timeout_ms: u32,
) -> Result<AnyConnection, diesel::ConnectionError> {
    match BackendKind::of_url(url) {
        BackendKind::Postgres => {
            let mut c = PgConnection::establish(url)?;
            // Statements have fixed shapes and are prepared once per connection: plan them
            // once too. PostgreSQL's custom plans (the default for the first five executions,
            // and whenever they look cheaper) read a scope's households in id order through
            // the primary key, betting that the LIMIT stops early; the generic plan reads
            // them by unit and sorts, 0.35 ms instead of 5.5 ms (docs/benchmarks.md).
            c.batch_execute("SET plan_cache_mode = force_generic_plan")
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(AnyConnection::Postgresql(c))
        }
        BackendKind::Sqlite => {
            let mut c = SqliteConnection::establish(sqlite_path(url))?;
            // The busy timeout makes concurrent writers wait instead of failing; foreign keys
            // are off by default in SQLite. WAL is set once, in `pool`.
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON;"
            ))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(AnyConnection::Sqlite(c))
        }
    }
}

/// How long a connection that just answered is trusted without a check when it is next taken
/// from the pool. Under load every connection is taken again within milliseconds, and a
/// `SELECT 1` before every request cost a quarter of PostgreSQL's CPU on the households list
/// (docs/benchmarks.md); an idle connection is still checked before use.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// A pooled connection and when it last proved alive. Derefs to the connection.
pub struct Pooled {
    conn: AnyConnection,
    alive_at: Option<Instant>,
}

impl Pooled {
    /// The connection just answered: it may skip the check at its next checkout.
    pub fn proved_alive(&mut self) {
        self.alive_at = Some(Instant::now());
    }

    /// Something failed on it (perhaps the connection itself): check it at its next checkout.
    /// A connection that broke is therefore used for at most one failed request.
    pub fn doubt(&mut self) {
        self.alive_at = None;
    }
}

impl std::ops::Deref for Pooled {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// r2d2 manager that connects through [`establish_with`].
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    busy_timeout_ms: u32,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let conn = establish_with(&self.url, self.busy_timeout_ms)
            .map_err(diesel::r2d2::Error::ConnectionError)?;
        Ok(Pooled {
            conn,
            alive_at: Some(Instant::now()),
        })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), Self::Error> {
        if conn.alive_at.is_some_and(|t| t.elapsed() < TRUSTED_FOR) {
            return Ok(());
        }
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)?;
        conn.proved_alive();
        Ok(())
    }

    fn has_broken(&self, _conn: &mut Pooled) -> bool {
        false
    }
}

/// Builds the pool; the first connection is made at once so a bad URL fails at start-up.
///
/// # Errors
/// When no connection can be made within the timeout.
pub fn pool(url: &str, max_size: u32, busy_timeout_ms: u32) -> Result<Pool, r2d2::Error> {
    if BackendKind::of_url(url) == BackendKind::Sqlite {
        // WAL lets readers run beside the one writer. The mode is stored in the file; setting
        // it from every pooled connection at once makes them fight for the lock.
        if let Ok(mut c) = establish(url) {
            let _ = c.batch_execute("PRAGMA journal_mode = WAL;");
        }
    }
    r2d2::Pool::builder()
        .max_size(max_size)
        // Each database thread holds one connection, so nobody waits for a free one: this
        // is how long a request waits for the database to accept a connection at all. While
        // it is away (a restart), requests answer 503 after this instead of hanging.
        .connection_timeout(Duration::from_secs(2))
        .build(Manager {
            url: url.to_owned(),
            busy_timeout_ms,
        })
}

/// Applies pending migrations for the connection's backend; returns how many ran.
///
/// # Errors
/// A migration that fails.
pub fn migrate(
    conn: &mut AnyConnection,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let ran = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(PG_MIGRATIONS)?.len(),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS)?.len(),
    };
    Ok(ran)
}

/// Whether the database runs without autovacuum (PostgreSQL; never on SQLite). Connections
/// plan each statement once (`force_generic_plan`); without the statistics autovacuum's
/// ANALYZE refreshes (which makes them plan again), a plan made while a table was empty
/// stays.
///
/// # Errors
/// The database's error.
pub fn autovacuum_off(conn: &mut AnyConnection) -> diesel::QueryResult<bool> {
    use diesel::RunQueryDsl;
    match conn {
        AnyConnection::Postgresql(c) => diesel::select(
            diesel::dsl::sql::<diesel::sql_types::Bool>("current_setting('autovacuum') = 'off'"),
        )
        .get_result(c),
        AnyConnection::Sqlite(_) => Ok(false),
    }
}

/// Checks the database answers (readiness).
///
/// # Errors
/// The database's error.
pub fn ping(conn: &mut AnyConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("SELECT 1")
}
