//! The position monitor: values every open position at the latest mark,
//! tells the trader (throttled per position), and announces each new ±step
//! of PnL. It only reads — marks from the shared tables, positions from the
//! events the user actors publish — so it can never slow or block trading.

use super::bus::EventBus;
use super::events::{Event, PnlStep, PositionRecord, PositionValue, PriceTick};
use super::view::AccountView;
use crate::store::Store;
use crate::store::entities::positions;
use crate::store::enums::{MarginMode, PositionStatus};
use actix::prelude::*;
use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tradingbot_core::exchange::PositionSide;
use tradingbot_core::position::{self, Collateral, Holding, Maintenance, PnlSteps};
use tradingbot_core::symbol::Symbol;

/// How the monitor paces itself.
#[derive(Debug, Clone, Copy)]
pub struct MonitorSettings {
    /// How often marks are read.
    pub tick: Duration,
    /// At most one `position_update` per position this often.
    pub throttle: Duration,
    /// PnL (percent of margin) between two alerts.
    pub step_pct: Decimal,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(250),
            throttle: Duration::from_secs(1),
            step_pct: Decimal::ONE,
        }
    }
}

/// The latest valuation of each open position, for the API to read.
pub type Valuations = Arc<RwLock<HashMap<i64, PositionValue>>>;

struct Tracked {
    rec: PositionRecord,
    venue_symbol: String,
    steps: PnlSteps,
    last_sent: Option<(Instant, Decimal)>,
}

pub struct PositionMonitor {
    store: Store,
    bus: Arc<EventBus>,
    settings: MonitorSettings,
    views: HashMap<i64, Arc<AccountView>>,
    open: HashMap<i64, Tracked>,
    valuations: Valuations,
    /// Last price announced per (exchange, symbol).
    prices: HashMap<(String, String), Decimal>,
}

impl PositionMonitor {
    pub fn new(
        store: Store,
        bus: Arc<EventBus>,
        settings: MonitorSettings,
        valuations: Valuations,
    ) -> Self {
        Self {
            store,
            bus,
            settings,
            views: HashMap::new(),
            open: HashMap::new(),
            valuations,
            prices: HashMap::new(),
        }
    }

