//! The OKX v5 REST endpoints TradingBot uses, with each endpoint's own rate
//! limit (OKX limits per endpoint, per account or per IP, over 2 s).

use super::SIMULATED_HEADER;
use super::sign::{self, OkxSigner};
use crate::exchange::instrument::InstrumentRules;
use crate::exchange::{
    ClientOrderId, ExchangeError, MarginMode, OrderKind, OrderRequest, OrderSize, Side,
    TimeInForce, TriggerPrice,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// An endpoint's documented budget: `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointLimit {
    /// The endpoint, as the budget's key.
    pub key: &'static str,
    pub requests: u32,
    pub per: Duration,
}

const fn limit(key: &'static str, requests: u32) -> EndpointLimit {
    EndpointLimit {
        key,
        requests,
        per: Duration::from_secs(2),
    }
}

/// A request before its timestamp and signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub path: &'static str,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    pub signed: bool,
    pub mutation: bool,
    pub limit: EndpointLimit,
}

impl Request {
    fn get(path: &'static str, limit: EndpointLimit) -> Self {
        Self {
            method: Method::Get,
            path,
            query: Vec::new(),
            body: None,
            signed: true,
            mutation: false,
            limit,
        }
    }

    fn post(path: &'static str, body: Value, limit: EndpointLimit) -> Self {
        Self {
            method: Method::Post,
            path,
            query: Vec::new(),
            body: Some(body),
            signed: true,
            mutation: true,
            limit,
        }
    }

    fn public(mut self) -> Self {
        self.signed = false;
        self
    }

    fn q(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    /// The path with its query string (what is signed and requested).
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.to_owned();
        }
        let q: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::exchange::binance::rest::encode(v)))
            .collect();
        format!("{}?{}", self.path, q.join("&"))
    }

    /// The body exactly as sent (and signed).
    pub fn body_text(&self) -> String {
        self.body.as_ref().map(Value::to_string).unwrap_or_default()
    }

    /// The authentication headers for `timestamp_ms`.
    pub fn headers(
        &self,
        signer: Option<&OkxSigner>,
        timestamp_ms: i64,
        demo: bool,
    ) -> Vec<(&'static str, String)> {
        let mut h = Vec::with_capacity(6);
        if demo {
            h.push((SIMULATED_HEADER, "1".to_owned()));
        }
        if let (true, Some(signer)) = (self.signed, signer) {
            let ts = sign::iso_timestamp(timestamp_ms);
            let method = match self.method {
                Method::Get => "GET",
                Method::Post => "POST",
            };
            let signature = signer.sign(&ts, method, &self.path_and_query(), &self.body_text());
            h.push((sign::KEY_HEADER, signer.api_key().to_owned()));
            h.push((sign::SIGN_HEADER, signature));
            h.push((sign::TIMESTAMP_HEADER, ts));
            h.push((sign::PASSPHRASE_HEADER, signer.passphrase().to_owned()));
        }
        h
    }
}

pub fn server_time() -> Request {
    Request::get("/api/v5/public/time", limit("public/time", 10)).public()
}

pub fn instruments() -> Request {
    Request::get(
        "/api/v5/public/instruments",
        limit("public/instruments", 20),
    )
    .public()
    .q("instType", "SWAP")
}

pub fn mark_price(inst_id: &str) -> Request {
    Request::get("/api/v5/public/mark-price", limit("public/mark-price", 10))
        .public()
        .q("instType", "SWAP")
        .q("instId", inst_id)
}

/// Maintenance-margin tiers of a swap's instrument family (`BTC-USDT`);
/// sizes in contracts.
pub fn position_tiers(inst_family: &str, td_mode: &str) -> Request {
    Request::get(
        "/api/v5/public/position-tiers",
        limit("public/position-tiers", 10),
    )
    .public()
    .q("instType", "SWAP")
    .q("tdMode", td_mode)
    .q("instFamily", inst_family)
}

pub fn balance(ccy: &str) -> Request {
    Request::get("/api/v5/account/balance", limit("account/balance", 10)).q("ccy", ccy)
}

pub fn positions(inst_id: Option<&str>) -> Request {
    let r = Request::get("/api/v5/account/positions", limit("account/positions", 10))
        .q("instType", "SWAP");
    match inst_id {
        Some(i) => r.q("instId", i),
        None => r,
    }
}

/// Account configuration: uid, permissions (`perm`), bound addresses (`ip`).
pub fn account_config() -> Request {
    Request::get("/api/v5/account/config", limit("account/config", 5))
}

