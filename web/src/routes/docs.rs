//! `GET /api/v1/openapi.json` and `GET /api/v1/docs/`: the OpenAPI document
//! and Swagger UI to read and try it. Swagger UI's files are compiled into
//! the binary (`utoipa-swagger-ui`'s vendored build: nothing is downloaded,
//! neither when building nor when serving), so the page works on the
//! embedded default offline. Its start-up code is a file of its own, not an
//! inline script, so the page runs under a policy that allows no inline,
//! evaluated or foreign script and talks to this server only.

use crate::openapi;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::{Config, SwaggerUi};

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::json())
}

/// Scripts and connections to this origin only; inline styles, which
/// Swagger UI's components set, and inline images (its icons).
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
                            style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                            font-src 'self' data:; connect-src 'self'; \
                            frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `/docs` (under `/api/v1`): Swagger UI, its assets, and the bare path
/// sent to the trailing slash its relative asset links need.
pub fn swagger_ui() -> impl actix_web::dev::HttpServiceFactory {
    let config = Config::new(["/api/v1/openapi.json"])
        .try_it_out_enabled(true)
        .persist_authorization(true)
        .display_request_duration(true)
        .deep_linking(true)
        .filter(true)
        .doc_expansion("list")
        // The public validator would be a request to another origin.
        .validator_url("none");
    web::scope("/docs")
        .wrap(DefaultHeaders::new().add(("Content-Security-Policy", DOCS_CSP)))
        .service(web::resource("").route(web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/api/v1/docs/"))
                .finish()
        })))
        .service(SwaggerUi::new("/{_:.*}").config(config))
}
