//! The protection invariant: every open position has one live stop-loss on
//! its venue (and its take-profit), re-established on every start,
//! reconnect and timer.
//!
//! A stop that may already rest on the venue is found, not duplicated: the
//! ids are derived from the entry's signal, and a "duplicate client id"
//! answer is read back as the order it names. A position is closed for
//! protection only when the venue positively refuses its stop (a stop
//! that would trigger at once, a price it cannot take); a refusal for a
//! passing reason — a rate limit, a ban, an unreachable venue — is tried
//! again, and the trader is told when it takes long.

use super::*;
use std::time::Duration;

/// How often open positions are checked for a confirmed stop.
pub(super) const GUARD_EVERY: Duration = Duration::from_secs(1);
/// How often each account's positions and open orders are compared with
/// the venue's (after a start, a reconnect or an unknown outcome too).
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Placements without a stop before the trader hears of it.
const ALERT_AFTER_ATTEMPTS: u32 = 3;

/// Whether a refused stop can be fixed by waiting (then the guard tries
/// again) rather than only by closing the position.
fn passing(e: &ExchangeError) -> bool {
    e.transient()
        || matches!(
            e,
            ExchangeError::DuplicateClientId { .. } | ExchangeError::ReduceOnlyRejected { .. }
        )
}

impl UserActor {
    /// Every open position without a confirmed stop (or target) whose
    /// orders have been compared with the venue's gets its protection placed.
    pub(super) fn guard(&mut self) {
        let keys: Vec<(i64, String)> = self
            .live
            .iter()
            .filter(|(k, l)| {
                l.phase == Phase::Open
                    && !l.protecting
                    && (l.sl.is_none()
                        || l.targets_missing()
                        || (l.trailing.is_some() && l.trail.is_none()))
                    && l.verified
                    && self.accounts.contains_key(&k.0)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.protect(&key);
        }
    }

    /// Places the legs of the position's protection that are not known to
    /// rest on the venue, under the ids derived from its entry's signal.
    pub(super) fn protect(&mut self, key: &(i64, String)) {
        let Some(l) = self.live.get(key) else { return };
        let Some(link) = self.accounts.get(&key.0) else {
            return;
        };
        let Some(rules) = link.view.rules(&key.1) else {
            // Loaded in the background; the next tick places it.
            self.exchange_depth.sent();
            link.exchange.do_send(ex::Warm {
                symbol: key.1.clone(),
            });
            return;
        };
        let side = PositionSide::from(l.rec.side);
        let prices = sizing::protection(side, l.rec.entry_price, l.tp_pct, l.sl_pct, &rules);
        let single = l.rec.take_profit.or(prices.take_profit);
        let l = self.live.get_mut(key).expect("present");
        l.make_plan(&rules, single);
        let mut orders = Vec::new();
        if l.sl.is_none()
            && let Some(p) = l.rec.stop_loss.or(prices.stop_loss)
        {
            orders.push(l.stop_order(p));
        }
        orders.extend(l.unplaced_targets(&rules));
        if l.trail.is_none() {
            let mark = link.view.mark(&key.1);
            orders.extend(l.trail_order(&rules, mark));
        }
        if orders.is_empty() {
            return;
        }
        let (position_id, strategy_id, signal_id) = (l.rec.id, l.strategy_id, l.entry_signal);
        // Recorded (journaled) before they leave: no order of ours rests on
        // a venue that the store cannot know of.
        for (req, _) in &orders {
            let qty = match req.size {
                OrderSize::Base(q) => q,
                OrderSize::ClosePosition => Decimal::ZERO,
            };
            self.record_new_order(
                key.0,
                strategy_id,
                Some(signal_id),
                Some(position_id),
                req,
                qty,
                OrderStatus::Pending,
            );
        }
        let Some(l) = self.live.get(key) else { return };
        let margin = MarginMode::from(l.rec.margin_mode);
        let msg = ex::Protect {
            position_id: l.rec.id,
            orders,
            margin,
            reference: l.rec.entry_price,
        };
        if let Some(l) = self.live.get_mut(key) {
            l.protecting = true;
        }
        self.touch(key);
        self.send_exchange(key.0, msg);
    }

    pub(super) fn on_protection_done(&mut self, position_id: i64, placed: Vec<Placed>) {
        if let Some((account_id, symbol)) = self.orphans.remove(&position_id) {
            // The position ended while this was being placed: nothing of it
            // may stay behind.
            let ids: Vec<ClientOrderId> = placed
                .iter()
                .filter(|p| p.result.as_ref().is_ok_and(|r| !r.status.is_final()))
                .map(|p| p.request.client_id.clone())
                .collect();
            if !ids.is_empty() {
                self.send_exchange(account_id, ex::Cancel { symbol, ids });
            }
            return;
        }
        let Some(key) = self.key_of(position_id) else {
            return;
        };
        let (account_id, strategy_id, signal_id) = {
            let l = self.live.get_mut(&key).expect("present");
            l.protecting = false;
            (key.0, l.strategy_id, l.entry_signal)
        };
        let mut stop_error = None;
        let mut stop_moved = false;
        let mut trail_refused = None;
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
            match (id.leg(), ok) {
                (Some(leg), true) if leg.is_stop() => {
                    stop_moved = leg == Leg::MovedStop;
                    l.sl = Some(id);
                    l.rec.stop_loss = Some(p.trigger);
                }
                (Some(Leg::TrailingStop), true) => l.trail = Some(id),
                (Some(Leg::TrailingStop), false) => {
                    if let Some(e) = p.result.as_ref().err().filter(|e| !passing(e)) {
                        // The stop-loss still protects it: the trailing stop
                        // is dropped for this position, and the trader told.
                        l.trailing = None;
                        trail_refused = Some(e.to_string());
                    }
                }
                (Some(leg), true) => {
                    if let Some(n) = leg.target_number() {
                        l.targets.insert(n, id);
                        if l.ladder.is_none() {
                            l.rec.take_profit = Some(p.trigger);
                        }
                    }
                }
                (Some(leg), false) if leg.is_stop() => {
                    stop_error = p.result.as_ref().err().cloned()
                }
                _ => {}
            }
        }
        if stop_moved {
            self.drop_replaced(&key);
        }
        if let Some(why) = trail_refused {
            self.alert(
                "trailing_refused",
                format!(
                    "the exchange refused the trailing stop of {} ({why}); its stop-loss still protects it",
                    key.1
                ),
                Some(position_id),
            );
        }
        let l = self.live.get_mut(&key).expect("present");
        l.show_targets();
        let l = self.live.get(&key).expect("present");
        self.publish(Event::PositionProtected(l.rec.clone()));
        if l.sl.is_some() || l.phase != Phase::Open {
            if let Some(l) = self.live.get_mut(&key) {
                l.protect_attempts = 0;
            }
            // A target that filled meanwhile may have made the move due.
            self.move_stop_if_due(&key);
            return;
        }
        let moving = l.replaced.is_some();
        match stop_error {
            Some(ExchangeError::ReduceOnlyRejected { .. }) => {
                // Nothing to protect on the venue: it closed meanwhile.
                self.reconcile(account_id);
            }
            Some(e) if !passing(&e) => {
                let message = if moving {
                    // The price is back through the break-even level: the
                    // exit the ladder asked for is now.
                    format!(
                        "the exchange refused the moved stop of {} ({e}); closing what remains at market",
                        key.1
                    )
                } else {
                    format!(
                        "the exchange refused the stop-loss of {} ({e}); closing the position, which cannot be protected otherwise",
                        key.1
                    )
                };
                self.alert("protection_failed", message, Some(position_id));
                let signal = self.internal_signal(
                    strategy_id,
                    &l.rec.symbol.clone(),
                    "close",
                    format!("emergency_close: stop-loss refused ({})", e.kind()),
                );
                self.launch_close(&key, signal, None, "emergency");
            }
            other => {
                // Tried again by the guard; the trader hears once.
                let l = self.live.get_mut(&key).expect("present");
                l.protect_attempts += 1;
                if l.protect_attempts == ALERT_AFTER_ATTEMPTS {
                    let why = other.map_or_else(
                        || "the instrument rules are not loaded yet".to_owned(),
                        |e| e.to_string(),
                    );
                    self.alert(
                        "protection_delayed",
                        format!(
                            "the stop-loss of {} is not placed yet ({why}); still trying",
                            key.1
                        ),
                        Some(position_id),
                    );
                }
            }
        }
    }

    /// Records a signal the service itself raised (an emergency close, an
    /// adopted position), so the orders it causes refer to a stored signal
    /// and the history says why they exist.
    pub(super) fn internal_signal(
        &self,
        strategy_id: i64,
        symbol: &str,
        action: &str,
        reason: String,
    ) -> i64 {
        let id = self.ids.next();
        self.publish(Event::Signal(SignalRecord {
            id,
            user_id: Some(self.user_id),
            strategy_id: Some(strategy_id),
            signal_key: format!("internal-{id}"),
            action: Some(action.to_owned()),
            symbol: Some(symbol.to_owned()),
            price: None,
            outcome: SignalOutcome::Accepted,
            reason: Some(reason),
            latency_us: 0,
            source_ip: None,
            received_at: Utc::now(),
        }));
        id
    }

    /// Marks a position's slot as changed by us now: a venue snapshot asked
    /// for before this moment says nothing reliable about it.
    pub(super) fn touch(&mut self, key: &(i64, String)) {
        self.touched.insert(key.clone(), Instant::now());
    }
}
