//! The Binance REST client of one account: signs with the account's
//! prepared key, keeps the request inside the rate-limit budget, keeps the
//! clock in step with the server's, caches instrument rules and the
//! leverage/margin settings it made, and resolves unknown outcomes by
//! querying — never by sending an order twice.

use super::ws_api::{WsApi, WsApiError};
use crate::exchange::budget::{self, BinanceBudget, HoldAction, Priority};
use crate::exchange::endpoints::Endpoints;
use crate::exchange::http::{self, now_ms};
use crate::exchange::updates::{self, UpdateStream, VenueUpdate};
use crate::exchange::venue::VenueClient;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::sync::mpsc;
use tradingbot_core::exchange::Venue;
use tradingbot_core::exchange::binance::errors::{self, ErrorBody};
use tradingbot_core::exchange::binance::model::{self, AlgoOrder, ExchangeInfo, Order};
use tradingbot_core::exchange::binance::rest::{self, Method, Request};
use tradingbot_core::exchange::binance::sign::BinanceSigner;
use tradingbot_core::exchange::binance::stream;
use tradingbot_core::exchange::binance::{
    API_KEY_HEADER, ORDER_COUNT_1M_HEADER, ORDER_COUNT_10S_HEADER, USED_WEIGHT_HEADER,
};
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport,
};
use tradingbot_core::simulator::Tier;

/// Longest a normal (non-protective) request waits for budget before it is
/// refused: a trading signal that waits longer is stale.
pub const MAX_NORMAL_WAIT: Duration = Duration::from_secs(2);

/// What this client last set on a symbol.
#[derive(Debug, Clone, Copy, Default)]
struct SymbolSettings {
    leverage: Option<u32>,
    margin: Option<MarginMode>,
}

pub struct BinanceClient {
    http: reqwest::Client,
    base: String,
    signer: BinanceSigner,
    budget: BinanceBudget,
    /// Server clock minus ours, in ms.
    clock_offset_ms: AtomicI64,
    rules: RwLock<HashMap<String, InstrumentRules>>,
    /// Leverage and margin mode set per symbol, to set them once.
    settings: Mutex<HashMap<String, SymbolSettings>>,
    /// The websocket API session orders go through when it is up.
    ws_api: std::sync::OnceLock<Arc<WsApi>>,
}

