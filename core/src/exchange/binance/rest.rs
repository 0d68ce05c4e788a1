//! The REST endpoints TradingBot uses, as requests ready to sign: method,
//! path, parameters in order, and their cost against the rate limits.
//!
//! Conditional orders (stop-market, take-profit-market, trailing stops) go
//! to the Algo Order API, `/fapi/v1/algoOrder` with `algoType=CONDITIONAL`:
//! since December 2025 Binance refuses them on `/fapi/v1/order` (-4120).

use super::RECV_WINDOW_MS;
use super::sign::BinanceSigner;
use crate::exchange::instrument::InstrumentRules;
use crate::exchange::{
    ClientOrderId, ExchangeError, MarginMode, OrderKind, OrderRequest, OrderSize, TimeInForce,
    TriggerPrice,
};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request costs against the venue's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Request weight (per IP, per minute).
    pub weight: u32,
    /// Counts towards the order limits (per 10 s and per minute).
    pub order: bool,
}

/// A request before its timestamp and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: &'static str,
    pub params: Vec<(&'static str, String)>,
    /// Needs `timestamp`, `recvWindow` and `signature`.
    pub signed: bool,
    /// Needs the API key header only (listen keys).
    pub keyed: bool,
    /// Changes state on the venue: a lost answer is an unknown outcome.
    pub mutation: bool,
    pub cost: Cost,
}

/// Percent-encodes a parameter value (RFC 3986 unreserved characters kept),
/// so the signed string and the sent string are the same bytes.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn join(params: &[(&str, String)]) -> String {
    let mut q = String::with_capacity(params.len() * 16);
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        q.push_str(k);
        q.push('=');
        q.push_str(&encode(v));
    }
    q
}

impl Request {
    fn new(method: Method, path: &'static str, weight: u32) -> Self {
        Self {
            method,
            path,
            params: Vec::new(),
            signed: false,
            keyed: false,
            mutation: !matches!(method, Method::Get),
            cost: Cost {
                weight,
                order: false,
            },
        }
    }

    fn signed(mut self) -> Self {
        self.signed = true;
        self.keyed = true;
        self
    }

    fn param(mut self, key: &'static str, value: impl ToString) -> Self {
        self.params.push((key, value.to_string()));
        self
    }

    /// The query string to send: the parameters, then (signed requests)
    /// `recvWindow`, `timestamp` and the signature over all of them.
    pub fn query(&self, signer: Option<&BinanceSigner>, timestamp_ms: i64) -> String {
        let mut q = join(&self.params);
        if self.signed {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!(
                "recvWindow={RECV_WINDOW_MS}&timestamp={timestamp_ms}"
            ));
            if let Some(signer) = signer {
                let signature = signer.sign(&q);
                q.push_str("&signature=");
                q.push_str(&signature);
            }
        }
        q
    }
}

pub fn server_time() -> Request {
    Request::new(Method::Get, "/fapi/v1/time", 1)
}

pub fn exchange_info() -> Request {
    Request::new(Method::Get, "/fapi/v1/exchangeInfo", 1)
}

/// Mark price (and funding) of one symbol.
pub fn premium_index(symbol: &str) -> Request {
    Request::new(Method::Get, "/fapi/v1/premiumIndex", 1).param("symbol", symbol)
}

/// Account information, including whether the key can trade and withdraw.
pub fn account() -> Request {
    Request::new(Method::Get, "/fapi/v2/account", 5).signed()
}

/// Positions (all, or one symbol), with leverage and margin type.
pub fn position_risk(symbol: Option<&str>) -> Request {
    let r = Request::new(Method::Get, "/fapi/v2/positionRisk", 5).signed();
    match symbol {
        Some(s) => r.param("symbol", s),
        None => r,
    }
}

/// Leverage brackets: the first bracket's `initialLeverage` is the most a
/// symbol allows.
pub fn leverage_brackets(symbol: &str) -> Request {
    Request::new(Method::Get, "/fapi/v1/leverageBracket", 1)
        .signed()
        .param("symbol", symbol)
}

pub fn set_leverage(symbol: &str, leverage: u32) -> Request {
    Request::new(Method::Post, "/fapi/v1/leverage", 1)
        .signed()
        .param("symbol", symbol)
        .param("leverage", leverage)
}

