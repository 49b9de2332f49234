//! The Wangge HTTP API and its command line. The only crate that knows HTTP: handlers parse a
//! request, call one use case of `wangge_app`, and render its result.

pub mod auth;
pub mod bus;
pub mod cli;
pub mod client;
pub mod compressed;
pub mod config;
pub mod db_threads;
pub mod error;
pub mod feed;
pub mod headers;
pub mod http;
pub mod metrics;
pub mod ratelimit;
pub mod representation;
pub mod routes;
pub mod simulate;
pub mod sse;
pub mod startup;
pub mod telemetry;
pub mod throttle;
pub mod workers;
