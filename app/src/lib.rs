//! The use cases of Wangge: one function per thing a user or an operator does. HTTP handlers,
//! CLI commands and background workers all call these, so every entry point obeys the same
//! rules: the caller's scope is checked, the domain's rules applied, and the record is
//! written in one transaction with its history, audit, outbox and change-feed rows
//! ([`tx::write`]). Nothing here knows HTTP.

pub mod audit;
pub mod blobs;
pub mod calendar;
pub mod caller;
pub mod categories;
pub mod changes;
pub mod client_id;
pub mod demo;
pub mod departments;
pub mod error;
pub mod events;
pub mod households;
pub mod idempotency;
pub mod incidents;
pub mod locate;
pub mod outbox;
pub mod password;
pub mod patrols;
pub mod pii;
pub mod reference;
pub mod reseal;
pub mod services;
pub mod sessions;
pub mod stats;
pub mod sync;
pub mod tasks;
pub mod tx;
pub mod units;
pub mod uploads;
pub mod users;
pub mod versions;
pub mod visit_rules;

pub use caller::{Caller, Who};
pub use error::AppError;
pub use services::{Config, Services};
pub use tx::{Reader, Tx, read, write};
pub use versions::Created;
