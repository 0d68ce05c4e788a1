//! Rewrites error responses that are not yet problem+json — the ones actix
//! produces on its own for an unknown route, a wrong method, a bad path
//! parameter — into the API's problem shape, so a client meets one error
//! format everywhere. JSON a handler returned on purpose is left alone. Headers such as `Allow` or `Retry-After` are kept.

use crate::problem::{CONTENT_TYPE, Problem};
use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;

/// A problem, or a JSON body a handler chose on purpose (health's 503 is a
/// `Health` document, not a problem).
fn is_deliberate(res: &ServiceResponse<impl MessageBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(CONTENT_TYPE) || v.starts_with("application/json"))
}

pub async fn problem_json(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_deliberate(&res) {
        return Ok(res.map_into_left_body());
    }
    let (req, old) = res.into_parts();
    let mut new = Problem::for_status(status).response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, new).map_into_right_body())
}
