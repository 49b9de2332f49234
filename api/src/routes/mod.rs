//! Routes. Every `/api/v1` route except login and refresh takes `AuthUser`, so a missing token
//! is 401 before any handler code runs. A handler parses, calls one use case, renders.

mod audit;
mod auth;
mod calendar;
mod categories;
mod changes;
mod departments;
mod events;
mod history;
mod households;
mod incidents;
mod locate;
mod meta;
mod patrols;
mod residents;
mod stats;
mod sync;
mod tasks;
mod units;
mod uploads;
mod users;
mod visit_rules;
mod visits;

use crate::error::extract;
use crate::http::BodyLimit;
use crate::startup::UPLOAD_LIMIT_BYTES;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, Responder, web};

/// A resource and the methods it offers: any other method answers 405 problem+json with the
/// `Allow` header RFC 9110 requires.
struct Res {
    resource: actix_web::Resource,
    methods: Vec<&'static str>,
}

fn res(path: &str) -> Res {
    Res {
        resource: web::resource(path),
        methods: Vec::new(),
    }
}

impl Res {
    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.methods.push(match method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            _ => "DELETE",
        });
        self.resource = self.resource.route(web::route().method(method).to(handler));
        self
    }

    fn get<F, A>(self, h: F) -> Self
    where
        F: Handler<A>,
        A: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, h)
    }

    fn post<F, A>(self, h: F) -> Self
    where
        F: Handler<A>,
        A: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, h)
    }

    fn put<F, A>(self, h: F) -> Self
    where
        F: Handler<A>,
        A: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PUT, h)
    }

    fn patch<F, A>(self, h: F) -> Self
    where
        F: Handler<A>,
        A: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PATCH, h)
    }

    fn delete<F, A>(self, h: F) -> Self
    where
        F: Handler<A>,
        A: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::DELETE, h)
    }

    /// Bodies up to the upload limit (coverage, imports).
    fn uploads(self) -> Self {
        self.limit(UPLOAD_LIMIT_BYTES)
    }

    /// Bodies up to `bytes`.
    fn limit(mut self, bytes: usize) -> Self {
        self.resource = self.resource.app_data(BodyLimit(bytes)).app_data(
            web::JsonConfig::default()
                .limit(bytes)
                .error_handler(extract::json),
        );
        self
    }

    fn done(self) -> actix_web::Resource {
        let allow = self.methods.join(", ");
        self.resource
            .default_service(web::to(move |req: actix_web::HttpRequest| {
                meta::method_not_allowed(req, allow.clone())
            }))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(res("/healthz").get(meta::healthz).done())
        .service(res("/readyz").get(meta::readyz).done())
        .service(res("/openapi.yaml").get(meta::openapi).done())
        .service(res("/metrics").get(meta::metrics).done())
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(crate::representation::shape))
                .wrap(from_fn(crate::ratelimit::limit))
                .service(res("/auth/login").post(auth::login).done())
                .service(res("/auth/refresh").post(auth::refresh).done())
                .service(res("/auth/logout").post(auth::logout).done())
                .service(res("/me").get(auth::me).done())
                .service(res("/me/tasks").get(tasks::mine).done())
                .service(res("/visit-rules").get(visit_rules::list).done())
                .service(
                    res("/visit-rules/{tag}")
                        .put(visit_rules::put)
                        .delete(visit_rules::delete)
                        .done(),
                )
                .service(res("/me/password").post(auth::change_password).done())
                .service(res("/locate").get(locate::locate).done())
                .service(res("/changes").get(changes::list).done())
                .service(res("/uploads/missing").post(uploads::missing).done())
                .service(
                    res("/uploads/{hash}")
                        .put(uploads::put)
                        .limit(wangge_app::incidents::attachments::MAX_BYTES)
                        .done(),
                )
                .service(
                    res("/sync")
                        .get(sync::download)
                        .post(sync::upload::upload)
                        .limit(sync::upload::BODY_LIMIT_BYTES)
                        .done(),
                )
                .service(res("/events/stream").get(events::stream).done())
                .service(
                    res("/departments")
                        .get(departments::list)
                        .post(departments::create)
                        .done(),
                )
                .service(
                    res("/departments/{id}")
                        .get(departments::get)
                        .patch(departments::update)
                        .delete(departments::delete)
                        .done(),
                )
                .service(
                    res("/incident-categories")
                        .get(categories::list::list)
                        .post(categories::create::create)
                        .done(),
                )
                .service(
                    res("/incident-categories/{code}")
                        .get(categories::get::get)
                        .patch(categories::update::update)
                        .delete(categories::delete::delete)
                        .done(),
                )
                .service(
                    res("/incidents")
                        .get(incidents::list::list)
                        .post(incidents::report::create)
                        .done(),
                )
                .service(res("/incidents/{id}").get(incidents::get::get).done())
                .service(
                    res("/incidents/{id}/reporter")
                        .get(incidents::reporter::reveal)
                        .done(),
                )
                .service(
                    res("/incidents/{id}/attachments")
                        .post(incidents::attachments::upload)
                        .done(),
                )
                .service(
                    res("/incidents/{id}/attachments/{hash}")
                        .get(incidents::attachments::download)
                        .done(),
                )
                .service(
                    res("/incidents/{id}/transitions")
                        .post(incidents::transition::transition_case)
                        .done(),
                )
                .service(res("/stats/units/{id}").get(stats::units::unit).done())
                .service(
                    res("/stats/departments")
                        .get(stats::departments::departments)
                        .done(),
                )
                .service(res("/stats/heatmap").get(stats::heatmap::heatmap).done())
                .service(res("/stats/coverage").get(stats::coverage::coverage).done())
                .service(res("/calendar").get(calendar::list::list).done())
                // Before `/calendar/{date}`, which would otherwise take the path.
                .service(
                    res("/calendar/deadline")
                        .get(calendar::deadline::deadline)
                        .done(),
                )
                .service(
                    res("/calendar/{date}")
                        .put(calendar::set::set)
                        .delete(calendar::remove::remove)
                        .done(),
                )
                .service(res("/audit").get(audit::list).done())
                .service(res("/household-tags").get(households::tags).done())
                .service(
                    res("/households")
                        .get(households::list)
                        .post(households::create)
                        .done(),
                )
                .service(res("/households/import").post(households::import).done())
                .service(
                    res("/households/{id}")
                        .get(households::get)
                        .patch(households::update)
                        .delete(households::delete)
                        .done(),
                )
                .service(
                    res("/households/{id}/history")
                        .get(households::history)
                        .done(),
                )
                .service(
                    res("/households/{id}/residents")
                        .get(residents::list)
                        .post(residents::create)
                        .done(),
                )
                .service(
                    res("/households/{id}/residents/{resident_id}")
                        .patch(residents::update)
                        .delete(residents::delete)
                        .done(),
                )
                .service(
                    res("/households/{id}/visits")
                        .get(visits::list)
                        .post(visits::create)
                        .done(),
                )
                .service(
                    res("/patrols")
                        .get(patrols::list)
                        .post(patrols::start)
                        .done(),
                )
                .service(res("/patrols/{id}").get(patrols::get).done())
                .service(res("/patrols/{id}/points").post(patrols::add_points).done())
                .service(res("/patrols/{id}/finish").post(patrols::finish).done())
                .service(res("/users").get(users::list).post(users::create).done())
                .service(
                    res("/users/{id}")
                        .get(users::get)
                        .patch(users::update)
                        .delete(users::delete)
                        .done(),
                )
                .service(res("/users/{id}/history").get(users::history).done())
                .service(
                    res("/users/{id}/assignments")
                        .put(users::set_assignments)
                        .done(),
                )
                .service(
                    res("/users/{id}/password-reset")
                        .post(users::reset_password)
                        .done(),
                )
                .service(res("/units/{id}/workers").get(users::unit_workers).done())
                .service(res("/units").get(units::list).post(units::create).done())
                .service(res("/units/import").uploads().post(units::import).done())
                .service(res("/units/export").get(units::export).done())
                .service(
                    res("/units/{id}")
                        .get(units::get)
                        .patch(units::update)
                        .delete(units::delete)
                        .done(),
                )
                .service(res("/units/{id}/history").get(units::history).done())
                .service(res("/units/{id}/children").get(units::children).done())
                .service(res("/units/{id}/ancestors").get(units::ancestors).done())
                .service(
                    res("/units/{id}/coverage")
                        .uploads()
                        .get(units::coverage)
                        .put(units::set_coverage)
                        .done(),
                ),
        )
        .default_service(web::to(meta::not_found));
}
