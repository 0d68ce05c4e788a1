//! One actor per user: that user's strategies, positions and orders.
//!
//! It turns a signal into an intent (enter, close, reverse), sizes it from
//! the account's balance and the venue's rules, has risk decide it in place
//! (the user's ledger, no message round trip), and
//! hands the order to the account's exchange actor — all from memory,
//! answering the webhook before the exchange does. It is the only writer of
//! its user's position and order records: every change goes out as an
//! event, and the database follows behind.

mod ladder;
mod lifecycle;
mod limits;
mod manual;
mod orders;
mod pauses;
mod protection;
mod reconcile;
mod signals;

pub use manual::{ClosePosition, CloseRefused, CloseSource, CloseStarted};

use super::FromExchange;
use super::bus::EventBus;
use super::events::{Event, OrderRecord, PositionRecord, RiskAlert, SignalRecord};
use super::exchange::{self as ex, ExchangeActor, Placed};
use super::ids::IdGen;
use super::mailbox::Depth;
use super::registry::StrategyRoute;
use super::risk::{CheckEntry, RiskApproved, RiskBook};
use super::view::AccountView;
use crate::exchange::updates::{OrderUpdate, VenueUpdate};
use crate::store::enums::{
    MarginMode as DbMargin, OrderLeg, OrderSide, OrderStatus, OrderType, PositionSide as DbSide,
    PositionStatus, SignalOutcome,
};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tradingbot_core::entry::EntryOrder;
use tradingbot_core::exchange::{
    ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderReport, OrderRequest, OrderSize,
    PositionReport, PositionSide, Side, Venue,
};
use tradingbot_core::exits::{self, Ladder};
use tradingbot_core::protections;
pub use tradingbot_core::refusal::Refusal;
use tradingbot_core::signal::{Action, Alert};
use tradingbot_core::sizing::{self, EntrySize};
use tradingbot_core::strategy::{OppositeSignal, Sizing};
use tradingbot_core::symbol::Symbol;
use tradingbot_core::trailing::Trailing;

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
    /// A stop that break-even replaces: it keeps resting (the position is
    /// never without a stop) until its successor is confirmed.
    replaced: Option<ClientOrderId>,
    /// The take-profit ladder it exits by (`None`: one take-profit for the
    /// whole position).
    ladder: Option<Ladder>,
    /// Its targets' orders, computed from the fill and the venue's rules
    /// when first placed (empty until then).
    plan: Vec<exits::Leg>,
    /// Targets confirmed resting on the venue, by number.
    targets: BTreeMap<u8, ClientOrderId>,
    /// What its filled targets closed.
    closed: Closed,
    /// Its trailing stop, as the strategy set it when it opened.
    trailing: Option<Trailing>,
    /// The trailing stop confirmed resting on the venue.
    trail: Option<ClientOrderId>,
    /// A limit entry resting on the venue (phase `Entering`).
    limit: Option<LimitEntry>,
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
    /// Placements of the protection that came back without a stop.
    protect_attempts: u32,
    /// What we hold of its stop and target has been compared with the
    /// venue's open orders (always, for a position opened in this run);
    /// until then the guard does not place what may already rest there.
    verified: bool,
}

/// A limit entry waiting for its fill.
#[derive(Debug, Clone, Copy)]
struct LimitEntry {
    /// When it is cancelled if it has not filled.
    deadline: Instant,
    fallback: tradingbot_core::entry::Fallback,
    /// Its cancel has been sent.
    cancelling: bool,
}

/// The part of a position its targets closed.
#[derive(Debug, Clone, Default)]
struct Closed {
    /// Target numbers that filled.
    targets: BTreeSet<u8>,
    /// Base quantity they closed.
    qty: Decimal,
    /// Their PnL before fees.
    gross: Decimal,
    /// Σ quantity × exit price, for the average exit.
    value: Decimal,
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
    /// The strategy's sizing with the alert's amount in it.
    sizing: Sizing,
    tp_pct: Decimal,
    sl_pct: Decimal,
    /// The strategy's ladder, unless the alert named its own take-profit.
    ladder: Option<Ladder>,
    trailing: Option<Trailing>,
    /// At market, or a limit order (with the alert's own price, if any).
    entry: EntryOrder,
    limit_price: Option<Decimal>,
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
        refusal: Refusal,
    },
}

