//! The API's one error type, rendered as RFC 9457 `application/problem+json` with a stable
//! machine `code`. Unknown failures become 500 with the cause logged once and never sent.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};
use std::fmt;
use wangge_app::AppError;
use wangge_persistence::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extension members merged into the body (e.g. `errors`, `unit`, `sample_cells`).
    pub extra: Value,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: Value::Null,
            retry_after_s: None,
        }
    }

    #[must_use]
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    #[must_use]
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = extra;
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// A failure the client cannot fix. The cause is logged here, once, and not sent.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error.cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; it has been logged",
        )
    }

    /// A dependency is away: 503 with `Retry-After`, so clients come back instead of failing.
    pub fn unavailable(cause: &dyn fmt::Display) -> Self {
        tracing::warn!(error.cause = %cause, "dependency unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a dependency of the service is unavailable; retry shortly",
        );
        e.retry_after_s = Some(2);
        e
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    /// The body, for handlers that need it outside a response (e.g. CLI output).
    #[must_use]
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("urn:wangge:problem:{}", self.code),
            "title": self.title(),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let (Value::Object(extra), Some(obj)) = (&self.extra, body.as_object_mut()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

impl std::error::Error for ApiError {}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(s) = self.retry_after_s {
            res.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.body(self.body().to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(m) => Self::not_found(m),
            AppError::Forbidden { code, message } => Self::new(StatusCode::FORBIDDEN, code, message),
            AppError::Unauthorized { code, message } => {
                Self::new(StatusCode::UNAUTHORIZED, code, message)
            }
            AppError::Invalid(v) => v.into(),
            AppError::Unprocessable {
                code,
                message,
                details,
            } => Self::unprocessable(code, message).with(details),
            AppError::BadRequest { code, message } => Self::bad_request(code, message),
            AppError::Gone { code, message } => Self::new(StatusCode::GONE, code, message),
            AppError::Conflict {
                code,
                message,
                details,
            } => Self::new(StatusCode::CONFLICT, code, message).with(details),
            AppError::VersionMismatch { expected, current } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "version_mismatch",
                format!("If-Match named version {expected}, but the current version is {current}; reload and retry"),
            )
            .with(json!({ "current_version": current })),
            AppError::InFlight { retry_after_s } => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_flight",
                    "a request with this Idempotency-Key is still being processed; retry after the time in Retry-After",
                );
                e.retry_after_s = Some(retry_after_s);
                e
            }
            AppError::TooMany {
                code,
                message,
                retry_after_s,
            } => {
                let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, message);
                e.retry_after_s = Some(retry_after_s);
                e
            }
            AppError::Unavailable(cause) => Self::unavailable(&cause),
            AppError::PiiKeyUnavailable { key_id } => {
                tracing::error!(pii.key_id = %key_id, "personal data sealed under a key this server lacks");
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "pii_key_unavailable",
                    "this server lacks the key that sealed this personal data; an operator must configure it (WANGGE_PII_OLD_KEYS)",
                );
                e.retry_after_s = Some(60);
                e
            }
            e @ (AppError::Internal(_) | AppError::Raced | AppError::ClaimLost) => {
                Self::internal(&e)
            }
        }
    }
}

impl From<wangge_domain::ValidationError> for ApiError {
    fn from(v: wangge_domain::ValidationError) -> Self {
        Self::unprocessable("validation_failed", v.to_string()).with(json!({ "field": v.field }))
    }
}

impl From<wangge_geo::GeoError> for ApiError {
    fn from(e: wangge_geo::GeoError) -> Self {
        use wangge_geo::GeoError as G;
        let code = match &e {
            G::InvalidCell(_) | G::CellTooFine { .. } => "invalid_cell",
            _ => "invalid_geometry",
        };
        Self::unprocessable(code, e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(&e)
    }
}

/// Errors of actix's extractors (JSON body, query string, path), as problem+json.
pub mod extract {
    use super::ApiError;
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::http::StatusCode;
    use actix_web::{HttpRequest, error::Error};

    pub fn json(err: JsonPayloadError, _req: &HttpRequest) -> Error {
        let e = match &err {
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body exceeds the limit of {limit} bytes for this route"),
            ),
            JsonPayloadError::ContentType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ),
            JsonPayloadError::Deserialize(de) if de.is_data() => ApiError::unprocessable(
                "invalid_body",
                format!("the body does not fit the schema: {de}"),
            ),
            JsonPayloadError::Deserialize(de) => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {de}"),
            ),
            other => ApiError::bad_request("malformed_body", other.to_string()),
        };
        e.into()
    }

    pub fn query(err: QueryPayloadError, _req: &HttpRequest) -> Error {
        ApiError::bad_request(
            "invalid_query",
            format!("the query string is invalid: {err}"),
        )
        .into()
    }

    /// Every path parameter is an id.
    pub fn path(err: PathError, _req: &HttpRequest) -> Error {
        ApiError::bad_request("invalid_id", format!("the path does not name an id: {err}")).into()
    }
}
