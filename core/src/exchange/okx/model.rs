//! OKX responses and their translation. Numbers arrive as strings; empty
//! strings mean "none".

use super::errors;
use crate::exchange::instrument::InstrumentRules;
use crate::exchange::{
    Balance, ExchangeError, KeyPermissions, MarginMode, OrderReport, OrderStatus, PositionReport,
    PositionSide, Side,
};
use crate::simulator::Tier;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;

fn malformed(e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Malformed(e.to_string())
}

/// `{"code": "0", "msg": "", "data": [...]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// Parses an answer; a non-zero code (or per-item `sCode`) is an error.
pub fn parse<T: for<'de> Deserialize<'de>>(
    http_status: u16,
    body: &[u8],
    mutation: bool,
) -> Result<Vec<T>, ExchangeError> {
    let raw: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Err(errors::map(http_status, None, "", mutation)),
    };
    let code = raw.get("code").and_then(|c| c.as_str()).unwrap_or("");
    if code != "0" {
        // Order endpoints: the reason is on the item.
        let item = raw.get("data").and_then(|d| d.get(0));
        let s_code = item
            .and_then(|i| i.get("sCode"))
            .and_then(|c| c.as_str())
            .filter(|c| *c != "0");
        let s_msg = item.and_then(|i| i.get("sMsg")).and_then(|c| c.as_str());
        let msg = raw.get("msg").and_then(|m| m.as_str()).unwrap_or("");
        return Err(match s_code {
            Some(sc) => errors::map(http_status, Some(sc), s_msg.unwrap_or(msg), mutation),
            None => errors::map(
                http_status,
                (!code.is_empty()).then_some(code),
                msg,
                mutation,
            ),
        });
    }
    let env: Envelope<T> = serde_json::from_value(raw).map_err(malformed)?;
    Ok(env.data)
}

/// Decimal from a string that may be empty.
fn dec(s: &str) -> Option<Decimal> {
    if s.is_empty() {
        None
    } else {
        Decimal::from_str(s)
            .or_else(|_| Decimal::from_scientific(s))
            .ok()
    }
}

