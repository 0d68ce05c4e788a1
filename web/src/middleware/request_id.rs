//! Gives every request an id, echoed in the `X-Request-Id` response header
//! and carried by its log lines, so a user's report can be matched to logs.
//! A well-formed id sent by a trusted hop (nginx) is kept.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::sync::Arc;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being handled (in request extensions).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

fn acceptable(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id: Arc<str> = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::new_v4().to_string()));
    req.extensions_mut().insert(RequestId(id.clone()));
    // The request must not be cloned before routing (actix needs it unique
    // to record path parameters), so an inner `Err` is passed on as is.
    let mut res = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn accepts_only_plain_ids() {
        assert!(super::acceptable("3f2b9c1e-aaaa-4bbb-8ccc-1234567890ab"));
        assert!(!super::acceptable("short"));
        assert!(!super::acceptable("has space in it"));
        assert!(!super::acceptable("inject\r\nheader:x"));
        assert!(!super::acceptable(&"a".repeat(65)));
    }
}
