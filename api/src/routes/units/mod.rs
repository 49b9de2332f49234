//! Units: the grid's records, their coverage, import and export. Every role reads the grid;
//! administrators change it.

mod coverage;
mod create;
mod delete;
mod exchange;
mod get;
mod history;
mod list;
mod tree;
mod update;

pub use coverage::{coverage, set_coverage};
pub use create::create;
pub use delete::delete;
pub use exchange::{export, import};
pub use get::get;
pub use history::history;
pub use list::list;
pub use tree::{ancestors, children};
pub use update::update;

use serde::Serialize;
use wangge_persistence::grid::UnitRecord;

const WHAT: &str = "unit";

/// A unit as every body shows it.
#[derive(Debug, Serialize)]
pub struct UnitBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: i32,
    pub level_name: &'static str,
    pub parent_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<UnitRecord> for UnitBody {
    fn from(u: UnitRecord) -> Self {
        Self {
            level_name: wangge_app::locate::level_name(u.level),
            id: u.id,
            code: u.code,
            name: u.name,
            level: u.level,
            parent_id: u.parent_id,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}

/// `{items, next_cursor}` of units.
fn page(rows: Vec<UnitRecord>, limit: u32) -> serde_json::Value {
    let rows: Vec<UnitBody> = rows.into_iter().map(UnitBody::from).collect();
    crate::http::page(rows, limit, |u| u.id.clone())
}

/// A `parent_id` from a body: a malformed one is a validation failure of that field.
fn parse_parent(
    p: Option<&str>,
) -> Result<Option<wangge_domain::UnitId>, wangge_domain::ValidationError> {
    p.map(|p| {
        wangge_domain::UnitId::parse(p)
            .map_err(|_| wangge_domain::ValidationError::new("parent_id", "is not a UUID"))
    })
    .transpose()
}
