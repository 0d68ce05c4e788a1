//! The venue is the truth: after a restart or a lost stream, every
//! position and order we track is compared with it and repaired — missing
//! protection placed again, positions closed meanwhile recorded, positions
//! nobody knew of adopted.

use super::*;

impl UserActor {
    /// Asks the account's venue for the truth about everything we track
    /// there, and for its open orders on every symbol we trade or track.
    /// One reconciliation per account at a time: a request made while one
    /// is in flight runs when it answers.
    pub(super) fn reconcile(&mut self, account_id: i64) {
        self.reconcile_with(account_id, false);
    }

    /// `background`: a periodic sweep, whose reads give way to trading.
    pub(super) fn reconcile_with(&mut self, account_id: i64, background: bool) {
        if let Some((_, again)) = self.reconciling.get_mut(&account_id) {
            *again |= !background;
            return;
        }
        let mut queries = Vec::new();
        let mut symbols: Vec<String> = Vec::new();
        for ((acct, symbol), l) in &self.live {
            if *acct != account_id {
                continue;
            }
            symbols.push(symbol.clone());
            if l.protecting {
                // Protection being placed answers for itself.
                continue;
            }
            queries.push((symbol.clone(), l.entry_id.clone(), false));
            for id in l.protective_ids() {
                queries.push((symbol.clone(), id, true));
            }
        }
        for o in self.orders.values() {
            if o.account_id == account_id {
                symbols.push(o.symbol.clone());
                // Protection being placed answers for itself: a snapshot
                // taken before it reaches the venue would call it missing.
                let placing = o.status == OrderStatus::Pending
                    && o.position_id
                        .and_then(|pid| self.live.values().find(|l| l.rec.id == pid))
                        .is_some_and(|l| l.protecting);
                if !placing && !queries.iter().any(|(_, id, _)| id == &o.client_order_id) {
                    let conditional = matches!(o.leg, OrderLeg::StopLoss | OrderLeg::TakeProfit);
                    queries.push((o.symbol.clone(), o.client_order_id.clone(), conditional));
                }
            }
        }
        if let Some(venue) = self.accounts.get(&account_id).map(|a| a.view.venue) {
            for s in self.strategies.values() {
                if s.account_id == Some(account_id) {
                    symbols.extend(s.config.symbols.iter().map(|sym| sym.on(venue)));
                }
            }
        }
        symbols.sort();
        symbols.dedup();
        queries.retain(|(_, id, _)| !self.inflight.contains(id.as_str()));
        if !self.accounts.contains_key(&account_id) {
            return;
        }
        self.reconciling.insert(account_id, (Instant::now(), false));
        self.send_exchange(
            account_id,
            ex::Reconcile {
                orders: queries,
                symbols,
                background,
            },
        );
    }