fn mgn_mode(m: MarginMode) -> &'static str {
    match m {
        MarginMode::Isolated => "isolated",
        MarginMode::Cross => "cross",
    }
}

pub fn set_leverage(inst_id: &str, leverage: u32, mode: MarginMode) -> Request {
    Request::post(
        "/api/v5/account/set-leverage",
        json!({ "instId": inst_id, "lever": leverage.to_string(), "mgnMode": mgn_mode(mode) }),
        limit("account/set-leverage", 20),
    )
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn trigger_type(t: TriggerPrice) -> &'static str {
    match t {
        TriggerPrice::Mark => "mark",
        TriggerPrice::Last => "last",
    }
}

fn off_tick(price: Decimal, rules: &InstrumentRules) -> Option<ExchangeError> {
    ((price % rules.tick_size) != Decimal::ZERO || price <= Decimal::ZERO).then(|| {
        ExchangeError::BadPrecision {
            code: "local".into(),
            message: format!(
                "price {price} is not a multiple of the tick {}",
                rules.tick_size
            ),
        }
    })
}

/// A new order (`/trade/order`), or a conditional one (`/trade/order-algo`),
/// checked against the instrument first. Sizes are converted to contracts,
/// rounded down.
pub fn new_order(
    order: &OrderRequest,
    rules: &InstrumentRules,
    margin: MarginMode,
    reference_price: Decimal,
) -> Result<Request, ExchangeError> {
    let market = !matches!(order.kind, OrderKind::Limit { .. });
    let sz = match order.size {
        OrderSize::Base(base) => {
            let contracts = rules.venue_qty(base, market);
            let price = match &order.kind {
                OrderKind::Limit { price, .. } => *price,
                OrderKind::StopMarket { trigger, .. }
                | OrderKind::TakeProfitMarket { trigger, .. } => *trigger,
                _ => reference_price,
            };
            let mut checked = rules.clone();
            if order.reduce_only {
                checked.min_notional = Decimal::ZERO;
            }
            checked
                .check(
                    contracts,
                    price,
                    market,
                    matches!(order.kind, OrderKind::Limit { .. }),
                )
                .map_err(|e| ExchangeError::BelowMinimum {
                    code: "local".into(),
                    message: e.to_string(),
                })?;
            Some(contracts)
        }
        OrderSize::ClosePosition => None,
    };
    let mut body = Map::new();
    body.insert("instId".into(), order.symbol.clone().into());
    body.insert("tdMode".into(), mgn_mode(margin).into());
    body.insert("side".into(), side(order.side).into());
    if order.kind.is_conditional() {
        body.insert("algoClOrdId".into(), order.client_id.as_str().into());
        match &order.kind {
            OrderKind::StopMarket {
                trigger,
                trigger_by,
            } => {
                if let Some(e) = off_tick(*trigger, rules) {
                    return Err(e);
                }
                body.insert("ordType".into(), "conditional".into());
                body.insert("slTriggerPx".into(), trigger.normalize().to_string().into());
                body.insert("slOrdPx".into(), "-1".into());
                body.insert("slTriggerPxType".into(), trigger_type(*trigger_by).into());
            }
            OrderKind::TakeProfitMarket {
                trigger,
                trigger_by,
            } => {
                if let Some(e) = off_tick(*trigger, rules) {
                    return Err(e);
                }
                body.insert("ordType".into(), "conditional".into());
                body.insert("tpTriggerPx".into(), trigger.normalize().to_string().into());
                body.insert("tpOrdPx".into(), "-1".into());
                body.insert("tpTriggerPxType".into(), trigger_type(*trigger_by).into());
            }
            OrderKind::TrailingStopMarket {
                callback_pct,
                activation,
                ..
            } => {
                body.insert("ordType".into(), "move_order_stop".into());
                let ratio = (callback_pct / Decimal::ONE_HUNDRED).normalize();
                body.insert("callbackRatio".into(), ratio.to_string().into());
                if let Some(a) = activation {
                    body.insert("activePx".into(), a.normalize().to_string().into());
                }
            }
            _ => unreachable!("is_conditional"),
        }
        match sz {
            Some(sz) => {
                body.insert("sz".into(), sz.to_string().into());
            }
            None => {
                body.insert("closeFraction".into(), "1".into());
            }
        }
        if order.reduce_only || sz.is_none() {
            body.insert("reduceOnly".into(), true.into());
        }
        return Ok(Request::post(
            "/api/v5/trade/order-algo",
            Value::Object(body),
            limit("trade/order-algo", 20),
        ));
    }
    let Some(sz) = sz else {
        return Err(ExchangeError::InvalidRequest(
            "only conditional orders can close the whole position".into(),
        ));
    };
    body.insert("clOrdId".into(), order.client_id.as_str().into());
    body.insert("sz".into(), sz.to_string().into());
    match &order.kind {
        OrderKind::Market => {
            body.insert("ordType".into(), "market".into());
        }
        OrderKind::Limit { price, tif } => {
            if let Some(e) = off_tick(*price, rules) {
                return Err(e);
            }
            let t = match tif {
                TimeInForce::Gtc => "limit",
                TimeInForce::Ioc => "ioc",
                TimeInForce::Fok => "fok",
                TimeInForce::Gtx => "post_only",
            };
            body.insert("ordType".into(), t.into());
            body.insert("px".into(), price.normalize().to_string().into());
        }
        _ => unreachable!("conditional orders returned above"),
    }
    if order.reduce_only {
        body.insert("reduceOnly".into(), true.into());
    }
    if let Some(p) = &order.attach {
        let mut a = Map::new();
        a.insert("attachAlgoClOrdId".into(), p.client_id.as_str().into());
        if let Some(tp) = p.take_profit {
            if let Some(e) = off_tick(tp, rules) {
                return Err(e);
            }
            a.insert("tpTriggerPx".into(), tp.normalize().to_string().into());
            a.insert("tpOrdPx".into(), "-1".into());
            a.insert("tpTriggerPxType".into(), trigger_type(p.trigger_by).into());
        }
        if let Some(sl) = p.stop_loss {
            if let Some(e) = off_tick(sl, rules) {
                return Err(e);
            }
            a.insert("slTriggerPx".into(), sl.normalize().to_string().into());
            a.insert("slOrdPx".into(), "-1".into());
            a.insert("slTriggerPxType".into(), trigger_type(p.trigger_by).into());
        }
        body.insert(
            "attachAlgoOrds".into(),
            Value::Array(vec![Value::Object(a)]),
        );
    }
    Ok(Request::post(
        "/api/v5/trade/order",
        Value::Object(body),
        limit("trade/order", 60),
    ))
}

