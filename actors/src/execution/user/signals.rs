//! From a signal to an intent: what it asks for, whether it may, how big,
//! and the orders that carry it out.

use super::*;

impl UserActor {
    /// Decides what a signal means; `Err` is the rejection.
    pub(super) fn plan(&self, msg: &SignalReceived) -> Result<Plan, Outcome> {
        let sid = msg.signal_id;
        let route = self
            .strategies
            .get(&msg.route.strategy_id)
            .cloned()
            .unwrap_or_else(|| msg.route.clone());
        if !route.active {
            return Err(reject(sid, Refusal::StrategyInactive));
        }
        let cfg = &route.config;
        let account_id = route
            .account_id
            .ok_or_else(|| reject(sid, Refusal::NoAccount))?;
        let link = self
            .accounts
            .get(&account_id)
            .ok_or_else(|| reject(sid, Refusal::AccountUnavailable))?;
        if self
            .synced_after_takeover
            .as_ref()
            .is_some_and(|synced| !synced.contains(&account_id))
        {
            return Err(reject(sid, Refusal::OwnerUnavailable));
        }
        let symbol = match &msg.alert.symbol {
            Some(s) if cfg.trades(s) => s.clone(),
            Some(s) => {
                return Err(reject(
                    sid,
                    Refusal::SymbolNotInStrategy {
                        symbol: s.to_string(),
                        allowed: cfg
                            .symbols
                            .iter()
                            .map(Symbol::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                ));
            }
            None if cfg.symbols.len() == 1 => cfg.symbols[0].clone(),
            None => {
                return Err(reject(sid, Refusal::SymbolRequired));
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
                Refusal::SymbolBusy {
                    holder: l.strategy_id,
                    symbol: symbol.to_string(),
                },
            ));
        }
        if let Some(l) = slot
            && l.phase != Phase::Open
        {
            return Err(reject(sid, Refusal::OrderInFlight));
        }
        let held = slot.map(|l| PositionSide::from(l.rec.side));
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
                    Refusal::NoOpenPosition {
                        symbol: symbol.to_string(),
                    },
                ));
            }
            (a, Some(h)) if action_side(a) == Some(h) => {
                return Err(reject(
                    sid,
                    Refusal::AlreadyInPosition {
                        side: h.name(),
                        symbol: symbol.to_string(),
                    },
                ));
            }
            (a, Some(_)) if cfg.opposite_signal == OppositeSignal::Close => {
                let _ = a;
                return Ok(close("opposite_signal"));
            }
            (a, _) => action_side(a).expect("long or short"),
        };
        // Closes go on (they reduce risk and records); a new position waits
        // until what was done is written down.
        if self.bus.records_behind() {
            metrics::counter!("entries_refused_records_behind_total").increment(1);
            return Err(reject(sid, Refusal::RecordsBehind));
        }

        // Sizing, from memory.
        let o = &msg.alert.overrides;
        let (tp_default, sl_default) = match want {
            PositionSide::Long => (cfg.long_tp_pct, cfg.long_sl_pct),
            PositionSide::Short => (cfg.short_tp_pct, cfg.short_sl_pct),
        };
        let bound = |field: &'static str, v: Decimal, max: Decimal| {
            if v > max {
                Err(reject(
                    sid,
                    Refusal::OverrideOutOfBounds {
                        field,
                        value: v.to_string(),
                        max: max.to_string(),
                    },
                ))
            } else {
                Ok(v)
            }
        };
        let not_for = |field: &'static str| {
            reject(
                sid,
                Refusal::OverrideNotForSizing {
                    field,
                    mode: cfg.sizing.mode(),
                },
            )
        };
        if o.size_pct.is_some() && cfg.sizing != Sizing::InvestmentPct {
            return Err(not_for("size_pct"));
        }
        let investment_pct = bound(
            "size_pct",
            o.size_pct.unwrap_or(cfg.investment_pct),
            cfg.investment_pct,
        )?;
        let sizing = match (cfg.sizing, o.risk_pct, o.qty_usdt) {
            (Sizing::RiskPct { risk_pct }, Some(v), None) => Sizing::RiskPct {
                risk_pct: bound("risk_pct", v, risk_pct)?,
            },
            (Sizing::FixedUsdt { qty_usdt }, None, Some(v)) => Sizing::FixedUsdt {
                qty_usdt: bound("qty_usdt", v, qty_usdt)?,
            },
            (s, None, None) => s,
            (_, Some(_), _) => return Err(not_for("risk_pct")),
            (_, None, Some(_)) => return Err(not_for("qty_usdt")),
        };
        let sl_pct = bound("sl_pct", o.sl_pct.unwrap_or(sl_default), sl_default)?;
        let tp_pct = o.tp_pct.unwrap_or(tp_default);
        let leverage = match o.leverage {
            Some(l) if l > cfg.leverage => {
                return Err(reject(
                    sid,
                    Refusal::OverrideOutOfBounds {
                        field: "leverage",
                        value: format!("{l}x"),
                        max: format!("{}x", cfg.leverage),
                    },
                ));
            }
            Some(l) => l,
            None => cfg.leverage,
        };
        let rules = link
            .view
            .rules(&venue_symbol)
            .ok_or_else(|| reject(sid, Refusal::RulesNotLoaded(venue_symbol.clone())))?;
        if let Some(max) = rules.max_leverage
            && leverage > max
        {
            return Err(reject(
                sid,
                Refusal::LeverageAboveVenueMax {
                    symbol: venue_symbol.clone(),
                    max,
                },
            ));
        }
        let price = link
            .view
            .mark(&venue_symbol)
            .or(msg.alert.price)
            .ok_or_else(|| reject(sid, Refusal::NoRecentPrice(venue_symbol.clone())))?;
        let balance = link
            .view
            .balance()
            .ok_or_else(|| reject(sid, Refusal::BalanceUnavailable))?;
        if cfg.protections.any()
            && let Some(day) = self.protection_days.get(&route.strategy_id)
        {
            day.check(&cfg.protections, Utc::now(), balance.wallet)
                .map_err(|t| reject(sid, Refusal::Protection(t)))?;
        }
        // A reversal's close frees the margin of the position it closes.
        let freed = slot.map_or(Decimal::ZERO, |l| {
            l.rec.entry_price * l.rec.quantity / Decimal::from(l.rec.leverage.max(1))
        });
        let size = sizing::budget(
            sizing,
            investment_pct,
            want,
            price,
            sl_pct,
            balance.wallet,
            sizing::TAKER_FEE,
            &rules,
        )
        .and_then(|budget| {
            sizing::size_entry(budget, balance.available + freed, leverage, price, &rules)
        })
        .map_err(|e| reject(sid, Refusal::Sizing(e)))?;
        if let Some(lp) = o.limit_price
            && !tradingbot_core::entry::plausible_limit(lp, price)
        {
            return Err(reject(
                sid,
                Refusal::OverrideOutOfBounds {
                    field: "limit_price",
                    value: lp.to_string(),
                    max: format!(
                        "{} % from the price ({price})",
                        tradingbot_core::entry::MAX_ALERT_LIMIT_DISTANCE_PCT
                    ),
                },
            ));
        }
        let pending = PendingEntry {
            strategy_id: route.strategy_id,
            signal_id: sid,
            side: want,
            leverage,
            investment_pct,
            sizing,
            tp_pct,
            sl_pct,
            // An alert naming its own take-profit exits there, whole.
            ladder: match &o.tp_levels {
                // The alert's targets, with the strategy's break-even when
                // it falls before their last.
                Some(targets) => Some(Ladder {
                    targets: targets.clone(),
                    break_even: cfg
                        .ladder
                        .as_ref()
                        .and_then(|l| l.break_even)
                        .filter(|b| usize::from(b.after) < targets.len()),
                }),
                None => cfg.ladder.clone().filter(|_| o.tp_pct.is_none()),
            },
            trailing: match o.trail_pct {
                Some(t) if t.is_zero() => None,
                Some(t) => Some(Trailing {
                    callback_pct: t.normalize(),
                    activation_pct: cfg.trailing.and_then(|c| c.activation_pct),
                }),
                None => cfg.trailing,
            },
            entry: match (o.limit, cfg.entry) {
                (Some(false), _) => EntryOrder::Market,
                (Some(true), EntryOrder::Market) => EntryOrder::Limit {
                    limit_offset_pct: Decimal::ZERO,
                    limit_expiry_sec: 60,
                    limit_fallback: tradingbot_core::entry::Fallback::Cancel,
                    post_only: false,
                },
                (_, entry) => entry,
            },
            limit_price: o.limit_price,
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

    pub(super) fn record_signal(&self, msg: &SignalReceived, outcome: &Outcome) {
        let (o, reason) = match outcome {
            Outcome::Accepted { intent, .. } => (SignalOutcome::Accepted, Some(intent.clone())),
            Outcome::Rejected { refusal, .. } => (SignalOutcome::Rejected, Some(refusal.reason())),
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

    /// Sends an entry that risk approved (and nothing else can be sent as
    /// an entry: the approval is the proof).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn launch_entry(
        &mut self,
        approval: RiskApproved,
        p: PendingEntry,
        size: EntrySize,
        price: Decimal,
        account_id: i64,
        venue_symbol: String,
        symbol: Symbol,
    ) {
        debug_assert_eq!(approval.notional, size.notional);
        let Some(route) = self.strategies.get(&p.strategy_id).cloned() else {
            // The strategy went meanwhile: nothing is sent, the slot the
            // approval took is given back.
            self.risk.release_slot(self.user_id);
            return;
        };
        let margin = route.config.margin_mode;
        let position_id = self.ids.next();
        let entry_id = ClientOrderId::derive(p.strategy_id, p.signal_id, Leg::Entry);
        let (kind, limit) = self.entry_kind(&p, price, account_id, &venue_symbol);
        let entry = OrderRequest {
            client_id: entry_id.clone(),
            symbol: venue_symbol.clone(),
            side: p.side.entry_side(),
            kind,
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
                side: DbSide::from(p.side),
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
                targets: Vec::new(),
            },
            venue_symbol: venue_symbol.clone(),
            strategy_id: p.strategy_id,
            entry_signal: p.signal_id,
            entry_id,
            phase: Phase::Entering,
            sl: None,
            replaced: None,
            ladder: p.ladder.clone(),
            plan: Vec::new(),
            targets: BTreeMap::new(),
            closed: Closed::default(),
            trailing: p.trailing,
            trail: None,
            limit,
            tp_pct: p.tp_pct,
            sl_pct: p.sl_pct,
            then: None,
            slot_handed_over: false,
            close_reason: "signal",
            closing_id: None,
            protecting: true,
            protect_attempts: 0,
            verified: true,
        };
        self.inflight.insert(live.entry_id.as_str().to_owned());
        let key = (account_id, venue_symbol);
        self.touch(&key);
        self.live.insert(key, live);
        self.send_exchange(
            account_id,
            ex::Open {
                position_id,
                entry,
                leverage: p.leverage,
                margin,
                reference_price: price,
                origin: p.origin,
            },
        );
    }

    /// Sends the close of the position at `key`.
    pub(super) fn launch_close(
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
        let side = PositionSide::from(l.rec.side);
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
        // The position's stop and target, by what we know of them and by
        // their derived ids (one may rest whose answer never reached us).
        let cancel = l.protective_ids();
        let (position_id, strategy_id, qty, entry_price) =
            (l.rec.id, l.strategy_id, l.rec.quantity, l.rec.entry_price);
        let margin = MarginMode::from(l.rec.margin_mode);
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
        self.touch(key);
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

    /// The entry of a reversal, sized now that the close has settled, and
    /// approved by risk again on today's equity before it goes (the
    /// approval at the signal was for the whole reversal, sized then).
    pub(super) fn reenter(&mut self, key: &(i64, String), p: PendingEntry) {
        let account_id = key.0;
        let sized = self.size_reentry(key, &p);
        match sized {
            Ok((size, price, symbol)) => {
                let answer = self.risk.check_entry(CheckEntry {
                    user_id: self.user_id,
                    leverage: p.leverage,
                    notional: size.notional,
                    equity: self.equity(),
                    now_ms: Utc::now().timestamp_millis(),
                    replacing: true,
                });
                self.reentry_decided(p, size, price, account_id, key.1.clone(), symbol, answer);
            }
            Err(why) => {
                self.risk.release_slot(self.user_id);
                self.alert(
                    "reversal_entry_failed",
                    format!("closed, but the reversing entry was not sent: {why}"),
                    None,
                );
            }
        }
    }

    fn size_reentry(
        &self,
        key: &(i64, String),
        p: &PendingEntry,
    ) -> Result<(EntrySize, Decimal, Symbol), String> {
        let link = self
            .accounts
            .get(&key.0)
            .ok_or("the account is not connected")?;
        let route = self
            .strategies
            .get(&p.strategy_id)
            .ok_or("the strategy is gone")?;
        let symbol = route
            .config
            .symbols
            .iter()
            .find(|s| s.on(link.view.venue) == key.1)
            .cloned()
            .ok_or("the strategy no longer trades this symbol")?;
        let unavailable = || "market data unavailable".to_owned();
        let rules = link.view.rules(&key.1).ok_or_else(unavailable)?;
        let price = link.view.mark(&key.1).ok_or_else(unavailable)?;
        let balance = link.view.balance().ok_or_else(unavailable)?;
        let size = sizing::budget(
            p.sizing,
            p.investment_pct,
            p.side,
            price,
            p.sl_pct,
            balance.wallet,
            sizing::TAKER_FEE,
            &rules,
        )
        .and_then(|budget| sizing::size_entry(budget, balance.available, p.leverage, price, &rules))
        .map_err(|e| e.to_string())?;
        Ok((size, price, symbol))
    }

    /// The account and symbol a signal needs but whose market data is not
    /// in memory yet.
    pub(super) fn cold(&self, msg: &SignalReceived) -> Option<(Addr<ExchangeActor>, String)> {
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

    pub(super) fn process(&mut self, msg: SignalReceived) -> ResponseActFuture<Self, Outcome> {
        let plan = match self.plan(&msg) {
            Ok(p) => p,
            Err(outcome) => {
                self.record_signal(&msg, &outcome);
                if let Outcome::Rejected {
                    refusal: Refusal::Protection(t),
                    ..
                } = &outcome
                {
                    self.protection_paused(msg.route.strategy_id, t);
                }
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
        // The signal is recorded before its orders: they refer to it.
        let outcome = match (self.risk.check_entry(check), plan) {
            (
                Ok(approval),
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
                    intent: format!("open_{}", pending.side.name()),
                };
                self.record_signal(&msg, &outcome);
                self.launch_entry(
                    approval,
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
                // The position's slot goes to the new entry, which is
                // approved again once the close has settled.
                Ok(_slot_handed_over),
                Plan::Reverse {
                    key,
                    signal_id,
                    pending,
                    ..
                },
            ) => {
                let outcome = Outcome::Accepted {
                    signal_id: sid,
                    intent: format!("reverse_to_{}", pending.side.name()),
                };
                self.record_signal(&msg, &outcome);
                if let Some(l) = self.live.get_mut(&key) {
                    l.then = Some(pending);
                    l.slot_handed_over = true;
                }
                self.launch_close(&key, signal_id, Some(msg.received), "reversal");
                outcome
            }
            (Err(rejection), plan) => {
                self.publish(Event::RiskAlert(RiskAlert {
                    user_id: self.user_id,
                    kind: "entry_refused".into(),
                    rule: Some(rejection.rule),
                    message: rejection.message.clone(),
                    position_id: None,
                }));
                if let Plan::Reverse { key, signal_id, .. } = plan {
                    // The close still happens; only the new entry is refused.
                    let outcome = reject(sid, Refusal::ReversalEntryRefused(rejection));
                    self.record_signal(&msg, &outcome);
                    self.launch_close(&key, signal_id, Some(msg.received), "signal");
                    outcome
                } else {
                    let outcome = reject(sid, Refusal::Risk(rejection));
                    self.record_signal(&msg, &outcome);
                    outcome
                }
            }
            // Closes were handled above.
            (Ok(_), Plan::Close { .. }) => {
                self.risk.release_slot(self.user_id);
                let outcome = reject(sid, Refusal::Internal("a close reached the entry path"));
                self.record_signal(&msg, &outcome);
                outcome
            }
        };
        Box::pin(actix::fut::ready(outcome))
    }
}

impl UserActor {
    /// Risk's answer about a reversal's entry.
    #[allow(clippy::too_many_arguments)]
    fn reentry_decided(
        &mut self,
        pending: PendingEntry,
        size: EntrySize,
        price: Decimal,
        account_id: i64,
        venue_symbol: String,
        symbol: Symbol,
        answer: Result<RiskApproved, tradingbot_core::risk::RiskRejection>,
    ) {
        let key = (account_id, venue_symbol.clone());
        let refused = match answer {
            Ok(approval) if !self.live.contains_key(&key) => {
                self.launch_entry(
                    approval,
                    pending,
                    size,
                    price,
                    account_id,
                    venue_symbol,
                    symbol,
                );
                return;
            }
            Ok(_) => "another position took the symbol meanwhile".to_owned(),
            Err(r) => {
                self.publish(Event::RiskAlert(RiskAlert {
                    user_id: self.user_id,
                    kind: "entry_refused".into(),
                    rule: Some(r.rule),
                    message: r.message.clone(),
                    position_id: None,
                }));
                r.message
            }
        };
        self.risk.release_slot(self.user_id);
        self.alert(
            "reversal_entry_failed",
            format!("closed, but the reversing entry was refused: {refused}"),
            None,
        );
    }
}
