//! Prometheus metrics: requests and latency by route and status, database pool use, locate
//! index size. Served as text at `GET /metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::time::Duration;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub pool_connections: IntGaugeVec,
    pub locate_entries: IntGauge,
    pub locate_bytes: IntGauge,
    pub locate_units: IntGauge,
    pub locate_generation: IntGauge,
    /// Password hashes made (sampled from the use cases' hasher when rendered).
    pub password_hashes: IntGauge,
    /// Change-feed rows not numbered yet.
    pub changes_unsequenced: IntGauge,
}

impl Metrics {
    /// # Errors
    /// When a metric cannot be registered (a programming error, caught at start-up).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("wangge".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method, route and status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        let locate_entries = IntGauge::new("locate_index_entries", "Cells in the locate index")?;
        let locate_bytes = IntGauge::new(
            "locate_index_bytes",
            "Estimated heap size of the locate index",
        )?;
        let locate_units = IntGauge::new("locate_index_units", "Units in the locate index")?;
        let locate_generation = IntGauge::new(
            "locate_index_generation",
            "Coverage generation the locate index was built from",
        )?;
        let password_hashes = IntGauge::new(
            "password_hashes_total",
            "Password hashes this instance made (Argon2id)",
        )?;
        let changes_unsequenced = IntGauge::new(
            "changes_unsequenced",
            "Change-feed rows waiting for a position",
        )?;
        registry.register(Box::new(password_hashes.clone()))?;
        registry.register(Box::new(changes_unsequenced.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(locate_entries.clone()))?;
        registry.register(Box::new(locate_bytes.clone()))?;
        registry.register(Box::new(locate_units.clone()))?;
        registry.register(Box::new(locate_generation.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            locate_entries,
            locate_bytes,
            locate_units,
            locate_generation,
            password_hashes,
            changes_unsequenced,
        })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route, status.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
