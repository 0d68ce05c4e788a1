//! What every handler can reach: the store, the optional Redis, identity
//! services, the execution core, token keys, request budgets, the metrics handle, the secrets,
//! and when the process started.

use crate::auth::JwtKeys;
use crate::config::RateLimits;
use crate::config::secrets::Secrets;
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Instant;
use tradingbot_actors::accounts::Accounts;
use tradingbot_actors::execution::Execution;
use tradingbot_actors::identity::Identity;
use tradingbot_actors::kv::WebhookGate;
use tradingbot_actors::kv::{RateLimiter, Redis, Revocations};
use tradingbot_actors::store::Store;
use tradingbot_actors::strategies::Strategies;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub redis: Option<Redis>,
    pub metrics: PrometheusHandle,
    pub secrets: Arc<Secrets>,
    pub identity: Arc<Identity>,
    pub accounts: Arc<Accounts>,
    pub strategies: Arc<Strategies>,
    pub history: tradingbot_actors::history::History,
    pub execution: Arc<Execution>,
    /// The users' Telegram bots.
    pub telegram: Arc<tradingbot_actors::telegram::Telegram>,
    /// Websocket sessions and the fan-out of events to them.
    pub ws: Arc<crate::ws::hub::WsHub>,
    /// Public prices of the symbols websocket clients ask for.
    pub prices: Arc<tradingbot_actors::market_data::prices::PublicPrices>,
    /// Replay cache and per-strategy budget of webhooks.
    pub gate: Arc<WebhookGate>,
    /// Senders allowed to post webhooks; empty: anyone.
    pub webhook_allowed_ips: Arc<[IpNet]>,
    pub jwt: Arc<JwtKeys>,
    pub revocations: Arc<Revocations>,
    pub limiter: Arc<RateLimiter>,
    pub limits: RateLimits,
    pub trusted_proxies: Arc<[IpNet]>,
    /// Base URL the outside world reaches this server at (webhook URLs).
    pub public_url: Arc<str>,
    pub started: Instant,
    /// Backtest jobs and the candle downloads they need.
    pub backtests: Arc<tradingbot_actors::backtests::Backtests>,
    /// Recent candles for analysis.
    pub market_data: Arc<tradingbot_actors::market_data::MarketData>,
    /// The language models consulted on recommendations (none without keys).
    pub advisor: Arc<tradingbot_actors::advisor::Advisor>,
    /// Every exchange account's latest balances, refreshed in the background.
    pub balances: Arc<tradingbot_actors::balances::BalanceBook>,
    /// Reads balances into `balances` (a new account's at once).
    pub balance_refresh: tradingbot_actors::balances::refresh::BalanceRefresher,
    pub production: bool,
    /// The hop to the instance that trades for a user.
    pub forwarder: Arc<crate::cluster::Forwarder>,
}
