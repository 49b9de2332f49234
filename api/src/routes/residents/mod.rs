//! Residents of a household: masked by default, revealed (and audited) on request.

mod create;
mod delete;
mod list;
pub(crate) mod update;

pub use create::create;
pub use delete::delete;
pub use list::list;
pub use update::update;

use serde_json::{Value, json};
use wangge_persistence::households::split_tags;
use wangge_persistence::residents::ResidentRecord;

const WHAT: &str = "resident";

/// A resident as bodies show it: personal data masked unless `revealed` (plain texts given).
pub(crate) fn body(
    r: &ResidentRecord,
    revealed: Option<(Option<String>, Option<String>)>,
) -> Value {
    let (id_card, phone, is_revealed) = match revealed {
        Some((i, p)) => (i, p, true),
        None => (r.id_card_masked.clone(), r.phone_masked.clone(), false),
    };
    json!({
        "id": r.id,
        "household_id": r.household_id,
        "name": r.name,
        "gender": r.gender,
        "birth_date": r.birth_date,
        "relation": r.relation,
        "id_card": id_card,
        "phone": phone,
        "revealed": is_revealed,
        "tags": split_tags(&r.tags),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "version": r.version,
    })
}