fn req_dec(s: &str, what: &str) -> Result<Decimal, ExchangeError> {
    dec(s).ok_or_else(|| malformed(format!("{what} is not a number: {s:?}")))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instrument {
    pub inst_id: String,
    pub ct_val: String,
    #[serde(default)]
    pub ct_val_ccy: String,
    #[serde(default)]
    pub settle_ccy: String,
    pub lot_sz: String,
    pub min_sz: String,
    pub tick_sz: String,
    #[serde(default)]
    pub max_lmt_sz: String,
    #[serde(default)]
    pub max_mkt_sz: String,
    #[serde(default)]
    pub lever: String,
    pub state: String,
}

impl Instrument {
    pub fn rules(&self) -> Result<InstrumentRules, ExchangeError> {
        let step = req_dec(&self.lot_sz, "lotSz")?.normalize();
        let min = req_dec(&self.min_sz, "minSz")?;
        Ok(InstrumentRules {
            symbol: self.inst_id.clone(),
            base_asset: self.ct_val_ccy.clone(),
            quote_asset: self.settle_ccy.clone(),
            tick_size: req_dec(&self.tick_sz, "tickSz")?.normalize(),
            min_price: Decimal::ZERO,
            max_price: Decimal::ZERO,
            step_size: step,
            min_qty: min,
            max_qty: dec(&self.max_lmt_sz).unwrap_or_default(),
            market_step_size: step,
            market_min_qty: min,
            market_max_qty: dec(&self.max_mkt_sz).unwrap_or_default(),
            min_notional: Decimal::ZERO,
            contract_value: req_dec(&self.ct_val, "ctVal")?,
            max_leverage: self.lever.parse().ok(),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceDetail {
    pub ccy: String,
    #[serde(default)]
    pub cash_bal: String,
    #[serde(default)]
    pub avail_eq: String,
    #[serde(default)]
    pub avail_bal: String,
    #[serde(default)]
    pub upl: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountBalance {
    #[serde(default)]
    pub details: Vec<BalanceDetail>,
}

impl BalanceDetail {
    pub fn balance(&self) -> Balance {
        Balance {
            asset: self.ccy.clone(),
            wallet: dec(&self.cash_bal).unwrap_or_default(),
            available: dec(&self.avail_eq)
                .or_else(|| dec(&self.avail_bal))
                .unwrap_or_default(),
            unrealized_pnl: dec(&self.upl).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountConfig {
    #[serde(default)]
    pub uid: String,
    /// `read_only,trade,withdraw`.
    #[serde(default)]
    pub perm: String,
    /// Bound addresses, comma separated; empty when the key is unbound.
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub pos_mode: String,
}

impl AccountConfig {
    pub fn permissions(&self) -> KeyPermissions {
        let perms: Vec<&str> = self.perm.split(',').map(str::trim).collect();
        KeyPermissions {
            can_trade: perms.contains(&"trade"),
            can_withdraw: Some(perms.contains(&"withdraw")),
            ip_restricted: Some(!self.ip.trim().is_empty()),
            account_id: (!self.uid.is_empty()).then(|| self.uid.clone()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub inst_id: String,
    pub pos: String,
    #[serde(default)]
    pub pos_side: String,
    #[serde(default)]
    pub avg_px: String,
    #[serde(default)]
    pub mark_px: String,
    #[serde(default)]
    pub upl: String,
    #[serde(default)]
    pub lever: String,
    #[serde(default)]
    pub mgn_mode: String,
    #[serde(default)]
    pub liq_px: String,
}

impl Position {
    /// The position in base units (`rules` converts contracts), or `None`
    /// when flat.
    pub fn report(&self, rules: &InstrumentRules) -> Option<PositionReport> {
        let contracts = dec(&self.pos)?;
        if contracts.is_zero() {
            return None;
        }
        let side = match self.pos_side.as_str() {
            "long" => PositionSide::Long,
            "short" => PositionSide::Short,
            _ if contracts > Decimal::ZERO => PositionSide::Long,
            _ => PositionSide::Short,
        };
        Some(PositionReport {
            symbol: self.inst_id.clone(),
            side,
            quantity: rules.base_qty(contracts.abs()),
            entry_price: dec(&self.avg_px).unwrap_or_default(),
            mark_price: dec(&self.mark_px),
            unrealized_pnl: dec(&self.upl).unwrap_or_default(),
            leverage: self
                .lever
                .parse::<Decimal>()
                .ok()
                .and_then(|l| l.trunc().to_string().parse().ok()),
            margin_mode: match self.mgn_mode.as_str() {
                "isolated" => Some(MarginMode::Isolated),
                "cross" => Some(MarginMode::Cross),
                _ => None,
            },
            liquidation_price: dec(&self.liq_px).filter(|p| *p > Decimal::ZERO),
        })
    }
}

/// The answer item of a placement or cancel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    #[serde(default)]
    pub ord_id: String,
    #[serde(default)]
    pub cl_ord_id: String,
    #[serde(default)]
    pub algo_id: String,
    #[serde(default)]
    pub algo_cl_ord_id: String,
    #[serde(default)]
    pub s_code: String,
    #[serde(default)]
    pub s_msg: String,
}

fn side(s: &str) -> Result<Side, ExchangeError> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(malformed(format!("unknown side {other}"))),
    }
}

/// An order as `GET /trade/order` (and the `orders` channel) shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub inst_id: String,
    pub ord_id: String,
    #[serde(default)]
    pub cl_ord_id: String,
    pub side: String,
    pub state: String,
    pub sz: String,
    #[serde(default)]
    pub acc_fill_sz: String,
    #[serde(default)]
    pub avg_px: String,
    #[serde(default)]
    pub fill_sz: String,
    #[serde(default)]
    pub fill_px: String,
    /// Negative: charged.
    #[serde(default)]
    pub fee: String,
    #[serde(default)]
    pub fee_ccy: String,
    #[serde(default)]
    pub u_time: String,
    /// Set on orders an algo order's trigger created.
    #[serde(default)]
    pub algo_cl_ord_id: String,
    /// PnL realized by the order's fills.
    #[serde(default)]
    pub pnl: String,
}

pub fn order_status(state: &str) -> Result<OrderStatus, ExchangeError> {
    Ok(match state {
        "live" => OrderStatus::New,
        "partially_filled" => OrderStatus::PartiallyFilled,
        "filled" => OrderStatus::Filled,
        "canceled" | "mmp_canceled" => OrderStatus::Canceled,
        other => return Err(malformed(format!("unknown order state {other}"))),
    })
}

impl Order {
    pub fn report(&self, rules: &InstrumentRules) -> Result<OrderReport, ExchangeError> {
        Ok(OrderReport {
            client_id: self.cl_ord_id.clone(),
            venue_order_id: self.ord_id.clone(),
            symbol: self.inst_id.clone(),
            side: side(&self.side)?,
            status: order_status(&self.state)?,
            quantity: rules.base_qty(req_dec(&self.sz, "sz")?),
            filled: rules.base_qty(dec(&self.acc_fill_sz).unwrap_or_default()),
            avg_price: dec(&self.avg_px).filter(|p| *p > Decimal::ZERO),
            fee: dec(&self.fee).map(|f| -f),
            fee_asset: (!self.fee_ccy.is_empty()).then(|| self.fee_ccy.clone()),
            triggered_order_id: None,
            updated_ms: self.u_time.parse().unwrap_or_default(),
        })
    }

    /// Realized PnL the order reports, when it reports any.
    pub fn realized_pnl(&self) -> Option<Decimal> {
        dec(&self.pnl)
    }

    /// Base quantity and price of the fill an `orders` push reports.
    pub fn last_fill(&self, rules: &InstrumentRules) -> Option<(Decimal, Decimal)> {
        let sz = dec(&self.fill_sz).filter(|s| *s > Decimal::ZERO)?;
        Some((rules.base_qty(sz), dec(&self.fill_px)?))
    }
}

/// A conditional order as `GET /trade/order-algo` shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlgoOrder {
    pub algo_id: String,
    #[serde(default)]
    pub algo_cl_ord_id: String,
    pub inst_id: String,
    pub side: String,
    pub state: String,
    #[serde(default)]
    pub sz: String,
    #[serde(default)]
    pub actual_sz: String,
    #[serde(default)]
    pub actual_px: String,
    #[serde(default)]
    pub ord_id: String,
    #[serde(default)]
    pub u_time: String,
}

pub fn algo_status(state: &str) -> Result<OrderStatus, ExchangeError> {
    Ok(match state {
        "live" | "pause" => OrderStatus::New,
        "effective" | "partially_effective" => OrderStatus::Triggered,
        "canceled" => OrderStatus::Canceled,
        "order_failed" | "partially_failed" => OrderStatus::Rejected,
        other => return Err(malformed(format!("unknown algo state {other}"))),
    })
}

impl AlgoOrder {
    pub fn report(&self, rules: &InstrumentRules) -> Result<OrderReport, ExchangeError> {
        Ok(OrderReport {
            client_id: self.algo_cl_ord_id.clone(),
            venue_order_id: self.algo_id.clone(),
            symbol: self.inst_id.clone(),
            side: side(&self.side)?,
            status: algo_status(&self.state)?,
            quantity: rules.base_qty(dec(&self.sz).unwrap_or_default()),
            filled: rules.base_qty(dec(&self.actual_sz).unwrap_or_default()),
            avg_price: dec(&self.actual_px).filter(|p| *p > Decimal::ZERO),
            fee: None,
            fee_asset: None,
            triggered_order_id: (!self.ord_id.is_empty()).then(|| self.ord_id.clone()),
            updated_ms: self.u_time.parse().unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkPrice {
    pub inst_id: String,
    pub mark_px: String,
}

impl MarkPrice {
    pub fn price(&self) -> Option<Decimal> {
        dec(&self.mark_px)
    }
}

/// One row of `/api/v5/public/position-tiers` (swap sizes in contracts).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionTier {
    pub tier: String,
    pub max_sz: String,
    pub mmr: String,
    pub max_lever: String,
}

impl PositionTier {
    /// The tier in notional terms at `price`: OKX sizes tiers in contracts,
    /// the simulator in USDT.
    pub fn at_price(&self, contract_value: Decimal, price: Decimal) -> Option<Tier> {
        Some(Tier {
            cap: dec(&self.max_sz)? * contract_value * price,
            rate: dec(&self.mmr)?,
            max_leverage: self.max_lever.trim().parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The "Get position tiers" response shape (a swap family, contracts).
    #[test]
    fn position_tiers_become_notional_tiers() {
        let rows: Vec<PositionTier> = serde_json::from_str(
            r#"[{"uly":"BTC-USDT","instFamily":"BTC-USDT","instId":"","tier":"1","minSz":"0",
                "maxSz":"5000","mmr":"0.004","imr":"0.01","maxLever":"100","optMgnFactor":"0",
                "quoteMaxLoan":"","baseMaxLoan":""}]"#,
        )
        .unwrap();
        // 5,000 contracts of 0.01 BTC at 43,000 = 2,150,000 USDT.
        assert_eq!(
            rows[0].at_price(dec!(0.01), dec!(43000)),
            Some(Tier {
                cap: dec!(2150000),
                rate: dec!(0.004),
                max_leverage: 100
            })
        );
    }

    /// Shapes from the "Get instruments", "Get balance", "Get account
    /// configuration", "Get positions", "Place order" and "Get order
    /// details" response examples.
    #[test]
    fn parses_instruments() {
        let body = br#"{"code":"0","msg":"","data":[{"alias":"","baseCcy":"","category":"1","ctMult":"1",
          "ctType":"linear","ctVal":"0.01","ctValCcy":"BTC","expTime":"","instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP",
          "instType":"SWAP","lever":"100","listTime":"1606468572000","lotSz":"0.01","maxIcebergSz":"100000000.0000000000000000",
          "maxLmtAmt":"20000000","maxLmtSz":"100000000","maxMktAmt":"","maxMktSz":"12000","maxStopSz":"12000",
          "maxTriggerSz":"100000000.0000000000000000","maxTwapSz":"100000000.0000000000000000","minSz":"0.01",
          "optType":"","quoteCcy":"","settleCcy":"USDT","state":"live","stk":"","tickSz":"0.1","uly":"BTC-USDT"}]}"#;
        let i: Vec<Instrument> = parse(200, body, false).unwrap();
        let r = i[0].rules().unwrap();
        assert_eq!(
            (r.contract_value, r.step_size, r.tick_size),
            (dec!(0.01), dec!(0.01), dec!(0.1))
        );
        assert_eq!((r.market_max_qty, r.max_leverage), (dec!(12000), Some(100)));
        assert_eq!(r.base_asset, "BTC");
    }

    #[test]
    fn parses_account_config_permissions() {
        let body = br#"{"code":"0","msg":"","data":[{"acctLv":"2","autoLoan":false,"ctIsoMode":"automatic",
          "greeksType":"PA","level":"Lv1","levelTmp":"","mgnIsoMode":"automatic","posMode":"net_mode","spotOffsetType":"",
          "uid":"44705892343619584","label":"V5 Test","roleType":"0","traderInsts":[],"spotRoleType":"0",
          "spotTraderInsts":[],"opAuth":"0","kycLv":"3","ip":"120.255.24.182,49.245.196.13","perm":"read_only,withdraw,trade",
          "liquidationGear":"-1"}]}"#;
        let c: Vec<AccountConfig> = parse(200, body, false).unwrap();
        let p = c[0].permissions();
        assert!(p.can_trade);
        assert_eq!((p.can_withdraw, p.ip_restricted), (Some(true), Some(true)));
        assert_eq!(p.account_id.as_deref(), Some("44705892343619584"));
    }

    #[test]
    fn order_errors_come_from_the_item() {
        let body = br#"{"code":"1","msg":"All operations failed","data":[{"clOrdId":"tb3x9e","ordId":"","sCode":"51008",
          "sMsg":"Order failed. Insufficient USDT margin in account ","tag":"","ts":"1695190491421"}],"inTime":"","outTime":""}"#;
        let e = parse::<Ack>(200, body, true).unwrap_err();
        assert!(
            matches!(e, ExchangeError::InsufficientMargin { ref code, .. } if code == "51008"),
            "{e:?}"
        );
        let ok = br#"{"code":"0","msg":"","data":[{"clOrdId":"tb3x9e","ordId":"312269865356374016","tag":"","ts":"1695190491421",
          "sCode":"0","sMsg":"Order placed"}],"inTime":"","outTime":""}"#;
        let a: Vec<Ack> = parse(200, ok, true).unwrap();
        assert_eq!(a[0].ord_id, "312269865356374016");
        assert!(
            parse::<Ack>(502, b"<html>bad gateway</html>", true)
                .unwrap_err()
                .outcome_unknown()
        );
    }

    #[test]
    fn converts_contracts_in_orders_and_positions() {
        let rules = Instrument {
            inst_id: "BTC-USDT-SWAP".into(),
            ct_val: "0.01".into(),
            ct_val_ccy: "BTC".into(),
            settle_ccy: "USDT".into(),
            lot_sz: "0.01".into(),
            min_sz: "0.01".into(),
            tick_sz: "0.1".into(),
            max_lmt_sz: "".into(),
            max_mkt_sz: "".into(),
            lever: "100".into(),
            state: "live".into(),
        }
        .rules()
        .unwrap();
        let body = br#"{"code":"0","msg":"","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","ordId":"312269865356374016",
          "clOrdId":"tb3x9e","px":"","sz":"2.39","ordType":"market","side":"buy","posSide":"net","tdMode":"isolated",
          "accFillSz":"2.39","fillPx":"43000.1","fillSz":"2.39","avgPx":"43000.1","state":"filled","lever":"3",
          "fee":"-0.513","feeCcy":"USDT","uTime":"1597026383085","cTime":"1597026383085"}]}"#;
        let o: Vec<Order> = parse(200, body, false).unwrap();
        let r = o[0].report(&rules).unwrap();
        assert_eq!(
            (r.status, r.quantity, r.filled),
            (OrderStatus::Filled, dec!(0.0239), dec!(0.0239))
        );
        assert_eq!(r.fee, Some(dec!(0.513)));
        let body = br#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT-SWAP","pos":"-2.39","posSide":"net","avgPx":"43000.1",
          "markPx":"43100","upl":"-2.39","lever":"3","mgnMode":"isolated","liqPx":"57000"}]}"#;
        let p: Vec<Position> = parse(200, body, false).unwrap();
        let r = p[0].report(&rules).unwrap();
        assert_eq!(
            (r.side, r.quantity, r.leverage),
            (PositionSide::Short, dec!(0.0239), Some(3))
        );
    }
}