    fn track(&mut self, rec: PositionRecord) {
        if rec.status != PositionStatus::Open || rec.quantity.is_zero() {
            self.open.remove(&rec.id);
            self.valuations
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&rec.id);
            return;
        }
        let venue_symbol = self
            .views
            .get(&rec.account_id)
            .and_then(|v| Symbol::parse(&rec.symbol).ok().map(|s| s.on(v.venue)))
            .unwrap_or_else(|| rec.symbol.clone());
        match self.open.get_mut(&rec.id) {
            Some(t) => {
                t.venue_symbol = venue_symbol;
                t.rec = rec;
            }
            None => {
                self.open.insert(
                    rec.id,
                    Tracked {
                        rec,
                        venue_symbol,
                        steps: PnlSteps::default(),
                        last_sent: None,
                    },
                );
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let mut seen_prices: Vec<PriceTick> = Vec::new();
        for t in self.open.values_mut() {
            let Some(view) = self.views.get(&t.rec.account_id) else {
                continue;
            };
            let Some(mark) = view.mark(&t.venue_symbol) else {
                continue;
            };
            let key = (t.rec.exchange.clone(), t.rec.symbol.clone());
            if self.prices.get(&key) != Some(&mark) {
                self.prices.insert(key, mark);
                seen_prices.push(PriceTick {
                    exchange: t.rec.exchange.clone(),
                    symbol: t.rec.symbol.clone(),
                    price: mark,
                    at: Utc::now(),
                });
            }
            let due = t.last_sent.is_none_or(|(at, price)| {
                price != mark && now.duration_since(at) >= self.settings.throttle
            });
            let value = valuation(&t.rec, mark, view);
            if let Some(step) = t
                .steps
                .observe(value.pnl_percentage, self.settings.step_pct)
            {
                self.bus.publish_live(Event::PnlStep(PnlStep {
                    user_id: value.user_id,
                    position_id: value.position_id,
                    symbol: value.symbol.clone(),
                    side: value.side,
                    step,
                    step_pct: self.settings.step_pct,
                    pnl_percentage: value.pnl_percentage,
                    unrealized_pnl: value.unrealized_pnl,
                    current_price: mark,
                }));
            }
            self.valuations
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(value.position_id, value.clone());
            if due {
                t.last_sent = Some((now, mark));
                self.bus.publish_live(Event::PositionValue(value));
            }
        }
        for p in seen_prices {
            self.bus.publish_live(Event::Price(p));
        }
    }
}

/// The position at `mark`. The liquidation price the venue reported wins;
/// otherwise it is estimated with the first maintenance bracket — on the
/// position's own margin (isolated) or the account's wallet (cross).
pub fn valuation(rec: &PositionRecord, mark: Decimal, view: &AccountView) -> PositionValue {
    let h = Holding {
        side: PositionSide::from(rec.side),
        entry_price: rec.entry_price,
        quantity: rec.quantity,
        leverage: rec.leverage,
        stop_loss: rec.stop_loss,
        take_profit: rec.take_profit,
    };
    let v = position::value(&h, mark);
    let liquidation_price = rec.liquidation_price.or_else(|| {
        let collateral = match rec.margin_mode {
            MarginMode::Isolated => Collateral::Isolated,
            MarginMode::Cross => Collateral::Cross {
                wallet: view.balance().map_or(v.initial_margin, |b| b.wallet),
                others_maintenance: Decimal::ZERO,
                others_unrealized: Decimal::ZERO,
            },
        };
        position::liquidation_price(&h, Maintenance::default(), collateral).map(|p| p.round_dp(2))
    });
    PositionValue {
        user_id: rec.user_id,
        position_id: rec.id,
        account_id: rec.account_id,
        strategy_id: rec.strategy_id,
        exchange: rec.exchange.clone(),
        symbol: rec.symbol.clone(),
        side: rec.side,
        entry_price: rec.entry_price,
        quantity: rec.quantity,
        leverage: rec.leverage,
        current_price: mark,
        unrealized_pnl: v.unrealized_pnl,
        pnl_percentage: v.roe_pct.round_dp(2),
        roi_pct: v.roi_pct.round_dp(2),
        liquidation_price,
        stop_loss: rec.stop_loss,
        take_profit: rec.take_profit,
        distance_to_sl_pct: v.distance_to_sl_pct.map(|d| d.round_dp(2)),
        distance_to_tp_pct: v.distance_to_tp_pct.map(|d| d.round_dp(2)),
        at: Utc::now(),
    }
}

impl Actor for PositionMonitor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let me = ctx.address();
        // Only what changes the set of positions.
        let mut rx = self
            .bus
            .subscribe_where(Arc::new(|e: &Event| e.position().is_some()));
        actix::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        if let Some(p) = e.position()
                            && me.try_send(Tracking(p.clone())).is_err()
                            && !me.connected()
                        {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_)) => me.do_send(Reload),
                    Err(RecvError::Closed) => break,
                }
            }
        });
        ctx.notify(Reload);
        ctx.run_interval(self.settings.tick, |act, _| act.tick());
    }
}

/// A position record changed.
#[derive(Message)]
#[rtype(result = "()")]
struct Tracking(PositionRecord);

impl Handler<Tracking> for PositionMonitor {
    type Result = ();
    fn handle(&mut self, msg: Tracking, _: &mut Self::Context) {
        self.track(msg.0);
    }
}

/// Read the open positions from the store again (at start, and when the
/// monitor fell behind the bus).
#[derive(Message)]
#[rtype(result = "()")]
struct Reload;

impl Handler<Reload> for PositionMonitor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Reload, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        Box::pin(
            async move {
                positions::Entity::find()
                    .filter(positions::Column::Status.eq(PositionStatus::Open))
                    .all(store.conn())
                    .await
            }
            .into_actor(self)
            .map(|rows, act, _| match rows {
                Ok(rows) => {
                    for row in rows {
                        // A record newer than the store's (written behind)
                        // is kept.
                        if act.open.contains_key(&row.id) {
                            continue;
                        }
                        if let Some(rec) = record_of(row) {
                            act.track(rec);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "monitor cannot read open positions"),
            }),
        )
    }
}

/// The record of a stored position; `None` for one whose account is gone.
pub fn record_of(p: positions::Model) -> Option<PositionRecord> {
    PositionRecord::try_from(p).ok()
}

/// An exchange account's prices and balance, for valuing its positions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchAccount(pub Arc<AccountView>);

impl Handler<WatchAccount> for PositionMonitor {
    type Result = ();
    fn handle(&mut self, msg: WatchAccount, _: &mut Self::Context) {
        let view = msg.0;
        let venue = view.venue;
        self.views.insert(view.account_id, view.clone());
        // Positions loaded before their account: spell their symbol now.
        for t in self.open.values_mut() {
            if t.rec.account_id == view.account_id
                && let Ok(s) = Symbol::parse(&t.rec.symbol)
            {
                t.venue_symbol = s.on(venue);
            }
        }
    }
}