pub fn set_margin_type(symbol: &str, mode: MarginMode) -> Request {
    Request::new(Method::Post, "/fapi/v1/marginType", 1)
        .signed()
        .param("symbol", symbol)
        .param(
            "marginType",
            match mode {
                MarginMode::Isolated => "ISOLATED",
                MarginMode::Cross => "CROSSED",
            },
        )
}

fn tif(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
        TimeInForce::Gtx => "GTX",
    }
}

fn working_type(t: TriggerPrice) -> &'static str {
    match t {
        TriggerPrice::Mark => "MARK_PRICE",
        TriggerPrice::Last => "CONTRACT_PRICE",
    }
}

fn invalid(why: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::InvalidRequest(why.to_string())
}

fn below_minimum(why: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::BelowMinimum {
        code: "local".into(),
        message: why.to_string(),
    }
}

/// The prices an order carries (limit price, trigger, activation).
fn prices(kind: &OrderKind) -> Vec<Decimal> {
    match kind {
        OrderKind::Market => vec![],
        OrderKind::Limit { price, .. } => vec![*price],
        OrderKind::StopMarket { trigger, .. } | OrderKind::TakeProfitMarket { trigger, .. } => {
            vec![*trigger]
        }
        OrderKind::TrailingStopMarket { activation, .. } => activation.iter().copied().collect(),
    }
}

/// A new order, checked against the instrument first (so a refusal costs
/// no request). `reference_price` values market orders for the notional
/// check (the mark price).
pub fn new_order(
    order: &OrderRequest,
    rules: &InstrumentRules,
    reference_price: Decimal,
) -> Result<Request, ExchangeError> {
    if order.attach.is_some() {
        return Err(invalid(
            "Binance cannot attach protection to an entry; place it after the fill",
        ));
    }
    let market = !matches!(order.kind, OrderKind::Limit { .. });
    let quantity = match order.size {
        OrderSize::Base(base) => {
            let qty = rules.venue_qty(base, market);
            let price = match &order.kind {
                OrderKind::Limit { price, .. } => *price,
                OrderKind::StopMarket { trigger, .. }
                | OrderKind::TakeProfitMarket { trigger, .. } => *trigger,
                _ => reference_price,
            };
            let limit = matches!(order.kind, OrderKind::Limit { .. });
            // Reduce-only orders close what exists; the venue exempts them
            // from the minimum notional.
            let mut checked = rules.clone();
            if order.reduce_only {
                checked.min_notional = Decimal::ZERO;
            }
            checked
                .check(qty, price, market, limit)
                .map_err(below_minimum)?;
            Some(qty)
        }
        OrderSize::ClosePosition => None,
    };
    let side = order.side.as_str();
    let id = order.client_id.as_str();
    // Prices are rounded by the caller, who knows which way is safe; here
    // they are only checked, as the venue would.
    for price in prices(&order.kind) {
        if !(price % rules.tick_size).is_zero() || price <= Decimal::ZERO {
            return Err(ExchangeError::BadPrecision {
                code: "local".into(),
                message: format!(
                    "price {price} is not a multiple of the tick {}",
                    rules.tick_size
                ),
            });
        }
    }
    if order.kind.is_conditional() {
        let mut r = Request::new(Method::Post, "/fapi/v1/algoOrder", 0)
            .signed()
            .param("algoType", "CONDITIONAL")
            .param("symbol", &order.symbol)
            .param("side", side);
        r.cost.order = true;
        r = match &order.kind {
            OrderKind::StopMarket {
                trigger,
                trigger_by,
            } => r
                .param("type", "STOP_MARKET")
                .param("triggerPrice", trigger.normalize())
                .param("workingType", working_type(*trigger_by)),
            OrderKind::TakeProfitMarket {
                trigger,
                trigger_by,
            } => r
                .param("type", "TAKE_PROFIT_MARKET")
                .param("triggerPrice", trigger.normalize())
                .param("workingType", working_type(*trigger_by)),
            OrderKind::TrailingStopMarket {
                callback_pct,
                activation,
                trigger_by,
            } => {
                if *callback_pct < Decimal::new(1, 1) || *callback_pct > Decimal::TEN {
                    return Err(invalid("a trailing stop's callback must be 0.1–10 %"));
                }
                let r = r
                    .param("type", "TRAILING_STOP_MARKET")
                    .param("callbackRate", callback_pct.normalize())
                    .param("workingType", working_type(*trigger_by));
                match activation {
                    Some(a) => r.param("activationPrice", a.normalize()),
                    None => r,
                }
            }
            _ => unreachable!("is_conditional"),
        };
        r = match quantity {
            Some(q) => {
                let r = r.param("quantity", q);
                if order.reduce_only {
                    r.param("reduceOnly", "true")
                } else {
                    r
                }
            }
            None if matches!(order.kind, OrderKind::TrailingStopMarket { .. }) => {
                return Err(invalid("a trailing stop needs a quantity"));
            }
            None => r.param("closePosition", "true"),
        };
        return Ok(r.param("clientAlgoId", id));
    }
    let Some(qty) = quantity else {
        return Err(invalid(
            "only stop and take-profit orders can close the whole position",
        ));
    };
    let mut r = Request::new(Method::Post, "/fapi/v1/order", 0)
        .signed()
        .param("symbol", &order.symbol)
        .param("side", side);
    r.cost.order = true;
    r = match &order.kind {
        OrderKind::Market => r.param("type", "MARKET").param("quantity", qty),
        OrderKind::Limit { price, tif: t } => r
            .param("type", "LIMIT")
            .param("quantity", qty)
            .param("price", price.normalize())
            .param("timeInForce", tif(*t)),
        _ => unreachable!("conditional orders returned above"),
    };
    if order.reduce_only {
        r = r.param("reduceOnly", "true");
    }
    Ok(r.param("newClientOrderId", id)
        .param("newOrderRespType", "RESULT"))
}

