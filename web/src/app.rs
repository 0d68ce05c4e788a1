//! The actix-web application: state, extractor configuration, routes and
//! middleware, assembled once per worker thread.

use crate::extract::BodyLimit;
use crate::middleware::{
    observe::observe, problem::problem_json, request_id::request_id, security_headers,
};
use crate::problem::ApiError;
use crate::routes;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, web};

pub fn build(
    state: web::Data<AppState>,
    body_limit: usize,
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
        .app_data(web::Data::new(BodyLimit(body_limit)))
        // An id that is not a number names no object: 404, like any unknown id.
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::invalid("query", e.to_string()).into()),
        )
        .configure(routes::configure)
        .default_service(web::to(routes::not_found))
        .wrap(security_headers())
        .wrap(from_fn(problem_json))
        .wrap(from_fn(observe))
        .wrap(from_fn(request_id))
}