fn reject(signal_id: i64, refusal: Refusal) -> Outcome {
    Outcome::Rejected { signal_id, refusal }
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
    /// Taken over from another instance, whose last records may be only in
    /// its own journal: the venue says what is open before any alert is
    /// decided.
    pub takeover: bool,
    /// Positions opened or closed since the UTC day began: the
    /// protections' ledgers are rebuilt from them.
    pub today: Vec<crate::store::entities::positions::Model>,
}

pub struct UserActor {
    user_id: i64,
    ids: Arc<IdGen>,
    bus: Arc<EventBus>,
    risk: Arc<RiskBook>,
    strategies: HashMap<i64, Arc<StrategyRoute>>,
    accounts: HashMap<i64, AccountLink>,
    live: HashMap<(i64, String), Live>,
    orders: HashMap<String, OrderRecord>,
    /// Orders sent whose answer has not come back: reconciliation must not
    /// conclude anything about them yet.
    inflight: std::collections::HashSet<String>,
    restored: Option<Restored>,
    /// Each strategy's trading today, for its protections.
    protection_days: HashMap<i64, protections::Ledger>,
    /// Until when each strategy's last protection notice holds (one notice
    /// per pause, not one per refused alert).
    protection_told: HashMap<i64, chrono::DateTime<Utc>>,
    /// After a takeover: accounts compared with their venue since. Until
    /// then an alert for the account could be decided on a store that
    /// misses the previous owner's last fill (a close refused
    /// `no_open_position` while the position is open on the venue).
    synced_after_takeover: Option<HashSet<i64>>,
    depth: Arc<Depth>,
    exchange_depth: Arc<Depth>,
    /// Positions that ended while their protection was being placed: what
    /// that placement puts on the venue is cancelled when it answers.
    orphans: HashMap<i64, (i64, String)>,
    /// When we last changed each (account, symbol) slot ourselves.
    touched: HashMap<(i64, String), Instant>,
    /// Reconciliations in flight, by account: when asked, and whether
    /// another was wanted meanwhile (one at a time, so each answer can be
    /// judged against the moment it was asked).
    reconciling: HashMap<i64, (Instant, bool)>,
    /// When each account's last reconciliation was asked for (a stream
    /// that reconnects right after one need not ask again).
    reconciled_at: HashMap<i64, Instant>,
    /// Handed over to another instance: takes no new signal, stops once
    /// its orders in flight are answered.
    retiring: Option<(Instant, Option<tokio::sync::oneshot::Sender<()>>)>,
    me: Option<Addr<UserActor>>,
}

fn order_side(s: Side) -> OrderSide {
    match s {
        Side::Buy => OrderSide::Buy,
        Side::Sell => OrderSide::Sell,
    }
}

fn margin_db(m: MarginMode) -> DbMargin {
    DbMargin::from(m)
}

