//! Websocket messages: the user data stream's events (fills, algo-order
//! changes, balances and positions) and the websocket API (`ws-fapi`), where
//! orders are placed over one authenticated session instead of a new HTTPS
//! request each — its parameters are signed sorted by name.

use super::RECV_WINDOW_MS;
use super::model::{algo_status, order_status};
use super::rest::{Request, encode};
use super::sign::BinanceSigner;
use crate::exchange::{
    Balance, ExchangeError, MarginMode, OrderReport, PositionReport, PositionSide, Side,
};
use rust_decimal::Decimal;
use serde::Deserialize;

/// One event of the user data stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// An order of the matching engine changed (new, fill, cancel, …).
    Order {
        report: OrderReport,
        /// Quantity and price of the fill this event reports, if any.
        last_fill: Option<(Decimal, Decimal)>,
        /// PnL realized by this fill.
        realized_pnl: Decimal,
        reduce_only: bool,
    },
    /// A conditional (algo) order changed.
    Algo {
        report: OrderReport,
        reason: Option<String>,
    },
    /// Balances and positions after a change; positions listed are complete
    /// for their symbol (a zero amount means flat).
    Account {
        balances: Vec<Balance>,
        positions: Vec<(String, Option<PositionReport>)>,
    },
    /// The listen key expired: the stream must be started again.
    ListenKeyExpired,
    /// An event this client does not use.
    Other(String),
}

#[derive(Deserialize)]
struct Envelope {
    e: String,
}

#[derive(Deserialize)]
struct OrderEvent {
    #[serde(rename = "T")]
    time: i64,
    o: OrderData,
}

#[derive(Deserialize)]
struct OrderData {
    s: String,
    c: String,
    #[serde(rename = "S")]
    side: String,
    q: Decimal,
    ap: Decimal,
    #[serde(rename = "X")]
    status: String,
    i: i64,
    l: Decimal,
    z: Decimal,
    #[serde(rename = "L")]
    last_price: Decimal,
    #[serde(rename = "N", default)]
    fee_asset: Option<String>,
    #[serde(default)]
    n: Option<Decimal>,
    #[serde(rename = "R", default)]
    reduce_only: bool,
    #[serde(default)]
    rp: Decimal,
}

#[derive(Deserialize)]
struct AlgoEvent {
    #[serde(rename = "T")]
    time: i64,
    o: AlgoData,
}

#[derive(Deserialize)]
struct AlgoData {
    caid: String,
    aid: i64,
    s: String,
    #[serde(rename = "S")]
    side: String,
    #[serde(default)]
    q: Option<Decimal>,
    #[serde(rename = "X")]
    status: String,
    #[serde(default)]
    ai: Option<String>,
    #[serde(default)]
    ap: Option<Decimal>,
    #[serde(default)]
    aq: Option<Decimal>,
    #[serde(default)]
    rm: Option<String>,
}

#[derive(Deserialize)]
struct AccountEvent {
    a: AccountData,
}

#[derive(Deserialize)]
struct AccountData {
    #[serde(rename = "B", default)]
    balances: Vec<BalanceData>,
    #[serde(rename = "P", default)]
    positions: Vec<PositionData>,
}

#[derive(Deserialize)]
struct BalanceData {
    a: String,
    wb: Decimal,
    cw: Decimal,
}

#[derive(Deserialize)]
struct PositionData {
    s: String,
    pa: Decimal,
    ep: Decimal,
    up: Decimal,
    #[serde(default)]
    mt: Option<String>,
}

fn side(s: &str) -> Result<Side, ExchangeError> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(ExchangeError::Malformed(format!("unknown side {other}"))),
    }
}

fn malformed(e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Malformed(e.to_string())
}