pub fn query_order(inst_id: &str, client_id: &ClientOrderId) -> Request {
    Request::get("/api/v5/trade/order", limit("trade/order:get", 60))
        .q("instId", inst_id)
        .q("clOrdId", client_id.as_str())
}

pub fn query_algo(client_id: &ClientOrderId) -> Request {
    Request::get(
        "/api/v5/trade/order-algo",
        limit("trade/order-algo:get", 20),
    )
    .q("algoClOrdId", client_id.as_str())
}

/// The live orders of `inst_id`.
pub fn open_orders(inst_id: &str) -> Request {
    Request::get(
        "/api/v5/trade/orders-pending",
        limit("trade/orders-pending", 60),
    )
    .q("instType", "SWAP")
    .q("instId", inst_id)
}

/// The live conditional (stop / take-profit) algo orders of `inst_id`.
pub fn open_algos(inst_id: &str) -> Request {
    Request::get(
        "/api/v5/trade/orders-algo-pending",
        limit("trade/orders-algo-pending", 20),
    )
    .q("ordType", "conditional")
    .q("instId", inst_id)
}

pub fn cancel_order(inst_id: &str, client_id: &ClientOrderId) -> Request {
    Request::post(
        "/api/v5/trade/cancel-order",
        json!({ "instId": inst_id, "clOrdId": client_id.as_str() }),
        limit("trade/cancel-order", 60),
    )
}

