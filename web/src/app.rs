//! The actix-web application: state, extractor configuration, routes and
//! middleware, assembled once per worker thread.

use crate::extract::BodyLimit;
use crate::middleware::{
    observe::observe, problem::problem_json, rate_limit::per_ip, request_id::request_id,
    security_headers,
};
use crate::problem::ApiError;
use crate::routes;
use crate::state::AppState;
use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, web};
use std::sync::Arc;

/// HTTP policy fixed at start-up.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub body_limit: usize,
    pub cors_origins: Arc<[String]>,
    /// Send `Strict-Transport-Security` (the public URL is https).
    pub hsts: bool,
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .max_age(3600)
        // Other origins get no CORS headers (the browser then refuses);
        // the request itself is not failed, so non-browser clients work.
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

pub fn build(
    state: web::Data<AppState>,
    settings: HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::Data::new(BodyLimit(settings.body_limit)))
        // An id that is not a number names no object: 404, like any unknown id.
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::invalid("query", e.to_string()).into()),
        )
        .configure(routes::configure)
        .default_service(web::to(routes::not_found))
        .wrap(security_headers(settings.hsts))
        .wrap(from_fn(problem_json))
        .wrap(from_fn(per_ip))
        .wrap(Condition::new(
            !settings.cors_origins.is_empty(),
            cors(&settings.cors_origins),
        ))
        .wrap(from_fn(observe))
        .wrap(from_fn(request_id))
}
