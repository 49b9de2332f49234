//! JSON logs through tracing, a span per request carrying its request id, and the request
//! metrics. Log fields never hold secrets or personal data (no bodies, no query strings).

use crate::metrics::Metrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: JSON lines on stdout, level from `RUST_LOG` (default info).
/// A second call (tests spawn many apps) is a no-op.
pub fn init() {
    init_with(false, "info");
}

/// The server logs to stdout at `info`; the other commands log to stderr at `warn`, so their
/// stdout (an export, say) stays clean and their terminal shows the progress bar.
pub fn init_with(to_stderr: bool, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter);
    let _ = if to_stderr {
        builder.with_writer(std::io::stderr).try_init()
    } else {
        builder.try_init()
    };
}

/// The request's id, as the access log and the `x-request-id` header give it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps a caller's request id when it is short and plain, so logs join across systems;
/// otherwise makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

/// Middleware: span, request id header, access log line and metrics for every request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    // Handlers read it for the audit log.
    actix_web::HttpMessage::extensions_mut(&req).insert(RequestId(id.clone()));
    // One client address per request, for rate limits, throttling and the audit log.
    if let (Some(peer), Some(state)) = (
        req.peer_addr(),
        req.app_data::<web::Data<crate::startup::AppState>>(),
    ) {
        let client =
            crate::client::resolve(peer.ip(), req.headers(), &state.settings.trusted_proxies);
        actix_web::HttpMessage::extensions_mut(&req).insert(crate::client::ClientAddr(client));
    }
    // Only standard methods become metric labels: any other string a client sends would
    // create a new series.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!(
        "http.request",
        request_id = %id,
        http.method = %method,
        http.route = %route,
    );
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if let Some(m) = metrics {
        m.observe_request(method, &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            http.status = status,
            http.duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        );
    });
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    Ok(res)
}
