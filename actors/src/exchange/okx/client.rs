//! The OKX REST client of one account. Sizes go out in contracts and come
//! back in the base asset; leverage is set once per symbol and margin mode;
//! an unknown outcome is resolved by querying the client order id.

use super::private_stream::PrivateStream;
use crate::exchange::budget::{self, HoldAction, OkxBudget, Priority};
use crate::exchange::endpoints::Endpoints;
use crate::exchange::http::{self, now_ms};
use crate::exchange::updates::{self, UpdateStream, VenueUpdate};
use crate::exchange::venue::VenueClient;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::sync::mpsc;
use tradingbot_core::exchange::Venue;
use tradingbot_core::exchange::okx::model::{self, Ack};
use tradingbot_core::exchange::okx::rest::{self, Method, Request};
use tradingbot_core::exchange::okx::sign::OkxSigner;
use tradingbot_core::exchange::okx::stream;
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport,
};
use tradingbot_core::simulator::Tier;

/// Longest a normal request waits for its endpoint's budget.
pub const MAX_NORMAL_WAIT: Duration = Duration::from_secs(2);

pub struct OkxClient {
    http: reqwest::Client,
    base: String,
    signer: OkxSigner,
    demo: bool,
    budget: OkxBudget,
    clock_offset_ms: AtomicI64,
    rules: RwLock<HashMap<String, InstrumentRules>>,
    /// Leverage set per (symbol, margin mode).
    leverage: Mutex<HashMap<(String, MarginMode), u32>>,
    /// The private stream orders go through when it is up.
    stream: std::sync::OnceLock<Arc<PrivateStream>>,
}

impl std::fmt::Debug for OkxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OkxClient")
            .field("base", &self.base)
            .field("demo", &self.demo)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ServerTime {
    ts: String,
}

impl OkxClient {
    pub fn new(base_url: &str, api_key: &str, secret: &[u8], passphrase: &str, demo: bool) -> Self {
        Self {
            http: http::client(Duration::from_secs(10)),
            base: base_url.trim_end_matches('/').to_owned(),
            signer: OkxSigner::new(api_key, secret, passphrase),
            demo,
            budget: OkxBudget::default(),
            clock_offset_ms: AtomicI64::new(0),
            rules: RwLock::new(HashMap::new()),
            leverage: Mutex::new(HashMap::new()),
            stream: std::sync::OnceLock::new(),
        }
    }

    /// Places orders over this private stream while it is up.
    pub fn use_stream(&self, stream: Arc<PrivateStream>) {
        let _ = self.stream.set(stream);
    }

    /// Sends an order over the private stream; `None` when it is down
    /// (nothing was sent).
    async fn send_ws(
        &self,
        req: &Request,
        priority: Priority,
    ) -> Option<Result<Vec<Ack>, ExchangeError>> {
        let stream = self.stream.get().filter(|s| s.is_ready())?;
        let id = format!("{}", uuid::Uuid::new_v4().simple());
        let message = stream::ws_order(req, &id)?;
        if let Err(e) = self.acquire(req, priority).await {
            return Some(Err(e));
        }
        // Signed at login: the session is the signature.
        super::super::handoff::signed("okx");
        Some(
            match stream.op(&id, message, Duration::from_secs(5)).await {
                Err(false) => return None,
                Err(true) => Err(ExchangeError::UnknownOutcome {
                    message: "no answer on the OKX private stream".into(),
                }),
                Ok(body) => model::parse::<Ack>(200, body.to_string().as_bytes(), true),
            },
        )
    }

    pub fn budget(&self) -> &OkxBudget {
        &self.budget
    }

    pub fn signer(&self) -> &OkxSigner {
        &self.signer
    }

    pub fn is_demo(&self) -> bool {
        self.demo
    }

