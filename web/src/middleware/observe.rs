//! Metrics and the access log. Requests are labelled by route *template*
//! (`/api/v1/strategies/{id}`), never by raw path: raw paths would explode the
//! metric cardinality and can carry secrets (webhook tokens).

use super::request_id::RequestId;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::time::Instant;

pub const REQUESTS_TOTAL: &str = "http_requests_total";
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let res = next.call(req).await?;
    let elapsed = started.elapsed();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    let labels = [
        ("method", method.clone()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1e3;
    let request_id = request_id.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::warn!(%method, %route, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, request_id, "request");
    }
    Ok(res)
}
