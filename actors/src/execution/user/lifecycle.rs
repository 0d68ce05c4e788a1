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

    pub(super) fn on_protection_done(&mut self, position_id: i64, placed: Vec<Placed>) {
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

    pub(super) fn on_venue(&mut self, account_id: i64, update: VenueUpdate) {
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
}