/// Parses one text frame of the user data stream.
pub fn parse_user_event(text: &str) -> Result<UserEvent, ExchangeError> {
    let env: Envelope = serde_json::from_str(text).map_err(malformed)?;
    match env.e.as_str() {
        "ORDER_TRADE_UPDATE" => {
            let ev: OrderEvent = serde_json::from_str(text).map_err(malformed)?;
            let o = ev.o;
            let fill = (o.l > Decimal::ZERO).then_some((o.l, o.last_price));
            Ok(UserEvent::Order {
                report: OrderReport {
                    client_id: o.c,
                    venue_order_id: o.i.to_string(),
                    symbol: o.s,
                    side: side(&o.side)?,
                    status: order_status(&o.status)?,
                    quantity: o.q,
                    filled: o.z,
                    avg_price: (o.ap > Decimal::ZERO).then_some(o.ap),
                    fee: o.n,
                    fee_asset: o.fee_asset,
                    triggered_order_id: None,
                    updated_ms: ev.time,
                },
                last_fill: fill,
                realized_pnl: o.rp,
                reduce_only: o.reduce_only,
            })
        }
        "ALGO_UPDATE" => {
            let ev: AlgoEvent = serde_json::from_str(text).map_err(malformed)?;
            let o = ev.o;
            let filled = o.aq.unwrap_or_default();
            Ok(UserEvent::Algo {
                report: OrderReport {
                    client_id: o.caid,
                    venue_order_id: o.aid.to_string(),
                    symbol: o.s,
                    side: side(&o.side)?,
                    status: algo_status(&o.status, filled)?,
                    quantity: o.q.unwrap_or_default(),
                    filled,
                    avg_price: o.ap.filter(|p| *p > Decimal::ZERO),
                    fee: None,
                    fee_asset: None,
                    triggered_order_id: o.ai.filter(|s| !s.is_empty()),
                    updated_ms: ev.time,
                },
                reason: o.rm.filter(|s| !s.is_empty()),
            })
        }
        "ACCOUNT_UPDATE" => {
            let ev: AccountEvent = serde_json::from_str(text).map_err(malformed)?;
            Ok(UserEvent::Account {
                balances: ev
                    .a
                    .balances
                    .into_iter()
                    .map(|b| Balance {
                        asset: b.a,
                        wallet: b.wb,
                        available: b.cw,
                        unrealized_pnl: Decimal::ZERO,
                    })
                    .collect(),
                positions: ev
                    .a
                    .positions
                    .into_iter()
                    .map(|p| {
                        let report = (!p.pa.is_zero()).then(|| PositionReport {
                            symbol: p.s.clone(),
                            side: if p.pa > Decimal::ZERO {
                                PositionSide::Long
                            } else {
                                PositionSide::Short
                            },
                            quantity: p.pa.abs(),
                            entry_price: p.ep,
                            mark_price: None,
                            unrealized_pnl: p.up,
                            leverage: None,
                            margin_mode: p.mt.as_deref().map(|m| {
                                if m == "isolated" {
                                    MarginMode::Isolated
                                } else {
                                    MarginMode::Cross
                                }
                            }),
                            liquidation_price: None,
                        });
                        (p.s, report)
                    })
                    .collect(),
            })
        }
        "listenKeyExpired" => Ok(UserEvent::ListenKeyExpired),
        other => Ok(UserEvent::Other(other.to_owned())),
    }
}

/// The websocket-API method for a REST order request.
fn ws_method(req: &Request) -> Option<&'static str> {
    use super::rest::Method;
    Some(match (req.method, req.path) {
        (Method::Post, "/fapi/v1/order") => "order.place",
        (Method::Get, "/fapi/v1/order") => "order.status",
        (Method::Delete, "/fapi/v1/order") => "order.cancel",
        (Method::Post, "/fapi/v1/algoOrder") => "algoOrder.place",
        (Method::Delete, "/fapi/v1/algoOrder") => "algoOrder.cancel",
        _ => return None,
    })
}

/// A signed websocket-API request for the same operation as `req`: its
/// parameters plus `apiKey`, `recvWindow` and `timestamp`, signed as the
/// query string of all of them sorted by name.
pub fn ws_request(
    req: &Request,
    id: &str,
    signer: &BinanceSigner,
    timestamp_ms: i64,
) -> Option<serde_json::Value> {
    let method = ws_method(req)?;
    let mut params: Vec<(String, String)> = req
        .params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    params.push(("apiKey".into(), signer.api_key().to_owned()));
    params.push(("recvWindow".into(), RECV_WINDOW_MS.to_string()));
    params.push(("timestamp".into(), timestamp_ms.to_string()));
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let payload = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut object = serde_json::Map::new();
    for (k, v) in params {
        object.insert(k, serde_json::Value::String(v));
    }
    object.insert("signature".into(), signer.sign(&payload).into());
    Some(serde_json::json!({ "id": id, "method": method, "params": object }))
}

/// The answer to a websocket-API request.
#[derive(Debug, Clone, Deserialize)]
pub struct WsResponse {
    pub id: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<super::errors::ErrorBody>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::OrderStatus;
    use rust_decimal_macros::dec;

