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
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                match unique_violation(info.as_ref()) {
                    Some((code, message)) => Self::Conflict {
                        code,
                        message: message.to_owned(),
                        details: Value::Null,
                    },
                    // A key the code does not expect to collide: a bug, logged as a 500.
                    None => Self::Db(Error::DatabaseError(
                        DatabaseErrorKind::UniqueViolation,
                        info,
                    )),
                }
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                match foreign_key_violation(info.as_ref()) {
                    Some(e) => e,
                    None => Self::Db(Error::DatabaseError(
                        DatabaseErrorKind::ForeignKeyViolation,
                        info,
                    )),
                }
            }
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

/// Unique keys and what breaking them means, as (PostgreSQL constraint, SQLite's
/// `table.column`, code, message). Database text never reaches a client: a key not listed
/// here is a bug (500, logged).
const UNIQUE_KEYS: &[(&str, &str, &str, &str)] = &[
    (
        "users_username_key",
        "users.username",
        "duplicate_username",
        "an account with this username exists already",
    ),
    (
        "units_code_key",
        "units.code",
        "duplicate_code",
        "a unit with this code exists already",
    ),
    (
        "departments_code_key",
        "departments.code",
        "duplicate_code",
        "a department with this code exists already",
    ),
    (
        "residents_id_card_hash_key",
        "residents.id_card_hash",
        "duplicate_id_card",
        "a resident with this identity-card number is registered already",
    ),
    (
        "client_ids_pkey",
        "client_ids.id",
        "id_taken",
        "this id names another record",
    ),
    (
        "households_pkey",
        "households.id",
        "id_taken",
        "this id names another record",
    ),
    (
        "residents_pkey",
        "residents.id",
        "id_taken",
        "this id names another record",
    ),
    (
        "visits_pkey",
        "visits.id",
        "id_taken",
        "this id names another record",
    ),
    (
        "units_pkey",
        "units.id",
        "id_taken",
        "this id names another record",
    ),
    (
        "users_pkey",
        "users.id",
        "id_taken",
        "this id names another record",
    ),
    (
        "departments_pkey",
        "departments.id",
        "id_taken",
        "this id names another record",
    ),
];

/// The stable code and message of a unique violation the code expects.
fn unique_violation(
    info: &dyn diesel::result::DatabaseErrorInformation,
) -> Option<(&'static str, &'static str)> {
    UNIQUE_KEYS
        .iter()
        .find(|(pg, sqlite, _, _)| {
            info.constraint_name() == Some(*pg)
                || info
                    .message()
                    .ends_with(&format!("constraint failed: {sqlite}"))
        })
        .map(|(_, _, code, message)| (*code, *message))
}

/// What a foreign-key violation means: a race the checks before it could not see (PostgreSQL
/// names the constraint; on SQLite the one writer at a time makes the checks hold).
fn foreign_key_violation(
    info: &dyn diesel::result::DatabaseErrorInformation,
) -> Option<StoreError> {
    let conflict = |code, message: &str| StoreError::Conflict {
        code,
        message: message.to_owned(),
        details: Value::Null,
    };
    match info.constraint_name()? {
        "users_department_id_fkey" => Some(conflict(
            "department_in_use",
            "accounts are still bound to this department",
        )),
        c if c.ends_with("_unit_id_fkey") => {
            Some(conflict("unit_in_use", "the unit is still in use"))
        }
        c if c.ends_with("_household_id_fkey") => Some(StoreError::NotFound {
            entity: "household",
            id: String::new(),
        }),
        _ => None,
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
