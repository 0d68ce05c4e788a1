//! `POST /api/v1/webhook/tradingview/{token}`: TradingView alerts in.
//!
//! The webhook's checks, in order: the sender's address (when an
//! allow-list is set), a 4 KiB body (JSON, sent as `text/plain` by
//! TradingView), the path token → strategy from memory, the secret in the
//! body (constant time) or an HMAC header, a timestamp within ±5 minutes,
//! the replay cache and the strategy's budget, then the user's actor. The
//! answer — accepted, duplicate, or a problem with the reason — comes back
//! in well under a millisecond of our own time; the exchange is not waited for.

use crate::auth::ClientIp;
use crate::cluster::{ForwardError, ForwardedSignal, INSTANCE_HEADER};
use crate::extract::json::read_body;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Serialize;
use std::time::{Duration, Instant};
use tradingbot_actors::execution::events::SignalRecord;
use tradingbot_actors::execution::registry::StrategyRoute;
use tradingbot_actors::execution::runtime::{ExecutionError, Placement};
use tradingbot_actors::execution::user::{Outcome, Refusal};
use tradingbot_actors::kv::{Admission, Gate, GateRules};
use tradingbot_actors::store::enums::SignalOutcome;
use tradingbot_core::signal::{self, Action, Alert, AlertError};
use utoipa::ToSchema;

/// Largest alert accepted.
pub const MAX_BODY: usize = 4096;
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// `accepted` or `duplicate`.
    pub status: &'static str,
    pub signal_id: i64,
    /// What the signal does: `open_long`, `close`, `reverse_to_short`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

fn problem(status: u16, code: &str, detail: impl Into<String>, signal_id: Option<i64>) -> ApiError {
    let mut extensions = serde_json::Map::new();
    if let Some(id) = signal_id {
        extensions.insert("signal_id".into(), id.into());
    }
    ApiError::Other {
        status,
        code: code.to_owned(),
        detail: detail.into(),
        extensions,
    }
}

struct Ctx<'a> {
    state: &'a AppState,
    started: Instant,
    ip: Option<String>,
}

impl Ctx<'_> {
    /// Records a signal that did not reach the user's actor.
    fn record(
        &self,
        route: &StrategyRoute,
        signal_id: i64,
        alert: Option<&Alert>,
        key: &str,
        outcome: SignalOutcome,
        reason: Option<String>,
    ) {
        self.state.execution.record_signal(SignalRecord {
            id: signal_id,
            user_id: Some(route.user_id),
            strategy_id: Some(route.strategy_id),
            signal_key: key.to_owned(),
            action: alert.map(|a| a.action.as_str().to_owned()),
            symbol: alert.and_then(|a| a.symbol.as_ref().map(|s| s.as_str().to_owned())),
            price: alert.and_then(|a| a.price),
            outcome,
            reason,
            latency_us: self.started.elapsed().as_micros() as i64,
            source_ip: self.ip.clone(),
            received_at: Utc::now(),
        });
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("webhook_requests_total", "outcome" => outcome).increment(1);
}

/// Receive a TradingView alert
///
/// The body is the alert message (JSON; `text/plain` is fine): `secret`,
/// `action` (`long`, `short`, `close`, `close_long`, `close_short`, `buy`,
/// `sell`, `flat`), `symbol`, `timestamp`, `id`, optional `price`,
/// `market_position`, and overrides `size_pct`, `risk_pct`, `qty_usdt`
/// (each for its sizing mode), `leverage`, `tp_pct`, `sl_pct` within the
/// strategy's limits, and for the entry alone `tp_levels`, `trail_pct`,
/// `order_type` (`market` or `limit`) and `limit_price` (within 10 % of
/// the price). Programmatic senders may sign
/// instead: `X-Webhook-Timestamp` and `X-Webhook-Signature` = hex
/// HMAC-SHA256(secret, timestamp + "." + body).
#[utoipa::path(post, path = "/api/v1/webhook/tradingview/{token}", tag = "webhook",
    params(("token" = String, Path, description = "the strategy's webhook token")),
    request_body(content = String, description = "the alert message (JSON)", content_type = "text/plain"),
    responses(
        (status = 202, body = WebhookAnswer, description = "accepted: orders are on their way"),
        (status = 200, body = WebhookAnswer, description = "duplicate: seen before, not traded again"),
        (status = 400, description = "`webhook_malformed`"),
        (status = 401, description = "`webhook_auth_failed`"),
        (status = 403, description = "`webhook_source_not_allowed`"),
        (status = 404, description = "`webhook_unknown`"),
        (status = 409, description = "`strategy_inactive`, `no_open_position`, `already_in_position`, …"),
        (status = 413, description = "`payload_too_large` (4 KiB)"),
        (status = 422, description = "`webhook_invalid`, `webhook_stale`, sizing and risk refusals"),
        (status = 429, description = "`webhook_rate_limited`"),
        (status = 503, description = "`account_unavailable`, `market_data_unavailable`, `balance_unavailable`, `owner_unavailable`, `records_behind`"),
    ))]
