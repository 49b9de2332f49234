//! End-to-end tests: one binary, the real server per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod authz_matrix;
mod bad_input;
mod calendar;
mod categories;
mod concurrency;
mod contract;
mod coverage;
mod demo;
mod departments;
mod feed;
mod hardening;
mod health;
mod helpers;
mod household_import;
mod households;
mod idempotency;
mod import_export;
mod incidents;
mod limits;
mod locate;
mod pii;
mod races;
mod units;
mod users;
