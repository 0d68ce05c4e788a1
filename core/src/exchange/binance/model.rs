//! Binance responses, and their translation into our vocabulary. Decimal
//! fields arrive as JSON strings and are parsed exactly.

use crate::exchange::instrument::InstrumentRules;
use crate::exchange::{
    Balance, ExchangeError, KeyPermissions, MarginMode, OrderReport, OrderStatus, PositionReport,
    PositionSide, Side,
};
use rust_decimal::Decimal;
use serde::Deserialize;

fn malformed(e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Malformed(e.to_string())
}

/// Parses a JSON body into `T`.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ExchangeError> {
    serde_json::from_slice(body).map_err(malformed)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub server_time: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "filterType")]
pub enum Filter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MIN_NOTIONAL")]
    MinNotional { notional: Decimal },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    pub status: String,
    #[serde(default)]
    pub contract_type: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<SymbolInfo>,
}

impl SymbolInfo {
    /// The instrument rules its filters describe.
    pub fn rules(&self) -> Result<InstrumentRules, ExchangeError> {
        let mut r = InstrumentRules {
            symbol: self.symbol.clone(),
            base_asset: self.base_asset.clone(),
            quote_asset: self.quote_asset.clone(),
            tick_size: Decimal::ZERO,
            min_price: Decimal::ZERO,
            max_price: Decimal::ZERO,
            step_size: Decimal::ZERO,
            min_qty: Decimal::ZERO,
            max_qty: Decimal::ZERO,
            market_step_size: Decimal::ZERO,
            market_min_qty: Decimal::ZERO,
            market_max_qty: Decimal::ZERO,
            min_notional: Decimal::ZERO,
            contract_value: Decimal::ONE,
            max_leverage: None,
        };
        for f in &self.filters {
            match f {
                Filter::Price {
                    min_price,
                    max_price,
                    tick_size,
                } => {
                    r.tick_size = tick_size.normalize();
                    r.min_price = *min_price;
                    r.max_price = *max_price;
                }
                Filter::LotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => {
                    r.step_size = step_size.normalize();
                    r.min_qty = *min_qty;
                    r.max_qty = *max_qty;
                }
                Filter::MarketLotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => {
                    r.market_step_size = step_size.normalize();
                    r.market_min_qty = *min_qty;
                    r.market_max_qty = *max_qty;
                }
                Filter::MinNotional { notional } => r.min_notional = *notional,
                Filter::Other => {}
            }
        }
        if r.tick_size <= Decimal::ZERO || r.step_size <= Decimal::ZERO {
            return Err(malformed(format!(
                "{} has no PRICE_FILTER or LOT_SIZE",
                self.symbol
            )));
        }
        Ok(r)
    }
}

impl ExchangeInfo {
    /// Rules of every perpetual that is trading.
    pub fn trading_rules(&self) -> Vec<InstrumentRules> {
        self.symbols
            .iter()
            .filter(|s| {
                s.status == "TRADING"
                    && (s.contract_type.is_empty() || s.contract_type == "PERPETUAL")
            })
            .filter_map(|s| s.rules().ok())
            .collect()
    }
}

fn side(s: &str) -> Result<Side, ExchangeError> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(malformed(format!("unknown side {other}"))),
    }
}

/// Maps an order status of the matching engine.
pub fn order_status(s: &str) -> Result<OrderStatus, ExchangeError> {
    Ok(match s {
        "NEW" => OrderStatus::New,
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" => OrderStatus::Canceled,
        "REJECTED" => OrderStatus::Rejected,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
        other => return Err(malformed(format!("unknown order status {other}"))),
    })
}

/// Maps an algo-service status. `FINISHED` means the triggered order is done
/// in the matching engine: filled if anything executed, else cancelled.
pub fn algo_status(s: &str, executed: Decimal) -> Result<OrderStatus, ExchangeError> {
    Ok(match s {
        "NEW" => OrderStatus::New,
        "TRIGGERING" | "TRIGGERED" => OrderStatus::Triggered,
        "FINISHED" if executed > Decimal::ZERO => OrderStatus::Filled,
        "FINISHED" | "CANCELED" => OrderStatus::Canceled,
        "REJECTED" => OrderStatus::Rejected,
        "EXPIRED" => OrderStatus::Expired,
        other => return Err(malformed(format!("unknown algo status {other}"))),
    })
}

/// `/fapi/v1/order` (place, query, cancel).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: i64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub status: String,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    #[serde(default)]
    pub avg_price: Option<Decimal>,
    #[serde(default)]
    pub update_time: i64,
}

