//! Authentication at the HTTP edge: access tokens (JWT), the extractors that
//! protected routes use, and where a request really comes from.

pub mod client_ip;
pub mod extractor;
pub mod jwt;

pub use client_ip::ClientIp;
pub use extractor::{AdminUser, AuthUser};
pub use jwt::{Claims, JwtKeys, Role};
