//! Routes. Every `/api/v1` route except login takes `AuthUser`, so a missing token is 401
//! before any handler code runs.

mod auth;
mod coverage;
mod meta;
mod units;

use crate::error::extract;
use crate::startup::UPLOAD_LIMIT_BYTES;
use actix_web::middleware::from_fn;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let upload = || {
        web::JsonConfig::default()
            .limit(UPLOAD_LIMIT_BYTES)
            .error_handler(extract::json)
    };
    cfg.route("/healthz", web::get().to(meta::healthz))
        .route("/readyz", web::get().to(meta::readyz))
        .route("/openapi.yaml", web::get().to(meta::openapi))
        .route("/metrics", web::get().to(meta::metrics))
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(crate::ratelimit::limit))
                .route("/auth/login", web::post().to(auth::login))
                .route("/locate", web::get().to(coverage::locate))
                .service(
                    web::resource("/units")
                        .route(web::get().to(units::list))
                        .route(web::post().to(units::create)),
                )
                .service(
                    web::resource("/units/import")
                        .app_data(upload())
                        .route(web::post().to(coverage::import)),
                )
                .route("/units/export", web::get().to(coverage::export))
                .service(
                    web::resource("/units/{id}")
                        .route(web::get().to(units::get))
                        .route(web::patch().to(units::patch))
                        .route(web::delete().to(units::delete)),
                )
                .route("/units/{id}/children", web::get().to(units::children))
                .route("/units/{id}/ancestors", web::get().to(units::ancestors))
                .service(
                    web::resource("/units/{id}/coverage")
                        .app_data(upload())
                        .route(web::get().to(coverage::get))
                        .route(web::put().to(coverage::put)),
                ),
        )
        .default_service(web::to(meta::not_found));
}