impl Order {
    pub fn report(&self) -> Result<OrderReport, ExchangeError> {
        Ok(OrderReport {
            client_id: self.client_order_id.clone(),
            venue_order_id: self.order_id.to_string(),
            symbol: self.symbol.clone(),
            side: side(&self.side)?,
            status: order_status(&self.status)?,
            quantity: self.orig_qty,
            filled: self.executed_qty,
            avg_price: self.avg_price.filter(|p| *p > Decimal::ZERO),
            fee: None,
            fee_asset: None,
            triggered_order_id: None,
            updated_ms: self.update_time,
        })
    }
}

/// `/fapi/v1/algoOrder` (place, query).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlgoOrder {
    pub algo_id: i64,
    pub client_algo_id: String,
    pub symbol: String,
    pub side: String,
    pub algo_status: String,
    #[serde(default)]
    pub quantity: Option<Decimal>,
    #[serde(default)]
    pub executed_qty: Option<Decimal>,
    #[serde(default)]
    pub avg_price: Option<Decimal>,
    #[serde(default, deserialize_with = "id_as_string")]
    pub actual_order_id: Option<String>,
    #[serde(default)]
    pub update_time: i64,
}

/// Order ids arrive as numbers or strings (or empty strings).
fn id_as_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

impl AlgoOrder {
    pub fn report(&self) -> Result<OrderReport, ExchangeError> {
        let filled = self.executed_qty.unwrap_or_default();
        Ok(OrderReport {
            client_id: self.client_algo_id.clone(),
            venue_order_id: self.algo_id.to_string(),
            symbol: self.symbol.clone(),
            side: side(&self.side)?,
            status: algo_status(&self.algo_status, filled)?,
            quantity: self.quantity.unwrap_or_default(),
            filled,
            avg_price: self.avg_price.filter(|p| *p > Decimal::ZERO),
            fee: None,
            fee_asset: None,
            triggered_order_id: self.actual_order_id.clone(),
            updated_ms: self.update_time,
        })
    }
}

/// One asset of `/fapi/v2/account`. Its `unrealizedProfit` counts every
/// position of the asset; `/fapi/v3/balance`'s `crossUnPnl` only the cross
/// ones, which would leave isolated positions out of the equity.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountAsset {
    pub asset: String,
    pub wallet_balance: Decimal,
    #[serde(default)]
    pub unrealized_profit: Decimal,
    pub available_balance: Decimal,
}

impl AccountAsset {
    pub fn balance(&self) -> Balance {
        Balance {
            asset: self.asset.clone(),
            wallet: self.wallet_balance,
            available: self.available_balance,
            unrealized_pnl: self.unrealized_profit,
        }
    }
}

/// The parts of `/fapi/v2/account` we use.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub can_trade: bool,
    #[serde(default)]
    pub can_withdraw: Option<bool>,
    #[serde(default)]
    pub assets: Vec<AccountAsset>,
}

impl Account {
    pub fn permissions(&self) -> KeyPermissions {
        KeyPermissions {
            can_trade: self.can_trade,
            can_withdraw: self.can_withdraw,
            // The futures API does not say; Binance tells it on the spot
            // API (`apiRestrictions`), which a futures key may not reach.
            ip_restricted: None,
            account_id: None,
        }
    }
}

/// `/fapi/v2/positionRisk` entry (one-way mode: `positionAmt` is signed).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionRisk {
    pub symbol: String,
    pub position_amt: Decimal,
    pub entry_price: Decimal,
    #[serde(default)]
    pub mark_price: Option<Decimal>,
    pub un_realized_profit: Decimal,
    #[serde(default)]
    pub liquidation_price: Option<Decimal>,
    #[serde(default)]
    pub leverage: Option<String>,
    #[serde(default)]
    pub margin_type: Option<String>,
}

impl PositionRisk {
    /// The open position, or `None` when flat.
    pub fn report(&self) -> Option<PositionReport> {
        if self.position_amt.is_zero() {
            return None;
        }
        Some(PositionReport {
            symbol: self.symbol.clone(),
            side: if self.position_amt > Decimal::ZERO {
                PositionSide::Long
            } else {
                PositionSide::Short
            },
            quantity: self.position_amt.abs(),
            entry_price: self.entry_price,
            mark_price: self.mark_price,
            unrealized_pnl: self.un_realized_profit,
            leverage: self.leverage.as_deref().and_then(|l| l.parse().ok()),
            margin_mode: self.margin_type.as_deref().map(|m| {
                if m.eq_ignore_ascii_case("isolated") {
                    MarginMode::Isolated
                } else {
                    MarginMode::Cross
                }
            }),
            liquidation_price: self.liquidation_price.filter(|p| *p > Decimal::ZERO),
        })
    }
}

