//! Accounts over HTTP: delegated administration, assignments, password resets, who works a
//! unit.

mod assignments;
mod create;
mod delete;
mod get;
mod list;
mod password_reset;
mod update;
mod workers;

pub use assignments::set_assignments;
pub use create::create;
pub use delete::delete;
pub use get::{get, history};
pub use list::list;
pub use password_reset::reset_password;
pub use update::update;
pub use workers::unit_workers;

use crate::startup::AppState;
use actix_web::web;
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_app::users::AssignmentIn;
use wangge_domain::{UnitId, ValidationError};
use wangge_persistence::users::UserWithUnits;

const WHAT: &str = "user";

/// An account as every body shows it. The phone is always masked here: administrators manage
/// accounts, they do not need the number (least privilege).
pub fn user_body(u: &UserWithUnits) -> Value {
    let r = &u.user;
    json!({
        "id": r.id,
        "username": r.username,
        "display_name": r.display_name,
        "roles": r.roles(),
        "active": r.active,
        "must_change_password": r.must_change_password,
        "phone": r.phone_masked,
        "department_id": r.department_id,
        "all_units": r.all_units,
        "assignments": u.assignments,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "version": r.version,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    unit_id: String,
    capture: bool,
}

fn assignments(wanted: &[AssignmentBody]) -> Result<Vec<AssignmentIn>, ValidationError> {
    wanted
        .iter()
        .map(|a| {
            Ok(AssignmentIn {
                unit: UnitId::parse(&a.unit_id).map_err(|_| {
                    ValidationError::new("assignments", format!("{:?} is not a unit id", a.unit_id))
                })?,
                capture: a.capture,
            })
        })
        .collect()
}

/// Tells the other instances about sessions a change ended.
async fn announce(state: &web::Data<AppState>, ended: &[String]) {
    for f in ended {
        crate::bus::announce_revoked(state, f).await;
    }
}
