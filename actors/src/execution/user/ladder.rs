//! A position's exits beyond one take-profit: the targets of its ladder,
//! each a reduce-only order resting on the venue for its share, the part
//! of the position each fill closes, and the stop break-even moves.
//!
//! The first stop closes the whole position whatever its size, so a
//! target's fill needs no change to it. A moved stop is a new order (no
//! venue moves a resting stop, and Binance refuses a second close-position
//! stop beside the first, -4130): it is sized to what remains, placed
//! while the first still rests, and the first is cancelled only once the
//! venue holds its successor — the position is never without a stop.

use super::*;
use crate::execution::events::TargetState;
use tradingbot_core::exchange::TriggerPrice;
use tradingbot_core::exchange::instrument::InstrumentRules;

impl Live {
    /// What the entry filled: what is open plus what targets closed.
    pub(super) fn entered_qty(&self) -> Decimal {
        self.rec.quantity + self.closed.qty
    }

    fn id(&self, leg: Leg) -> ClientOrderId {
        ClientOrderId::derive(self.strategy_id, self.entry_signal, leg)
    }

    /// The stop the position should hold now: the moved one once the
    /// break-even target (or one after it) filled.
    pub(super) fn stop_leg(&self) -> Leg {
        let moved = self
            .ladder
            .as_ref()
            .and_then(|l| l.break_even)
            .is_some_and(|b| self.closed.targets.iter().any(|n| *n >= b.after));
        if moved { Leg::MovedStop } else { Leg::StopLoss }
    }

    /// Whether a target of its plan is neither resting nor filled (all of
    /// them, while the plan is not computed yet).
    pub(super) fn targets_missing(&self) -> bool {
        self.plan.is_empty()
            || self.plan.iter().any(|g| {
                !self.targets.contains_key(&g.target) && !self.closed.targets.contains(&g.target)
            })
    }