/// Looks an order up by our client id (on the algo service for
/// conditional orders).
pub fn query_order(symbol: &str, client_id: &ClientOrderId, conditional: bool) -> Request {
    if conditional {
        Request::new(Method::Get, "/fapi/v1/algoOrder", 1)
            .signed()
            .param("clientAlgoId", client_id.as_str())
    } else {
        Request::new(Method::Get, "/fapi/v1/order", 1)
            .signed()
            .param("symbol", symbol)
            .param("origClientOrderId", client_id.as_str())
    }
}

/// The open orders of `symbol`: plain ones (`/fapi/v1/openOrders`), or
/// conditional ones resting on the algo service (`/fapi/v1/openAlgoOrders`).
pub fn open_orders(symbol: &str, conditional: bool) -> Request {
    let path = if conditional {
        "/fapi/v1/openAlgoOrders"
    } else {
        "/fapi/v1/openOrders"
    };
    Request::new(Method::Get, path, 1)
        .signed()
        .param("symbol", symbol)
}

/// Cancels an order by our client id.
pub fn cancel_order(symbol: &str, client_id: &ClientOrderId, conditional: bool) -> Request {
    let mut r = if conditional {
        Request::new(Method::Delete, "/fapi/v1/algoOrder", 1)
            .signed()
            .param("clientAlgoId", client_id.as_str())
    } else {
        Request::new(Method::Delete, "/fapi/v1/order", 1)
            .signed()
            .param("symbol", symbol)
            .param("origClientOrderId", client_id.as_str())
    };
    r.cost.order = true;
    r
}

