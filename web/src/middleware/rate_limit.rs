//! The per-address request budget (60 a minute by default) on the API.
//! Health checks and metrics are exempt (probes poll them), and so are
//! webhooks: TradingView posts every user's alerts from a handful of
//! addresses, so webhooks have a budget per strategy token instead.
//!
//! Every answer carries `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` (seconds) and `RateLimit-Policy`; a refusal is 429 with
//! `Retry-After`.

use crate::auth::client_ip;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use std::time::Duration;
use tradingbot_actors::kv::RateLimit;

const WINDOW: Duration = Duration::from_secs(60);

fn exempt(path: &str) -> bool {
    !path.starts_with("/api/") || path == "/api/v1/health" || path.starts_with("/api/v1/webhook/")
}

/// Writes the `RateLimit-*` headers.
pub fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_secs: u64) {
    headers.insert(
        HeaderName::from_static("ratelimit-limit"),
        HeaderValue::from(limit),
    );
    headers.insert(
        HeaderName::from_static("ratelimit-remaining"),
        HeaderValue::from(remaining),
    );
    headers.insert(
        HeaderName::from_static("ratelimit-reset"),
        HeaderValue::from(reset_secs),
    );
    if let Ok(policy) = HeaderValue::from_str(&format!("{limit};w={}", WINDOW.as_secs())) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), policy);
    }
}

pub async fn per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let ip = client_ip::attach(&req, &state.trusted_proxies);
    // A request another instance forwarded was counted where it arrived.
    if exempt(req.path()) || state.forwarder.verify(req.request()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let key = format!("ip:{}", ip.as_string().unwrap_or_else(|| "unknown".into()));
    let decision = match state.limiter.hit(&key, state.limits.per_ip, WINDOW).await {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(error = %e, "per-address rate limit unavailable; request allowed");
            None
        }
    };
    if let Some(d) = decision.filter(|d| !d.allowed) {
        metrics::counter!("http_rate_limited_total", "scope" => "ip").increment(1);
        let err = ApiError::RateLimited {
            code: "rate_limited",
            detail: format!("More than {} requests a minute from this address.", d.limit),
            retry_after_secs: d.reset_after.as_secs().max(1),
            limit: Some(d.limit),
        };
        let res = err.error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if let Some(d) = decision {
        set_headers(
            res.headers_mut(),
            d.limit,
            d.remaining,
            d.reset_after.as_secs(),
        );
    }
    Ok(res.map_into_left_body())
}