pub fn cancel_algo(inst_id: &str, algo_id: &str) -> Request {
    Request::post(
        "/api/v5/trade/cancel-algos",
        json!([{ "instId": inst_id, "algoId": algo_id }]),
        limit("trade/cancel-algos", 20),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{AttachedProtection, Leg};
    use rust_decimal_macros::dec;

    pub(crate) fn btc_swap() -> InstrumentRules {
        InstrumentRules {
            symbol: "BTC-USDT-SWAP".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.1),
            min_price: dec!(0),
            max_price: dec!(0),
            step_size: dec!(0.01),
            min_qty: dec!(0.01),
            max_qty: dec!(10000),
            market_step_size: dec!(0.01),
            market_min_qty: dec!(0.01),
            market_max_qty: dec!(3000),
            min_notional: dec!(0),
            contract_value: dec!(0.01),
            max_leverage: Some(100),
        }
    }

    #[test]
    fn entry_in_contracts_with_attached_protection() {
        let order = OrderRequest {
            client_id: ClientOrderId::derive(3, 9, Leg::Entry),
            symbol: "BTC-USDT-SWAP".into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            size: OrderSize::Base(dec!(0.0239)),
            reduce_only: false,
            attach: Some(AttachedProtection {
                client_id: ClientOrderId::derive(3, 9, Leg::StopLoss),
                stop_loss: Some(dec!(42140.0)),
                take_profit: Some(dec!(45150.1)),
                trigger_by: TriggerPrice::Mark,
            }),
        };
        let r = new_order(&order, &btc_swap(), MarginMode::Isolated, dec!(43000)).unwrap();
        assert_eq!((r.method, r.path), (Method::Post, "/api/v5/trade/order"));
        let b = r.body.unwrap();
        assert_eq!(b["sz"], "2.39", "0.0239 BTC at 0.01 BTC a contract");
        assert_eq!(
            (
                b["tdMode"].as_str(),
                b["ordType"].as_str(),
                b["side"].as_str()
            ),
            (Some("isolated"), Some("market"), Some("buy"))
        );
        assert_eq!(b["clOrdId"], "tb0139e");
        let a = &b["attachAlgoOrds"][0];
        assert_eq!(
            (a["slTriggerPx"].as_str(), a["slOrdPx"].as_str()),
            (Some("42140"), Some("-1"))
        );
        assert_eq!(
            (a["tpTriggerPx"].as_str(), a["tpTriggerPxType"].as_str()),
            (Some("45150.1"), Some("mark"))
        );
        assert_eq!(a["attachAlgoClOrdId"], "tb0139s");
    }

    #[test]
    fn a_close_all_stop_is_an_algo_order() {
        let order = OrderRequest {
            client_id: ClientOrderId::derive(3, 9, Leg::StopLoss),
            symbol: "BTC-USDT-SWAP".into(),
            side: Side::Sell,
            kind: OrderKind::StopMarket {
                trigger: dec!(42140),
                trigger_by: TriggerPrice::Mark,
            },
            size: OrderSize::ClosePosition,
            reduce_only: true,
            attach: None,
        };
        let r = new_order(&order, &btc_swap(), MarginMode::Cross, dec!(43000)).unwrap();
        assert_eq!(r.path, "/api/v5/trade/order-algo");
        let b = r.body.unwrap();
        assert_eq!(
            (b["ordType"].as_str(), b["closeFraction"].as_str()),
            (Some("conditional"), Some("1"))
        );
        assert_eq!(b["reduceOnly"], true);
        assert_eq!(b["algoClOrdId"], "tb0139s");
    }

    #[test]
    fn signed_headers_cover_path_query_and_body() {
        let signer = OkxSigner::new("k", b"secret", "p");
        let r = query_order("BTC-USDT-SWAP", &ClientOrderId::derive(3, 9, Leg::Entry));
        assert_eq!(
            r.path_and_query(),
            "/api/v5/trade/order?instId=BTC-USDT-SWAP&clOrdId=tb0139e"
        );
        let h = r.headers(Some(&signer), 1_607_418_537_715, true);
        let get = |k: &str| {
            h.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("x-simulated-trading"), "1");
        assert_eq!(get("OK-ACCESS-TIMESTAMP"), "2020-12-08T09:08:57.715Z");
        assert!(signer.verify(
            &get("OK-ACCESS-TIMESTAMP"),
            "GET",
            &r.path_and_query(),
            "",
            &get("OK-ACCESS-SIGN")
        ));
        assert!(
            instruments().headers(Some(&signer), 0, false).is_empty(),
            "public requests are unsigned"
        );
    }

    #[test]
    fn refuses_sizes_below_one_lot() {
        let order = OrderRequest {
            client_id: ClientOrderId::derive(3, 9, Leg::Entry),
            symbol: "BTC-USDT-SWAP".into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            size: OrderSize::Base(dec!(0.00005)),
            reduce_only: false,
            attach: None,
        };
        assert!(matches!(
            new_order(&order, &btc_swap(), MarginMode::Cross, dec!(43000)),
            Err(ExchangeError::BelowMinimum { .. })
        ));
    }
}