/// Starts (POST), keeps alive (PUT) or closes (DELETE) the user data stream.
pub fn listen_key(method: Method) -> Request {
    let mut r = Request::new(method, "/fapi/v1/listenKey", 1);
    r.keyed = true;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ClientOrderId, Leg, Side};
    use rust_decimal_macros::dec;

    fn rules() -> InstrumentRules {
        InstrumentRules {
            symbol: "BTCUSDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.10),
            min_price: dec!(556.80),
            max_price: dec!(4529764),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: dec!(1000),
            market_step_size: dec!(0.001),
            market_min_qty: dec!(0.001),
            market_max_qty: dec!(120),
            min_notional: dec!(100),
            contract_value: dec!(1),
            max_leverage: Some(125),
        }
    }

    fn order(kind: OrderKind, size: OrderSize, reduce_only: bool, leg: Leg) -> OrderRequest {
        OrderRequest {
            client_id: ClientOrderId::derive(7, 42, leg),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            kind,
            size,
            reduce_only,
            attach: None,
        }
    }

    #[test]
    fn market_entry_goes_to_the_order_endpoint_rounded_down() {
        let o = order(
            OrderKind::Market,
            OrderSize::Base(dec!(0.0239)),
            false,
            Leg::Entry,
        );
        let r = new_order(&o, &rules(), dec!(43000)).unwrap();
        assert_eq!((r.method, r.path), (Method::Post, "/fapi/v1/order"));
        assert!(r.signed && r.mutation && r.cost.order);
        let signer = BinanceSigner::new("k", b"s");
        let q = r.query(Some(&signer), 1_700_000_000_000);
        assert!(
            q.starts_with(
                "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.023&newClientOrderId=tb01716e\
             &newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000000000&signature="
            ),
            "{q}"
        );
        let (payload, sig) = q.rsplit_once("&signature=").unwrap();
        assert!(signer.verify(payload, sig));
    }

    #[test]
    fn protective_orders_go_to_the_algo_endpoint() {
        let sl = order(
            OrderKind::StopMarket {
                trigger: dec!(42123.5),
                trigger_by: TriggerPrice::Mark,
            },
            OrderSize::ClosePosition,
            true,
            Leg::StopLoss,
        );
        let r = new_order(&sl, &rules(), dec!(43000)).unwrap();
        let mut off_tick = sl.clone();
        off_tick.kind = OrderKind::StopMarket {
            trigger: dec!(42123.45),
            trigger_by: TriggerPrice::Mark,
        };
        assert!(matches!(
            new_order(&off_tick, &rules(), dec!(43000)),
            Err(ExchangeError::BadPrecision { .. })
        ));
        assert_eq!(r.path, "/fapi/v1/algoOrder");
        assert_eq!(
            r.params,
            [
                ("algoType", "CONDITIONAL".to_string()),
                ("symbol", "BTCUSDT".into()),
                ("side", "BUY".into()),
                ("type", "STOP_MARKET".into()),
                ("triggerPrice", "42123.5".into()),
                ("workingType", "MARK_PRICE".into()),
                ("closePosition", "true".into()),
                ("clientAlgoId", "tb01716s".into()),
            ]
        );
        let tp = order(
            OrderKind::TakeProfitMarket {
                trigger: dec!(45000),
                trigger_by: TriggerPrice::Last,
            },
            OrderSize::Base(dec!(0.01)),
            true,
            Leg::TakeProfit,
        );
        let r = new_order(&tp, &rules(), dec!(43000)).unwrap();
        assert!(r.params.contains(&("type", "TAKE_PROFIT_MARKET".into())));
        assert!(r.params.contains(&("quantity", "0.01".into())));
        assert!(r.params.contains(&("reduceOnly", "true".into())));
        assert!(r.params.contains(&("workingType", "CONTRACT_PRICE".into())));
    }

    #[test]
    fn refuses_before_sending_what_the_venue_would_refuse() {
        let small = order(
            OrderKind::Market,
            OrderSize::Base(dec!(0.002)),
            false,
            Leg::Entry,
        );
        assert!(matches!(
            new_order(&small, &rules(), dec!(43000)),
            Err(ExchangeError::BelowMinimum { .. })
        ));
        // A reduce-only close below the notional minimum is allowed.
        let close = order(
            OrderKind::Market,
            OrderSize::Base(dec!(0.002)),
            true,
            Leg::Close,
        );
        assert!(new_order(&close, &rules(), dec!(43000)).is_ok());
        let all = order(
            OrderKind::Market,
            OrderSize::ClosePosition,
            true,
            Leg::Close,
        );
        assert!(matches!(
            new_order(&all, &rules(), dec!(43000)),
            Err(ExchangeError::InvalidRequest(_))
        ));
    }

    #[test]
    fn queries_and_cancels_by_client_id() {
        let id = ClientOrderId::derive(7, 42, Leg::StopLoss);
        let q = query_order("BTCUSDT", &id, true);
        assert_eq!((q.method, q.path), (Method::Get, "/fapi/v1/algoOrder"));
        assert!(!q.mutation);
        assert_eq!(q.params, [("clientAlgoId", "tb01716s".to_string())]);
        let c = cancel_order("BTCUSDT", &id, false);
        assert_eq!((c.method, c.path), (Method::Delete, "/fapi/v1/order"));
        assert_eq!(c.params[1], ("origClientOrderId", "tb01716s".to_string()));
        assert!(c.mutation);
    }

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(encode("0.001"), "0.001");
    }
}
