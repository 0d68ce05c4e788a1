//! A position's life after its orders leave: filled, protected, closed (by
//! a signal, its stop or target, or a liquidation).

use super::*;

impl UserActor {
    pub(super) fn key_of(&self, position_id: i64) -> Option<(i64, String)> {
        self.live
            .iter()
            .find(|(_, l)| l.rec.id == position_id)
            .map(|(k, _)| k.clone())
    }

    /// Records a closed position and frees its slot.
    pub(super) fn finish_position(
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
        let side = PositionSide::from(l.rec.side);
        let last =
            venue_pnl.unwrap_or_else(|| sizing::pnl(side, l.rec.entry_price, exit, l.rec.quantity));
        // What its targets closed before, with this last part: the record
        // shows the whole position, at its average exit.
        let gross = l.closed.gross + last;
        let entered = l.entered_qty();
        if !l.closed.qty.is_zero() && !entered.is_zero() {
            l.rec.exit_price =
                Some(((l.closed.value + exit * l.rec.quantity) / entered).round_dp(8));
        } else {
            l.rec.exit_price = Some(exit);
        }
        l.rec.quantity = entered;
        l.rec.fees += exit_fee.abs();
        l.rec.realized_pnl = (gross - l.rec.fees).round_dp(8);
        l.show_targets();
        l.rec.close_reason = Some(reason.to_owned());
        l.rec.status = PositionStatus::Closed;
        l.rec.closed_at = Some(Utc::now());
        self.publish(Event::PositionClosed(l.rec.clone()));
        self.count_closed(l.rec.strategy_id, Utc::now(), l.rec.realized_pnl, reason);
        self.touch(key);
        if !l.slot_handed_over {
            self.risk.release_slot(self.user_id);
        }
        if l.protecting {
            // Its protection is still being placed: cancelled when it answers.
            self.orphans.insert(l.rec.id, key.clone());
        }
        // Protection that is still resting goes.
        let leftovers: Vec<ClientOrderId> =
            l.sl.iter()
                .chain(l.replaced.iter())
                .chain(l.targets.values())
                .filter(|id| {
                    self.orders
                        .get(id.as_str())
                        .is_none_or(|o| !o.status.is_final_db())
                })
                .cloned()
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

    pub(super) fn on_entry_done(
        &mut self,
        position_id: i64,
        result: Result<OrderReport, ExchangeError>,
    ) {
        let Some(key) = self.key_of(position_id) else {
            return;
        };
        let entry_id = self.live[&key].entry_id.clone();
        self.inflight.remove(entry_id.as_str());
        if self.live[&key].phase != Phase::Entering {
            // Told twice (a limit's fill on the stream and in an answer).
            return;
        }
        if let Ok(r) = &result
            && self.limit_rests(&key, r)
        {
            return;
        }
        let filled = result
            .as_ref()
            .ok()
            .filter(|r| r.filled > Decimal::ZERO)
            .cloned();
        match filled {
            Some(r) => {
                let l = self.live.get_mut(&key).expect("present");
                l.phase = Phase::Open;
                l.limit = None;
                l.rec.entry_price = r.avg_price.unwrap_or(l.rec.entry_price);
                l.rec.quantity = r.filled;
                l.rec.fees = r.fee.unwrap_or_default().abs();
                l.rec.opened_at = Utc::now();
                l.protecting = false;
                let rec = l.rec.clone();
                self.count_opened(rec.strategy_id, rec.opened_at);
                self.publish(Event::PositionOpened(rec));
                self.apply_report(&entry_id, Ok(&r), None, Some(position_id));
                // Its stop and target, priced from the fill, at once.
                self.protect(&key);
            }
            None => {
                match &result {
                    Err(e) if e.outcome_unknown() => {
                        // The venue may have it: reconciliation finds out
                        // (and the guard protects what it finds).
                        self.apply_report(&entry_id, Err(e), None, None);
                        if let Some(l) = self.live.get_mut(&key) {
                            l.protecting = false;
                        }
                        self.reconcile(key.0);
                        return;
                    }
                    Err(e)
                        if self.live[&key].limit.is_some_and(|w| {
                            w.fallback == tradingbot_core::entry::Fallback::Market
                        }) =>
                    {
                        // A limit refused (a post-only that would have
                        // taken, say): the fallback enters at market.
                        self.apply_report(&entry_id, Err(e), None, None);
                        self.enter_at_market(&key);
                        return;
                    }
                    Err(e) => {
                        self.apply_report(&entry_id, Err(e), None, None);
                        let message = if e.throttled() {
                            format!(
                                "{} entry not sent: the exchange's request limit is reached ({e}); a late entry would be a stale one",
                                key.1
                            )
                        } else {
                            format!("{} entry refused by the exchange: {e}", key.1)
                        };
                        self.alert("entry_rejected", message, None);
                    }
                    Ok(r) if self.live[&key].limit.is_some() => {
                        // A limit that ended at once with nothing filled.
                        let r = r.clone();
                        self.on_entry_canceled(position_id, Ok(r));
                        return;
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
                    self.risk.release_slot(self.user_id);
                }
            }
        }
    }

    pub(super) fn on_close_done(
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
            Err(e) if e.outcome_unknown() => {
                // It may have closed: the venue says (a close found done is
                // recorded by reconciliation; one that is not may be sent again).
                if let Some(l) = self.live.get_mut(&key) {
                    l.phase = Phase::Open;
                }
                self.alert(
                    "close_unconfirmed",
                    format!("the close of {} is not confirmed yet: {e}", key.1),
                    Some(position_id),
                );
                self.reconcile(key.0);
            }
            other => {
                let l = self.live.get_mut(&key).expect("present");
                l.phase = Phase::Open;
                let dropped = l.then.take();
                if dropped.is_some() {
                    l.slot_handed_over = false;
                    self.risk.release_slot(self.user_id);
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
                self.reconcile(key.0);
            }
        }
    }

    pub(super) fn on_order_update(&mut self, account_id: i64, u: OrderUpdate) {
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
        if leg.is_some_and(Leg::is_entry) {
            self.on_entry_update(account_id, &id, &u.report);
            return;
        }
        if u.report.status != tradingbot_core::exchange::OrderStatus::Filled
            && u.report.status.is_final()
        {
            // A stop or target of an open position gone without a fill
            // (cancelled by hand on the exchange, expired): the guard
            // places it again within a second.
            let mut gone = None;
            for (k, l) in self.live.iter_mut() {
                if k.0 != account_id || l.phase != Phase::Open || l.protecting {
                    continue;
                }
                if l.sl.as_ref() == Some(&id) {
                    l.sl = None;
                    gone = Some((k.1.clone(), l.rec.id, "stop-loss"));
                } else if l.trail.as_ref() == Some(&id) {
                    l.trail = None;
                    gone = Some((k.1.clone(), l.rec.id, "trailing stop"));
                } else if l.replaced.as_ref() == Some(&id) {
                    // Its successor is being placed; the guard sees to it.
                    l.replaced = None;
                } else if let Some(n) = l.targets.iter().find(|(_, t)| **t == id).map(|(n, _)| *n) {
                    l.targets.remove(&n);
                    gone = Some((k.1.clone(), l.rec.id, "take-profit"));
                }
            }
            if let Some((symbol, position_id, what)) = gone {
                self.alert(
                    "protection_removed",
                    format!("the {what} of {symbol} was removed on the exchange; placing it again"),
                    Some(position_id),
                );
            }
            return;
        }
        if u.report.status != tradingbot_core::exchange::OrderStatus::Filled
            || !leg.is_some_and(Leg::is_protective)
        {
            return;
        }
        let key = self
            .live
            .iter()
            .find(|(k, l)| k.0 == account_id && l.owns(&id))
            .map(|(k, _)| k.clone());
        let Some(key) = key else { return };
        if self.live[&key].phase == Phase::Entering {
            return;
        }
        if leg.is_some_and(Leg::is_stop) || leg == Some(Leg::TrailingStop) {
            let exit = u.report.avg_price.unwrap_or_default();
            let reason = if leg == Some(Leg::TrailingStop) {
                "trailing_stop"
            } else {
                "stop_loss"
            };
            self.finish_position(&key, exit, u.fee, u.realized_pnl, reason);
        } else {
            self.on_target_filled(&key, &id, &u.report, u.fee, u.realized_pnl);
        }
    }

    pub(super) fn on_venue(&mut self, account_id: i64, update: VenueUpdate) {
        match update {
            VenueUpdate::Order(u) => self.on_order_update(account_id, u),
            VenueUpdate::Connected => {
                // Events may have been missed while it was down — unless a
                // reconciliation was asked for a moment ago (the stream's
                // first connection follows the account's attachment).
                let recent = self
                    .reconciled_at
                    .get(&account_id)
                    .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(3));
                let touched = self.touched.iter().any(|(k, t)| {
                    k.0 == account_id && self.reconciled_at.get(&account_id).is_some_and(|r| t >= r)
                });
                if !recent || touched {
                    self.reconcile(account_id);
                }
            }
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
}
