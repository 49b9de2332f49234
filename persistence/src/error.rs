//! The persistence layer's one error type. The API maps each variant to an HTTP status.

use serde_json::Value;
use wangge_domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// A value broke a rule of the domain (422).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The request is well-formed but contradicts the stored state (409). `code` is stable.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// `If-Match` named a version that is no longer current (412).
    #[error("version {expected} does not match the current version {current}")]
    VersionMismatch { expected: i64, current: i64 },
    /// An import failed; every problem found is listed and nothing was written (422).
    #[error("the import was rejected with {} error(s); nothing was written", .0.len())]
    ImportRejected(Vec<ImportProblem>),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    /// SQLite stayed locked by another writer beyond the busy timeout (503, retry).
    #[error("the database is busy: {0}")]
    Busy(String),
    /// The connection to the database was lost (a restart, a network cut): 503, retry.
    #[error("the database connection was lost: {0}")]
    Lost(String),
    #[error("database error: {0}")]
    Db(diesel::result::Error),
    /// Stored data that cannot be read back (a bug or a hand edit): 500.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Self::Conflict {
                code: "already_exists",
                message: format!("a record with the same key exists ({})", info.message()),
                details: Value::Null,
            },
            Error::DatabaseError(_, info) if info.message().contains("is locked") => {
                Self::Busy(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Lost(info.message().to_owned())
            }
            Error::BrokenTransactionManager => Self::Lost("broken transaction manager".to_owned()),
            // PostgreSQL: the server ended the session (admin_shutdown and its kin, class 57P),
            // which libpq reports on the statement that finds the connection closed.
            Error::DatabaseError(_, info)
                if info.message().contains("terminating connection")
                    || info.message().contains("server closed the connection") =>
            {
                Self::Lost(info.message().to_owned())
            }
            Error::NotFound => Self::NotFound {
                entity: "record",
                id: String::new(),
            },
            other => Self::Db(other),
        }
    }
}

/// One problem in an import: which feature (0-based index and code, when known) and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportProblem {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub problem: String,
}
