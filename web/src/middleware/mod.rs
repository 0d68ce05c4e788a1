//! Middleware every request passes through, outermost first: request id,
//! observation (metrics and access log), CORS, the per-address request
//! budget, problem+json for bare errors, security headers.

pub mod observe;
pub mod problem;
pub mod rate_limit;
pub mod request_id;

use actix_web::middleware::DefaultHeaders;

/// Headers that cost nothing and close whole classes of browser attacks.
/// HSTS only when the service is reached over TLS (a plain-HTTP development
/// server must not pin browsers to https).
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    if hsts {
        headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}
