//! HTTP routes, one module per area of the API. Handlers parse, call the
//! domain or the actors, and shape the answer; they hold no business rules.

pub mod docs;
pub mod health;
pub mod metrics;

use crate::problem::ApiError;
use actix_web::web;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(web::resource("/health").route(web::get().to(health::health)))
            .service(web::resource("/openapi.json").route(web::get().to(docs::openapi_json)))
            .service(web::resource("/docs").route(web::get().to(docs::docs_page))),
    )
    .service(web::resource("/metrics").route(web::get().to(metrics::metrics)));
}

/// Answer for paths no route matches.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