    /// The "Event: Order Update" example of the user data stream docs.
    #[test]
    fn parses_order_trade_update() {
        let text = r#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,
          "o":{"s":"BTCUSDT","c":"tb7x16e","S":"BUY","o":"MARKET","f":"GTC","q":"0.023","p":"0","ap":"43000.1",
          "sp":"0","x":"TRADE","X":"FILLED","i":8886774,"l":"0.023","z":"0.023","L":"43000.1","N":"USDT",
          "n":"0.39460","T":1568879465650,"t":12,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE",
          "ot":"MARKET","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}"#;
        let UserEvent::Order {
            report, last_fill, ..
        } = parse_user_event(text).unwrap()
        else {
            panic!("not an order event")
        };
        assert_eq!(report.status, OrderStatus::Filled);
        assert_eq!(report.fee, Some(dec!(0.39460)));
        assert_eq!(last_fill, Some((dec!(0.023), dec!(43000.1))));
    }

    /// The "Event: Algo Order Update" example.
    #[test]
    fn parses_algo_update() {
        let text = r#"{"e":"ALGO_UPDATE","T":1750515742297,"E":1750515742303,
          "o":{"caid":"tb7x16s","aid":2148719,"at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL",
          "ps":"BOTH","f":"GTC","q":"0","X":"TRIGGERED","ai":"8886800","ap":"0.00000","aq":"0.00000","act":"0",
          "tp":"42123.5","p":"0","V":"EXPIRE_MAKER","wt":"MARK_PRICE","pm":"NONE","cp":true,"pP":false,"R":false,"tt":0,"gtd":0}}"#;
        let UserEvent::Algo { report, .. } = parse_user_event(text).unwrap() else {
            panic!()
        };
        assert_eq!(report.status, OrderStatus::Triggered);
        assert_eq!(report.triggered_order_id.as_deref(), Some("8886800"));
    }

    /// The "Event: Balance and Position Update" example.
    #[test]
    fn parses_account_update() {
        let text = r#"{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"ORDER",
          "B":[{"a":"USDT","wb":"122624.12345678","cw":"100.12345678","bc":"50.12345678"}],
          "P":[{"s":"BTCUSDT","pa":"0","ep":"0.00000","bep":"0","cr":"200","up":"0","mt":"isolated","iw":"0.00000000","ps":"BOTH"},
               {"s":"ETHUSDT","pa":"-2.5","ep":"3000.0","bep":"3001","cr":"0","up":"-12.5","mt":"cross","iw":"0","ps":"BOTH"}]}}"#;
        let UserEvent::Account {
            balances,
            positions,
        } = parse_user_event(text).unwrap()
        else {
            panic!()
        };
        assert_eq!(balances[0].wallet, dec!(122624.12345678));
        assert_eq!(positions[0], ("BTCUSDT".to_string(), None));
        let eth = positions[1].1.as_ref().unwrap();
        assert_eq!((eth.side, eth.quantity), (PositionSide::Short, dec!(2.5)));
        assert_eq!(
            parse_user_event(r#"{"e":"listenKeyExpired","E":1,"listenKey":"x"}"#).unwrap(),
            UserEvent::ListenKeyExpired
        );
    }

    #[test]
    fn signs_websocket_requests_over_sorted_parameters() {
        use crate::exchange::instrument::InstrumentRules;
        use crate::exchange::{ClientOrderId, Leg, OrderKind, OrderRequest, OrderSize};
        let rules = InstrumentRules {
            symbol: "BTCUSDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.1),
            min_price: dec!(0),
            max_price: dec!(0),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: dec!(1000),
            market_step_size: dec!(0.001),
            market_min_qty: dec!(0.001),
            market_max_qty: dec!(120),
            min_notional: dec!(100),
            contract_value: dec!(1),
            max_leverage: None,
        };
        let order = OrderRequest {
            client_id: ClientOrderId::derive(1, 2, Leg::Entry),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            size: OrderSize::Base(dec!(0.01)),
            reduce_only: false,
            attach: None,
        };
        let req = super::super::rest::new_order(&order, &rules, dec!(43000)).unwrap();
        let signer = BinanceSigner::new("api-key", b"secret");
        let msg = ws_request(&req, "req-1", &signer, 1_700_000_000_000).unwrap();
        assert_eq!(msg["method"], "order.place");
        let params = msg["params"].as_object().unwrap();
        let payload = "apiKey=api-key&newClientOrderId=tb0112e&newOrderRespType=RESULT&quantity=0.01\
                       &recvWindow=5000&side=BUY&symbol=BTCUSDT&timestamp=1700000000000&type=MARKET";
        assert!(signer.verify(payload, params["signature"].as_str().unwrap()));
    }
}
