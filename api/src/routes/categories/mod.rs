//! Incident categories (`/api/v1/incident-categories`): a file per operation. Categories are
//! addressed by their stable code.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use crate::error::ApiError;
use wangge_domain::incident::CategoryCode;

/// The code in a path, or `400 invalid_id`.
fn code(s: &str) -> Result<CategoryCode, ApiError> {
    CategoryCode::parse(s).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("{s:?} is not a category code (2 to 12 digits)"),
        )
    })
}

fn location(c: &wangge_app::categories::Category) -> String {
    format!("/api/v1/incident-categories/{}", c.code)
}