    /// Every id its stops and targets may rest under: those we know of,
    /// then the derived ones (one may rest whose answer never reached us).
    pub(super) fn protective_ids(&self) -> Vec<ClientOrderId> {
        let mut ids: Vec<ClientOrderId> = self
            .sl
            .iter()
            .chain(self.replaced.iter())
            .chain(self.targets.values())
            .chain(self.trail.iter())
            .cloned()
            .collect();
        if self.trailing.is_some() {
            let id = self.id(Leg::TrailingStop);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let (last, moves) = self.ladder.as_ref().map_or((1, false), |l| {
            (l.targets.len() as u8, l.break_even.is_some())
        });
        let stops = if moves {
            vec![Leg::StopLoss, Leg::MovedStop]
        } else {
            vec![Leg::StopLoss]
        };
        for leg in stops.into_iter().chain((1..=last).map(Leg::target)) {
            let id = self.id(leg);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Whether `id` is one of this position's stops or targets.
    pub(super) fn owns(&self, id: &ClientOrderId) -> bool {
        id.parts().is_some_and(|(s, sig, leg)| {
            s == self.strategy_id && sig == self.entry_signal && leg.is_protective()
        })
    }

    /// The nearest target not filled yet: the position's `take_profit`.
    fn next_target(&self) -> Option<Decimal> {
        self.plan
            .iter()
            .find(|g| !self.closed.targets.contains(&g.target))
            .map(|g| g.price)
    }

    /// The targets as the trader sees them.
    fn target_states(&self) -> Vec<TargetState> {
        if self.ladder.is_none() {
            return Vec::new();
        }
        self.plan
            .iter()
            .map(|g| TargetState {
                target: g.target,
                price: g.price,
                size_pct: self
                    .ladder
                    .as_ref()
                    .and_then(|l| l.targets.get(usize::from(g.target) - 1))
                    .map_or(Decimal::ZERO, |t| t.size_pct),
                state: if self.closed.targets.contains(&g.target) {
                    "filled"
                } else if self.targets.contains_key(&g.target) {
                    "resting"
                } else {
                    "pending"
                }
                .to_owned(),
            })
            .collect()
    }

    /// Refreshes what the record says of the targets.
    pub(super) fn show_targets(&mut self) {
        if self.ladder.is_some() {
            self.rec.take_profit = self.next_target().or(self.rec.take_profit);
        }
        self.rec.targets = self.target_states();
    }

    /// Computes the plan once the venue's rules are known: the ladder's
    /// legs for what the entry filled, or one close-position target at
    /// `single` (the take-profit price).
    pub(super) fn make_plan(&mut self, rules: &InstrumentRules, single: Option<Decimal>) {
        if !self.plan.is_empty() {
            return;
        }
        let side = PositionSide::from(self.rec.side);
        self.plan = match &self.ladder {
            Some(ladder) => ladder.legs(
                side,
                self.rec.entry_price,
                rules.venue_qty(self.entered_qty(), true),
                rules,
            ),
            None => single
                .map(|price| exits::Leg {
                    target: 1,
                    price,
                    venue_qty: Decimal::ZERO,
                })
                .into_iter()
                .collect(),
        };
    }

    /// The orders of the targets that neither rest nor filled.
    pub(super) fn unplaced_targets(&self, rules: &InstrumentRules) -> Vec<(OrderRequest, Decimal)> {
        let side = PositionSide::from(self.rec.side);
        self.plan
            .iter()
            .filter(|g| {
                !self.targets.contains_key(&g.target) && !self.closed.targets.contains(&g.target)
            })
            .map(|g| {
                let id = self.id(Leg::target(g.target));
                if self.ladder.is_none() {
                    return ex::protective(&self.venue_symbol, side, id, g.price, false);
                }
                (
                    OrderRequest {
                        client_id: id,
                        symbol: self.venue_symbol.clone(),
                        side: side.exit_side(),
                        kind: OrderKind::TakeProfitMarket {
                            trigger: g.price,
                            trigger_by: TriggerPrice::Mark,
                        },
                        size: OrderSize::Base(rules.base_qty(g.venue_qty)),
                        reduce_only: true,
                        attach: None,
                    },
                    g.price,
                )
            })
            .collect()
    }

    /// The stop to place at `price`: the first closes the whole position,
    /// a moved one is sized to what remains (see the module's note).
    pub(super) fn stop_order(&self, price: Decimal) -> (OrderRequest, Decimal) {
        let side = PositionSide::from(self.rec.side);
        let leg = self.stop_leg();
        let (mut req, trigger) =
            ex::protective(&self.venue_symbol, side, self.id(leg), price, true);
        if leg == Leg::MovedStop {
            req.size = OrderSize::Base(self.rec.quantity);
        }
        (req, trigger)
    }
}

impl Live {
    /// Its trailing stop's order, for what remains: armed at `activation`
    /// unless the price (`mark`) is already past it — the venues refuse an
    /// activation behind the price — in which case it follows at once.
    pub(super) fn trail_order(
        &self,
        rules: &InstrumentRules,
        mark: Option<Decimal>,
    ) -> Option<(OrderRequest, Decimal)> {
        let t = self.trailing?;
        let side = PositionSide::from(self.rec.side);
        let activation = t
            .activation_price(side, self.rec.entry_price, rules)
            .filter(|a| {
                mark.is_none_or(|m| match side {
                    PositionSide::Long => *a > m,
                    PositionSide::Short => *a < m,
                })
            });
        Some((
            OrderRequest {
                client_id: self.id(Leg::TrailingStop),
                symbol: self.venue_symbol.clone(),
                side: side.exit_side(),
                kind: OrderKind::TrailingStopMarket {
                    callback_pct: t.callback_pct,
                    activation,
                    trigger_by: TriggerPrice::Mark,
                },
                size: OrderSize::Base(self.rec.quantity),
                reduce_only: true,
                attach: None,
            },
            activation.unwrap_or_default(),
        ))
    }
}

impl UserActor {
    /// A take-profit of the position at `key` filled: the last one (or the
    /// only one) closes it; an earlier target closes its share, and the
    /// break-even target moves the stop.
    pub(super) fn on_target_filled(
        &mut self,
        key: &(i64, String),
        id: &ClientOrderId,
        report: &OrderReport,
        fee: Decimal,
        venue_pnl: Option<Decimal>,
    ) {
        let Some(n) = id.leg().and_then(Leg::target_number) else {
            return;
        };
        let Some(l) = self.live.get_mut(key) else {
            return;
        };
        if l.closed.targets.contains(&n) {
            // Told twice (the stream and a reconciliation).
            return;
        }
        let exit = report.avg_price.unwrap_or(l.rec.entry_price);
        if l.ladder.is_none() || report.filled >= l.rec.quantity || report.filled.is_zero() {
            l.closed.targets.insert(n);
            l.targets.remove(&n);
            self.finish_position(key, exit, fee, venue_pnl, "take_profit");
            return;
        }
        let side = PositionSide::from(l.rec.side);
        let qty = report.filled;
        let gross = venue_pnl.unwrap_or_else(|| sizing::pnl(side, l.rec.entry_price, exit, qty));
        l.closed.targets.insert(n);
        l.targets.remove(&n);
        l.closed.qty += qty;
        l.closed.gross += gross;
        l.closed.value += qty * exit;
        l.rec.quantity -= qty;
        l.rec.fees += fee.abs();
        l.rec.realized_pnl = (l.closed.gross - l.rec.fees).round_dp(8);
        l.show_targets();
        let rec = l.rec.clone();
        self.publish(Event::PositionReduced(rec));
        self.touch(key);
        self.move_stop_if_due(key);
    }

    /// Once the break-even target filled, the stop goes where the ladder
    /// says: its successor is placed while it still rests.
    pub(super) fn move_stop_if_due(&mut self, key: &(i64, String)) {
        let Some(l) = self.live.get(key) else { return };
        let due = l.stop_leg() == Leg::MovedStop
            && l.sl.as_ref().and_then(ClientOrderId::leg) == Some(Leg::StopLoss);
        let (Some(ladder), true) = (l.ladder.clone(), due) else {
            return;
        };
        let Some(rules) = self.accounts.get(&key.0).and_then(|a| a.view.rules(&key.1)) else {
            return;
        };
        let Some(b) = ladder.break_even else { return };
        let side = PositionSide::from(l.rec.side);
        let Some(price) = ladder.moved_stop(
            b.after,
            side,
            l.rec.entry_price,
            &l.plan,
            sizing::TAKER_FEE,
            &rules,
        ) else {
            return;
        };
        let l = self.live.get_mut(key).expect("present");
        l.replaced = l.sl.take();
        l.rec.stop_loss = Some(price);
        if !l.protecting {
            self.protect(key);
        }
    }

    /// The stop break-even replaced, once its successor rests: cancelled.
    pub(super) fn drop_replaced(&mut self, key: &(i64, String)) {
        let Some(l) = self.live.get_mut(key) else {
            return;
        };
        let Some(old) = l.replaced.take() else { return };
        let symbol = l.venue_symbol.clone();
        self.send_exchange(
            key.0,
            ex::Cancel {
                symbol,
                ids: vec![old],
            },
        );
    }
}
