//! Forwarding to the instance that trades for a user.
//!
//! An alert (after this instance authenticated it and the shared replay
//! cache admitted it) or a trading command (close a position, the kill
//! switch, the risk limits) for a user another instance owns is sent there
//! over an internal hop, authenticated by a key every instance derives from
//! the JWT secret they already share; the answer comes back as the owner
//! gave it, with the owner's id in `X-Tradingbot-Instance`.

use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;
use tradingbot_actors::cluster::Peer;

/// Carries the internal key on a hop between instances.
pub const INTERNAL_HEADER: &str = "x-tradingbot-internal";
/// Names the instance that executed a request.
pub const INSTANCE_HEADER: &str = "x-tradingbot-instance";
/// How long a forwarded alert may take: TradingView waits about 3 s.
const FORWARD_TIMEOUT: Duration = Duration::from_millis(2500);

/// An alert forwarded to its owner, already authenticated and admitted.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForwardedSignal {
    pub strategy_id: i64,
    pub signal_id: i64,
    /// The alert's body as TradingView sent it.
    pub body: String,
    pub source_ip: Option<String>,
}

/// Why a forward did not come back.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Nothing reached the owner: it may be tried again.
    #[error("the owner could not be reached: {0}")]
    NotSent(String),
    /// Sent, and no answer: it may have been executed.
    #[error("the owner did not answer: {0}")]
    NoAnswer(String),
}

/// What an owner answered.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: web::Bytes,
}

impl Answer {
    pub fn into_response(self, instance: &str) -> HttpResponse {
        let mut r = HttpResponse::build(
            actix_web::http::StatusCode::from_u16(self.status)
                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
        );
        if let Some(ct) = self.content_type {
            r.insert_header(("content-type", ct));
        }
        r.insert_header((INSTANCE_HEADER, instance.to_owned()));
        r.body(self.body)
    }
}

pub struct Forwarder {
    http: reqwest::Client,
    key: String,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Derives the internal key from the JWT secret (every instance of a
    /// deployment shares it, so no other secret has to be distributed).
    pub fn new(jwt_secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(jwt_secret).expect("any key length");
        mac.update(b"tradingbot internal forwarding v1");
        Self {
            http: hop_client(),
            key: hex::encode(mac.finalize().into_bytes()),
        }
    }

    /// Whether `req` came from another instance of this deployment.
    pub fn verify(&self, req: &HttpRequest) -> bool {
        use subtle::ConstantTimeEq;
        req.headers()
            .get(INTERNAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(self.key.as_bytes())))
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Answer, ForwardError> {
        let res = builder
            .header(INTERNAL_HEADER, &self.key)
            .timeout(FORWARD_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() || e.is_builder() {
                    ForwardError::NotSent(e.without_url().to_string())
                } else {
                    ForwardError::NoAnswer(e.without_url().to_string())
                }
            })?;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res
            .bytes()
            .await
            .map_err(|e| ForwardError::NoAnswer(e.without_url().to_string()))?;
        metrics::counter!("cluster_forwarded_total").increment(1);
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// Hands an admitted alert to its owner.
    pub async fn signal(&self, peer: &Peer, s: &ForwardedSignal) -> Result<Answer, ForwardError> {
        self.send(
            self.http
                .post(format!("{}/internal/v1/signals", peer.url))
                .json(s),
        )
        .await
    }

    /// Sends a user's request as it came (method, path, query, body, the
    /// caller's credentials) to the instance that trades for the user.
    pub async fn proxy(
        &self,
        peer: &Peer,
        req: &HttpRequest,
        body: web::Bytes,
    ) -> Result<Answer, ForwardError> {
        let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|e| ForwardError::NotSent(e.to_string()))?;
        let mut b = self
            .http
            .request(method, format!("{}{}", peer.url, req.uri()))
            .body(body.to_vec());
        for name in [
            "authorization",
            "content-type",
            "user-agent",
            "x-request-id",
        ] {
            if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
                b = b.header(name, v);
            }
        }
        self.send(b).await
    }
}

/// A plain pooled HTTP client for the hop (rustls, short timeouts).
fn hop_client() -> reqwest::Client {
    tradingbot_actors::exchange::http::client(FORWARD_TIMEOUT)
}

/// For a request acting on `user_id`'s trading: `None` when this instance
/// trades for the user (handle it here), else the owner's answer to the
/// same request. A request forwarded to us is never forwarded again.
pub async fn to_owner(
    state: &crate::state::AppState,
    req: &HttpRequest,
    user_id: i64,
    body: Vec<u8>,
) -> Option<Result<HttpResponse, crate::problem::ApiError>> {
    use tradingbot_actors::execution::runtime::Placement;
    let deadline = std::time::Instant::now() + FORWARD_TIMEOUT;
    loop {
        match state.execution.placement(user_id) {
            Placement::Local => return None,
            Placement::Remote(peer) if !state.forwarder.verify(req) => {
                return Some(
                    match state
                        .forwarder
                        .proxy(&peer, req, web::Bytes::from(body))
                        .await
                    {
                        Ok(a) => Ok(a.into_response(&peer.id)),
                        Err(e) => Err(crate::problem::ApiError::Unavailable(e.to_string())),
                    },
                );
            }
            Placement::Remote(_) | Placement::Unowned => {}
        }
        if std::time::Instant::now() >= deadline {
            return Some(Err(crate::problem::ApiError::Unavailable(
                "this user's trading is moving between instances; try again".into(),
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state.execution.refresh_placement(user_id).await;
    }
}
