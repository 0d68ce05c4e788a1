//! One actor per user: that user's strategies, positions and orders.
//!
//! It turns a signal into an intent (enter, close, reverse), sizes it from
//! the account's balance and the venue's rules, asks the risk actor, and
//! hands the order to the account's exchange actor — all from memory,
//! answering the webhook before the exchange does. It is the only writer of
//! its user's position and order records: every change goes out as an
//! event, and the database follows behind.

use super::FromExchange;
use super::bus::EventBus;
use super::events::{Event, OrderRecord, PositionRecord, RiskAlert, SignalRecord};
use super::exchange::{self as ex, ExchangeActor, Placed, ProtectSpec};
use super::ids::IdGen;
use super::mailbox::Depth;
use super::registry::StrategyRoute;
use super::risk::{CheckEntry, ReleaseSlot, RiskActor, TakeSlot};
use super::view::AccountView;
use crate::exchange::updates::{OrderUpdate, VenueUpdate};
use crate::store::enums::{
    MarginMode as DbMargin, OrderLeg, OrderSide, OrderStatus, OrderType, PositionSide as DbSide,
    PositionStatus, SignalOutcome,
};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tradingbot_core::exchange::{
    ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderReport, OrderRequest, OrderSize,
    PositionReport, PositionSide, Side, Venue,
};
use tradingbot_core::signal::{Action, Alert};
use tradingbot_core::sizing::{self, EntrySize};
use tradingbot_core::strategy::OppositeSignal;
use tradingbot_core::symbol::Symbol;

/// An exchange account the user trades on.
pub struct AccountLink {
    pub view: Arc<AccountView>,
    pub exchange: Addr<ExchangeActor>,
}

/// A position being opened, open, or being closed.
#[derive(Debug, Clone)]
struct Live {
    rec: PositionRecord,
    venue_symbol: String,
    strategy_id: i64,
    /// The signal that opened it: protective client ids derive from it.
    entry_signal: i64,
    entry_id: ClientOrderId,
    phase: Phase,
    sl: Option<ClientOrderId>,
    tp: Option<ClientOrderId>,
    tp_pct: Decimal,
    sl_pct: Decimal,
    /// A reversal waiting for this position's close.
    then: Option<PendingEntry>,
    /// The position's risk slot went to the entry that reverses it.
    slot_handed_over: bool,
    close_reason: &'static str,
    /// The close order sent and not yet answered.
    closing_id: Option<ClientOrderId>,
    /// Protective orders are being placed (reconciliation leaves them be).
    protecting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Entering,
    Open,
    Closing,
}

#[derive(Debug, Clone)]
struct PendingEntry {
    strategy_id: i64,
    signal_id: i64,
    side: PositionSide,
    leverage: u32,
    investment_pct: Decimal,
    tp_pct: Decimal,
    sl_pct: Decimal,
    origin: Option<Instant>,
}

/// An accepted signal's plan.
#[derive(Debug, Clone)]
enum Plan {
    Enter {
        pending: PendingEntry,
        size: EntrySize,
        price: Decimal,
        account_id: i64,
        venue_symbol: String,
        symbol: Symbol,
    },
    Close {
        key: (i64, String),
        signal_id: i64,
        origin: Instant,
        reason: &'static str,
    },
    Reverse {
        key: (i64, String),
        signal_id: i64,
        pending: PendingEntry,
        notional: Decimal,
    },
}

/// What became of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        signal_id: i64,
        /// `open_long`, `close`, `reverse_to_short`, …
        intent: String,
    },
    Rejected {
        signal_id: i64,
        status: u16,
        code: String,
        message: String,
    },
}

fn reject(signal_id: i64, status: u16, code: &str, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        signal_id,
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// An authenticated, fresh, first-seen alert for one of the user's strategies.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct SignalReceived {
    pub route: Arc<StrategyRoute>,
    pub signal_id: i64,
    pub alert: Alert,
    pub received: Instant,
    pub received_at: DateTime<Utc>,
    pub source_ip: Option<String>,
    /// The account's market data was loaded for this signal already.
    pub warmed: bool,
}

/// Open positions and their orders, and every unfinished order, as
/// stored, for a (re)start.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub positions: Vec<crate::store::entities::positions::Model>,
    pub orders: Vec<crate::store::entities::orders::Model>,
}

pub struct UserActor {
    user_id: i64,
    ids: Arc<IdGen>,
    bus: Arc<EventBus>,
    risk: Addr<RiskActor>,
    strategies: HashMap<i64, Arc<StrategyRoute>>,
    accounts: HashMap<i64, AccountLink>,
    live: HashMap<(i64, String), Live>,
    orders: HashMap<String, OrderRecord>,
    /// Orders sent whose answer has not come back: reconciliation must not
    /// conclude anything about them yet.
    inflight: std::collections::HashSet<String>,
    restored: Option<Restored>,
    depth: Arc<Depth>,
    exchange_depth: Arc<Depth>,
}

fn side_db(s: PositionSide) -> DbSide {
    match s {
        PositionSide::Long => DbSide::Long,
        PositionSide::Short => DbSide::Short,
    }
}

fn side_core(s: DbSide) -> PositionSide {
    match s {
        DbSide::Long => PositionSide::Long,
        DbSide::Short => PositionSide::Short,
    }
}

fn order_side(s: Side) -> OrderSide {
    match s {
        Side::Buy => OrderSide::Buy,
        Side::Sell => OrderSide::Sell,
    }
}

fn margin_db(m: MarginMode) -> DbMargin {
    match m {
        MarginMode::Isolated => DbMargin::Isolated,
        MarginMode::Cross => DbMargin::Cross,
    }
}

fn leg_db(l: Leg) -> OrderLeg {
    match l {
        Leg::Entry => OrderLeg::Entry,
        Leg::StopLoss => OrderLeg::StopLoss,
        Leg::TakeProfit => OrderLeg::TakeProfit,
        Leg::Close => OrderLeg::Close,
    }
}

fn kind_db(k: &OrderKind) -> (OrderType, Option<Decimal>, Option<Decimal>) {
    match k {
        OrderKind::Market => (OrderType::Market, None, None),
        OrderKind::Limit { price, .. } => (OrderType::Limit, Some(*price), None),
        OrderKind::StopMarket { trigger, .. } => (OrderType::StopMarket, None, Some(*trigger)),
        OrderKind::TakeProfitMarket { trigger, .. } => {
            (OrderType::TakeProfitMarket, None, Some(*trigger))
        }
        OrderKind::TrailingStopMarket { activation, .. } => {
            (OrderType::TrailingStopMarket, None, *activation)
        }
    }
}

fn action_side(a: Action) -> Option<PositionSide> {
    match a {
        Action::Long => Some(PositionSide::Long),
        Action::Short => Some(PositionSide::Short),
        _ => None,
    }
}

