//! The paper exchange's matching and accounting, pure: an account with a
//! USDT wallet, positions in one-way mode with leverage and isolated or
//! cross margin, market orders filled at the mark price with slippage and
//! Binance-like fees, resting limit orders, stop-loss and take-profit
//! orders triggered by the mark, and liquidation at the maintenance margin.
//! The account is plain data (serde), so it persists and replays exactly.

use super::instrument::{InstrumentRules, Rounding};
use super::{
    Balance, ExchangeError, MarginMode, OrderKind, OrderReport, OrderRequest, OrderSize,
    OrderStatus, PositionReport, PositionSide, Side,
};
use crate::trailing::Trail;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fees, slippage and the maintenance rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperConfig {
    /// Binance's default taker fee: 0.05 %.
    pub taker_fee: Decimal,
    /// Binance's default maker fee: 0.02 %.
    pub maker_fee: Decimal,
    /// Market orders fill this far beyond the mark, in basis points.
    pub slippage_bps: Decimal,
    /// Maintenance margin rate (Binance's first BTCUSDT bracket: 0.4 %).
    pub maintenance_rate: Decimal,
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            taker_fee: Decimal::new(5, 4),
            maker_fee: Decimal::new(2, 4),
            slippage_bps: Decimal::new(2, 0),
            maintenance_rate: Decimal::new(4, 3),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperPosition {
    pub side: PositionSide,
    pub qty: Decimal,
    pub entry: Decimal,
    pub leverage: u32,
    pub mode: MarginMode,
    /// Margin locked by the position (its initial margin).
    pub margin: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperOrder {
    pub id: u64,
    pub request: OrderRequest,
    pub status: OrderStatus,
    pub quantity: Decimal,
    pub filled: Decimal,
    pub avg_price: Option<Decimal>,
    pub fee: Decimal,
    pub updated_ms: i64,
    /// A trailing stop's best mark since it armed (`None` until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<Decimal>,
}

impl PaperOrder {
    /// A trailing stop of this order's kind, where its best mark stands.
    fn trail(&self) -> Option<Trail> {
        let OrderKind::TrailingStopMarket {
            callback_pct,
            activation,
            ..
        } = self.request.kind
        else {
            return None;
        };
        // The position it closes is on the other side of the order.
        let side = match self.request.side {
            Side::Sell => PositionSide::Long,
            Side::Buy => PositionSide::Short,
        };
        let mut t = Trail::new(side, callback_pct, activation);
        if let Some(best) = self.best {
            t.observe(best);
            // Armed with that best: seeing it again never fires.
        }
        Some(t)
    }

    fn report(&self) -> OrderReport {
        OrderReport {
            client_id: self.request.client_id.to_string(),
            venue_order_id: self.id.to_string(),
            symbol: self.request.symbol.clone(),
            side: self.request.side,
            status: self.status,
            quantity: self.quantity,
            filled: self.filled,
            avg_price: self.avg_price,
            fee: Some(self.fee),
            fee_asset: Some("USDT".into()),
            triggered_order_id: None,
            updated_ms: self.updated_ms,
        }
    }
}

/// What happened as a result of an action or a price move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaperEvent {
    /// An order changed (placed, filled, cancelled, triggered).
    Order(OrderReport),
    /// A fill: quantity, price, fee and the PnL it realized.
    Fill {
        report: OrderReport,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        realized_pnl: Decimal,
    },
    /// A position was liquidated at `price`.
    Liquidated {
        symbol: String,
        price: Decimal,
        loss: Decimal,
    },
}

/// The instruments the paper exchange lists: Binance's USDⓈ-M rules for
/// the same symbols, so a strategy that passes on paper passes there.
pub fn paper_rules(symbol: &str) -> Option<InstrumentRules> {
    let (tick, min_notional, max_leverage) = match symbol {
        "BTCUSDT" => (Decimal::new(1, 1), Decimal::new(100, 0), 125),
        "ETHUSDT" => (Decimal::new(1, 2), Decimal::new(20, 0), 100),
        _ => return None,
    };
    Some(InstrumentRules {
        symbol: symbol.to_owned(),
        base_asset: symbol.trim_end_matches("USDT").to_owned(),
        quote_asset: "USDT".into(),
        tick_size: tick,
        min_price: Decimal::ZERO,
        max_price: Decimal::ZERO,
        step_size: Decimal::new(1, 3),
        min_qty: Decimal::new(1, 3),
        max_qty: Decimal::new(1000, 0),
        market_step_size: Decimal::new(1, 3),
        market_min_qty: Decimal::new(1, 3),
        market_max_qty: Decimal::new(120, 0),
        min_notional,
        contract_value: Decimal::ONE,
        max_leverage: Some(max_leverage),
    })
}

/// How many finished orders are kept for queries, at least.
const HISTORY: usize = 500;
/// Finished orders beyond [`HISTORY`] before the oldest go: trimmed in
/// steps, so the writer finds orders gone once every so many orders
/// rather than at every one.
const HISTORY_SLACK: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperAccount {
    pub wallet: Decimal,
    pub positions: BTreeMap<String, PaperPosition>,
    pub orders: Vec<PaperOrder>,
    pub leverage: BTreeMap<String, u32>,
    pub margin_mode: BTreeMap<String, MarginMode>,
    pub next_id: u64,
}

fn refuse(code: &str, message: impl Into<String>) -> ExchangeError {
    ExchangeError::Rejected {
        code: code.into(),
        message: message.into(),
    }
}

impl PaperAccount {
    pub fn new(wallet: Decimal) -> Self {
        Self {
            wallet,
            positions: BTreeMap::new(),
            orders: Vec::new(),
            leverage: BTreeMap::new(),
            margin_mode: BTreeMap::new(),
            next_id: 1,
        }
    }

    pub fn set_leverage(
        &mut self,
        symbol: &str,
        leverage: u32,
        rules: &InstrumentRules,
    ) -> Result<(), ExchangeError> {
        let max = rules.max_leverage.unwrap_or(125);
        if leverage < 1 || leverage > max {
            return Err(refuse(
                "paper",
                format!("leverage {leverage} is outside 1–{max}"),
            ));
        }
        if self.positions.contains_key(symbol) && self.leverage.get(symbol) != Some(&leverage) {
            return Err(refuse(
                "paper",
                "leverage cannot change while a position is open",
            ));
        }
        self.leverage.insert(symbol.to_owned(), leverage);
        Ok(())
    }

    pub fn set_margin_mode(&mut self, symbol: &str, mode: MarginMode) -> Result<(), ExchangeError> {
        if self.positions.get(symbol).is_some_and(|p| p.mode != mode) {
            return Err(refuse(
                "paper",
                "the margin mode cannot change while a position is open",
            ));
        }
        self.margin_mode.insert(symbol.to_owned(), mode);
        Ok(())
    }

    fn used_margin(&self) -> Decimal {
        self.positions.values().map(|p| p.margin).sum()
    }

    /// What new positions may use, given the marks.
    pub fn available(&self, marks: &BTreeMap<String, Decimal>) -> Decimal {
        let cross_loss: Decimal = self
            .positions
            .iter()
            .filter(|(_, p)| p.mode == MarginMode::Cross)
            .map(|(s, p)| marks.get(s).map_or(Decimal::ZERO, |m| upl(p, *m)))
            .filter(|u| *u < Decimal::ZERO)
            .sum();
        (self.wallet - self.used_margin() + cross_loss).max(Decimal::ZERO)
    }

    pub fn balance(&self, marks: &BTreeMap<String, Decimal>) -> Balance {
        let unrealized = self
            .positions
            .iter()
            .map(|(s, p)| marks.get(s).map_or(Decimal::ZERO, |m| upl(p, *m)))
            .sum();
        Balance {
            asset: "USDT".into(),
            wallet: self.wallet,
            available: self.available(marks),
            unrealized_pnl: unrealized,
        }
    }

    pub fn positions(
        &self,
        marks: &BTreeMap<String, Decimal>,
        cfg: &PaperConfig,
    ) -> Vec<PositionReport> {
        self.positions
            .iter()
            .map(|(s, p)| {
                let mark = marks.get(s).copied();
                PositionReport {
                    symbol: s.clone(),
                    side: p.side,
                    quantity: p.qty,
                    entry_price: p.entry,
                    mark_price: mark,
                    unrealized_pnl: mark.map_or(Decimal::ZERO, |m| upl(p, m)),
                    leverage: Some(p.leverage),
                    margin_mode: Some(p.mode),
                    liquidation_price: liquidation_price(p, cfg),
                }
            })
            .collect()
    }

    pub fn query(&self, client_id: &str) -> Option<OrderReport> {
        self.orders
            .iter()
            .rev()
            .find(|o| o.request.client_id.as_str() == client_id)
            .map(PaperOrder::report)
    }

    /// The orders of `symbol` still resting.
    pub fn open_orders(&self, symbol: &str) -> Vec<OrderReport> {
        self.orders
            .iter()
            .filter(|o| o.request.symbol == symbol && !o.status.is_final())
            .map(PaperOrder::report)
            .collect()
    }

    fn trim_history(&mut self) {
        let finished = self.orders.iter().filter(|o| o.status.is_final()).count();
        if finished > HISTORY + HISTORY_SLACK {
            let mut drop = finished - HISTORY;
            self.orders.retain(|o| {
                if drop > 0 && o.status.is_final() {
                    drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Places an order at the current `mark` of its symbol.
    pub fn place(
        &mut self,
        req: &OrderRequest,
        rules: &InstrumentRules,
        mark: Decimal,
        now_ms: i64,
        cfg: &PaperConfig,
        marks: &BTreeMap<String, Decimal>,
    ) -> Result<Vec<PaperEvent>, ExchangeError> {
        // In use while open, and for good once filled (one look at each).
        if self.orders.iter().any(|o| {
            (!o.status.is_final() || o.status == OrderStatus::Filled)
                && o.request.client_id == req.client_id
        }) {
            return Err(refuse(
                "paper-dup",
                format!("client order id {} is already in use", req.client_id),
            ));
        }
        if req.attach.is_some() {
            return Err(ExchangeError::InvalidRequest(
                "the paper exchange places protection as separate orders".into(),
            ));
        }
        let market = !matches!(req.kind, OrderKind::Limit { .. });
        let position = self.positions.get(&req.symbol);
        let reduces = position.is_some_and(|p| p.side.exit_side() == req.side);
        let quantity = match req.size {
            OrderSize::Base(b) => {
                let q = rules.venue_qty(b, market);
                let price = match &req.kind {
                    OrderKind::Limit { price, .. } => *price,
                    OrderKind::StopMarket { trigger, .. }
                    | OrderKind::TakeProfitMarket { trigger, .. } => *trigger,
                    _ => mark,
                };
                let mut checked = rules.clone();
                if req.reduce_only {
                    checked.min_notional = Decimal::ZERO;
                }
                checked
                    .check(
                        q,
                        price,
                        market,
                        matches!(req.kind, OrderKind::Limit { .. }),
                    )
                    .map_err(|e| ExchangeError::BelowMinimum {
                        code: "paper".into(),
                        message: e.to_string(),
                    })?;
                q
            }
            OrderSize::ClosePosition if req.kind.is_conditional() => Decimal::ZERO,
            OrderSize::ClosePosition => {
                return Err(ExchangeError::InvalidRequest(
                    "only stop and take-profit orders can close the whole position".into(),
                ));
            }
        };
        if req.reduce_only
            && !req.kind.is_conditional()
            && (!reduces || position.is_some_and(|p| quantity > p.qty))
        {
            return Err(ExchangeError::ReduceOnlyRejected {
                code: "paper".into(),
                message: "reduce-only order would not reduce the position".into(),
            });
        }
        if let OrderKind::StopMarket { trigger, .. } | OrderKind::TakeProfitMarket { trigger, .. } =
            req.kind
        {
            let fires_now = triggered(&req.kind, req.side, mark);
            if fires_now {
                return Err(refuse(
                    "-2021",
                    format!("order would immediately trigger (mark {mark}, trigger {trigger})"),
                ));
            }
        }
        if let OrderKind::Limit {
            price,
            tif: super::TimeInForce::Gtx,
        } = req.kind
        {
            // Post-only: one that would take at once is refused.
            let takes = match req.side {
                Side::Buy => price >= mark,
                Side::Sell => price <= mark,
            };
            if takes {
                return Err(refuse(
                    "-5022",
                    format!("post-only order would take (mark {mark}, price {price})"),
                ));
            }
        }
        if let OrderKind::TrailingStopMarket {
            callback_pct,
            activation,
            ..
        } = req.kind
        {
            if matches!(req.size, OrderSize::ClosePosition) {
                return Err(ExchangeError::InvalidRequest(
                    "a trailing stop needs a quantity".into(),
                ));
            }
            if callback_pct < crate::trailing::MIN_CALLBACK_PCT
                || callback_pct > crate::trailing::MAX_CALLBACK_PCT
            {
                return Err(ExchangeError::InvalidRequest(
                    "a trailing stop's callback must be 0.1–10 %".into(),
                ));
            }
            let behind = activation.is_some_and(|a| match req.side {
                Side::Sell => a <= mark,
                Side::Buy => a >= mark,
            });
            if behind {
                return Err(refuse(
                    "-2021",
                    format!(
                        "order would immediately trigger (mark {mark}, activation {:?})",
                        activation
                    ),
                ));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let trailing_now = matches!(
            req.kind,
            OrderKind::TrailingStopMarket {
                activation: None,
                ..
            }
        );
        let order = PaperOrder {
            id,
            request: req.clone(),
            status: OrderStatus::New,
            quantity,
            filled: Decimal::ZERO,
            avg_price: None,
            fee: Decimal::ZERO,
            updated_ms: now_ms,
            // Without an activation it follows from the mark at placement.
            best: trailing_now.then_some(mark),
        };
        let mut events = Vec::new();
        match req.kind {
            OrderKind::Market => {
                let price = slipped(mark, req.side, rules, cfg);
                self.ensure_margin(&req.symbol, req.side, quantity, price, rules, cfg, marks)?;
                self.orders.push(order);
                let idx = self.orders.len() - 1;
                events.extend(self.execute(idx, quantity, price, cfg.taker_fee, rules, now_ms));
            }
            _ => {
                if matches!(req.kind, OrderKind::Limit { .. }) && !req.reduce_only {
                    let OrderKind::Limit { price, .. } = req.kind else {
                        unreachable!()
                    };
                    self.ensure_margin(&req.symbol, req.side, quantity, price, rules, cfg, marks)?;
                }
                events.push(PaperEvent::Order(order.report()));
                self.orders.push(order);
            }
        }
        self.trim_history();
        Ok(events)
    }

    #[allow(clippy::too_many_arguments)]
    fn ensure_margin(
        &self,
        symbol: &str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        rules: &InstrumentRules,
        cfg: &PaperConfig,
        marks: &BTreeMap<String, Decimal>,
    ) -> Result<(), ExchangeError> {
        let opening = match self.positions.get(symbol) {
            Some(p) if p.side.exit_side() == side => (qty - p.qty).max(Decimal::ZERO),
            _ => qty,
        };
        if opening.is_zero() {
            return Ok(());
        }
        let leverage = Decimal::from(*self.leverage.get(symbol).unwrap_or(&20));
        let notional = rules.base_qty(opening) * price;
        let need = notional / leverage + notional * cfg.taker_fee;
        if need > self.available(marks) {
            return Err(ExchangeError::InsufficientMargin {
                code: "paper".into(),
                message: format!(
                    "margin {need:.2} USDT needed, {:.2} available",
                    self.available(marks)
                ),
            });
        }
        Ok(())
    }

    /// Fills order `idx` for `qty` at `price`; updates the position and wallet.
    fn execute(
        &mut self,
        idx: usize,
        qty: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        rules: &InstrumentRules,
        now_ms: i64,
    ) -> Vec<PaperEvent> {
        let symbol = self.orders[idx].request.symbol.clone();
        let side = self.orders[idx].request.side;
        let base = rules.base_qty(qty);
        let fee = (base * price * fee_rate).round_dp(8);
        let leverage = *self.leverage.get(&symbol).unwrap_or(&20);
        let mode = *self.margin_mode.get(&symbol).unwrap_or(&MarginMode::Cross);
        let mut realized = Decimal::ZERO;
        let mut remaining = base;
        if let Some(p) = self.positions.get_mut(&symbol)
            && p.side.exit_side() == side
        {
            let closing = remaining.min(p.qty);
            let dir = if p.side == PositionSide::Long {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            realized = (price - p.entry) * closing * dir;
            let released = p.margin * closing / p.qty;
            p.margin -= released;
            p.qty -= closing;
            remaining -= closing;
            if p.qty.is_zero() {
                self.positions.remove(&symbol);
            }
        }
        if remaining > Decimal::ZERO {
            let side_of = if side == Side::Buy {
                PositionSide::Long
            } else {
                PositionSide::Short
            };
            let margin = remaining * price / Decimal::from(leverage);
            let p = self
                .positions
                .entry(symbol.clone())
                .or_insert(PaperPosition {
                    side: side_of,
                    qty: Decimal::ZERO,
                    entry: price,
                    leverage,
                    mode,
                    margin: Decimal::ZERO,
                });
            p.entry = (p.entry * p.qty + price * remaining) / (p.qty + remaining);
            p.qty += remaining;
            p.margin += margin;
        }
        self.wallet += realized - fee;
        let order = &mut self.orders[idx];
        let prev = order.filled;
        order.filled += qty;
        order.avg_price = Some(match order.avg_price {
            Some(avg) if prev > Decimal::ZERO => {
                ((avg * prev + price * qty) / order.filled).round_dp(8)
            }
            _ => price,
        });
        order.fee += fee;
        order.updated_ms = now_ms;
        if order.quantity.is_zero() {
            order.quantity = qty;
        }
        order.status = if order.filled >= order.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        vec![PaperEvent::Fill {
            report: order.report(),
            qty: base,
            price,
            fee,
            realized_pnl: realized,
        }]
    }

    pub fn cancel(&mut self, client_id: &str, now_ms: i64) -> Result<OrderReport, ExchangeError> {
        let o = self
            .orders
            .iter_mut()
            .rev()
            .find(|o| o.request.client_id.as_str() == client_id)
            .ok_or_else(|| ExchangeError::OrderNotFound {
                code: "paper".into(),
                message: format!("{client_id} does not exist"),
            })?;
        if o.status.is_final() {
            return Err(ExchangeError::OrderNotFound {
                code: "paper".into(),
                message: format!("{client_id} is already {:?}", o.status),
            });
        }
        o.status = OrderStatus::Canceled;
        o.updated_ms = now_ms;
        Ok(o.report())
    }

    /// Applies a new mark of `symbol`: fills crossing limit orders, fires
    /// triggered conditional orders, liquidates what the margin no longer
    /// covers.
    pub fn on_mark(
        &mut self,
        symbol: &str,
        mark: Decimal,
        rules: &InstrumentRules,
        now_ms: i64,
        cfg: &PaperConfig,
    ) -> Vec<PaperEvent> {
        let mut events = Vec::new();
        // Liquidation first: a stop below the liquidation price is too late.
        if let Some(p) = self.positions.get(symbol).cloned()
            && let Some(liq) = liquidation_price(&p, cfg)
            && ((p.side == PositionSide::Long && mark <= liq)
                || (p.side == PositionSide::Short && mark >= liq))
        {
            let realized = upl(&p, mark);
            let loss = -realized + p.qty * mark * cfg.maintenance_rate;
            self.wallet += realized - p.qty * mark * cfg.maintenance_rate;
            self.positions.remove(symbol);
            for o in self
                .orders
                .iter_mut()
                .filter(|o| o.request.symbol == symbol && !o.status.is_final())
            {
                if o.request.reduce_only || matches!(o.request.size, OrderSize::ClosePosition) {
                    o.status = OrderStatus::Expired;
                    o.updated_ms = now_ms;
                    events.push(PaperEvent::Order(o.report()));
                }
            }
            events.push(PaperEvent::Liquidated {
                symbol: symbol.to_owned(),
                price: mark,
                loss,
            });
            return events;
        }
        // Trailing stops see the mark first: arm, follow, or fire.
        let mut fired = Vec::new();
        for (i, o) in self.orders.iter_mut().enumerate() {
            if o.request.symbol != symbol || o.status != OrderStatus::New {
                continue;
            }
            if let Some(mut t) = o.trail() {
                if t.observe(mark) {
                    fired.push(i);
                }
                o.best = t.best();
            }
        }
        let due: Vec<usize> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.request.symbol == symbol && o.status == OrderStatus::New)
            .filter(|(i, o)| match o.request.kind {
                OrderKind::TrailingStopMarket { .. } => fired.contains(i),
                OrderKind::Limit { price, .. } => match o.request.side {
                    Side::Buy => mark <= price,
                    Side::Sell => mark >= price,
                },
                OrderKind::Market => false,
                _ => triggered(&o.request.kind, o.request.side, mark),
            })
            .map(|(i, _)| i)
            .collect();
        for idx in due {
            let o = self.orders[idx].clone();
            let position = self.positions.get(symbol).cloned();
            let reduces = position
                .as_ref()
                .is_some_and(|p| p.side.exit_side() == o.request.side);
            let closes_all = matches!(o.request.size, OrderSize::ClosePosition);
            if (o.request.reduce_only || closes_all) && !reduces {
                // Nothing left to protect: the order goes away.
                self.orders[idx].status = OrderStatus::Expired;
                self.orders[idx].updated_ms = now_ms;
                events.push(PaperEvent::Order(self.orders[idx].report()));
                continue;
            }
            let qty = match (closes_all, &position) {
                (true, Some(p)) => rules.venue_qty(p.qty, true),
                (false, Some(p)) if o.request.reduce_only => {
                    o.quantity.min(rules.venue_qty(p.qty, true))
                }
                _ => o.quantity,
            };
            let (price, fee_rate) = match o.request.kind {
                OrderKind::Limit { price, .. } => (price, cfg.maker_fee),
                _ => {
                    self.orders[idx].status = OrderStatus::Triggered;
                    events.push(PaperEvent::Order(self.orders[idx].report()));
                    (slipped(mark, o.request.side, rules, cfg), cfg.taker_fee)
                }
            };
            self.orders[idx].quantity = qty;
            events.extend(self.execute(idx, qty, price, fee_rate, rules, now_ms));
        }
        events
    }
}

fn upl(p: &PaperPosition, mark: Decimal) -> Decimal {
    match p.side {
        PositionSide::Long => (mark - p.entry) * p.qty,
        PositionSide::Short => (p.entry - mark) * p.qty,
    }
}

/// Isolated: where margin plus unrealized PnL meets the maintenance margin
/// ([`crate::position::liquidation_price`]). Cross positions use the same
/// per-position estimate (the wallet backs them further; the paper engine
/// liquidates them at the same price).
pub fn liquidation_price(p: &PaperPosition, cfg: &PaperConfig) -> Option<Decimal> {
    let holding = crate::position::Holding {
        side: p.side,
        entry_price: p.entry,
        quantity: p.qty,
        leverage: p.leverage,
        stop_loss: None,
        take_profit: None,
    };
    let maintenance = crate::position::Maintenance {
        rate: cfg.maintenance_rate,
        amount: Decimal::ZERO,
    };
    crate::position::liquidation_price(&holding, maintenance, crate::position::Collateral::Isolated)
        .map(|price| price.round_dp(2))
}

fn triggered(kind: &OrderKind, side: Side, mark: Decimal) -> bool {
    match (kind, side) {
        (OrderKind::StopMarket { trigger, .. }, Side::Sell)
        | (OrderKind::TakeProfitMarket { trigger, .. }, Side::Buy) => mark <= *trigger,
        (OrderKind::StopMarket { trigger, .. }, Side::Buy)
        | (OrderKind::TakeProfitMarket { trigger, .. }, Side::Sell) => mark >= *trigger,
        _ => false,
    }
}

/// The mark moved against the taker by the slippage, on the tick grid.
fn slipped(mark: Decimal, side: Side, rules: &InstrumentRules, cfg: &PaperConfig) -> Decimal {
    let slip = mark * cfg.slippage_bps / Decimal::new(10_000, 0);
    match side {
        Side::Buy => rules.round_price(mark + slip, Rounding::Up),
        Side::Sell => rules.round_price(mark - slip, Rounding::Down),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ClientOrderId, Leg, TriggerPrice};
    use rust_decimal_macros::dec;

    fn rules() -> InstrumentRules {
        InstrumentRules {
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
            max_leverage: Some(125),
        }
    }

    fn req(
        signal: i64,
        leg: Leg,
        side: Side,
        kind: OrderKind,
        size: OrderSize,
        reduce_only: bool,
    ) -> OrderRequest {
        OrderRequest {
            client_id: ClientOrderId::derive(1, signal, leg),
            symbol: "BTCUSDT".into(),
            side,
            kind,
            size,
            reduce_only,
            attach: None,
        }
    }

    fn marks(m: Decimal) -> BTreeMap<String, Decimal> {
        BTreeMap::from([("BTCUSDT".to_string(), m)])
    }

    #[test]
    fn a_protected_long_from_entry_to_stop() {
        let cfg = PaperConfig::default();
        let mut a = PaperAccount::new(dec!(10000));
        a.set_leverage("BTCUSDT", 3, &rules()).unwrap();
        a.set_margin_mode("BTCUSDT", MarginMode::Isolated).unwrap();
        let entry = req(
            1,
            Leg::Entry,
            Side::Buy,
            OrderKind::Market,
            OrderSize::Base(dec!(0.0239)),
            false,
        );
        let ev = a
            .place(&entry, &rules(), dec!(43000), 1, &cfg, &marks(dec!(43000)))
            .unwrap();
        // 2 bp of slippage: 43000 × 1.0002 = 43008.6.
        let PaperEvent::Fill {
            qty, price, fee, ..
        } = &ev[0]
        else {
            panic!("{ev:?}")
        };
        assert_eq!((*qty, *price), (dec!(0.023), dec!(43008.6)));
        assert_eq!(*fee, dec!(0.4945989));
        let p = &a.positions["BTCUSDT"];
        assert_eq!(
            (p.qty, p.entry, p.margin),
            (dec!(0.023), dec!(43008.6), dec!(329.7326))
        );
        let sl = req(
            1,
            Leg::StopLoss,
            Side::Sell,
            OrderKind::StopMarket {
                trigger: dec!(42148.4),
                trigger_by: TriggerPrice::Mark,
            },
            OrderSize::ClosePosition,
            true,
        );
        a.place(&sl, &rules(), dec!(43000), 2, &cfg, &marks(dec!(43000)))
            .unwrap();
        assert!(
            a.on_mark("BTCUSDT", dec!(42500), &rules(), 3, &cfg)
                .is_empty()
        );
        let ev = a.on_mark("BTCUSDT", dec!(42100), &rules(), 4, &cfg);
        let fill = ev
            .iter()
            .find_map(|e| match e {
                PaperEvent::Fill {
                    realized_pnl,
                    price,
                    ..
                } => Some((*price, *realized_pnl)),
                _ => None,
            })
            .unwrap();
        // Filled at 42100 − 2 bp = 42091.5 (rounded down to the tick).
        assert_eq!(
            fill,
            (dec!(42091.5), (dec!(42091.5) - dec!(43008.6)) * dec!(0.023))
        );
        assert!(a.positions.is_empty());
        assert_eq!(
            a.query(sl.client_id.as_str()).unwrap().status,
            OrderStatus::Filled
        );
        let expected = dec!(10000) - dec!(0.4945989) + fill.1
            - (dec!(0.023) * dec!(42091.5) * dec!(0.0005)).round_dp(8);
        assert_eq!(a.wallet, expected);
    }

    #[test]
    fn a_trailing_stop_arms_at_its_activation_and_fires_back_from_the_best_mark() {
        let cfg = PaperConfig::default();
        let mut a = PaperAccount::new(dec!(10000));
        a.set_leverage("BTCUSDT", 3, &rules()).unwrap();
        let m = marks(dec!(43000));
        a.place(
            &req(
                1,
                Leg::Entry,
                Side::Buy,
                OrderKind::Market,
                OrderSize::Base(dec!(0.02)),
                false,
            ),
            &rules(),
            dec!(43000),
            1,
            &cfg,
            &m,
        )
        .unwrap();
        let trail = |activation| {
            req(
                1,
                Leg::TrailingStop,
                Side::Sell,
                OrderKind::TrailingStopMarket {
                    callback_pct: dec!(1),
                    activation,
                    trigger_by: TriggerPrice::Mark,
                },
                OrderSize::Base(dec!(0.02)),
                true,
            )
        };
        // An activation behind the mark would fire at once: refused.
        assert!(
            a.place(
                &trail(Some(dec!(42900))),
                &rules(),
                dec!(43000),
                2,
                &cfg,
                &m
            )
            .is_err()
        );
        a.place(
            &trail(Some(dec!(44000))),
            &rules(),
            dec!(43000),
            2,
            &cfg,
            &m,
        )
        .unwrap();
        // Below the activation it does not follow: 43,500 → 43,000 is nothing.
        assert!(
            a.on_mark("BTCUSDT", dec!(43500), &rules(), 3, &cfg)
                .is_empty()
        );
        assert!(
            a.on_mark("BTCUSDT", dec!(43000), &rules(), 4, &cfg)
                .is_empty()
        );
        // Armed at 44,100, best 45,000: fires at 44,550 (1 % back), not 44,600.
        assert!(
            a.on_mark("BTCUSDT", dec!(44100), &rules(), 5, &cfg)
                .is_empty()
        );
        assert!(
            a.on_mark("BTCUSDT", dec!(45000), &rules(), 6, &cfg)
                .is_empty()
        );
        assert!(
            a.on_mark("BTCUSDT", dec!(44600), &rules(), 7, &cfg)
                .is_empty()
        );
        let ev = a.on_mark("BTCUSDT", dec!(44550), &rules(), 8, &cfg);
        assert!(
            ev.iter()
                .any(|e| matches!(e, PaperEvent::Fill { qty, .. } if *qty == dec!(0.02))),
            "{ev:?}"
        );
        assert!(a.positions.is_empty());
        // Its best mark is part of the saved state: a restart keeps following.
        let saved = serde_json::to_string(&a.orders[1]).unwrap();
        assert!(saved.contains("\"best\":\"45000\""), "{saved}");
    }

    #[test]
    fn liquidates_an_isolated_long_at_the_maintenance_margin() {
        let cfg = PaperConfig::default();
        let mut a = PaperAccount::new(dec!(1000));
        a.set_leverage("BTCUSDT", 10, &rules()).unwrap();
        a.set_margin_mode("BTCUSDT", MarginMode::Isolated).unwrap();
        a.place(
            &req(
                2,
                Leg::Entry,
                Side::Buy,
                OrderKind::Market,
                OrderSize::Base(dec!(0.1)),
                false,
            ),
            &rules(),
            dec!(40000),
            1,
            &cfg,
            &marks(dec!(40000)),
        )
        .unwrap();
        let p = a.positions(&marks(dec!(40000)), &cfg);
        let liq = p[0].liquidation_price.unwrap();
        // entry 40008 × 0.9 / 0.996
        assert_eq!(liq, dec!(36151.81));
        assert!(
            a.on_mark("BTCUSDT", dec!(36200), &rules(), 2, &cfg)
                .is_empty()
        );
        let ev = a.on_mark("BTCUSDT", dec!(36150), &rules(), 3, &cfg);
        assert!(matches!(ev.last(), Some(PaperEvent::Liquidated { .. })));
        assert!(a.positions.is_empty());
    }

    #[test]
    fn refuses_what_a_venue_refuses() {
        let cfg = PaperConfig::default();
        let mut a = PaperAccount::new(dec!(100));
        let m = marks(dec!(43000));
        let small = req(
            3,
            Leg::Entry,
            Side::Buy,
            OrderKind::Market,
            OrderSize::Base(dec!(0.001)),
            false,
        );
        assert!(matches!(
            a.place(&small, &rules(), dec!(43000), 1, &cfg, &m),
            Err(ExchangeError::BelowMinimum { .. })
        ));
        let big = req(
            4,
            Leg::Entry,
            Side::Buy,
            OrderKind::Market,
            OrderSize::Base(dec!(0.1)),
            false,
        );
        assert!(matches!(
            a.place(&big, &rules(), dec!(43000), 1, &cfg, &m),
            Err(ExchangeError::InsufficientMargin { .. })
        ));
        let close = req(
            5,
            Leg::Close,
            Side::Sell,
            OrderKind::Market,
            OrderSize::Base(dec!(0.01)),
            true,
        );
        assert!(matches!(
            a.place(&close, &rules(), dec!(43000), 1, &cfg, &m),
            Err(ExchangeError::ReduceOnlyRejected { .. })
        ));
        let wrong = req(
            6,
            Leg::StopLoss,
            Side::Sell,
            OrderKind::StopMarket {
                trigger: dec!(44000),
                trigger_by: TriggerPrice::Mark,
            },
            OrderSize::ClosePosition,
            true,
        );
        assert!(
            a.place(&wrong, &rules(), dec!(43000), 1, &cfg, &m).is_err(),
            "would trigger at once"
        );
    }

    #[test]
    fn a_client_id_never_trades_twice() {
        let cfg = PaperConfig::default();
        let mut a = PaperAccount::new(dec!(10000));
        let m = marks(dec!(43000));
        let o = req(
            7,
            Leg::Entry,
            Side::Buy,
            OrderKind::Market,
            OrderSize::Base(dec!(0.01)),
            false,
        );
        a.place(&o, &rules(), dec!(43000), 1, &cfg, &m).unwrap();
        assert!(a.place(&o, &rules(), dec!(43000), 2, &cfg, &m).is_err());
        assert_eq!(a.positions["BTCUSDT"].qty, dec!(0.01));
    }

    #[test]
    fn protection_without_a_position_expires_and_state_round_trips() {
        let cfg = PaperConfig::default();
        let mut a = PaperAccount::new(dec!(10000));
        let m = marks(dec!(43000));
        a.place(
            &req(
                8,
                Leg::Entry,
                Side::Sell,
                OrderKind::Market,
                OrderSize::Base(dec!(0.01)),
                false,
            ),
            &rules(),
            dec!(43000),
            1,
            &cfg,
            &m,
        )
        .unwrap();
        let tp = req(
            8,
            Leg::TakeProfit,
            Side::Buy,
            OrderKind::TakeProfitMarket {
                trigger: dec!(41000),
                trigger_by: TriggerPrice::Mark,
            },
            OrderSize::ClosePosition,
            true,
        );
        a.place(&tp, &rules(), dec!(43000), 2, &cfg, &m).unwrap();
        a.place(
            &req(
                8,
                Leg::Close,
                Side::Buy,
                OrderKind::Market,
                OrderSize::Base(dec!(0.01)),
                true,
            ),
            &rules(),
            dec!(43000),
            3,
            &cfg,
            &m,
        )
        .unwrap();
        assert!(a.positions.is_empty());
        a.on_mark("BTCUSDT", dec!(40000), &rules(), 4, &cfg);
        assert_eq!(
            a.query(tp.client_id.as_str()).unwrap().status,
            OrderStatus::Expired
        );
        let json = serde_json::to_string(&a).unwrap();
        let back: PaperAccount = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