impl std::fmt::Debug for BinanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn header_u32(h: &reqwest::header::HeaderMap, name: &str) -> Option<u32> {
    h.get(name)?.to_str().ok()?.parse().ok()
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl BinanceClient {
    pub fn new(base_url: &str, api_key: &str, secret: &[u8]) -> Self {
        Self {
            http: http::client(Duration::from_secs(10)),
            base: base_url.trim_end_matches('/').to_owned(),
            signer: BinanceSigner::new(api_key, secret),
            // Binance counts weight per address: every account of this
            // process sending to this venue spends the same budget.
            budget: BinanceBudget::shared(budget::ip_budget(base_url, 2400), 300, 1200),
            clock_offset_ms: AtomicI64::new(0),
            rules: RwLock::new(HashMap::new()),
            settings: Mutex::new(HashMap::new()),
            ws_api: std::sync::OnceLock::new(),
        }
    }

    /// Places orders over a websocket API session at `url` from now on
    /// (REST remains the fallback).
    pub fn use_ws_api(&self, url: &str) {
        let _ = self.ws_api.set(WsApi::spawn(url.to_owned()));
    }

    pub fn ws_api_connected(&self) -> bool {
        self.ws_api.get().is_some_and(|w| w.is_connected())
    }

    /// Sends an order request over the websocket API; `None` when the
    /// session is down (nothing was sent: use REST).
    async fn send_ws(
        &self,
        req: &Request,
        priority: Priority,
    ) -> Option<Result<Vec<u8>, ExchangeError>> {
        let ws = self.ws_api.get().filter(|w| w.is_connected())?;
        if let Err(e) = self.acquire(req, priority).await {
            return Some(Err(e));
        }
        let id = format!("tb-{}", uuid::Uuid::new_v4().simple());
        let msg = stream::ws_request(req, &id, &self.signer, self.server_now_ms())?;
        if req.mutation {
            super::super::handoff::signed("binance");
        }
        let started = std::time::Instant::now();
        let result = ws.request(&id, msg, Duration::from_secs(5)).await;
        metrics::histogram!("exchange_request_duration_seconds", "exchange" => "binance", "path" => "ws-api")
            .record(started.elapsed().as_secs_f64());
        Some(match result {
            Err(WsApiError::NotConnected) => return None,
            Err(e) => Err(ExchangeError::UnknownOutcome {
                message: e.to_string(),
            }),
            Ok(resp) if resp.status == 200 => Ok(resp
                .result
                .map(|r| r.to_string().into_bytes())
                .unwrap_or_default()),
            Ok(resp) => Err(errors::map(resp.status, resp.error, req.mutation, None)),
        })
    }

    pub fn budget(&self) -> &BinanceBudget {
        &self.budget
    }

    pub fn signer(&self) -> &BinanceSigner {
        &self.signer
    }

    /// Our clock corrected to the server's.
    pub fn server_now_ms(&self) -> i64 {
        now_ms() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    async fn acquire(&self, req: &Request, priority: Priority) -> Result<(), ExchangeError> {
        let mut told = false;
        loop {
            let hold = match self.budget.acquire(req.cost, priority, now_ms()) {
                Ok(()) => return Ok(()),
                Err(h) => h,
            };
            match budget::decide(hold, priority, MAX_NORMAL_WAIT) {
                HoldAction::Sleep(d) => {
                    if !told && d > Duration::from_secs(1) {
                        told = true;
                        tracing::warn!(
                            path = req.path,
                            wait_secs = d.as_secs(),
                            "Binance rate limit: a protective request waits its turn"
                        );
                    }
                    tokio::time::sleep(d.min(Duration::from_secs(5))).await;
                }
                HoldAction::Banned(left) => {
                    return Err(ExchangeError::Banned { retry_after: left });
                }
                HoldAction::Refuse(d) => return Err(ExchangeError::RateLimited { retry_after: d }),
            }
        }
    }

    /// Sends one request; the raw body of a success.
    async fn send_once(&self, req: &Request, priority: Priority) -> Result<Vec<u8>, ExchangeError> {
        self.acquire(req, priority).await?;
        let query = req.query(Some(&self.signer), self.server_now_ms());
        let url = if query.is_empty() {
            format!("{}{}", self.base, req.path)
        } else {
            format!("{}{}?{}", self.base, req.path, query)
        };
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.http.request(method, &url);
        if req.keyed {
            builder = builder.header(API_KEY_HEADER, self.signer.api_key());
        }
        if req.mutation {
            super::super::handoff::signed("binance");
        }
        let started = std::time::Instant::now();
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) if req.mutation && !http::not_sent(&e) => {
                return Err(ExchangeError::UnknownOutcome {
                    message: format!("no answer from Binance: {}", http::redacted(e)),
                });
            }
            Err(e) => return Err(ExchangeError::Unreachable(http::redacted(e))),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.budget.observe(
            header_u32(&headers, USED_WEIGHT_HEADER),
            header_u32(&headers, ORDER_COUNT_10S_HEADER),
            header_u32(&headers, ORDER_COUNT_1M_HEADER),
            now_ms(),
        );
        let usage = self.budget.usage(now_ms());
        for (limit, used, of) in [
            ("weight_1m", usage.weight_used, usage.weight_limit),
            ("orders_10s", usage.orders_10s, usage.orders_10s_limit),
            ("orders_1m", usage.orders_1m, usage.orders_1m_limit),
        ] {
            metrics::gauge!("exchange_rate_limit_usage_ratio", "exchange" => "binance", "limit" => limit)
                .set(f64::from(used) / f64::from(of.max(1)));
        }
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if req.mutation => {
                return Err(ExchangeError::UnknownOutcome {
                    message: format!("the answer was cut off: {}", http::redacted(e)),
                });
            }
            Err(e) => return Err(ExchangeError::Unreachable(http::redacted(e))),
        };
        metrics::histogram!("exchange_request_duration_seconds", "exchange" => "binance", "path" => req.path)
            .record(started.elapsed().as_secs_f64());
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let error_body: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        if let Some(b) = &error_body
            && errors::is_no_op(b)
        {
            return Ok(b"{}".to_vec());
        }
        let wait = retry_after(&headers);
        let err = errors::map(status, error_body, req.mutation, wait);
        match &err {
            ExchangeError::RateLimited { retry_after } => {
                metrics::counter!("exchange_rate_limited_total", "exchange" => "binance", "status" => "429").increment(1);
                self.budget.rate_limited(*retry_after, now_ms());
            }
            ExchangeError::Banned { retry_after } => {
                metrics::counter!("exchange_rate_limited_total", "exchange" => "binance", "status" => "418").increment(1);
                tracing::error!(
                    retry_after_secs = retry_after.as_secs(),
                    "Binance banned this address (HTTP 418)"
                );
                self.budget.banned(*retry_after, now_ms());
            }
            _ => {}
        }
        Err(err)
    }

