//! Middleware every request passes through, outermost first: request id,
//! observation (metrics and access log), problem+json for bare errors,
//! security headers.

pub mod observe;
pub mod problem;
pub mod request_id;

use actix_web::middleware::DefaultHeaders;

/// Headers that cost nothing and close whole classes of browser attacks.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}
