use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http;
use crate::startup::{AppState, StateExt};
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use wangge_domain::UnitId;

/// Who works a unit: the active accounts assigned to it or above it, nearest first.
pub async fn unit_workers(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let unit: UnitId = http::id(&id, "unit")?;
    let (unit_id, workers) = state
        .read(user.who(), move |r| {
            wangge_app::users::unit_workers(r, unit)
        })
        .await?;
    let items: Vec<Value> = workers
        .iter()
        .map(|w| {
            let (u, a) = (&w.account.user, &w.assignment);
            json!({
                "id": u.id,
                "username": u.username,
                "display_name": u.display_name,
                "roles": u.roles(),
                "phone": u.phone_masked,
                "assigned_unit": { "id": a.unit_id, "code": a.unit_code, "name": a.unit_name, "level": a.unit_level },
                "capture": a.capture,
                "inherited": w.inherited,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "unit_id": unit_id, "items": items })))
}