impl UserActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        user_id: i64,
        ids: Arc<IdGen>,
        bus: Arc<EventBus>,
        risk: Addr<RiskActor>,
        strategies: Vec<Arc<StrategyRoute>>,
        restored: Restored,
        depth: Arc<Depth>,
        exchange_depth: Arc<Depth>,
    ) -> Self {
        Self {
            user_id,
            ids,
            bus,
            risk,
            strategies: strategies.into_iter().map(|s| (s.strategy_id, s)).collect(),
            accounts: HashMap::new(),
            live: HashMap::new(),
            orders: HashMap::new(),
            inflight: Default::default(),
            restored: Some(restored),
            depth,
            exchange_depth,
        }
    }

    fn send_exchange<M>(&self, account_id: i64, msg: M)
    where
        M: Message<Result = ()> + Send + 'static,
        ExchangeActor: Handler<M>,
    {
        if let Some(a) = self.accounts.get(&account_id) {
            self.exchange_depth.sent();
            a.exchange.do_send(msg);
        }
    }

    fn publish(&self, e: Event) {
        self.bus.publish(e);
    }

    fn alert(&self, kind: &str, message: String, position_id: Option<i64>) {
        tracing::warn!(user_id = self.user_id, kind, %message, "trading alert");
        self.publish(Event::RiskAlert(RiskAlert {
            user_id: self.user_id,
            kind: kind.to_owned(),
            rule: None,
            message,
            position_id,
        }));
    }

    fn venue_name(&self, account_id: i64) -> String {
        self.accounts
            .get(&account_id)
            .map_or("unknown", |a| a.view.venue.as_str())
            .to_owned()
    }

    /// Records an order we are about to send.
    #[allow(clippy::too_many_arguments)]
    fn record_new_order(
        &mut self,
        account_id: i64,
        strategy_id: i64,
        signal_id: Option<i64>,
        position_id: Option<i64>,
        req: &OrderRequest,
        quantity: Decimal,
        status: OrderStatus,
    ) {
        let now = Utc::now();
        let (order_type, price, trigger) = kind_db(&req.kind);
        let rec = OrderRecord {
            id: self.ids.next(),
            user_id: self.user_id,
            position_id,
            strategy_id: Some(strategy_id),
            signal_id,
            account_id,
            exchange: self.venue_name(account_id),
            venue_order_id: None,
            client_order_id: req.client_id.clone(),
            leg: leg_db(req.client_id.leg().unwrap_or(Leg::Entry)),
            symbol: req.symbol.clone(),
            side: order_side(req.side),
            order_type,
            price,
            trigger_price: trigger,
            quantity,
            filled_qty: Decimal::ZERO,
            avg_fill_price: None,
            fee: Decimal::ZERO,
            fee_asset: None,
            reduce_only: req.reduce_only,
            status,
            error_code: None,
            error_message: None,
            created_at: now,
            updated_at: now,
            filled_at: None,
        };
        self.publish(Event::Order(rec.clone()));
        self.orders.insert(req.client_id.as_str().to_owned(), rec);
    }

    /// Applies what the venue says about one of our orders; publishes the change.
    fn apply_report(
        &mut self,
        id: &ClientOrderId,
        report: Result<&OrderReport, &ExchangeError>,
        fee: Option<Decimal>,
        position_id: Option<i64>,
    ) -> Option<OrderRecord> {
        let rec = self.orders.get_mut(id.as_str())?;
        let now = Utc::now();
        match report {
            Ok(r) => {
                let status = OrderStatus::from_report(r.status);
                if !r.venue_order_id.is_empty() {
                    rec.venue_order_id = Some(r.venue_order_id.clone());
                }
                rec.status = status;
                if r.filled > Decimal::ZERO {
                    rec.filled_qty = r.filled;
                }
                if r.avg_price.is_some() {
                    rec.avg_fill_price = r.avg_price;
                }
                if let Some(f) = fee.or(r.fee) {
                    rec.fee = f.abs();
                }
                if r.fee_asset.is_some() {
                    rec.fee_asset = r.fee_asset.clone();
                }
                if status == OrderStatus::Filled && rec.filled_at.is_none() {
                    rec.filled_at = Some(now);
                }
            }
            Err(e) => {
                rec.status = if e.outcome_unknown() {
                    OrderStatus::Unknown
                } else {
                    OrderStatus::Rejected
                };
                rec.error_code = Some(e.code().unwrap_or(e.kind()).to_owned());
                rec.error_message = Some(e.to_string());
            }
        }
        if position_id.is_some() {
            rec.position_id = position_id;
        }
        rec.updated_at = now;
        let rec = rec.clone();
        self.publish(Event::Order(rec.clone()));
        if rec.status.is_final_db() && !self.references(id) {
            self.orders.remove(id.as_str());
        }
        Some(rec)
    }

    /// Whether a live position still needs the record of order `id`.
    fn references(&self, id: &ClientOrderId) -> bool {
        self.live
            .values()
            .any(|l| &l.entry_id == id || l.sl.as_ref() == Some(id) || l.tp.as_ref() == Some(id))
    }

    /// Drops finished orders nothing refers to any more.
    fn prune_orders(&mut self) {
        let done: Vec<String> = self
            .orders
            .iter()
            .filter(|(_, o)| o.status.is_final_db() && !self.references(&o.client_order_id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in done {
            self.orders.remove(&k);
        }
    }

    fn equity(&self) -> Decimal {
        self.accounts
            .values()
            .filter_map(|a| a.view.balance())
            .map(|b| b.equity())
            .sum()
    }

    /// Decides what a signal means; `Err` is the rejection.
    fn plan(&self, msg: &SignalReceived) -> Result<Plan, Outcome> {
        let sid = msg.signal_id;
        let route = self
            .strategies
            .get(&msg.route.strategy_id)
            .cloned()
            .unwrap_or_else(|| msg.route.clone());
        if !route.active {
            return Err(reject(
                sid,
                409,
                "strategy_inactive",
                "the strategy is not active; activate it to trade",
            ));
        }
        let cfg = &route.config;
        let account_id = route.account_id.ok_or_else(|| {
            reject(
                sid,
                409,
                "no_account",
                "the strategy has no exchange account; set account_id",
            )
        })?;
        let link = self.accounts.get(&account_id).ok_or_else(|| {
            reject(
                sid,
                503,
                "account_unavailable",
                "the strategy's exchange account is not connected",
            )
        })?;
        let symbol = match &msg.alert.symbol {
            Some(s) if cfg.trades(s) => s.clone(),
            Some(s) => {
                return Err(reject(
                    sid,
                    422,
                    "symbol_not_in_strategy",
                    format!(
                        "{s} is not one of the strategy's symbols ({})",
                        cfg.symbols
                            .iter()
                            .map(Symbol::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            None if cfg.symbols.len() == 1 => cfg.symbols[0].clone(),
            None => {
                return Err(reject(
                    sid,
                    422,
                    "symbol_required",
                    "the strategy trades several symbols; the alert must say which (`symbol`)",
                ));
            }
        };
        let venue_symbol = symbol.on(link.view.venue);
        let key = (account_id, venue_symbol.clone());
        let slot = self.live.get(&key);
        if let Some(l) = slot
            && l.strategy_id != route.strategy_id
        {
            return Err(reject(
                sid,
                409,
                "symbol_busy",
                format!(
                    "strategy {} holds the {symbol} position on this account",
                    l.strategy_id
                ),
            ));
        }
        if let Some(l) = slot
            && l.phase != Phase::Open
        {
            return Err(reject(
                sid,
                409,
                "order_in_flight",
                "the previous order for this position is still in flight",
            ));
        }
        let held = slot.map(|l| side_core(l.rec.side));
        let origin = msg.received;
        let close = |reason| Plan::Close {
            key: key.clone(),
            signal_id: sid,
            origin,
            reason,
        };
        let want = match (msg.alert.action, held) {
            (Action::Close, Some(_)) => return Ok(close("signal")),
            (Action::CloseLong, Some(PositionSide::Long)) => return Ok(close("signal")),
            (Action::CloseShort, Some(PositionSide::Short)) => return Ok(close("signal")),
            (Action::Close | Action::CloseLong | Action::CloseShort, _) => {
                return Err(reject(
                    sid,
                    409,
                    "no_open_position",
                    format!("no matching open position on {symbol} to close"),
                ));
            }
            (a, Some(h)) if action_side(a) == Some(h) => {
                return Err(reject(
                    sid,
                    409,
                    "already_in_position",
                    format!(
                        "already {} on {symbol}",
                        if h == PositionSide::Long {
                            "long"
                        } else {
                            "short"
                        }
                    ),
                ));
            }
            (a, Some(_)) if cfg.opposite_signal == OppositeSignal::Close => {
                let _ = a;
                return Ok(close("opposite_signal"));
            }
            (a, _) => action_side(a).expect("long or short"),
        };

        // Sizing, from memory.
        let o = &msg.alert.overrides;
        let (tp_default, sl_default) = match want {
            PositionSide::Long => (cfg.long_tp_pct, cfg.long_sl_pct),
            PositionSide::Short => (cfg.short_tp_pct, cfg.short_sl_pct),
        };
        let bound = |field: &str, v: Decimal, max: Decimal| {
            if v > max {
                Err(reject(
                    sid,
                    422,
                    "override_out_of_bounds",
                    format!("{field} {v} is above the strategy's {max}"),
                ))
            } else {
                Ok(v)
            }
        };
        let investment_pct = bound(
            "size_pct",
            o.size_pct.unwrap_or(cfg.investment_pct),
            cfg.investment_pct,
        )?;
        let sl_pct = bound("sl_pct", o.sl_pct.unwrap_or(sl_default), sl_default)?;
        let tp_pct = o.tp_pct.unwrap_or(tp_default);
        let leverage = match o.leverage {
            Some(l) if l > cfg.leverage => {
                return Err(reject(
                    sid,
                    422,
                    "override_out_of_bounds",
                    format!("leverage {l}x is above the strategy's {}x", cfg.leverage),
                ));
            }
            Some(l) => l,
            None => cfg.leverage,
        };
        let rules = link.view.rules(&venue_symbol).ok_or_else(|| {
            reject(
                sid,
                503,
                "market_data_unavailable",
                format!("instrument rules for {venue_symbol} are not loaded yet; retry shortly"),
            )
        })?;
        if let Some(max) = rules.max_leverage
            && leverage > max
        {
            return Err(reject(
                sid,
                422,
                "leverage_above_venue_max",
                format!("{venue_symbol} allows at most {max}x"),
            ));
        }
        let price = link
            .view
            .mark(&venue_symbol)
            .or(msg.alert.price)
            .ok_or_else(|| {
                reject(
                    sid,
                    503,
                    "market_data_unavailable",
                    format!("no recent price for {venue_symbol}"),
                )
            })?;
        let balance = link.view.balance().ok_or_else(|| {
            reject(
                sid,
                503,
                "balance_unavailable",
                "the account's balance is not known yet; retry shortly",
            )
        })?;
        // A reversal's close frees the margin of the position it closes.
        let freed = slot.map_or(Decimal::ZERO, |l| {
            l.rec.entry_price * l.rec.quantity / Decimal::from(l.rec.leverage.max(1))
        });
        let size = sizing::entry_size(
            balance.available + freed,
            investment_pct,
            leverage,
            price,
            &rules,
        )
        .map_err(|e| reject(sid, 422, e.code(), e.to_string()))?;
        let pending = PendingEntry {
            strategy_id: route.strategy_id,
            signal_id: sid,
            side: want,
            leverage,
            investment_pct,
            tp_pct,
            sl_pct,
            origin: Some(origin),
        };
        if held.is_some() {
            Ok(Plan::Reverse {
                key,
                signal_id: sid,
                pending,
                notional: size.notional,
            })
        } else {
            Ok(Plan::Enter {
                pending,
                size,
                price,
                account_id,
                venue_symbol,
                symbol,
            })
        }
    }

    fn record_signal(&self, msg: &SignalReceived, outcome: &Outcome) {
        let (o, reason) = match outcome {
            Outcome::Accepted { intent, .. } => (SignalOutcome::Accepted, Some(intent.clone())),
            Outcome::Rejected { code, message, .. } => {
                (SignalOutcome::Rejected, Some(format!("{code}: {message}")))
            }
        };
        self.publish(Event::Signal(SignalRecord {
            id: msg.signal_id,
            user_id: Some(self.user_id),
            strategy_id: Some(msg.route.strategy_id),
            signal_key: msg.alert.dedupe_key.clone(),
            action: Some(msg.alert.action.as_str().to_owned()),
            symbol: msg.alert.symbol.as_ref().map(|s| s.as_str().to_owned()),
            price: msg.alert.price,
            outcome: o,
            reason,
            latency_us: msg.received.elapsed().as_micros() as i64,
            source_ip: msg.source_ip.clone(),
            received_at: msg.received_at,
        }));
    }

    /// Sends an entry that risk approved.
    #[allow(clippy::too_many_arguments)]
    fn launch_entry(
        &mut self,
        p: PendingEntry,
        size: EntrySize,
        price: Decimal,
        account_id: i64,
        venue_symbol: String,
        symbol: Symbol,
    ) {
        let Some(route) = self.strategies.get(&p.strategy_id).cloned() else {
            return;
        };
        let margin = route.config.margin_mode;
        let position_id = self.ids.next();
        let entry_id = ClientOrderId::derive(p.strategy_id, p.signal_id, Leg::Entry);
        let entry = OrderRequest {
            client_id: entry_id.clone(),
            symbol: venue_symbol.clone(),
            side: p.side.entry_side(),
            kind: OrderKind::Market,
            size: OrderSize::Base(size.base_qty),
            reduce_only: false,
            attach: None,
        };
        self.record_new_order(
            account_id,
            p.strategy_id,
            Some(p.signal_id),
            None,
            &entry,
            size.base_qty,
            OrderStatus::Pending,
        );
        let now = Utc::now();
        let live = Live {
            rec: PositionRecord {
                id: position_id,
                user_id: self.user_id,
                strategy_id: Some(p.strategy_id),
                account_id,
                exchange: self.venue_name(account_id),
                symbol: symbol.as_str().to_owned(),
                side: side_db(p.side),
                entry_price: price,
                quantity: size.base_qty,
                leverage: p.leverage,
                margin_mode: margin_db(margin),
                stop_loss: None,
                take_profit: None,
                liquidation_price: None,
                realized_pnl: Decimal::ZERO,
                fees: Decimal::ZERO,
                exit_price: None,
                close_reason: None,
                status: PositionStatus::Open,
                opened_at: now,
                closed_at: None,
            },
            venue_symbol: venue_symbol.clone(),
            strategy_id: p.strategy_id,
            entry_signal: p.signal_id,
            entry_id,
            phase: Phase::Entering,
            sl: None,
            tp: None,
            tp_pct: p.tp_pct,
            sl_pct: p.sl_pct,
            then: None,
            slot_handed_over: false,
            close_reason: "signal",
            closing_id: None,
            protecting: true,
        };
        self.inflight.insert(live.entry_id.as_str().to_owned());
        self.live.insert((account_id, venue_symbol), live);
        self.send_exchange(
            account_id,
            ex::Open {
                position_id,
                entry,
                leverage: p.leverage,
                margin,
                reference_price: price,
                protect: ProtectSpec {
                    side: p.side,
                    tp_pct: p.tp_pct,
                    sl_pct: p.sl_pct,
                    sl_id: ClientOrderId::derive(p.strategy_id, p.signal_id, Leg::StopLoss),
                    tp_id: ClientOrderId::derive(p.strategy_id, p.signal_id, Leg::TakeProfit),
                },
                origin: p.origin,
            },
        );
    }

    /// Sends the close of the position at `key`.
    fn launch_close(
        &mut self,
        key: &(i64, String),
        signal_id: i64,
        origin: Option<Instant>,
        reason: &'static str,
    ) {
        let Some(l) = self.live.get_mut(key) else {
            return;
        };
        l.phase = Phase::Closing;
        l.close_reason = reason;
        let close_id = ClientOrderId::derive(l.strategy_id, signal_id, Leg::Close);
        l.closing_id = Some(close_id.clone());
        let side = side_core(l.rec.side);
        self.inflight.insert(close_id.as_str().to_owned());
        let l = &self.live[key];
        let order = OrderRequest {
            client_id: close_id,
            symbol: l.venue_symbol.clone(),
            side: side.exit_side(),
            kind: OrderKind::Market,
            size: OrderSize::Base(l.rec.quantity),
            reduce_only: true,
            attach: None,
        };
        let cancel: Vec<ClientOrderId> = l.sl.iter().chain(l.tp.iter()).cloned().collect();
        let (position_id, strategy_id, qty, entry_price) =
            (l.rec.id, l.strategy_id, l.rec.quantity, l.rec.entry_price);
        let margin = match l.rec.margin_mode {
            DbMargin::Isolated => MarginMode::Isolated,
            DbMargin::Cross => MarginMode::Cross,
        };
        let account_id = key.0;
        let reference = self
            .accounts
            .get(&account_id)
            .and_then(|a| a.view.mark(&key.1))
            .unwrap_or(entry_price);
        self.record_new_order(
            account_id,
            strategy_id,
            Some(signal_id),
            Some(position_id),
            &order,
            qty,
            OrderStatus::Pending,
        );
        self.send_exchange(
            account_id,
            ex::Close {
                position_id,
                order,
                margin,
                reference_price: reference,
                cancel,
                origin,
            },
        );
    }

    fn key_of(&self, position_id: i64) -> Option<(i64, String)> {
        self.live
            .iter()
            .find(|(_, l)| l.rec.id == position_id)
            .map(|(k, _)| k.clone())
    }

    /// Records a closed position and frees its slot.
    fn finish_position(
        &mut self,
        key: &(i64, String),
        exit: Decimal,
        exit_fee: Decimal,
        venue_pnl: Option<Decimal>,
        reason: &str,
    ) {
        let Some(mut l) = self.live.remove(key) else {
            return;
        };
        let side = side_core(l.rec.side);
        let gross =
            venue_pnl.unwrap_or_else(|| sizing::pnl(side, l.rec.entry_price, exit, l.rec.quantity));
        l.rec.fees += exit_fee.abs();
        l.rec.realized_pnl = (gross - l.rec.fees).round_dp(8);
        l.rec.exit_price = Some(exit);
        l.rec.close_reason = Some(reason.to_owned());
        l.rec.status = PositionStatus::Closed;
        l.rec.closed_at = Some(Utc::now());
        self.publish(Event::Position(l.rec.clone()));
        if !l.slot_handed_over {
            self.risk.do_send(ReleaseSlot {
                user_id: self.user_id,
            });
        }
        // Protection that is still resting goes.
        let leftovers: Vec<ClientOrderId> = [l.sl.clone(), l.tp.clone()]
            .into_iter()
            .flatten()
            .filter(|id| {
                self.orders
                    .get(id.as_str())
                    .is_some_and(|o| !o.status.is_final_db())
            })
            .collect();
        if !leftovers.is_empty() {
            self.send_exchange(
                key.0,
                ex::Cancel {
                    symbol: l.venue_symbol.clone(),
                    ids: leftovers,
                },
            );
        }
        self.prune_orders();
        if let Some(p) = l.then.take() {
            self.reenter(key, p);
        }
    }

    /// The entry of a reversal, sized now that the close has settled.
    fn reenter(&mut self, key: &(i64, String), p: PendingEntry) {
        let account_id = key.0;
        let Some(link) = self.accounts.get(&account_id) else {
            return;
        };
        let Some(route) = self.strategies.get(&p.strategy_id).cloned() else {
            return;
        };
        let symbol = route
            .config
            .symbols
            .iter()
            .find(|s| s.on(link.view.venue) == key.1)
            .cloned();
        let sized = (|| {
            let rules = link.view.rules(&key.1)?;
            let price = link.view.mark(&key.1)?;
            let balance = link.view.balance()?;
            Some(
                sizing::entry_size(
                    balance.available,
                    p.investment_pct,
                    p.leverage,
                    price,
                    &rules,
                )
                .map(|s| (s, price)),
            )
        })();
        match (sized, symbol) {
            (Some(Ok((size, price))), Some(symbol)) => {
                self.launch_entry(p, size, price, account_id, key.1.clone(), symbol);
            }
            (sized, _) => {
                let why = match sized {
                    Some(Err(e)) => e.to_string(),
                    _ => "market data unavailable".into(),
                };
                self.risk.do_send(ReleaseSlot {
                    user_id: self.user_id,
                });
                self.alert(
                    "reversal_entry_failed",
                    format!("closed, but the reversing entry was not sent: {why}"),
                    None,
                );
            }
        }
    }

    fn on_entry_done(&mut self, position_id: i64, result: Result<OrderReport, ExchangeError>) {
        let Some(key) = self.key_of(position_id) else {
            return;
        };
        let entry_id = self.live[&key].entry_id.clone();
        self.inflight.remove(entry_id.as_str());
        let filled = result
            .as_ref()
            .ok()
            .filter(|r| r.filled > Decimal::ZERO)
            .cloned();
        match filled {
            Some(r) => {
                let l = self.live.get_mut(&key).expect("present");
                l.phase = Phase::Open;
                l.rec.entry_price = r.avg_price.unwrap_or(l.rec.entry_price);
                l.rec.quantity = r.filled;
                l.rec.fees = r.fee.unwrap_or_default().abs();
                l.rec.opened_at = Utc::now();
                let rec = l.rec.clone();
                self.publish(Event::Position(rec));
                self.apply_report(&entry_id, Ok(&r), None, Some(position_id));
            }
            None => {
                match &result {
                    Err(e) if e.outcome_unknown() => {
                        // The venue may have it: reconciliation finds out.
                        self.apply_report(&entry_id, Err(e), None, None);
                        self.reconcile(key.0);
                        return;
                    }
                    Err(e) => {
                        self.apply_report(&entry_id, Err(e), None, None);
                        self.alert(
                            "entry_rejected",
                            format!("{} entry refused by the exchange: {e}", key.1),
                            None,
                        );
                    }
                    Ok(r) => {
                        self.apply_report(&entry_id, Ok(r), None, None);
                        self.alert(
                            "entry_not_filled",
                            format!("{} entry ended {:?} without a fill", key.1, r.status),
                            None,
                        );
                    }
                }
                let l = self.live.remove(&key).expect("present");
                if !l.slot_handed_over {
                    self.risk.do_send(ReleaseSlot {
                        user_id: self.user_id,
                    });
                }
            }
        }
    }

    fn on_protection_done(&mut self, position_id: i64, placed: Vec<Placed>) {
        let key = self.key_of(position_id);
        let (account_id, strategy_id, signal_id) = match key.as_ref().and_then(|k| self.live.get(k))
        {
            Some(l) => (key.as_ref().expect("some").0, l.strategy_id, l.entry_signal),
            None => return,
        };
        let key = key.expect("some");
        if let Some(l) = self.live.get_mut(&key) {
            l.protecting = false;
        }
        let mut stop_missing = true;
        for p in &placed {
            let id = p.request.client_id.clone();
            if !self.orders.contains_key(id.as_str()) {
                self.record_new_order(
                    account_id,
                    strategy_id,
                    Some(signal_id),
                    Some(position_id),
                    &p.request,
                    Decimal::ZERO,
                    OrderStatus::Pending,
                );
            }
            self.apply_report(&id, p.result.as_ref(), None, Some(position_id));
            let ok = p.result.as_ref().is_ok_and(|r| {
                !r.status.is_final() || r.status == tradingbot_core::exchange::OrderStatus::Filled
            });
            let l = self.live.get_mut(&key).expect("present");
            match id.leg() {
                Some(Leg::StopLoss) if ok => {
                    l.sl = Some(id);
                    l.rec.stop_loss = Some(p.trigger);
                    stop_missing = false;
                }
                Some(Leg::TakeProfit) if ok => {
                    l.tp = Some(id);
                    l.rec.take_profit = Some(p.trigger);
                }
                Some(Leg::StopLoss) => {}
                _ => {}
            }
        }
        let l = self.live.get(&key).expect("present");
        let wants_stop = l.sl_pct < Decimal::ONE_HUNDRED;
        self.publish(Event::Position(l.rec.clone()));
        if stop_missing && wants_stop && l.sl.is_none() && l.phase == Phase::Open {
            let why = placed
                .iter()
                .find(|p| p.request.client_id.leg() == Some(Leg::StopLoss))
                .and_then(|p| p.result.as_ref().err())
                .map_or(
                    "no stop-loss could be computed".to_owned(),
                    ToString::to_string,
                );
            self.alert(
                "protection_failed",
                format!(
                    "the stop-loss of {} could not be placed ({why}); closing the position",
                    key.1
                ),
                Some(position_id),
            );
            let signal = self.ids.next();
            self.launch_close(&key, signal, None, "emergency");
        }
    }

    fn on_close_done(
        &mut self,
        position_id: i64,
        result: Result<OrderReport, ExchangeError>,
        canceled: Vec<(ClientOrderId, Result<OrderReport, ExchangeError>)>,
    ) {
        let Some(key) = self.key_of(position_id) else {
            return;
        };
        if let Some(id) = self.live.get_mut(&key).and_then(|l| l.closing_id.take()) {
            self.inflight.remove(id.as_str());
        }
        for (id, r) in &canceled {
            if let Ok(r) = r {
                self.apply_report(id, Ok(r), None, Some(position_id));
            }
        }
        let close_id = self
            .orders
            .values()
            .find(|o| {
                o.position_id == Some(position_id)
                    && o.leg == OrderLeg::Close
                    && o.status == OrderStatus::Pending
            })
            .map(|o| o.client_order_id.clone());
        if let Some(id) = &close_id {
            self.apply_report(id, result.as_ref(), None, Some(position_id));
        }
        match result {
            Ok(r) if r.filled > Decimal::ZERO && r.status.is_final() => {
                let exit = r.avg_price.unwrap_or_default();
                let reason = self.live[&key].close_reason;
                self.finish_position(&key, exit, r.fee.unwrap_or_default(), None, reason);
            }
            Err(ExchangeError::ReduceOnlyRejected { .. }) => {
                // Nothing left to reduce: the venue closed it already (a
                // stop, a target, a liquidation). Reconciliation says how.
                self.reconcile(key.0);
            }
            other => {
                let l = self.live.get_mut(&key).expect("present");
                l.phase = Phase::Open;
                let dropped = l.then.take();
                if dropped.is_some() {
                    l.slot_handed_over = false;
                    self.risk.do_send(ReleaseSlot {
                        user_id: self.user_id,
                    });
                }
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(r) => format!("ended {:?}", r.status),
                };
                self.alert(
                    "close_failed",
                    format!("closing {} failed: {why}", key.1),
                    Some(position_id),
                );
                if close_id.is_none() {
                    self.reconcile(key.0);
                }
            }
        }
    }

    fn on_order_update(&mut self, account_id: i64, u: OrderUpdate) {
        let Some(id) = u.client_id.clone() else {
            return;
        };
        self.apply_report(
            &id,
            Ok(&u.report),
            (u.fee > Decimal::ZERO).then_some(u.fee),
            None,
        );
        let leg = id.leg();
        if u.report.status != tradingbot_core::exchange::OrderStatus::Filled
            || !matches!(leg, Some(Leg::StopLoss | Leg::TakeProfit))
        {
            return;
        }
        let key = self
            .live
            .iter()
            .find(|(k, l)| {
                k.0 == account_id && (l.sl.as_ref() == Some(&id) || l.tp.as_ref() == Some(&id))
            })
            .map(|(k, _)| k.clone());
        let Some(key) = key else { return };
        if self.live[&key].phase == Phase::Entering {
            return;
        }
        let exit = u.report.avg_price.unwrap_or_default();
        let reason = if leg == Some(Leg::StopLoss) {
            "stop_loss"
        } else {
            "take_profit"
        };
        self.finish_position(&key, exit, u.fee, u.realized_pnl, reason);
    }

    fn on_venue(&mut self, account_id: i64, update: VenueUpdate) {
        match update {
            VenueUpdate::Order(u) => self.on_order_update(account_id, u),
            VenueUpdate::Connected => self.reconcile(account_id),
            VenueUpdate::Position {
                symbol,
                position: None,
            } => {
                let key = (account_id, symbol);
                if self.live.get(&key).is_some_and(|l| l.phase == Phase::Open) {
                    // Gone on the venue without a close of ours: find out how.
                    self.reconcile(account_id);
                }
            }
            VenueUpdate::Liquidated { symbol, price } => {
                let key = (account_id, symbol);
                if self.live.contains_key(&key) {
                    let id = self.live[&key].rec.id;
                    self.alert(
                        "liquidated",
                        format!("{} was liquidated at {price}", key.1),
                        Some(id),
                    );
                    self.finish_position(&key, price, Decimal::ZERO, None, "liquidation");
                }
            }
            VenueUpdate::Position { .. }
            | VenueUpdate::Balances(_)
            | VenueUpdate::Disconnected(_) => {}
        }
    }

    /// Asks the account's venue for the truth about everything we track there.
    fn reconcile(&self, account_id: i64) {
        let mut queries = Vec::new();
        for ((acct, symbol), l) in &self.live {
            if *acct != account_id || l.protecting {
                // Protection being placed answers for itself.
                continue;
            }
            queries.push((symbol.clone(), l.entry_id.clone(), false));
            let sl = l.sl.clone().unwrap_or_else(|| {
                ClientOrderId::derive(l.strategy_id, l.entry_signal, Leg::StopLoss)
            });
            let tp = l.tp.clone().unwrap_or_else(|| {
                ClientOrderId::derive(l.strategy_id, l.entry_signal, Leg::TakeProfit)
            });
            queries.push((symbol.clone(), sl, true));
            queries.push((symbol.clone(), tp, true));
        }
        for o in self.orders.values() {
            if o.account_id == account_id
                && !queries.iter().any(|(_, id, _)| id == &o.client_order_id)
            {
                let conditional = matches!(o.leg, OrderLeg::StopLoss | OrderLeg::TakeProfit);
                queries.push((o.symbol.clone(), o.client_order_id.clone(), conditional));
            }
        }
        queries.retain(|(_, id, _)| !self.inflight.contains(id.as_str()));
        self.send_exchange(account_id, ex::Reconcile { orders: queries });
    }

    fn on_reconciled(
        &mut self,
        account_id: i64,
        positions: Vec<PositionReport>,
        orders: Vec<(ClientOrderId, Result<Option<OrderReport>, ExchangeError>)>,
    ) {
        let found: HashMap<String, Option<OrderReport>> = orders
            .into_iter()
            .filter_map(|(id, r)| r.ok().map(|r| (id.as_str().to_owned(), r)))
            .collect();
        let mut repaired = 0u32;
        // Orders we track: bring their records up to date.
        let tracked: Vec<ClientOrderId> = self
            .orders
            .values()
            .filter(|o| o.account_id == account_id)
            .filter(|o| !self.inflight.contains(o.client_order_id.as_str()))
            .map(|o| o.client_order_id.clone())
            .collect();
        for id in tracked {
            match found.get(id.as_str()) {
                Some(Some(r)) => {
                    self.apply_report(&id, Ok(r), None, None);
                }
                Some(None) => {
                    // Never reached the venue: it will not be filled.
                    let err = ExchangeError::OrderNotFound {
                        code: "reconcile".into(),
                        message: "the exchange has no such order".into(),
                    };
                    if self.orders.get(id.as_str()).is_some_and(|rec| {
                        matches!(
                            rec.status,
                            OrderStatus::Pending | OrderStatus::Unknown | OrderStatus::New
                        )
                    }) {
                        self.apply_report(&id, Err(&err), None, None);
                    }
                }
                None => {}
            }
        }
        let venue: HashMap<&str, &PositionReport> =
            positions.iter().map(|p| (p.symbol.as_str(), p)).collect();
        let keys: Vec<(i64, String)> = self
            .live
            .keys()
            .filter(|k| k.0 == account_id)
            .cloned()
            .collect();
        for key in keys {
            let l = self.live[&key].clone();
            let busy = self.inflight.contains(l.entry_id.as_str())
                || l.closing_id
                    .as_ref()
                    .is_some_and(|c| self.inflight.contains(c.as_str()))
                || l.protecting;
            if busy {
                // An answer is on its way; it will say more than this snapshot.
                continue;
            }
            let on_venue = venue.get(key.1.as_str()).copied();
            match (l.phase, on_venue) {
                (Phase::Entering, Some(vp)) => {
                    // The entry filled while we could not hear it.
                    let report = found.get(l.entry_id.as_str()).cloned().flatten();
                    let r = report.unwrap_or_else(|| synthetic_fill(&l, vp));
                    self.on_entry_done(l.rec.id, Ok(r));
                    self.protect(&key, Some(vp.entry_price));
                    repaired += 1;
                }
                (Phase::Entering, None) => {
                    let r = found.get(l.entry_id.as_str()).cloned().flatten();
                    match r {
                        Some(r) if r.status.is_final() => self.on_entry_done(l.rec.id, Ok(r)),
                        Some(_) => {}
                        None => self.on_entry_done(
                            l.rec.id,
                            Err(ExchangeError::OrderNotFound {
                                code: "reconcile".into(),
                                message: "the exchange never received the entry".into(),
                            }),
                        ),
                    }
                }
                (Phase::Open | Phase::Closing, Some(vp)) => {
                    if side_core(l.rec.side) != vp.side {
                        continue;
                    }
                    let live_order = |id: &Option<ClientOrderId>, leg: Leg| {
                        let id = id.clone().unwrap_or_else(|| {
                            ClientOrderId::derive(l.strategy_id, l.entry_signal, leg)
                        });
                        found
                            .get(id.as_str())
                            .cloned()
                            .flatten()
                            .filter(|r| !r.status.is_final())
                    };
                    let sl_ok = live_order(&l.sl, Leg::StopLoss).is_some()
                        || l.sl_pct >= Decimal::ONE_HUNDRED;
                    let tp_ok = live_order(&l.tp, Leg::TakeProfit).is_some();
                    if l.phase == Phase::Open && (!sl_ok || !tp_ok) {
                        self.protect(&key, None);
                        repaired += 1;
                    }
                }
                (Phase::Open | Phase::Closing, None) => {
                    // Closed on the venue while we were not looking.
                    let by = [
                        (l.sl.clone(), Leg::StopLoss, "stop_loss"),
                        (l.tp.clone(), Leg::TakeProfit, "take_profit"),
                    ]
                    .into_iter()
                    .find_map(|(id, leg, reason)| {
                        let id = id.unwrap_or_else(|| {
                            ClientOrderId::derive(l.strategy_id, l.entry_signal, leg)
                        });
                        found
                            .get(id.as_str())
                            .cloned()
                            .flatten()
                            .filter(|r| r.status == tradingbot_core::exchange::OrderStatus::Filled)
                            .map(|r| (r, reason))
                    });
                    let (exit, fee, reason) = match by {
                        Some((r, reason)) => (
                            r.avg_price.unwrap_or(l.rec.entry_price),
                            r.fee.unwrap_or_default(),
                            reason,
                        ),
                        None => {
                            let mark = self
                                .accounts
                                .get(&account_id)
                                .and_then(|a| a.view.mark(&key.1));
                            self.alert(
                                "position_closed_externally",
                                format!("{} was closed on the exchange outside TradingBot", key.1),
                                Some(l.rec.id),
                            );
                            (
                                mark.unwrap_or(l.rec.entry_price),
                                Decimal::ZERO,
                                "closed_externally",
                            )
                        }
                    };
                    self.finish_position(&key, exit, fee, None, reason);
                    repaired += 1;
                }
            }
        }
        // Positions on the venue we do not know: adopt them.
        for vp in &positions {
            let key = (account_id, vp.symbol.clone());
            if self.live.contains_key(&key) {
                continue;
            }
            if self.adopt(account_id, vp) {
                repaired += 1;
            }
        }
        if repaired > 0 {
            metrics::counter!("reconciliation_repairs_total").increment(u64::from(repaired));
            tracing::info!(
                user_id = self.user_id,
                account_id,
                repaired,
                "reconciliation repaired state"
            );
        }
    }

    /// Takes charge of a position found on the venue: the strategy whose
    /// unfinished entry it is, or the active strategy trading that symbol.
    fn adopt(&mut self, account_id: i64, vp: &PositionReport) -> bool {
        let venue = match self.accounts.get(&account_id) {
            Some(a) => a.view.venue,
            None => return false,
        };
        let entry = self
            .orders
            .values()
            .find(|o| {
                o.account_id == account_id && o.symbol == vp.symbol && o.leg == OrderLeg::Entry
            })
            .cloned();
        let (strategy_id, signal_id) = match entry.as_ref().and_then(|o| o.client_order_id.parts())
        {
            Some((s, sig, _)) => (s, sig),
            None => match self.strategies.values().find(|s| {
                s.active
                    && s.account_id == Some(account_id)
                    && s.config
                        .symbols
                        .iter()
                        .any(|sym| sym.on(venue) == vp.symbol)
            }) {
                Some(s) => (s.strategy_id, self.ids.next()),
                None => {
                    self.alert(
                        "unmanaged_position",
                        format!("{} is open on the exchange and no active strategy trades it; left alone", vp.symbol),
                        None,
                    );
                    return false;
                }
            },
        };
        let Some(route) = self.strategies.get(&strategy_id).cloned() else {
            return false;
        };
        let symbol = route
            .config
            .symbols
            .iter()
            .find(|s| s.on(venue) == vp.symbol)
            .cloned();
        let Some(symbol) = symbol else { return false };
        let (tp_pct, sl_pct) = match vp.side {
            PositionSide::Long => (route.config.long_tp_pct, route.config.long_sl_pct),
            PositionSide::Short => (route.config.short_tp_pct, route.config.short_sl_pct),
        };
        let position_id = self.ids.next();
        let entry_id = ClientOrderId::derive(strategy_id, signal_id, Leg::Entry);
        let rec = PositionRecord {
            id: position_id,
            user_id: self.user_id,
            strategy_id: Some(strategy_id),
            account_id,
            exchange: venue.as_str().to_owned(),
            symbol: symbol.as_str().to_owned(),
            side: side_db(vp.side),
            entry_price: vp.entry_price,
            quantity: vp.quantity,
            leverage: vp.leverage.unwrap_or(route.config.leverage),
            margin_mode: margin_db(vp.margin_mode.unwrap_or(route.config.margin_mode)),
            stop_loss: None,
            take_profit: None,
            liquidation_price: vp.liquidation_price,
            realized_pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            exit_price: None,
            close_reason: None,
            status: PositionStatus::Open,
            opened_at: Utc::now(),
            closed_at: None,
        };
        self.publish(Event::Position(rec.clone()));
        if let Some(o) = entry {
            let report = OrderReport {
                client_id: o.client_order_id.as_str().to_owned(),
                venue_order_id: o.venue_order_id.clone().unwrap_or_default(),
                symbol: vp.symbol.clone(),
                side: vp.side.entry_side(),
                status: tradingbot_core::exchange::OrderStatus::Filled,
                quantity: vp.quantity,
                filled: vp.quantity,
                avg_price: Some(vp.entry_price),
                fee: None,
                fee_asset: None,
                triggered_order_id: None,
                updated_ms: 0,
            };
            self.apply_report(&o.client_order_id, Ok(&report), None, Some(position_id));
        }
        self.live.insert(
            (account_id, vp.symbol.clone()),
            Live {
                rec,
                venue_symbol: vp.symbol.clone(),
                strategy_id,
                entry_signal: signal_id,
                entry_id,
                phase: Phase::Open,
                sl: None,
                tp: None,
                tp_pct,
                sl_pct,
                then: None,
                slot_handed_over: false,
                close_reason: "signal",
                closing_id: None,
                protecting: false,
            },
        );
        self.risk.do_send(TakeSlot {
            user_id: self.user_id,
        });
        self.alert(
            "position_adopted",
            format!(
                "{} {:?} {} found on the exchange was taken in charge by strategy {strategy_id}",
                vp.symbol, vp.side, vp.quantity
            ),
            Some(position_id),
        );
        self.protect(&(account_id, vp.symbol.clone()), Some(vp.entry_price));
        true
    }

    /// (Re)places the position's protection: orders that already rest on the
    /// venue under the same client ids are found, not duplicated.
    fn protect(&mut self, key: &(i64, String), entry: Option<Decimal>) {
        let Some(l) = self.live.get(key) else { return };
        let Some(link) = self.accounts.get(&key.0) else {
            return;
        };
        let Some(rules) = link.view.rules(&key.1) else {
            return;
        };
        let side = side_core(l.rec.side);
        let entry = entry.unwrap_or(l.rec.entry_price);
        let prices = sizing::protection(side, entry, l.tp_pct, l.sl_pct, &rules);
        let sl = l.rec.stop_loss.or(prices.stop_loss);
        let tp = l.rec.take_profit.or(prices.take_profit);
        let mut orders = Vec::new();
        if let Some(p) = sl {
            orders.push(ex::protective(
                &key.1,
                side,
                ClientOrderId::derive(l.strategy_id, l.entry_signal, Leg::StopLoss),
                p,
                true,
            ));
        }
        if let Some(p) = tp {
            orders.push(ex::protective(
                &key.1,
                side,
                ClientOrderId::derive(l.strategy_id, l.entry_signal, Leg::TakeProfit),
                p,
                false,
            ));
        }
        let margin = match l.rec.margin_mode {
            DbMargin::Isolated => MarginMode::Isolated,
            DbMargin::Cross => MarginMode::Cross,
        };
        let position_id = l.rec.id;
        if let Some(l) = self.live.get_mut(key) {
            l.protecting = true;
        }
        let msg = ex::Protect {
            position_id,
            orders,
            margin,
            reference: entry,
        };
        self.send_exchange(key.0, msg);
    }

    /// Rebuilds positions and unfinished orders from the store.
    fn restore(&mut self, r: Restored) {
        let mut of_positions: HashMap<i64, Vec<(OrderLeg, ClientOrderId)>> = HashMap::new();
        for o in r.orders {
            let Ok(id) = ClientOrderId::try_from(o.client_order_id.clone()) else {
                continue;
            };
            let rec = OrderRecord {
                id: o.id,
                user_id: o.user_id,
                position_id: o.position_id,
                strategy_id: o.strategy_id,
                signal_id: o.signal_id,
                account_id: o.account_id.unwrap_or_default(),
                exchange: o.exchange,
                venue_order_id: o.order_id,
                client_order_id: id,
                leg: o.leg,
                symbol: o.symbol,
                side: o.side,
                order_type: o.order_type,
                price: o.price.map(|d| d.get()),
                trigger_price: o.trigger_price.map(|d| d.get()),
                quantity: o.quantity.get(),
                filled_qty: o.filled_qty.get(),
                avg_fill_price: o.avg_fill_price.map(|d| d.get()),
                fee: o.fee.get(),
                fee_asset: o.fee_asset,
                reduce_only: o.reduce_only,
                status: o.status,
                error_code: o.error_code,
                error_message: o.error_message,
                created_at: o.created_at,
                updated_at: o.updated_at,
                filled_at: o.filled_at,
            };
            if let Some(pid) = rec.position_id {
                of_positions
                    .entry(pid)
                    .or_default()
                    .push((rec.leg, rec.client_order_id.clone()));
            }
            if !rec.status.is_final_db() {
                self.orders
                    .insert(rec.client_order_id.as_str().to_owned(), rec);
            }
        }
        for p in r.positions {
            let Some(account_id) = p.account_id else {
                continue;
            };
            let venue = match p.exchange.as_str() {
                "binance" => Venue::Binance,
                "okx" => Venue::Okx,
                _ => Venue::Paper,
            };
            let Ok(symbol) = Symbol::parse(&p.symbol) else {
                continue;
            };
            let venue_symbol = symbol.on(venue);
            // The protective orders of the position, and the entry's signal.
            let mine = of_positions.remove(&p.id).unwrap_or_default();
            let find = |leg: OrderLeg| {
                mine.iter()
                    .find(|(l, _)| *l == leg)
                    .map(|(_, id)| id.clone())
            };
            let (sl, tp) = (find(OrderLeg::StopLoss), find(OrderLeg::TakeProfit));
            let entry_signal = find(OrderLeg::Entry)
                .or(sl.clone())
                .or(tp.clone())
                .and_then(|id| id.parts())
                .map(|(_, sig, _)| sig)
                .unwrap_or(p.id);
            let strategy_id = p.strategy_id.unwrap_or_default();
            let route = self.strategies.get(&strategy_id);
            let (tp_pct, sl_pct) = match (route, p.side) {
                (Some(r), DbSide::Long) => (r.config.long_tp_pct, r.config.long_sl_pct),
                (Some(r), DbSide::Short) => (r.config.short_tp_pct, r.config.short_sl_pct),
                (None, _) => (Decimal::from(5), Decimal::TWO),
            };
            let rec = PositionRecord {
                id: p.id,
                user_id: p.user_id,
                strategy_id: p.strategy_id,
                account_id,
                exchange: p.exchange.clone(),
                symbol: p.symbol.clone(),
                side: p.side,
                entry_price: p.entry_price.get(),
                quantity: p.quantity.get(),
                leverage: p.leverage.max(1) as u32,
                margin_mode: p.margin_mode,
                stop_loss: p.stop_loss.map(|d| d.get()),
                take_profit: p.take_profit.map(|d| d.get()),
                liquidation_price: p.liquidation_price.map(|d| d.get()),
                realized_pnl: p.realized_pnl.get(),
                fees: p.fees.get(),
                exit_price: None,
                close_reason: None,
                status: PositionStatus::Open,
                opened_at: p.opened_at,
                closed_at: None,
            };
            self.live.insert(
                (account_id, venue_symbol.clone()),
                Live {
                    rec,
                    venue_symbol,
                    strategy_id,
                    entry_signal,
                    entry_id: ClientOrderId::derive(strategy_id, entry_signal, Leg::Entry),
                    phase: Phase::Open,
                    sl,
                    tp,
                    tp_pct,
                    sl_pct,
                    then: None,
                    slot_handed_over: false,
                    close_reason: "signal",
                    closing_id: None,
                    protecting: false,
                },
            );
        }
    }
}

/// A fill report made from the venue's position, for an entry whose own
/// report is lost.
fn synthetic_fill(l: &Live, vp: &PositionReport) -> OrderReport {
    OrderReport {
        client_id: l.entry_id.as_str().to_owned(),
        venue_order_id: String::new(),
        symbol: vp.symbol.clone(),
        side: vp.side.entry_side(),
        status: tradingbot_core::exchange::OrderStatus::Filled,
        quantity: vp.quantity,
        filled: vp.quantity,
        avg_price: Some(vp.entry_price),
        fee: None,
        fee_asset: None,
        triggered_order_id: None,
        updated_ms: 0,
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        if let Some(r) = self.restored.take() {
            self.restore(r);
        }
    }
}

impl Handler<SignalReceived> for UserActor {
    type Result = AtomicResponse<Self, Outcome>;

    fn handle(&mut self, mut msg: SignalReceived, _: &mut Self::Context) -> Self::Result {
        self.depth.handled();
        if !msg.warmed
            && let Some((exchange, symbol)) = self.cold(&msg)
        {
            // The first signal after a start or a new strategy may find the
            // account's rules, price or balance not loaded yet: load them
            // (bounded) rather than refuse the alert.
            msg.warmed = true;
            self.exchange_depth.sent();
            let warm = exchange.send(ex::Warm { symbol });
            return AtomicResponse::new(Box::pin(
                warm.into_actor(self)
                    .then(move |_, act, _| act.process(msg)),
            ));
        }
        AtomicResponse::new(self.process(msg))
    }
}

impl UserActor {
    /// The account and symbol a signal needs but whose market data is not
    /// in memory yet.
    fn cold(&self, msg: &SignalReceived) -> Option<(Addr<ExchangeActor>, String)> {
        let route = self
            .strategies
            .get(&msg.route.strategy_id)
            .unwrap_or(&msg.route);
        let link = self.accounts.get(&route.account_id?)?;
        let symbol = match &msg.alert.symbol {
            Some(s) => s.clone(),
            None if route.config.symbols.len() == 1 => route.config.symbols[0].clone(),
            None => return None,
        };
        let vs = symbol.on(link.view.venue);
        let ready = link.view.rules(&vs).is_some()
            && link.view.mark(&vs).is_some()
            && link.view.balance().is_some();
        (!ready).then(|| (link.exchange.clone(), vs))
    }

    fn process(&mut self, msg: SignalReceived) -> ResponseActFuture<Self, Outcome> {
        let plan = match self.plan(&msg) {
            Ok(p) => p,
            Err(outcome) => {
                self.record_signal(&msg, &outcome);
                return Box::pin(actix::fut::ready(outcome));
            }
        };
        let sid = msg.signal_id;
        if let Plan::Close {
            key,
            signal_id,
            origin,
            reason,
        } = &plan
        {
            let outcome = Outcome::Accepted {
                signal_id: sid,
                intent: "close".into(),
            };
            self.record_signal(&msg, &outcome);
            self.launch_close(key, *signal_id, Some(*origin), reason);
            return Box::pin(actix::fut::ready(outcome));
        }
        let (notional, leverage, replacing) = match &plan {
            Plan::Enter { size, pending, .. } => (size.notional, pending.leverage, false),
            Plan::Reverse {
                notional, pending, ..
            } => (*notional, pending.leverage, true),
            Plan::Close { .. } => unreachable!("handled above"),
        };
        let check = CheckEntry {
            user_id: self.user_id,
            leverage,
            notional,
            equity: self.equity(),
            now_ms: Utc::now().timestamp_millis(),
            replacing,
        };
        Box::pin(
            self.risk
                .send(check)
                .into_actor(self)
                .map(move |answer, act, _| {
                    let side_name = |side: PositionSide| {
                        if side == PositionSide::Long {
                            "long"
                        } else {
                            "short"
                        }
                    };
                    // The signal is recorded before its orders: they refer to it.
                    match (answer, plan) {
                        (
                            Ok(Ok(())),
                            Plan::Enter {
                                pending,
                                size,
                                price,
                                account_id,
                                venue_symbol,
                                symbol,
                            },
                        ) => {
                            let outcome = Outcome::Accepted {
                                signal_id: sid,
                                intent: format!("open_{}", side_name(pending.side)),
                            };
                            act.record_signal(&msg, &outcome);
                            act.launch_entry(
                                pending,
                                size,
                                price,
                                account_id,
                                venue_symbol,
                                symbol,
                            );
                            outcome
                        }
                        (
                            Ok(Ok(())),
                            Plan::Reverse {
                                key,
                                signal_id,
                                pending,
                                ..
                            },
                        ) => {
                            let outcome = Outcome::Accepted {
                                signal_id: sid,
                                intent: format!("reverse_to_{}", side_name(pending.side)),
                            };
                            act.record_signal(&msg, &outcome);
                            if let Some(l) = act.live.get_mut(&key) {
                                l.then = Some(pending);
                                l.slot_handed_over = true;
                            }
                            act.launch_close(&key, signal_id, Some(msg.received), "reversal");
                            outcome
                        }
                        (Ok(Err(rejection)), plan) => {
                            act.publish(Event::RiskAlert(RiskAlert {
                                user_id: act.user_id,
                                kind: "entry_refused".into(),
                                rule: Some(rejection.rule),
                                message: rejection.message.clone(),
                                position_id: None,
                            }));
                            if let Plan::Reverse { key, signal_id, .. } = plan {
                                // The close still happens; only the new entry is refused.
                                let outcome = Outcome::Rejected {
                                    signal_id: sid,
                                    status: 422,
                                    code: rejection.rule.as_str().to_owned(),
                                    message: format!(
                                        "position closed; the reversing entry was refused: {}",
                                        rejection.message
                                    ),
                                };
                                act.record_signal(&msg, &outcome);
                                act.launch_close(&key, signal_id, Some(msg.received), "signal");
                                outcome
                            } else {
                                let outcome =
                                    reject(sid, 422, rejection.rule.as_str(), rejection.message);
                                act.record_signal(&msg, &outcome);
                                outcome
                            }
                        }
                        (Err(_), _) | (Ok(Ok(())), Plan::Close { .. }) => {
                            let outcome = reject(
                                sid,
                                503,
                                "risk_unavailable",
                                "the risk service is restarting; retry",
                            );
                            act.record_signal(&msg, &outcome);
                            outcome
                        }
                    }
                }),
        )
    }
}

impl Handler<FromExchange> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: FromExchange, _: &mut Self::Context) {
        match msg {
            FromExchange::EntryDone {
                position_id,
                result,
            } => self.on_entry_done(position_id, result),
            FromExchange::ProtectionDone {
                position_id,
                placed,
            } => self.on_protection_done(position_id, placed),
            FromExchange::CloseDone {
                position_id,
                result,
                canceled,
            } => self.on_close_done(position_id, result, canceled),
            FromExchange::Venue { account_id, update } => self.on_venue(account_id, update),
            FromExchange::Reconciled {
                account_id,
                positions,
                orders,
            } => match positions {
                Ok(p) => self.on_reconciled(account_id, p, orders),
                Err(e) => {
                    tracing::warn!(user_id = self.user_id, account_id, error = %e, "reconciliation could not read positions")
                }
            },
        }
    }
}

/// A strategy was created, changed or (with `None`) removed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StrategyChanged {
    pub strategy_id: i64,
    pub route: Option<Arc<StrategyRoute>>,
}

impl Handler<StrategyChanged> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: StrategyChanged, _: &mut Self::Context) {
        self.depth.handled();
        match msg.route {
            Some(r) => {
                if let Some(a) = r.account_id.and_then(|id| self.accounts.get(&id)) {
                    let venue = a.view.venue;
                    let symbols = r
                        .config
                        .symbols
                        .iter()
                        .map(|s| (s.on(venue), r.config.leverage, r.config.margin_mode))
                        .collect();
                    self.exchange_depth.sent();
                    a.exchange.do_send(ex::Watch { symbols });
                }
                self.strategies.insert(msg.strategy_id, r);
            }
            None => {
                self.strategies.remove(&msg.strategy_id);
            }
        }
    }
}