    pub(super) fn on_reconciled(
        &mut self,
        account_id: i64,
        positions: Vec<PositionReport>,
        orders: Vec<(ClientOrderId, Result<Option<OrderReport>, ExchangeError>)>,
        open: HashMap<String, Vec<OrderReport>>,
    ) {
        let (asked, again) = self
            .reconciling
            .remove(&account_id)
            .unwrap_or((Instant::now(), false));
        if let Some(synced) = &mut self.synced_after_takeover {
            synced.insert(account_id);
        }
        // What we changed after the snapshot was asked for is newer than it.
        let stale =
            |me: &Self, key: &(i64, String)| me.touched.get(key).is_some_and(|t| *t >= asked);
        let found: HashMap<String, Option<OrderReport>> = orders
            .into_iter()
            .filter_map(|(id, r)| r.ok().map(|r| (id.as_str().to_owned(), r)))
            .collect();
        let mut repaired = 0u32;
        // Entries we sent whose position we may not hold (their answer, or
        // the whole process, was lost): a position found for them is theirs.
        let entries: HashMap<String, OrderRecord> = self
            .orders
            .values()
            .filter(|o| o.account_id == account_id && o.leg == OrderLeg::Entry)
            .map(|o| (o.symbol.clone(), o.clone()))
            .collect();
        let venue: HashMap<&str, &PositionReport> =
            positions.iter().map(|p| (p.symbol.as_str(), p)).collect();
        let mut resend: Vec<((i64, String), i64)> = Vec::new();
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
                    let orphan = id.leg().is_some_and(Leg::is_entry)
                        && !r.status.is_final()
                        && !self.live.values().any(|l| l.entry_id == id);
                    if orphan {
                        // A limit entry resting from before a restart: its
                        // wait ended with the process, so it goes (what
                        // filled of it is a position found, adopted).
                        self.alert(
                            "entry_expired",
                            format!(
                                "a limit entry on {} left resting by a restart is cancelled",
                                r.symbol
                            ),
                            None,
                        );
                        self.send_exchange(
                            account_id,
                            ex::Cancel {
                                symbol: r.symbol.clone(),
                                ids: vec![id.clone()],
                            },
                        );
                    }
                }
                Some(None)
                    if self.orders.get(id.as_str()).is_some_and(|o| {
                        o.position_id
                            .and_then(|pid| self.key_of(pid))
                            .is_some_and(|k| stale(self, &k))
                    }) =>
                {
                    // Its position changed since the snapshot was asked
                    // for (its protection placed meanwhile, say).
                }
                Some(None) => {
                    // A close the trader asked for that never reached the
                    // venue (the process stopped first) still stands.
                    if let Some(rec) = self.orders.get(id.as_str())
                        && rec.leg == OrderLeg::Close
                        && matches!(rec.status, OrderStatus::Pending | OrderStatus::Unknown)
                        && let Some(pid) = rec.position_id
                        && let Some(key) = self.key_of(pid)
                        && self.live[&key].phase == Phase::Open
                        && venue.contains_key(key.1.as_str())
                        && let Some(signal) = rec.signal_id
                    {
                        resend.push((key, signal));
                        continue;
                    }
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
        for (key, signal) in resend {
            tracing::warn!(user_id = self.user_id, symbol = %key.1, "sending a close that never reached the venue");
            self.launch_close(&key, signal, None, "signal");
        }
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
                || l.protecting
                || stale(self, &key);
            if busy {
                // An answer is on its way; it will say more than this snapshot.
                continue;
            }
            // Targets that filled while we were not looking closed their
            // share (the last of them, the position).
            if l.phase != Phase::Entering {
                for id in l.protective_ids() {
                    let Some(n) = id.leg().and_then(Leg::target_number) else {
                        continue;
                    };
                    let filled = found
                        .get(id.as_str())
                        .cloned()
                        .flatten()
                        .filter(|r| r.status == tradingbot_core::exchange::OrderStatus::Filled);
                    let counted = self
                        .live
                        .get(&key)
                        .is_none_or(|l| l.closed.targets.contains(&n));
                    if let Some(r) = filled
                        && !counted
                    {
                        let fee = r.fee.unwrap_or_default();
                        self.on_target_filled(&key, &id, &r, fee, None);
                        repaired += 1;
                    }
                }
            }
            let Some(l) = self.live.get(&key).cloned() else {
                continue;
            };
            let on_venue = venue.get(key.1.as_str()).copied();
            match (l.phase, on_venue) {
                (Phase::Entering, Some(vp)) => {
                    // The entry filled while we could not hear it.
                    let report = found.get(l.entry_id.as_str()).cloned().flatten();
                    let r = report.unwrap_or_else(|| synthetic_fill(&l, vp));
                    self.on_entry_done(l.rec.id, Ok(r));
                    repaired += 1;
                }
                (Phase::Entering, None) => {
                    // Not asked (it was in flight) or not answered: this
                    // snapshot says nothing of it.
                    let Some(r) = found.get(l.entry_id.as_str()).cloned() else {
                        continue;
                    };
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
                (Phase::Closing, Some(_)) if l.closing_id.is_none() => {
                    // Our close is not in flight and the position is still
                    // there: it did not go through.
                    if let Some(l) = self.live.get_mut(&key) {
                        l.phase = Phase::Open;
                    }
                    self.alert(
                        "close_failed",
                        format!("{} is still open on the exchange after its close", key.1),
                        Some(l.rec.id),
                    );
                }
                (Phase::Open | Phase::Closing, Some(_)) => {}
                (Phase::Open | Phase::Closing, None) => {
                    // Closed on the venue while we were not looking (by a
                    // stop: a last target closed it above).
                    let by = l.protective_ids().into_iter().find_map(|id| {
                        let reason = match id.leg() {
                            Some(leg) if leg.is_stop() => "stop_loss",
                            Some(Leg::TrailingStop) => "trailing_stop",
                            _ => return None,
                        };
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
                        None if l.phase == Phase::Closing => {
                            // Our own close went through while its answer was lost.
                            let mark = self
                                .accounts
                                .get(&account_id)
                                .and_then(|a| a.view.mark(&key.1));
                            (
                                mark.unwrap_or(l.rec.entry_price),
                                Decimal::ZERO,
                                l.close_reason,
                            )
                        }
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
            if self.live.contains_key(&key) || stale(self, &key) {
                continue;
            }
            let entry = entries.get(&vp.symbol).cloned();
            if self.adopt(
                account_id,
                vp,
                open.get(&vp.symbol).map(Vec::as_slice),
                entry,
            ) {
                repaired += 1;
            }
        }
        // Open orders: confirm each position's stop and target, cancel a
        // second stop, and cancel protection left with no position.
        let mut complete = true;
        let symbols: Vec<String> = open.keys().cloned().collect();
        for symbol in symbols {
            let key = (account_id, symbol.clone());
            if stale(self, &key) {
                complete = false;
                continue;
            }
            let list = &open[&symbol];
            repaired += self.sweep(&key, list, venue.contains_key(symbol.as_str()));
        }
        let _ = complete;
        if repaired > 0 {
            metrics::counter!("reconciliation_repairs_total").increment(u64::from(repaired));
            tracing::info!(
                user_id = self.user_id,
                account_id,
                repaired,
                "reconciliation repaired state"
            );
        }
        if again {
            self.reconcile(account_id);
        }
        self.guard();
    }

    /// Compares the open orders of one symbol with the position we hold
    /// there: a stop or target of ours resting for it is confirmed (or
    /// taken as its own when its id was lost), a second one is cancelled,
    /// and protection resting where the venue shows no position is
    /// cancelled. Returns how many things it repaired.
    fn sweep(
        &mut self,
        key: &(i64, String),
        open: &[OrderReport],
        venue_has_position: bool,
    ) -> u32 {
        let ours: Vec<(ClientOrderId, Leg, i64, Side)> = open
            .iter()
            .filter_map(|r| {
                let id = ClientOrderId::try_from(r.client_id.clone()).ok()?;
                let (strategy, _, leg) = id.parts()?;
                leg.is_protective().then_some((id, leg, strategy, r.side))
            })
            .collect();
        let position_id = self.live.get(key).map(|l| l.rec.id);
        for r in open {
            if let Ok(id) = ClientOrderId::try_from(r.client_id.clone())
                && ours.iter().any(|(o, ..)| *o == id)
            {
                self.record_found(key.0, &id, r, position_id);
            }
        }
        let mut cancel = Vec::new();
        let mut repaired = 0;
        match self.live.get_mut(key) {
            Some(l) if l.phase != Phase::Entering && !l.protecting => {
                l.verified = true;
                let exit = PositionSide::from(l.rec.side).exit_side();
                let wanted = l.stop_leg();
                // The stop it should hold first: break-even's successor
                // wins over the stop it replaces.
                let mut ours = ours.clone();
                ours.sort_by_key(|(_, leg, ..)| *leg != wanted);
                let mut sl_seen = false;
                let mut trail_seen = false;
                let mut targets_seen = BTreeSet::new();
                for (id, leg, strategy, side) in &ours {
                    if *strategy != l.strategy_id || *side != exit || !l.owns(id) {
                        // Another position's protection on this symbol.
                        cancel.push(id.clone());
                        continue;
                    }
                    if *leg == Leg::TrailingStop {
                        trail_seen = true;
                        if l.trailing.is_none() {
                            cancel.push(id.clone());
                        } else if l.trail.replace(id.clone()).is_none() {
                            repaired += 1;
                        }
                        continue;
                    }
                    if let Some(n) = leg.target_number() {
                        targets_seen.insert(n);
                        if l.closed.targets.contains(&n) {
                            cancel.push(id.clone());
                        } else if l.targets.insert(n, id.clone()).is_none() {
                            repaired += 1;
                        }
                        continue;
                    }
                    match &l.sl {
                        Some(mine) if mine == id => sl_seen = true,
                        None if !sl_seen && *leg == wanted => {
                            l.sl = Some(id.clone());
                            sl_seen = true;
                            repaired += 1;
                        }
                        None if !sl_seen => {
                            // The stop break-even replaces: kept until its
                            // successor rests (the guard places it).
                            l.replaced = Some(id.clone());
                        }
                        // A second stop: at most one per position.
                        _ if l.replaced.as_ref() == Some(id) => {}
                        _ => cancel.push(id.clone()),
                    }
                }
                // What we believed rests, and does not: placed again by the guard.
                if !sl_seen && l.sl.take().is_some() {
                    repaired += 1;
                }
                if !trail_seen && l.trail.take().is_some() {
                    repaired += 1;
                }
                let before = l.targets.len();
                l.targets.retain(|n, _| targets_seen.contains(n));
                repaired += (before - l.targets.len()) as u32;
            }
            Some(_) => {}
            None if !venue_has_position => {
                // Protection with no position to protect: a leftover.
                cancel.extend(ours.iter().map(|(id, ..)| id.clone()));
            }
            None => {}
        }
        if !cancel.is_empty() {
            tracing::info!(
                user_id = self.user_id,
                account_id = key.0,
                symbol = %key.1,
                orders = cancel.len(),
                "cancelling protective orders without a position of their own"
            );
            repaired += cancel.len() as u32;
            self.send_exchange(
                key.0,
                ex::Cancel {
                    symbol: key.1.clone(),
                    ids: cancel,
                },
            );
        }
        repaired
    }

    /// Takes charge of a position found on the venue: the strategy whose
    /// unfinished entry (or resting protection) it is, or the active
    /// strategy trading that symbol.
    pub(super) fn adopt(
        &mut self,
        account_id: i64,
        vp: &PositionReport,
        open: Option<&[OrderReport]>,
        entry: Option<OrderRecord>,
    ) -> bool {
        let venue = match self.accounts.get(&account_id) {
            Some(a) => a.view.venue,
            None => return false,
        };
        // Protection of ours resting for this position names its entry's signal.
        let resting = open.into_iter().flatten().find_map(|r| {
            let id = ClientOrderId::try_from(r.client_id.clone()).ok()?;
            let (strategy, signal, leg) = id.parts()?;
            (leg.is_protective()
                && r.side == vp.side.exit_side()
                && self.strategies.contains_key(&strategy))
            .then_some((strategy, signal))
        });
        let (strategy_id, signal_id) = match entry
            .as_ref()
            .and_then(|o| o.client_order_id.parts())
            .map(|(s, sig, _)| (s, sig))
            .or(resting)
        {
            Some(found) => found,
            None => match self.strategies.values().find(|s| {
                s.active
                    && s.account_id == Some(account_id)
                    && s.config
                        .symbols
                        .iter()
                        .any(|sym| sym.on(venue) == vp.symbol)
            }) {
                Some(s) => {
                    let side = if vp.side == PositionSide::Long {
                        "long"
                    } else {
                        "short"
                    };
                    let strategy_id = s.strategy_id;
                    let symbol = s
                        .config
                        .symbols
                        .iter()
                        .find(|sym| sym.on(venue) == vp.symbol)
                        .map_or_else(|| vp.symbol.clone(), |sym| sym.as_str().to_owned());
                    let signal = self.internal_signal(
                        strategy_id,
                        &symbol,
                        side,
                        "position_adopted: found open on the exchange".into(),
                    );
                    (strategy_id, signal)
                }
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
            side: DbSide::from(vp.side),
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
            targets: Vec::new(),
        };
        self.publish(Event::PositionOpened(rec.clone()));
        if let Some(o) = entry {
            self.orders
                .entry(o.client_order_id.as_str().to_owned())
                .or_insert_with(|| o.clone());
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
                replaced: None,
                ladder: route.config.ladder.clone(),
                plan: Vec::new(),
                targets: BTreeMap::new(),
                closed: Closed::default(),
                trailing: route.config.trailing,
                trail: None,
                limit: None,
                tp_pct,
                sl_pct,
                then: None,
                slot_handed_over: false,
                close_reason: "signal",
                closing_id: None,
                protecting: false,
                protect_attempts: 0,
                verified: true,
            },
        );
        self.risk.take_slot(self.user_id);
        self.alert(
            "position_adopted",
            format!(
                "{} {:?} {} found on the exchange was taken in charge by strategy {strategy_id}",
                vp.symbol, vp.side, vp.quantity
            ),
            Some(position_id),
        );
        true
    }

    /// Rebuilds positions and unfinished orders from the store.
    pub(super) fn restore(&mut self, r: Restored) {
        self.rebuild_protection_days(&r.today);
        let mut of_positions: HashMap<i64, Vec<OrderRecord>> = HashMap::new();
        for o in r.orders {
            let Ok(rec) = OrderRecord::try_from(o) else {
                continue;
            };
            if let Some(pid) = rec.position_id {
                of_positions.entry(pid).or_default().push(rec.clone());
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
            // Resting ones first: a stop break-even replaced is finished.
            let find = |leg: fn(Leg) -> bool| {
                mine.iter()
                    .filter(|o| o.client_order_id.leg().is_some_and(leg))
                    .min_by_key(|o| o.status.is_final_db())
                    .map(|o| o.client_order_id.clone())
            };
            let sl = find(Leg::is_stop);
            let tp = find(|l| l.target_number().is_some());
            let trail = find(|l| l == Leg::TrailingStop);
            let strategy_id = p.strategy_id.unwrap_or_default();
            // An entry whose link to the position was not written yet (the
            // process stopped between the two records) names it too.
            let unlinked_entry = || {
                self.orders
                    .values()
                    .find(|o| {
                        o.leg == OrderLeg::Entry
                            && o.position_id.is_none()
                            && o.strategy_id == p.strategy_id
                            && o.account_id == account_id
                            && o.symbol == venue_symbol
                    })
                    .map(|o| o.client_order_id.clone())
            };
            let named = find(|l| l == Leg::Entry)
                .or(sl.clone())
                .or(tp.clone())
                .or_else(unlinked_entry)
                .and_then(|id| id.parts())
                .map(|(_, sig, _)| sig);
            // No order of the position names its signal (its entry's record
            // lost its link): the orders placed for it from now on refer to
            // a signal on record that says so — never to a made-up id the
            // signals table does not have.
            let entry_signal = named.unwrap_or_else(|| {
                let side = if p.side == DbSide::Long {
                    "long"
                } else {
                    "short"
                };
                self.internal_signal(
                    strategy_id,
                    &p.symbol,
                    side,
                    "position_restored: the signal of its entry is not on record".into(),
                )
            });
            let route = self.strategies.get(&strategy_id);
            let (tp_pct, sl_pct) = match (route, p.side) {
                (Some(r), DbSide::Long) => (r.config.long_tp_pct, r.config.long_sl_pct),
                (Some(r), DbSide::Short) => (r.config.short_tp_pct, r.config.short_sl_pct),
                (None, _) => (Decimal::from(5), Decimal::TWO),
            };
            let ladder = route.and_then(|r| r.config.ladder.clone());
            // Only open rows are restored: the row's record as it stands.
            let Ok(rec) = PositionRecord::try_from(p.clone()) else {
                continue;
            };
            // Its targets: those that filled closed part of it (the row's
            // quantity is what remains), the others may rest.
            let mut closed = Closed::default();
            let mut targets = BTreeMap::new();
            for o in &mine {
                let Some(n) = o.client_order_id.leg().and_then(Leg::target_number) else {
                    continue;
                };
                if o.status == OrderStatus::Filled && ladder.is_some() {
                    let exit = o.avg_fill_price.unwrap_or(rec.entry_price);
                    let side = PositionSide::from(rec.side);
                    closed.targets.insert(n);
                    closed.qty += o.filled_qty;
                    closed.gross += sizing::pnl(side, rec.entry_price, exit, o.filled_qty);
                    closed.value += o.filled_qty * exit;
                } else if !o.status.is_final_db() {
                    targets.insert(n, o.client_order_id.clone());
                }
            }
            // The stop it holds: a resting one, break-even's successor first.
            let wanted = match &ladder {
                Some(l)
                    if l.break_even
                        .is_some_and(|b| closed.targets.iter().any(|n| *n >= b.after)) =>
                {
                    Leg::MovedStop
                }
                _ => Leg::StopLoss,
            };
            let sl = mine
                .iter()
                .filter(|o| {
                    o.client_order_id.leg().is_some_and(Leg::is_stop) && !o.status.is_final_db()
                })
                .min_by_key(|o| o.client_order_id.leg() != Some(wanted))
                .map(|o| o.client_order_id.clone())
                .or(sl);
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
                    replaced: None,
                    ladder,
                    plan: Vec::new(),
                    targets,
                    closed,
                    trailing: route.and_then(|r| r.config.trailing),
                    trail,
                    limit: None,
                    tp_pct,
                    sl_pct,
                    then: None,
                    slot_handed_over: false,
                    close_reason: "signal",
                    closing_id: None,
                    protecting: false,
                    protect_attempts: 0,
                    verified: false,
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
