//! `GET /api/v1/ws`: the trader's live feed.
//!
//! Browsers cannot set headers on a websocket, so the access token comes in
//! the query (`?token=…`) or as a subprotocol (`new WebSocket(url,
//! ["bearer", token])`, answered with `bearer`). A session hears only its
//! user's events (and public prices), on the channels it subscribed to; it
//! is pinged every 15 s, closed when silent for 45 s or when its token
//! expires, and dropped by the hub when it cannot keep up.

pub mod hub;
pub mod protocol;

use crate::auth::extractor::verify_token;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use hub::{Interests, Registration, WsHub};
use protocol::{Channel, ClientMessage};
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tradingbot_actors::execution::events::Event;
use tradingbot_actors::market_data::prices::{MAX_PER_SESSION, PublicPrices};
use tradingbot_core::symbol::Symbol;

const HEARTBEAT: Duration = Duration::from_secs(15);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// A frame the client does not take within this long ends the session.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest client message accepted.
const MAX_CLIENT_FRAME: usize = 16 * 1024;

#[derive(Deserialize)]
pub struct WsQuery {
    pub token: Option<String>,
}

/// The token, and the subprotocol to answer with when it came as one.
fn token_of(req: &HttpRequest, q: &WsQuery) -> Option<(String, Option<&'static str>)> {
    if let Some(t) = q.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        return Some((t.to_owned(), None));
    }
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?;
    let parts: Vec<&str> = offered.split(',').map(str::trim).collect();
    let marker = parts
        .iter()
        .find_map(|p| match p.to_ascii_lowercase().as_str() {
            "bearer" => Some("bearer"),
            "access_token" => Some("access_token"),
            _ => None,
        })?;
    let token = parts.iter().find(|p| !p.eq_ignore_ascii_case(marker))?;
    Some(((*token).to_owned(), Some(marker)))
}

/// Open the live feed (websocket upgrade)
#[utoipa::path(get, path = "/api/v1/ws", tag = "trading",
    params(("token" = Option<String>, Query, description = "access token, unless sent as the `bearer` subprotocol")),
    responses((status = 101, description = "switching protocols"), (status = 401)))]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (token, protocol) = token_of(&req, &query).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_token",
            "Send the access token as `?token=` or the `bearer` subprotocol.",
        )
    })?;
    let user = verify_token(&state, &token).await?;
    let (mut res, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::invalid("upgrade", format!("not a websocket upgrade: {e}")))?;
    if let Some(p) = protocol {
        res.headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    let reg = state.ws.register(user.id);
    let expires_in = Duration::from_secs(
        u64::try_from(user.claims.exp - chrono::Utc::now().timestamp()).unwrap_or(0),
    );
    let hub = state.ws.clone();
    let stream = stream.max_frame_size(MAX_CLIENT_FRAME);
    let prices = Demand::new(state.prices.clone());
    actix_web::rt::spawn(run(session, stream, reg, hub, prices, user.id, expires_in));
    Ok(res)
}

async fn run(
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    mut reg: Registration,
    hub: Arc<WsHub>,
    mut prices: Demand,
    user_id: i64,
    expires_in: Duration,
) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut last_seen = Instant::now();
    let reason = loop {
        tokio::select! {
            frame = reg.rx.recv() => match frame {
                Some(text) => {
                    match tokio::time::timeout(SEND_TIMEOUT, session.text(&*text)).await {
                        Ok(Ok(())) => {}
                        _ => break None,
                    }
                }
                // The hub let go of this session: the server is stopping,
                // or the session fell behind.
                None if hub.is_closing() => break Some(CloseReason {
                    code: CloseCode::Away,
                    description: Some("server restarting: reconnect".into()),
                }),
                None => break Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some("too slow: reconnect and reload".into()),
                }),
            },
            msg = stream.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    last_seen = Instant::now();
                    let answer = on_client(&t, &reg.interests);
                    if session.text(answer).await.is_err() {
                        break None;
                    }
                    let mut sent = true;
                    for frame in prices.follow(&reg.interests) {
                        sent = sent && session.text(frame).await.is_ok();
                    }
                    if !sent {
                        break None;
                    }
                }
                Some(Ok(Message::Ping(b))) => {
                    last_seen = Instant::now();
                    if session.pong(&b).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Pong(_))) => last_seen = Instant::now(),
                Some(Ok(Message::Binary(_))) => {
                    let _ = session.text(protocol::error("unsupported", "send JSON text frames")).await;
                }
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(_)) => break Some(CloseReason {
                    code: CloseCode::Protocol,
                    description: Some("malformed frame".into()),
                }),
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > CLIENT_TIMEOUT {
                    break Some(CloseReason { code: CloseCode::Away, description: Some("no answer to pings".into()) });
                }
                if session.ping(b"").await.is_err() {
                    break None;
                }
            }
            _ = &mut expiry => break Some(CloseReason {
                code: CloseCode::Policy,
                description: Some("token_expired".into()),
            }),
        }
    };
    hub.unregister(Some(user_id), reg.id);
    prices.clear();
    let _ = session.close(reason).await;
}