fn leg_db(l: Leg) -> OrderLeg {
    match l {
        Leg::Entry | Leg::FallbackEntry => OrderLeg::Entry,
        Leg::StopLoss => OrderLeg::StopLoss,
        Leg::TakeProfit | Leg::Target(_) => OrderLeg::TakeProfit,
        // The orders table's legs predate them: the client id and the
        // order type tell a moved or trailing stop from the first.
        Leg::MovedStop | Leg::TrailingStop => OrderLeg::StopLoss,
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
        risk: Arc<RiskBook>,
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
            synced_after_takeover: restored.takeover.then(HashSet::new),
            restored: Some(restored),
            protection_days: HashMap::new(),
            protection_told: HashMap::new(),
            depth,
            exchange_depth,
            orphans: HashMap::new(),
            touched: HashMap::new(),
            reconciling: HashMap::new(),
            reconciled_at: HashMap::new(),
            retiring: None,
            me: None,
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
        tracing::warn!(user_id = self.user_id, kind, detail = %message, "trading alert");
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

    fn equity(&self) -> Decimal {
        self.accounts
            .values()
            .filter_map(|a| a.view.balance())
            .map(|b| b.equity())
            .sum()
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.me = Some(ctx.address());
        if let Some(r) = self.restored.take() {
            self.restore(r);
        }
        // The protection invariant, checked from memory every second: an
        // open position without a confirmed stop gets one.
        ctx.run_interval(protection::GUARD_EVERY, |act, _| {
            if act.retiring.is_none() {
                act.expire_limits();
                act.guard();
            }
        });
        // The venue is asked again now and then: stops cancelled by hand,
        // leftovers, positions closed while a stream was quiet.
        ctx.run_interval(protection::SWEEP_EVERY, |act, _| {
            if act.retiring.is_some() {
                return;
            }
            let accounts: Vec<i64> = act.accounts.keys().copied().collect();
            for a in accounts {
                act.reconcile_with(a, true);
            }
        });
    }
}

impl Handler<SignalReceived> for UserActor {
    type Result = AtomicResponse<Self, Outcome>;

    fn handle(&mut self, mut msg: SignalReceived, _: &mut Self::Context) -> Self::Result {
        self.depth.handled();
        if self.retiring.is_some() {
            // Not recorded here: the instance taking over receives it.
            return AtomicResponse::new(Box::pin(actix::fut::ready(reject(
                msg.signal_id,
                Refusal::OwnerChanging,
            ))));
        }
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

impl Handler<FromExchange> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: FromExchange, _: &mut Self::Context) {
        match msg {
            FromExchange::EntryDone {
                position_id,
                result,
            } => self.on_entry_done(position_id, result),
            FromExchange::EntryCanceled {
                position_id,
                result,
            } => self.on_entry_canceled(position_id, result),
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
                open,
            } => match positions {
                Ok(p) => self.on_reconciled(account_id, p, orders, open),
                Err(e) => {
                    tracing::warn!(user_id = self.user_id, account_id, error = %e, "reconciliation could not read positions");
                    let again = self
                        .reconciling
                        .remove(&account_id)
                        .is_some_and(|(_, again)| again);
                    // A periodic sweep the budget turned away waits for the
                    // next round (protective reads are never turned away).
                    let skipped = e.throttled() && !again;
                    if !skipped && let Some(me) = self.me.clone() {
                        actix::spawn(async move {
                            let wait = if again { 200 } else { 2_000 };
                            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                            me.do_send(ReconcileAccount { account_id });
                        });
                    }
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

/// A position a strategy holds (opening, open or closing), as its user's
/// actor knows it this instant (the store may lag behind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPosition {
    pub position_id: i64,
    pub account_id: i64,
    /// Canonical (`BTCUSDT`).
    pub symbol: String,
    pub margin_mode: MarginMode,
}

/// The positions strategy `strategy_id` holds.
#[derive(Message)]
#[rtype(result = "Vec<HeldPosition>")]
pub struct PositionsOf {
    pub strategy_id: i64,
}

impl Handler<PositionsOf> for UserActor {
    type Result = MessageResult<PositionsOf>;

    fn handle(&mut self, msg: PositionsOf, _: &mut Self::Context) -> Self::Result {
        self.depth.handled();
        MessageResult(
            self.live
                .iter()
                .filter(|(_, l)| l.strategy_id == msg.strategy_id)
                .map(|((account_id, _), l)| HeldPosition {
                    position_id: l.rec.id,
                    account_id: *account_id,
                    symbol: l.rec.symbol.clone(),
                    margin_mode: MarginMode::from(l.rec.margin_mode),
                })
                .collect(),
        )
    }
}

/// Compare an account with its venue now (a retry after a failed read).
#[derive(Message)]
#[rtype(result = "()")]
struct ReconcileAccount {
    account_id: i64,
}

impl Handler<ReconcileAccount> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: ReconcileAccount, _: &mut Self::Context) {
        self.reconcile(msg.account_id);
    }
}

/// Hand the user over to another instance: take no new signal, and stop
/// once the orders in flight are answered (`graceful`, at most
/// [`RETIRE_WAIT`]) or at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire {
    pub graceful: bool,
}

/// Longest a graceful hand-over waits for orders in flight.
pub const RETIRE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Handler<Retire> for UserActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Retire, ctx: &mut Self::Context) -> Self::Result {
        self.depth.handled();
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !msg.graceful {
            ctx.stop();
            return Box::pin(async {});
        }
        self.retiring = Some((Instant::now(), Some(tx)));
        ctx.run_interval(std::time::Duration::from_millis(50), |act, ctx| {
            let idle = act.inflight.is_empty() && act.live.values().all(|l| !l.protecting);
            let late = act
                .retiring
                .as_ref()
                .is_some_and(|(since, _)| since.elapsed() >= RETIRE_WAIT);
            if idle || late {
                if let Some((_, Some(tx))) = act.retiring.as_mut().map(|(s, t)| (*s, t.take())) {
                    let _ = tx.send(());
                }
                ctx.stop();
            }
        });
        Box::pin(async move {
            let _ = tokio::time::timeout(RETIRE_WAIT * 2, rx).await;
        })
    }
}
