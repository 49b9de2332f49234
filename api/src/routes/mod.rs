//! Routes. Every `/api/v1` route except login takes `AuthUser`, so a missing token is 401
//! before any handler code runs.

mod audit;
mod auth;
mod coverage;
mod departments;
pub(crate) mod households;
mod meta;
mod units;
mod users;

use crate::error::extract;
use crate::startup::UPLOAD_LIMIT_BYTES;
use actix_web::middleware::from_fn;
use actix_web::web;

/// An object id from a path: a UUID, or `400 invalid_id` naming what was expected.
pub(crate) fn parse_object_id(s: &str, what: &str) -> Result<String, crate::error::ApiError> {
    wangge_domain::UnitId::parse(s)
        .map(|u| u.to_string())
        .map_err(|_| {
            crate::error::ApiError::bad_request(
                "invalid_id",
                format!("{s:?} is not a {what} id (UUID)"),
            )
        })
}

/// Adds `Location` to an answer (a 201 naming what it created).
pub(crate) fn with_location(
    mut resp: actix_web::HttpResponse,
    path: &str,
) -> actix_web::HttpResponse {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(path) {
        resp.headers_mut()
            .insert(actix_web::http::header::LOCATION, v);
    }
    resp
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)` (clear the field).
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// An optional member that may be absent but not `null` (the contract says so: `null` would
/// otherwise silently mean "unchanged").
pub(crate) fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A resource whose other methods answer 405 problem+json instead of an empty body.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(meta::method_not_allowed))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let upload = || {
        web::JsonConfig::default()
            .limit(UPLOAD_LIMIT_BYTES)
            .error_handler(extract::json)
    };
    cfg.service(resource("/healthz").route(web::get().to(meta::healthz)))
        .service(resource("/readyz").route(web::get().to(meta::readyz)))
        .service(resource("/openapi.yaml").route(web::get().to(meta::openapi)))
        .service(resource("/metrics").route(web::get().to(meta::metrics)))
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(crate::ratelimit::limit))
                .service(resource("/auth/login").route(web::post().to(auth::login)))
                .service(resource("/auth/refresh").route(web::post().to(auth::refresh)))
                .service(resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(resource("/me").route(web::get().to(auth::me)))
                .service(resource("/me/password").route(web::post().to(auth::change_password)))
                .service(resource("/locate").route(web::get().to(coverage::locate)))
                .service(
                    resource("/departments")
                        .route(web::get().to(departments::list))
                        .route(web::post().to(departments::create)),
                )
                .service(
                    resource("/departments/{id}")
                        .route(web::get().to(departments::get))
                        .route(web::patch().to(departments::patch))
                        .route(web::delete().to(departments::delete)),
                )
                .service(resource("/audit").route(web::get().to(audit::list)))
                .service(resource("/household-tags").route(web::get().to(households::tags)))
                .service(
                    resource("/households")
                        .route(web::get().to(households::list))
                        .route(web::post().to(households::create)),
                )
                .service(resource("/households/import").route(web::post().to(households::import)))
                .service(
                    resource("/households/{id}")
                        .route(web::get().to(households::get))
                        .route(web::patch().to(households::patch))
                        .route(web::delete().to(households::delete)),
                )
                .service(
                    resource("/households/{id}/history").route(web::get().to(households::history)),
                )
                .service(
                    resource("/households/{id}/residents")
                        .route(web::get().to(households::list_residents))
                        .route(web::post().to(households::create_resident)),
                )
                .service(
                    resource("/households/{id}/residents/{resident_id}")
                        .route(web::patch().to(households::patch_resident))
                        .route(web::delete().to(households::delete_resident)),
                )
                .service(
                    resource("/households/{id}/visits")
                        .route(web::get().to(households::list_visits))
                        .route(web::post().to(households::create_visit)),
                )
                .service(
                    resource("/users")
                        .route(web::get().to(users::list))
                        .route(web::post().to(users::create)),
                )
                .service(
                    resource("/users/{id}")
                        .route(web::get().to(users::get))
                        .route(web::patch().to(users::patch))
                        .route(web::delete().to(users::delete)),
                )
                .service(
                    resource("/users/{id}/assignments")
                        .route(web::put().to(users::put_assignments)),
                )
                .service(
                    resource("/users/{id}/password-reset")
                        .route(web::post().to(users::reset_password)),
                )
                .service(resource("/units/{id}/workers").route(web::get().to(users::unit_workers)))
                .service(
                    resource("/units")
                        .route(web::get().to(units::list))
                        .route(web::post().to(units::create)),
                )
                .service(
                    resource("/units/import")
                        .app_data(upload())
                        .route(web::post().to(coverage::import)),
                )
                .service(resource("/units/export").route(web::get().to(coverage::export)))
                .service(
                    resource("/units/{id}")
                        .route(web::get().to(units::get))
                        .route(web::patch().to(units::patch))
                        .route(web::delete().to(units::delete)),
                )
                .service(resource("/units/{id}/children").route(web::get().to(units::children)))
                .service(resource("/units/{id}/ancestors").route(web::get().to(units::ancestors)))
                .service(
                    resource("/units/{id}/coverage")
                        .app_data(upload())
                        .route(web::get().to(coverage::get))
                        .route(web::put().to(coverage::put)),
                ),
        )
        .default_service(web::to(meta::not_found));
}