/// An exchange account of the user is connected (or reconnected with new
/// credentials): start trading through it and reconcile.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AccountAttached {
    pub link: AccountLink,
}

impl Handler<AccountAttached> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: AccountAttached, _: &mut Self::Context) {
        self.depth.handled();
        let account_id = msg.link.view.account_id;
        let venue = msg.link.view.venue;
        let symbols: Vec<(String, u32, MarginMode)> = self
            .strategies
            .values()
            .filter(|s| s.account_id == Some(account_id))
            .flat_map(|s| {
                s.config
                    .symbols
                    .iter()
                    .map(|sym| (sym.on(venue), s.config.leverage, s.config.margin_mode))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.exchange_depth.sent();
        msg.link.exchange.do_send(ex::Watch { symbols });
        self.accounts.insert(account_id, msg.link);
        self.reconcile(account_id);
    }
}

/// An exchange account was deleted: its actor stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AccountDetached {
    pub account_id: i64,
}

impl Handler<AccountDetached> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: AccountDetached, _: &mut Self::Context) {
        self.depth.handled();
        self.accounts.remove(&msg.account_id);
    }
}

/// Waits until every message sent before it has been handled (tests, shutdown).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct OpenPositions;

impl Handler<OpenPositions> for UserActor {
    type Result = usize;

    fn handle(&mut self, _: OpenPositions, _: &mut Self::Context) -> usize {
        self.depth.handled();
        self.live.len()
    }
}
