use super::body;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_domain::HouseholdId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealQuery {
    #[serde(default)]
    reveal: bool,
}

/// The residents of a household. `?reveal=true` shows identity numbers and phones in full to
/// roles allowed to see them (403 for others), and is audited.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: crate::http::Query<RevealQuery>,
) -> Result<HttpResponse, ApiError> {
    let household: HouseholdId = http::id(&id, "household")?;
    let items: Vec<Value> = if query.reveal {
        state
            .write(user.who(), move |tx| {
                wangge_app::households::residents::reveal(tx, household)
            })
            .await?
            .into_iter()
            .map(|r| body(&r.record, Some((r.id_card, r.phone))))
            .collect()
    } else {
        state
            .read(user.who(), move |r| {
                wangge_app::households::residents::list(r, household)
            })
            .await?
            .iter()
            .map(|r| body(r, None))
            .collect()
    };
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}