/// A decimal sent as a JSON number or string, parsed from its text (never
/// through a float).
pub fn any_decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    let text = match &v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => return Err(D::Error::custom(format!("expected a decimal, got {other}"))),
    };
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(D::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bracket {
    pub initial_leverage: u32,
    #[serde(deserialize_with = "any_decimal")]
    pub notional_cap: Decimal,
    #[serde(deserialize_with = "any_decimal")]
    pub notional_floor: Decimal,
    #[serde(deserialize_with = "any_decimal")]
    pub maint_margin_ratio: Decimal,
    #[serde(deserialize_with = "any_decimal")]
    pub cum: Decimal,
}

impl Bracket {
    pub fn tier(&self) -> crate::simulator::Tier {
        crate::simulator::Tier {
            cap: self.notional_cap,
            rate: self.maint_margin_ratio,
            max_leverage: self.initial_leverage,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SymbolBrackets {
    pub symbol: String,
    pub brackets: Vec<Bracket>,
}

/// `/fapi/v1/leverageBracket`: a list, or one object when a symbol is given.
pub fn parse_brackets(body: &[u8]) -> Result<Vec<SymbolBrackets>, ExchangeError> {
    let v: serde_json::Value = parse(body)?;
    if v.is_array() {
        serde_json::from_value(v).map_err(malformed)
    } else {
        Ok(vec![serde_json::from_value(v).map_err(malformed)?])
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenKey {
    pub listen_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PremiumIndex {
    pub symbol: String,
    pub mark_price: Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// Shapes from the "Exchange Information", "New Order", "New Algo
    /// Order", "Futures Account Balance V3" and "Position Information V2"
    /// response examples.
    #[test]
    fn parses_exchange_info_into_rules() {
        let body = br#"{"timezone":"UTC","serverTime":1565246363776,
          "rateLimits":[{"interval":"MINUTE","intervalNum":1,"limit":2400,"rateLimitType":"REQUEST_WEIGHT"},
                        {"interval":"MINUTE","intervalNum":1,"limit":1200,"rateLimitType":"ORDERS"}],
          "symbols":[{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING",
            "baseAsset":"BTC","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,
            "filters":[{"filterType":"PRICE_FILTER","maxPrice":"4529764","minPrice":"556.80","tickSize":"0.10"},
                       {"filterType":"LOT_SIZE","maxQty":"1000","minQty":"0.001","stepSize":"0.001"},
                       {"filterType":"MARKET_LOT_SIZE","maxQty":"120","minQty":"0.001","stepSize":"0.001"},
                       {"filterType":"MAX_NUM_ORDERS","limit":200},
                       {"filterType":"MIN_NOTIONAL","notional":"100"},
                       {"filterType":"PERCENT_PRICE","multiplierUp":"1.0500","multiplierDown":"0.9500","multiplierDecimal":4}]},
            {"symbol":"BTCUSDT_250627","contractType":"CURRENT_QUARTER","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
             "filters":[{"filterType":"PRICE_FILTER","maxPrice":"1","minPrice":"1","tickSize":"0.1"},{"filterType":"LOT_SIZE","maxQty":"1","minQty":"0.001","stepSize":"0.001"}]}]}"#;
        let info: ExchangeInfo = parse(body).unwrap();
        assert_eq!(info.rate_limits[0].limit, 2400);
        let rules = info.trading_rules();
        assert_eq!(rules.len(), 1, "quarterlies are not traded");
        let r = &rules[0];
        assert_eq!(
            (r.tick_size, r.step_size, r.min_notional),
            (dec!(0.1), dec!(0.001), dec!(100))
        );
        assert_eq!((r.market_max_qty, r.max_qty), (dec!(120), dec!(1000)));
    }

    #[test]
    fn parses_orders_and_algo_orders() {
        let o: Order = parse(br#"{"clientOrderId":"tb7x16e","cumQty":"0.023","cumQuote":"989.0","executedQty":"0.023",
            "orderId":22542179,"avgPrice":"43000.10","origQty":"0.023","price":"0","reduceOnly":false,"side":"BUY",
            "positionSide":"BOTH","status":"FILLED","stopPrice":"0","closePosition":false,"symbol":"BTCUSDT",
            "timeInForce":"GTC","type":"MARKET","origType":"MARKET","updateTime":1566818724722,
            "workingType":"CONTRACT_PRICE","priceProtect":false}"#).unwrap();
        let r = o.report().unwrap();
        assert_eq!(
            (r.status, r.filled, r.avg_price),
            (OrderStatus::Filled, dec!(0.023), Some(dec!(43000.10)))
        );
        assert_eq!(r.venue_order_id, "22542179");

        let a: AlgoOrder = parse(br#"{"algoId":2146760,"clientAlgoId":"tb7x16s","algoType":"CONDITIONAL",
            "orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","timeInForce":"GTC",
            "quantity":"0","algoStatus":"NEW","triggerPrice":"42123.5","price":"0","icebergQuantity":null,
            "selfTradePreventionMode":"EXPIRE_MAKER","workingType":"MARK_PRICE","priceMatch":"NONE",
            "closePosition":true,"priceProtect":false,"reduceOnly":false,"activatePrice":"","callbackRate":"",
            "createTime":1750485492076,"updateTime":1750485492076,"triggerTime":0,"goodTillDate":0}"#).unwrap();
        let r = a.report().unwrap();
        assert_eq!(
            (r.status, r.client_id.as_str()),
            (OrderStatus::New, "tb7x16s")
        );
        assert_eq!(
            algo_status("FINISHED", dec!(0.023)).unwrap(),
            OrderStatus::Filled
        );
        assert_eq!(
            algo_status("FINISHED", dec!(0)).unwrap(),
            OrderStatus::Canceled
        );
        assert_eq!(
            algo_status("TRIGGERED", dec!(0)).unwrap(),
            OrderStatus::Triggered
        );
    }

    #[test]
    fn parses_balances_and_positions() {
        // The documented single-asset-mode example, with an isolated
        // position's profit in `unrealizedProfit` but not in `crossUnPnl`.
        let a: Account = parse(br#"{"feeTier":0,"canTrade":true,"canDeposit":true,"canWithdraw":true,
            "updateTime":0,"totalWalletBalance":"103.12345678","totalUnrealizedProfit":"1.50000000",
            "assets":[{"asset":"USDT","walletBalance":"23.72469206","unrealizedProfit":"1.50000000",
            "marginBalance":"25.22469206","maintMargin":"0.00000000","initialMargin":"0.00000000",
            "positionInitialMargin":"0.00000000","openOrderInitialMargin":"0.00000000",
            "crossWalletBalance":"23.72469206","crossUnPnl":"0.00000000","availableBalance":"23.72469206",
            "maxWithdrawAmount":"23.72469206","marginAvailable":true,"updateTime":1625474304765}],
            "positions":[]}"#).unwrap();
        let b = a.assets[0].balance();
        assert_eq!(
            (b.wallet, b.available, b.unrealized_pnl),
            (dec!(23.72469206), dec!(23.72469206), dec!(1.5))
        );
        let p: Vec<PositionRisk> = parse(br#"[{"entryPrice":"43000.1","breakEvenPrice":"0.0","marginType":"isolated",
            "isAutoAddMargin":"false","isolatedMargin":"330.0","leverage":"3","liquidationPrice":"28900.5",
            "markPrice":"43100.0","maxNotionalValue":"20000000","positionAmt":"-0.023","notional":"-991.3",
            "isolatedWallet":"330","symbol":"BTCUSDT","unRealizedProfit":"-2.29770","positionSide":"BOTH","updateTime":0},
            {"entryPrice":"0.0","marginType":"cross","leverage":"20","liquidationPrice":"0","markPrice":"3000",
            "positionAmt":"0.000","symbol":"ETHUSDT","unRealizedProfit":"0.0","positionSide":"BOTH","updateTime":0}]"#).unwrap();
        let r = p[0].report().unwrap();
        assert_eq!(
            (r.side, r.quantity, r.leverage),
            (PositionSide::Short, dec!(0.023), Some(3))
        );
        assert_eq!(r.margin_mode, Some(MarginMode::Isolated));
        assert!(p[1].report().is_none());
    }

    #[test]
    fn parses_brackets_in_either_shape() {
        let one = br#"{"symbol":"BTCUSDT","notionalCoef":1.5,"brackets":[{"bracket":1,"initialLeverage":125,
            "notionalCap":50000,"notionalFloor":0,"maintMarginRatio":0.004,"cum":0.0}]}"#;
        assert_eq!(
            parse_brackets(one).unwrap()[0].brackets[0].initial_leverage,
            125
        );
        let many = br#"[{"symbol":"ETHUSDT","brackets":[{"bracket":1,"initialLeverage":75,"notionalCap":10000,
            "notionalFloor":0,"maintMarginRatio":0.0065,"cum":0}]}]"#;
        assert_eq!(parse_brackets(many).unwrap()[0].symbol, "ETHUSDT");
    }
}