/// The symbols this session asked prices of, held on the public feed for
/// as long as it asks.
struct Demand {
    prices: Arc<PublicPrices>,
    held: BTreeSet<String>,
}

impl Demand {
    fn new(prices: Arc<PublicPrices>) -> Self {
        Self {
            prices,
            held: BTreeSet::new(),
        }
    }

    /// Follows what the session's interests name now. Answers the latest
    /// price of each symbol newly followed, and an error frame for those
    /// the feed cannot follow.
    fn follow(&mut self, interests: &RwLock<Interests>) -> Vec<String> {
        let wanted: BTreeSet<String> = {
            let i = interests.read().unwrap_or_else(|e| e.into_inner());
            if i.channels.contains(&Channel::Prices) {
                i.symbols.iter().cloned().collect()
            } else {
                BTreeSet::new()
            }
        };
        for gone in self.held.difference(&wanted) {
            self.prices.release(gone);
        }
        self.held.retain(|s| wanted.contains(s));
        let mut frames = Vec::new();
        let mut refused = Vec::new();
        let mut reason = None;
        let new: Vec<String> = wanted.difference(&self.held).cloned().collect();
        for s in new {
            match self.prices.hold(&s) {
                Ok(()) => {
                    if let Some(tick) = self.prices.latest(&s)
                        && let Some(out) = protocol::outgoing(&Event::Price(tick))
                    {
                        frames.push(out.text);
                    }
                    self.held.insert(s);
                }
                Err(e) => {
                    refused.push(s);
                    reason = Some(e);
                }
            }
        }
        if let Some(reason) = reason {
            frames.push(protocol::error(
                "prices_unavailable",
                &format!(
                    "no live prices for {}: {reason}; prices of symbols being traded still come",
                    refused.join(", ")
                ),
            ));
        }
        frames
    }

    fn clear(&mut self) {
        for s in std::mem::take(&mut self.held) {
            self.prices.release(&s);
        }
    }
}

/// Applies a client message; returns the answer.
fn on_client(text: &str, interests: &RwLock<Interests>) -> String {
    let Ok(msg) = serde_json::from_str::<ClientMessage>(text) else {
        return protocol::error("malformed", "expected {\"event\": …, \"data\": …}");
    };
    let subscribing = match msg.event.as_str() {
        "ping" => return protocol::pong(),
        "subscribe" => true,
        "unsubscribe" => false,
        other => {
            return protocol::error(
                "unknown_event",
                &format!("`{other}`: expected subscribe, unsubscribe or ping"),
            );
        }
    };
    let mut channels = Vec::new();
    for c in msg.data["channels"].as_array().into_iter().flatten() {
        match c.as_str().and_then(Channel::parse) {
            Some(ch) => channels.push(ch),
            None => {
                return protocol::error(
                    "unknown_channel",
                    &format!("{c}: channels are positions, orders, prices, ai_signals, alerts"),
                );
            }
        }
    }
    let mut symbols = Vec::new();
    for s in msg.data["symbols"].as_array().into_iter().flatten() {
        match s.as_str().map(Symbol::parse) {
            Some(Ok(sym)) => symbols.push(sym.as_str().to_owned()),
            _ => return protocol::error("invalid_symbol", &format!("{s} is not a symbol")),
        }
    }
    let mut i = interests.write().unwrap_or_else(|e| e.into_inner());
    if subscribing {
        let total = i
            .symbols
            .union(&symbols.iter().cloned().collect::<HashSet<String>>())
            .count();
        if total > MAX_PER_SESSION {
            return protocol::error(
                "too_many_symbols",
                &format!("at most {MAX_PER_SESSION} symbols per connection"),
            );
        }
        i.channels.extend(channels);
        i.symbols.extend(symbols);
    } else {
        for c in &channels {
            i.channels.remove(c);
        }
        for s in &symbols {
            i.symbols.remove(s);
        }
    }
    let mut list: Vec<Channel> = i.channels.iter().copied().collect();
    list.sort_by_key(|c| c.as_str());
    let mut syms: Vec<String> = i.symbols.iter().cloned().collect();
    syms.sort();
    protocol::subscribed(&list, &syms)
}
