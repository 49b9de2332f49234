//! The application layer's one error type. Each variant says what went wrong in terms a client
//! can act on; `api` maps it to HTTP once, and the CLI prints it.

use serde_json::{Value, json};
use wangge_domain::ValidationError;
use wangge_persistence::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The object does not exist, or lies outside the caller's view scope (which must look
    /// the same).
    #[error("{0}")]
    NotFound(String),
    /// The caller may see the object but not do this to it.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// No valid session or account behind the request.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// A value broke a rule of the domain.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The request cannot be processed as it is (`code` names why; `details` adds members).
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// A query or reference that does not name what it must (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The request contradicts the stored state.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// What the request refers to is no longer kept (a sync cursor older than the pruned
    /// change feed): the client must start again (410).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// `If-Match` named a version that is not (or no longer) current.
    #[error("version {expected} does not match the current version {current}")]
    VersionMismatch { expected: i64, current: i64 },
    /// The first request with this idempotency key is still running.
    #[error("a request with this Idempotency-Key is still being processed")]
    InFlight { retry_after_s: u64 },
    /// A per-account limit was reached.
    #[error("{message}")]
    TooMany {
        code: &'static str,
        message: String,
        retry_after_s: u64,
    },
    /// A dependency is away (the database restarting, SQLite locked past the busy timeout).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Personal data sealed under a key this server was not given.
    #[error("the personal-data key {key_id:?} is not configured on this server")]
    PiiKeyUnavailable { key_id: String },
    /// A failure the client cannot fix; logged where it is mapped, never sent.
    #[error("internal: {0}")]
    Internal(String),
    /// A conditional write lost a race it can retry (no `If-Match` was given): the
    /// transaction is run again on fresh data. Never leaves the layer.
    #[error("a concurrent write changed the record; retrying")]
    Raced,
    /// An idempotency claim was taken over by a retry while this request ran (its lease had
    /// ended). Never leaves the layer.
    #[error("the idempotency claim was taken over")]
    ClaimLost,
}

impl AppError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            code: "forbidden",
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>, details: Value) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details,
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A field's validation failure.
    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid(ValidationError::new(field, reason))
    }

    /// Whether a retry of the same request can succeed later (503-like).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::PiiKeyUnavailable { .. })
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, .. } => Self::NotFound(format!("{entity} not found")),
            StoreError::Invalid(v) => Self::Invalid(v),
            StoreError::Conflict {
                code,
                message,
                details,
            } => Self::Conflict {
                code,
                message,
                details,
            },
            StoreError::VersionMismatch { expected, current } => {
                Self::VersionMismatch { expected, current }
            }
            StoreError::ImportRejected(problems) => Self::Unprocessable {
                code: "import_rejected",
                message: format!(
                    "the import was rejected with {} error(s); nothing was written",
                    problems.len()
                ),
                details: json!({ "errors": problems }),
            },
            StoreError::Pool(e) => Self::Unavailable(e.to_string()),
            StoreError::Busy(e) | StoreError::Lost(e) => Self::Unavailable(e),
            e @ (StoreError::Db(_) | StoreError::Corrupt(_)) => Self::Internal(e.to_string()),
        }
    }
}

impl From<wangge_persistence::DieselError> for AppError {
    fn from(e: wangge_persistence::DieselError) -> Self {
        StoreError::from(e).into()
    }
}