pub async fn tradingview(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    token: Option<web::Path<String>>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let ctx = Ctx {
        state: &state,
        started,
        ip: ip.as_string(),
    };
    if !state.webhook_allowed_ips.is_empty()
        && !ip
            .0
            .is_some_and(|a| state.webhook_allowed_ips.iter().any(|n| n.contains(&a)))
    {
        count("source_not_allowed");
        return Err(problem(
            403,
            "webhook_source_not_allowed",
            "This address may not post webhooks.",
            None,
        ));
    }
    let body = read_body(&req, &mut payload, MAX_BODY)
        .await
        .inspect_err(|_| count("too_large"))?;

    // The alert is parsed before routing only for the token-less path, which
    // routes by the secret the alert carries.
    let parsed = Alert::parse(&body);
    let found = match &token {
        Some(t) => state.execution.registry().route(t.as_str()),
        None => parsed
            .as_ref()
            .ok()
            .and_then(Alert::secret)
            .and_then(|s| state.execution.registry().route_by_secret(s)),
    };
    let found = match (found, &token) {
        (None, Some(t)) => state
            .execution
            .route_from_store(t.as_str())
            .await
            .map(|r| (r, None)),
        (found, _) => found,
    };
    let Some((route, mut destination)) = found else {
        count("unknown");
        return Err(problem(
            404,
            "webhook_unknown",
            "No strategy has this webhook URL (it may have been rotated or deleted).",
            None,
        ));
    };
    let signal_id = state.execution.next_signal_id();
    let body_key = || signal::body_key(&body);
    let alert = match parsed {
        Ok(a) => a,
        Err(e) => {
            // The path token is itself a credential: its holder may learn
            // what is wrong with the body.
            let (status, code) = match e {
                AlertError::Malformed(_) => (400, "webhook_malformed"),
                _ => (422, "webhook_invalid"),
            };
            ctx.record(
                &route,
                signal_id,
                None,
                &body_key(),
                SignalOutcome::Rejected,
                Some(format!("{code}: {e}")),
            );
            count(code);
            return Err(problem(status, code, e.to_string(), Some(signal_id)));
        }
    };

    // Who sent it.
    let now_ms = Utc::now().timestamp_millis();
    let auth = match signed(&req) {
        Some((ts, sig)) => signal::verify_signature(&route.secret, ts, sig, &body, now_ms)
            .and_then(|()| match alert.timestamp_ms {
                Some(t) => signal::check_skew(t, now_ms),
                None => Ok(()),
            }),
        None if alert.secret_matches(&route.secret) => alert.check_fresh(now_ms),
        None => Err(AlertError::BadCredentials),
    };
    if let Err(e) = auth {
        let (status, code) = match &e {
            AlertError::BadCredentials => (401, "webhook_auth_failed"),
            AlertError::Stale { .. } => (422, "webhook_stale"),
            _ => (422, "webhook_invalid"),
        };
        ctx.record(
            &route,
            signal_id,
            Some(&alert),
            &alert.dedupe_key,
            SignalOutcome::Rejected,
            Some(format!("{code}: {e}")),
        );
        count(code);
        if status == 401 {
            return Err(auth_failed(signal_id));
        }
        return Err(problem(status, code, e.to_string(), Some(signal_id)));
    }

    // Once, and not too often.
    let rules = GateRules {
        limit: state.limits.per_webhook,
        window: Duration::from_secs(60),
        replay_ttl: Duration::from_millis(2 * signal::MAX_SKEW_MS as u64),
    };
    match state
        .gate
        .admit(route.strategy_id, &alert.dedupe_key, rules)
        .await
    {
        Ok(Admission::Admitted) => {}
        Ok(Admission::Duplicate) => {
            ctx.record(
                &route,
                signal_id,
                Some(&alert),
                &alert.dedupe_key,
                SignalOutcome::Duplicate,
                Some("seen before".into()),
            );
            count("duplicate");
            return Ok(HttpResponse::Ok().json(WebhookAnswer {
                status: "duplicate",
                signal_id,
                intent: None,
            }));
        }
        Ok(Admission::Throttled { retry_after }) => {
            ctx.record(
                &route,
                signal_id,
                Some(&alert),
                &alert.dedupe_key,
                SignalOutcome::Rejected,
                Some("webhook_rate_limited".into()),
            );
            count("rate_limited");
            return Err(ApiError::RateLimited {
                code: "webhook_rate_limited",
                detail: format!(
                    "More than {} alerts a minute for this strategy.",
                    state.limits.per_webhook
                ),
                retry_after_secs: retry_after.as_secs().max(1),
                limit: Some(state.limits.per_webhook),
            });
        }
        Err(e) => {
            // Without the replay cache an alert could trade twice: refuse.
            tracing::error!(error = %e, "webhook replay cache unavailable");
            count("unavailable");
            return Err(problem(
                503,
                "replay_cache_unavailable",
                "The replay cache is unavailable; the alert was not traded.",
                Some(signal_id),
            ));
        }
    }

    let key = alert.dedupe_key.clone();
    let strategy_id = route.strategy_id;
    // An alert that may open a position waits while the database writer
    // absorbs a burst (closes are never held back); still behind at the
    // deadline, the user's actor refuses it `records_behind`.
    if matches!(alert.action, Action::Long | Action::Short) {
        state
            .execution
            .bus()
            .caught_up((started + RECORDS_WAIT).into())
            .await;
    }
    // To whichever instance trades for the user: here, or forwarded. While
    // the user's shard changes hands the alert waits (TradingView waits
    // about 3 s).
    let deadline = started + OWNER_WAIT;
    loop {
        match state.execution.placement(route.user_id) {
            Placement::Local => {
                let outcome = state
                    .execution
                    .submit(
                        route.clone(),
                        // Found with the route: the registry is read once.
                        destination.take(),
                        signal_id,
                        alert.clone(),
                        started,
                        Utc::now(),
                        ip.as_string(),
                    )
                    .await;
                let moving = matches!(&outcome, Err(ExecutionError::NotOwner))
                    || matches!(
                        &outcome,
                        Ok(Outcome::Rejected {
                            refusal: Refusal::OwnerChanging,
                            ..
                        })
                    );
                if !moving {
                    return answer(&state, outcome, strategy_id, &key, started).await;
                }
            }
            Placement::Remote(peer) => {
                let forwarded = ForwardedSignal {
                    strategy_id,
                    signal_id,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    source_ip: ip.as_string(),
                };
                match state.forwarder.signal(&peer, &forwarded).await {
                    Ok(a) if a.status == 409 && a.body.windows(9).any(|w| w == b"not_owner") => {}
                    Ok(a) => {
                        count(if a.status == 202 {
                            "accepted"
                        } else {
                            "forwarded"
                        });
                        return Ok(a.into_response(&peer.id));
                    }
                    Err(ForwardError::NotSent(e)) => {
                        tracing::warn!(peer = %peer.id, error = %e, "the user's instance is unreachable; waiting for its shard to move");
                    }
                    Err(ForwardError::NoAnswer(e)) => {
                        // It may have traded: never sent again (the replay
                        // cache keeps the id).
                        count("unavailable");
                        return Err(problem(
                            502,
                            "forwarded_without_answer",
                            format!(
                                "the instance trading for this user did not answer ({e}); the alert was not sent again"
                            ),
                            Some(signal_id),
                        ));
                    }
                }
            }
            Placement::Unowned => {}
        }
        if Instant::now() >= deadline {
            let _ = state.gate.forget(strategy_id, &key).await;
            count("unavailable");
            return Err(problem(
                503,
                "owner_unavailable",
                "this user's trading is moving between instances; the alert was not traded, send it again",
                Some(signal_id),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state.execution.refresh_placement(route.user_id).await;
    }
}

/// The HTTP status a refusal answers with: 503 when it passes by itself
/// (retry), 409 when the trader's state stands in the way, 422 when the
/// alert or its size breaks a rule.
pub fn refusal_status(r: &Refusal) -> u16 {
    match r {
        r if r.passes() => 503,
        Refusal::StrategyInactive
        | Refusal::NoAccount
        | Refusal::SymbolBusy { .. }
        | Refusal::OrderInFlight
        | Refusal::NoOpenPosition { .. }
        | Refusal::AlreadyInPosition { .. } => 409,
        Refusal::Internal(_) => 500,
        _ => 422,
    }
}

/// How long an alert waits for its user's shard to find an owner.
const OWNER_WAIT: Duration = Duration::from_millis(2500);
/// How long an entry waits for the database writer to catch up (within
/// TradingView's ~3 s for an answer).
const RECORDS_WAIT: Duration = Duration::from_millis(1000);

/// The answer to an alert executed here.
async fn answer(
    state: &AppState,
    outcome: Result<Outcome, ExecutionError>,
    strategy_id: i64,
    key: &str,
    started: Instant,
) -> Result<HttpResponse, ApiError> {
    let instance = state.execution.instance_id().map(str::to_owned);
    let with_instance = |mut r: HttpResponse| {
        if let Some(id) = &instance
            && let Ok(v) = actix_web::http::header::HeaderValue::from_str(id)
        {
            r.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static(INSTANCE_HEADER),
                v,
            );
        }
        r
    };
    match outcome {
        Ok(Outcome::Accepted { signal_id, intent }) => {
            count("accepted");
            metrics::histogram!("webhook_response_seconds").record(started.elapsed().as_secs_f64());
            Ok(with_instance(HttpResponse::Accepted().json(
                WebhookAnswer {
                    status: "accepted",
                    signal_id,
                    intent: Some(intent),
                },
            )))
        }
        Ok(Outcome::Rejected { signal_id, refusal }) => {
            count("rejected");
            if refusal.passes() {
                // Nothing was traded and the cause passes: let a retry through.
                let _ = state.gate.forget(strategy_id, key).await;
            }
            Err(problem(
                refusal_status(&refusal),
                refusal.code(),
                refusal.to_string(),
                Some(signal_id),
            ))
        }
        Err(e) => {
            let _ = state.gate.forget(strategy_id, key).await;
            count("unavailable");
            Err(problem(503, "execution_unavailable", e.to_string(), None))
        }
    }
}

/// `POST /internal/v1/signals`: an alert another instance authenticated and
/// admitted, for a user this one trades for.
pub async fn forwarded(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ForwardedSignal>,
) -> Result<HttpResponse, ApiError> {
    if !state.forwarder.verify(&req) {
        return Err(problem(
            401,
            "internal_auth_failed",
            "not from an instance of this deployment",
            None,
        ));
    }
    let started = Instant::now();
    let s = body.into_inner();
    let Some(route) = state.execution.route_for_forwarded(s.strategy_id).await else {
        return Err(problem(
            404,
            "webhook_unknown",
            "no such strategy",
            Some(s.signal_id),
        ));
    };
    if !matches!(state.execution.placement(route.user_id), Placement::Local) {
        return Err(problem(
            409,
            "not_owner",
            "this instance does not trade for the user",
            Some(s.signal_id),
        ));
    }
    let alert = Alert::parse(s.body.as_bytes())
        .map_err(|e| problem(400, "webhook_malformed", e.to_string(), Some(s.signal_id)))?;
    let key = alert.dedupe_key.clone();
    let outcome = state
        .execution
        .submit(
            route,
            None,
            s.signal_id,
            alert,
            started,
            Utc::now(),
            s.source_ip,
        )
        .await;
    if matches!(&outcome, Err(ExecutionError::NotOwner))
        || matches!(
            &outcome,
            Ok(Outcome::Rejected {
                refusal: Refusal::OwnerChanging,
                ..
            })
        )
    {
        return Err(problem(
            409,
            "not_owner",
            "this user's trading is moving",
            Some(s.signal_id),
        ));
    }
    answer(&state, outcome, s.strategy_id, &key, started).await
}

fn auth_failed(signal_id: i64) -> ApiError {
    problem(
        401,
        "webhook_auth_failed",
        "The alert's secret (or signature) does not match this strategy's.",
        Some(signal_id),
    )
}

/// The signature headers, when both are present.
fn signed(req: &HttpRequest) -> Option<(&str, &str)> {
    let h = |n| req.headers().get(n).and_then(|v| v.to_str().ok());
    Some((h(TIMESTAMP_HEADER)?, h(SIGNATURE_HEADER)?))
}

/// The token-less path of the seed: routed by the secret in the body.
pub async fn tradingview_by_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    tradingview(state, req, ip, None, payload).await
}
