//! The Wangge HTTP API and its command line. The only crate that knows HTTP.

pub mod access;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod db_threads;
pub mod demo;
pub mod demo_people;
pub mod error;
pub mod grid_io;
pub mod household_io;
pub mod locate;
pub mod metrics;
pub mod pii;
pub mod ratelimit;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod throttle;