    /// Sends, resynchronizing the clock and retrying once on -1021 (the
    /// venue refused the request without acting on it). A protective
    /// request turned away by a 429 or a 418 — refused, not executed — is
    /// queued behind the pause and sent again; it is never dropped.
    async fn send(&self, req: &Request, priority: Priority) -> Result<Vec<u8>, ExchangeError> {
        loop {
            let sent = match self.send_once(req, priority).await {
                Err(ExchangeError::Timestamp { .. }) => {
                    tracing::warn!("Binance refused our timestamp; resynchronizing the clock");
                    self.sync_time().await?;
                    self.send_once(req, priority).await
                }
                other => other,
            };
            match sent {
                Err(e) if e.throttled() && priority == Priority::Protective => continue,
                other => return other,
            }
        }
    }

    /// Measures the offset between our clock and the server's.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = now_ms();
        let body = self
            .send_once(&rest::server_time(), Priority::Protective)
            .await?;
        let after = now_ms();
        let t: model::ServerTime = model::parse(&body)?;
        let offset = t.server_time - (before + after) / 2;
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    /// Loads (or reloads) every instrument's rules and the venue's limits.
    pub async fn load_rules(&self) -> Result<usize, ExchangeError> {
        let body = self.send(&rest::exchange_info(), Priority::Normal).await?;
        let info: ExchangeInfo = model::parse(&body)?;
        let (mut weight, mut o10, mut o1m) = (2400, 300, 1200);
        for l in &info.rate_limits {
            match (
                l.rate_limit_type.as_str(),
                l.interval.as_str(),
                l.interval_num,
            ) {
                ("REQUEST_WEIGHT", "MINUTE", 1) => weight = l.limit,
                ("ORDERS", "SECOND", 10) => o10 = l.limit,
                ("ORDERS", "MINUTE", 1) => o1m = l.limit,
                _ => {}
            }
        }
        self.budget.set_limits(weight, o10, o1m);
        let rules = info.trading_rules();
        let n = rules.len();
        let mut cache = self.rules.write().unwrap_or_else(|e| e.into_inner());
        for r in rules {
            cache.insert(r.symbol.clone(), r);
        }
        Ok(n)
    }

    pub async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.balances_at(Priority::Normal).await
    }

    /// Balances and what the key may do, from one read of the account.
    pub async fn balances_and_permissions(
        &self,
    ) -> Result<(Vec<Balance>, KeyPermissions), ExchangeError> {
        let body = self.send(&rest::account(), Priority::Normal).await?;
        let account: model::Account = model::parse(&body)?;
        Ok((
            account
                .assets
                .iter()
                .map(model::AccountAsset::balance)
                .collect(),
            account.permissions(),
        ))
    }

    pub async fn permissions(&self) -> Result<KeyPermissions, ExchangeError> {
        let body = self.send(&rest::account(), Priority::Normal).await?;
        let account: model::Account = model::parse(&body)?;
        Ok(account.permissions())
    }

    pub async fn positions(&self) -> Result<Vec<PositionReport>, ExchangeError> {
        // What reconciliation and protection stand on: it goes first.
        self.positions_at(Priority::Protective).await
    }

    /// The leverage brackets of `symbol`, smallest first.
    pub async fn brackets(&self, symbol: &str) -> Result<Vec<model::Bracket>, ExchangeError> {
        let body = self
            .send(&rest::leverage_brackets(symbol), Priority::Normal)
            .await?;
        model::parse_brackets(&body)?
            .into_iter()
            .find(|b| b.symbol == symbol)
            .map(|b| b.brackets)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| ExchangeError::Malformed(format!("no leverage brackets for {symbol}")))
    }

    fn report(body: &[u8], conditional: bool) -> Result<OrderReport, ExchangeError> {
        if conditional {
            model::parse::<AlgoOrder>(body)?.report()
        } else {
            model::parse::<Order>(body)?.report()
        }
    }

    /// The order named by our client id, or `None` if the venue has none.
    pub async fn query(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        self.query_at(symbol, id, conditional, Priority::Protective)
            .await
    }

    /// Starts the user data stream; returns its listen key.
    pub async fn listen_key(&self, method: Method) -> Result<Option<String>, ExchangeError> {
        let body = self
            .send(&rest::listen_key(method), Priority::Protective)
            .await?;
        Ok(model::parse::<model::ListenKey>(&body)
            .ok()
            .map(|k| k.listen_key))
    }
}

#[async_trait::async_trait]
impl VenueClient for BinanceClient {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    async fn check(&self) -> Result<(Vec<Balance>, KeyPermissions), ExchangeError> {
        self.sync_time().await?;
        self.balances_and_permissions().await
    }