    pub fn server_now_ms(&self) -> i64 {
        now_ms() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    async fn acquire(&self, req: &Request, priority: Priority) -> Result<(), ExchangeError> {
        loop {
            let hold = match self.budget.acquire(req.limit, priority, now_ms()) {
                Ok(()) => return Ok(()),
                Err(h) => h,
            };
            match budget::decide(hold, priority, MAX_NORMAL_WAIT) {
                HoldAction::Sleep(d) => tokio::time::sleep(d.min(Duration::from_secs(5))).await,
                HoldAction::Banned(left) => {
                    return Err(ExchangeError::Banned { retry_after: left });
                }
                HoldAction::Refuse(d) => return Err(ExchangeError::RateLimited { retry_after: d }),
            }
        }
    }

    async fn send_once<T: for<'de> Deserialize<'de>>(
        &self,
        req: &Request,
        priority: Priority,
    ) -> Result<Vec<T>, ExchangeError> {
        self.acquire(req, priority).await?;
        let url = format!("{}{}", self.base, req.path_and_query());
        let mut builder = match req.method {
            Method::Get => self.http.get(&url),
            Method::Post => self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(req.body_text()),
        };
        for (name, value) in req.headers(Some(&self.signer), self.server_now_ms(), self.demo) {
            builder = builder.header(name, value);
        }
        if req.method == Method::Post {
            super::super::handoff::signed("okx");
        }
        metrics::gauge!("exchange_rate_limit_usage_ratio", "exchange" => "okx", "limit" => req.limit.key)
            .set(f64::from(self.budget.used(req.limit.key)) / f64::from(req.limit.requests.max(1)));
        let started = std::time::Instant::now();
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) if req.mutation && !http::not_sent(&e) => {
                return Err(ExchangeError::UnknownOutcome {
                    message: format!("no answer from OKX: {}", http::redacted(e)),
                });
            }
            Err(e) => return Err(ExchangeError::Unreachable(http::redacted(e))),
        };
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if req.mutation => {
                return Err(ExchangeError::UnknownOutcome {
                    message: format!("the answer was cut off: {}", http::redacted(e)),
                });
            }
            Err(e) => return Err(ExchangeError::Unreachable(http::redacted(e))),
        };
        metrics::histogram!("exchange_request_duration_seconds", "exchange" => "okx", "path" => req.path)
            .record(started.elapsed().as_secs_f64());
        let result = model::parse::<T>(status, &body, req.mutation);
        if let Err(ExchangeError::RateLimited { retry_after }) = &result {
            metrics::counter!("exchange_rate_limited_total", "exchange" => "okx", "status" => "429").increment(1);
            self.budget.rate_limited(*retry_after, now_ms());
        }
        result
    }

    /// Sends, resynchronizing the clock once on a timestamp refusal. A
    /// protective request refused by a rate limit (not executed) waits for
    /// the pause and goes again: it is never dropped.
    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        req: &Request,
        priority: Priority,
    ) -> Result<Vec<T>, ExchangeError> {
        loop {
            let sent = match self.send_once(req, priority).await {
                Err(ExchangeError::Timestamp { .. }) => {
                    tracing::warn!("OKX refused our timestamp; resynchronizing the clock");
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

    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = now_ms();
        let data: Vec<ServerTime> = self
            .send_once(&rest::server_time(), Priority::Protective)
            .await?;
        let after = now_ms();
        let ts: i64 = data
            .first()
            .and_then(|t| t.ts.parse().ok())
            .ok_or_else(|| ExchangeError::Malformed("no server time".into()))?;
        let offset = ts - (before + after) / 2;
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    pub async fn load_rules(&self) -> Result<usize, ExchangeError> {
        let list: Vec<model::Instrument> =
            self.send(&rest::instruments(), Priority::Normal).await?;
        let mut cache = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for i in list.iter().filter(|i| i.state == "live") {
            if let Ok(r) = i.rules() {
                cache.insert(r.symbol.clone(), r);
                n += 1;
            }
        }
        Ok(n)
    }

    pub async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.balances_at(Priority::Normal).await
    }

    pub async fn permissions(&self) -> Result<KeyPermissions, ExchangeError> {
        let data: Vec<model::AccountConfig> =
            self.send(&rest::account_config(), Priority::Normal).await?;
        data.first()
            .map(model::AccountConfig::permissions)
            .ok_or_else(|| ExchangeError::Malformed("no account configuration".into()))
    }

    pub async fn positions(&self) -> Result<Vec<PositionReport>, ExchangeError> {
        // What reconciliation and protection stand on: it goes first.
        self.positions_at(Priority::Protective).await
    }

    /// The maintenance tiers of `symbol` (`BTC-USDT-SWAP`) under `mode`, in
    /// notional terms at `price`.
    pub async fn tiers(
        &self,
        symbol: &str,
        mode: MarginMode,
        price: Decimal,
    ) -> Result<Vec<tradingbot_core::simulator::Tier>, ExchangeError> {
        let rules = self.rules(symbol).await?;
        let family = symbol.strip_suffix("-SWAP").unwrap_or(symbol);
        let td_mode = match mode {
            MarginMode::Isolated => "isolated",
            MarginMode::Cross => "cross",
        };
        let rows: Vec<model::PositionTier> = self
            .send(&rest::position_tiers(family, td_mode), Priority::Normal)
            .await?;
        let mut tiers: Vec<_> = rows
            .iter()
            .map(|r| {
                r.at_price(rules.contract_value, price).ok_or_else(|| {
                    ExchangeError::Malformed(format!("unreadable position tier {}", r.tier))
                })
            })
            .collect::<Result<_, _>>()?;
        tiers.sort_by_key(|t| t.cap);
        if tiers.is_empty() {
            return Err(ExchangeError::Malformed(format!(
                "no position tiers for {symbol}"
            )));
        }
        Ok(tiers)
    }

    pub async fn query(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        self.query_at(symbol, id, conditional, Priority::Protective)
            .await
    }
}

#[async_trait::async_trait]
impl VenueClient for OkxClient {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    async fn check(&self) -> Result<(Vec<Balance>, KeyPermissions), ExchangeError> {
        self.sync_time().await?;
        Ok((self.balances().await?, self.permissions().await?))
    }

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
                code: "51001".into(),
                message: format!("{symbol} is not a live OKX swap"),
            })
    }

    /// Balances at `priority` (the periodic refresh reads in the background).
    async fn balances_at(&self, priority: Priority) -> Result<Vec<Balance>, ExchangeError> {
        let data: Vec<model::AccountBalance> = self.send(&rest::balance("USDT"), priority).await?;
        Ok(data
            .iter()
            .flat_map(|a| a.details.iter().map(model::BalanceDetail::balance))
            .collect())
    }

    async fn positions_at(&self, priority: Priority) -> Result<Vec<PositionReport>, ExchangeError> {
        let data: Vec<model::Position> = self.send(&rest::positions(None), priority).await?;
        let mut out = Vec::new();
        for p in &data {
            let rules = self.rules(&p.inst_id).await?;
            if let Some(r) = p.report(&rules) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        let data: Vec<model::MarkPrice> = self
            .send(&rest::mark_price(symbol), Priority::Background)
            .await?;
        data.first()
            .and_then(model::MarkPrice::price)
            .ok_or_else(|| ExchangeError::Malformed(format!("no mark price for {symbol}")))
    }

    async fn maintenance_tiers(
        &self,
        symbol: &str,
        mode: MarginMode,
        price: Decimal,
    ) -> Result<Vec<Tier>, ExchangeError> {
        self.tiers(symbol, mode, price).await
    }

    /// Sets the leverage of `symbol` under `mode`, once per value. (OKX sets
    /// the margin mode on each order, `tdMode`.)
    async fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError> {
        let mut set = self.leverage.lock().await;
        let key = (symbol.to_owned(), mode);
        if set.get(&key) == Some(&leverage) {
            return Ok(());
        }
        let _: Vec<serde_json::Value> = self
            .send(
                &rest::set_leverage(symbol, leverage, mode),
                Priority::Normal,
            )
            .await?;
        set.insert(key, leverage);
        Ok(())
    }

    /// Sends an order once (over the private websocket when it is up) and
    /// reads it back: OKX acknowledges with ids only. What to do when the
    /// answer is lost is `Connection::place`'s business.
    async fn send_order(
        &self,
        order: &OrderRequest,
        margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        let rules = self.rules(&order.symbol).await?;
        let req = rest::new_order(order, &rules, margin, reference_price)?;
        let conditional = order.kind.is_conditional();
        match self.send_ws(&req, priority).await {
            Some(r) => r?,
            None => self.send::<Ack>(&req, priority).await?,
        };
        self.query(&order.symbol, &order.client_id, conditional)
            .await?
            .ok_or_else(|| ExchangeError::UnknownOutcome {
                message: format!("{} was accepted but cannot be found", order.client_id),
            })
    }

    async fn query_at(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
        priority: Priority,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        let rules = self.rules(symbol).await?;
        let result = if conditional {
            self.send::<model::AlgoOrder>(&rest::query_algo(id), priority)
                .await
                .and_then(|d| d.first().map(|a| a.report(&rules)).transpose())
        } else {
            self.send::<model::Order>(&rest::query_order(symbol, id), priority)
                .await
                .and_then(|d| d.first().map(|o| o.report(&rules)).transpose())
        };
        match result {
            Err(ExchangeError::OrderNotFound { .. }) => Ok(None),
            other => other,
        }
    }

    /// Every live order of `symbol`, plain and conditional.
    async fn open_orders(
        &self,
        symbol: &str,
        priority: Priority,
    ) -> Result<Vec<OrderReport>, ExchangeError> {
        let rules = self.rules(symbol).await?;
        let mut out = Vec::new();
        for o in self
            .send::<model::Order>(&rest::open_orders(symbol), priority)
            .await?
        {
            out.push(o.report(&rules)?);
        }
        for a in self
            .send::<model::AlgoOrder>(&rest::open_algos(symbol), priority)
            .await?
        {
            out.push(a.report(&rules)?);
        }
        Ok(out)
    }

    async fn cancel(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<OrderReport, ExchangeError> {
        let not_found = || ExchangeError::OrderNotFound {
            code: "51603".into(),
            message: format!("{id} does not exist"),
        };
        if conditional {
            let current = self.query(symbol, id, true).await?.ok_or_else(not_found)?;
            let _: Vec<Ack> = self
                .send(
                    &rest::cancel_algo(symbol, &current.venue_order_id),
                    Priority::Protective,
                )
                .await?;
        } else {
            let _: Vec<Ack> = self
                .send(&rest::cancel_order(symbol, id), Priority::Protective)
                .await?;
        }
        self.query(symbol, id, conditional)
            .await?
            .ok_or_else(not_found)
    }

    fn start_updates(
        self: Arc<Self>,
        endpoints: &Endpoints,
        testnet: bool,
        tx: mpsc::Sender<VenueUpdate>,
    ) -> UpdateStream {
        updates::okx(self, endpoints, testnet, tx)
    }
}
