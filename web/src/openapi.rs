//! The OpenAPI document of the API, generated from the handlers' annotations
//! so it cannot drift from the code.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TradingBot API",
        description = "Turns TradingView alerts into risk-checked leveraged futures orders on \
                       Binance and OKX, and reports what happened. Errors are \
                       `application/problem+json` with a stable `code`.",
    ),
    paths(crate::routes::health::health),
    components(schemas(
        crate::problem::Problem,
        crate::problem::FieldError,
        crate::routes::health::Health,
        crate::routes::health::ComponentHealth,
    )),
    tags(
        (name = "service", description = "Health and operations"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}