    /// The rules of `symbol` (loading them on first use).
    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        if let Some(r) = self
            .rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(symbol)
        {
            return Ok(r.clone());
        }
        self.load_rules().await?;
        self.rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::UnknownSymbol {
                code: "-1121".into(),
                message: format!("{symbol} is not a trading USDⓈ-M perpetual"),
            })
    }

    /// Balances at `priority` (the periodic refresh reads in the background).
    async fn balances_at(&self, priority: Priority) -> Result<Vec<Balance>, ExchangeError> {
        let body = self.send(&rest::account(), priority).await?;
        let account: model::Account = model::parse(&body)?;
        Ok(account
            .assets
            .iter()
            .map(model::AccountAsset::balance)
            .collect())
    }

    async fn positions_at(&self, priority: Priority) -> Result<Vec<PositionReport>, ExchangeError> {
        let body = self.send(&rest::position_risk(None), priority).await?;
        let list: Vec<model::PositionRisk> = model::parse(&body)?;
        Ok(list
            .iter()
            .filter_map(model::PositionRisk::report)
            .collect())
    }

    async fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        let body = self
            .send(&rest::premium_index(symbol), Priority::Background)
            .await?;
        let p: model::PremiumIndex = model::parse(&body)?;
        Ok(p.mark_price)
    }

    async fn maintenance_tiers(
        &self,
        symbol: &str,
        _mode: MarginMode,
        _price: Decimal,
    ) -> Result<Vec<Tier>, ExchangeError> {
        Ok(self
            .brackets(symbol)
            .await?
            .iter()
            .map(model::Bracket::tier)
            .collect())
    }

    /// The most leverage `symbol` allows (first bracket).
    async fn max_leverage(&self, symbol: &str) -> Result<u32, ExchangeError> {
        Ok(self.brackets(symbol).await?[0].initial_leverage)
    }

    /// Sets leverage and margin mode of `symbol`, once per value.
    async fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError> {
        let mut settings = self.settings.lock().await;
        let current = settings.get(symbol).copied().unwrap_or_default();
        if current.margin != Some(mode) {
            self.send(&rest::set_margin_type(symbol, mode), Priority::Normal)
                .await?;
        }
        if current.leverage != Some(leverage) {
            self.send(&rest::set_leverage(symbol, leverage), Priority::Normal)
                .await?;
        }
        settings.insert(
            symbol.to_owned(),
            SymbolSettings {
                leverage: Some(leverage),
                margin: Some(mode),
            },
        );
        Ok(())
    }

    /// Sends an order once, over the websocket API when it is up (REST
    /// otherwise, or after a clock refusal there). What to do when the
    /// answer is lost is `Connection::place`'s business.
    async fn send_order(
        &self,
        order: &OrderRequest,
        _margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        let rules = self.rules(&order.symbol).await?;
        let req = rest::new_order(order, &rules, reference_price)?;
        let conditional = order.kind.is_conditional();
        let sent = match self.send_ws(&req, priority).await {
            Some(Err(ExchangeError::Timestamp { .. })) | None => self.send(&req, priority).await,
            Some(result) => result,
        };
        Self::report(&sent?, conditional)
    }

    async fn query_at(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
        priority: Priority,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        match self
            .send(&rest::query_order(symbol, id, conditional), priority)
            .await
        {
            Ok(body) => Self::report(&body, conditional).map(Some),
            Err(ExchangeError::OrderNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every open order of `symbol`, plain and conditional.
    async fn open_orders(
        &self,
        symbol: &str,
        priority: Priority,
    ) -> Result<Vec<OrderReport>, ExchangeError> {
        let body = self
            .send(&rest::open_orders(symbol, false), priority)
            .await?;
        let mut out = model::parse::<Vec<Order>>(&body)?
            .iter()
            .map(Order::report)
            .collect::<Result<Vec<_>, _>>()?;
        let body = self
            .send(&rest::open_orders(symbol, true), priority)
            .await?;
        for a in model::parse::<Vec<AlgoOrder>>(&body)? {
            out.push(a.report()?);
        }
        Ok(out)
    }

    /// Cancels by client id; returns the order as it stands afterwards.
    async fn cancel(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<OrderReport, ExchangeError> {
        let body = self
            .send(
                &rest::cancel_order(symbol, id, conditional),
                Priority::Protective,
            )
            .await?;
        if conditional {
            // The algo cancel answers with ids only; read the order back.
            return self.query(symbol, id, true).await?.ok_or_else(|| {
                ExchangeError::OrderNotFound {
                    code: "-2013".into(),
                    message: format!("{id} vanished after its cancel"),
                }
            });
        }
        Self::report(&body, false)
    }

    fn start_updates(
        self: Arc<Self>,
        endpoints: &Endpoints,
        testnet: bool,
        tx: mpsc::Sender<VenueUpdate>,
    ) -> UpdateStream {
        updates::binance(self, endpoints, testnet, tx)
    }
}
