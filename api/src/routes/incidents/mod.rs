//! Incidents (`/api/v1/incidents`): a file per operation.

pub mod attachments;
pub mod csv;
pub mod get;
pub mod list;
pub mod report;
pub mod reporter;
pub mod transition;

pub(crate) const WHAT: &str = "incident";
