//! The venue is the truth: after a restart or a lost stream, every
//! position and order we track is compared with it and repaired — missing
//! protection placed again, positions closed meanwhile recorded, positions
//! nobody knew of adopted.

use super::*;

impl UserActor {
    /// Asks the account's venue for the truth about everything we track there.
    pub(super) fn reconcile(&self, account_id: i64) {
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

    pub(super) fn on_reconciled(
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
    pub(super) fn adopt(&mut self, account_id: i64, vp: &PositionReport) -> bool {
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
    pub(super) fn protect(&mut self, key: &(i64, String), entry: Option<Decimal>) {
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
    pub(super) fn restore(&mut self, r: Restored) {
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
