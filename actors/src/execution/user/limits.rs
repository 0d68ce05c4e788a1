//! Limit entries: a limit order some way better than the price rests on
//! the venue until it fills, a part of it fills, or its time runs out.
//!
//! A position must never be without a stop, and a resting order's fills
//! cannot be protected one by one without racing them: the first fill —
//! a part or the whole — ends the wait. A part cancels the rest and the
//! position is what filled, protected at once; the whole opens it as a
//! market entry would. Time running out cancels it; then, with nothing
//! filled, the strategy's fallback enters at market for the whole size
//! (under its own client id, derived from the same signal) or nothing is
//! entered and the trader is told.

use super::*;
use tradingbot_core::entry::{self, Fallback};
use tradingbot_core::exchange::instrument::Rounding;
use tradingbot_core::exchange::{OrderStatus as VenueStatus, TimeInForce};

impl UserActor {
    /// The entry order's kind for `p` at `price`: at market, or a limit
    /// with its wait.
    pub(super) fn entry_kind(
        &self,
        p: &PendingEntry,
        price: Decimal,
        account_id: i64,
        venue_symbol: &str,
    ) -> (OrderKind, Option<LimitEntry>) {
        let EntryOrder::Limit {
            limit_offset_pct,
            limit_expiry_sec,
            limit_fallback,
            post_only,
        } = p.entry
        else {
            return (OrderKind::Market, None);
        };
        let rules = self
            .accounts
            .get(&account_id)
            .and_then(|a| a.view.rules(venue_symbol));
        let Some(rules) = rules else {
            return (OrderKind::Market, None);
        };
        // The alert's own price goes onto the tick on the trader's side
        // (never a worse price than asked).
        let limit = match p.limit_price {
            Some(lp) => match p.side {
                PositionSide::Long => rules.round_price(lp, Rounding::Down),
                PositionSide::Short => rules.round_price(lp, Rounding::Up),
            },
            None => entry::limit_price(p.side, price, limit_offset_pct, &rules),
        };
        (
            OrderKind::Limit {
                price: limit,
                tif: if post_only {
                    TimeInForce::Gtx
                } else {
                    TimeInForce::Gtc
                },
            },
            Some(LimitEntry {
                deadline: Instant::now()
                    + std::time::Duration::from_secs(u64::from(limit_expiry_sec)),
                fallback: limit_fallback,
                cancelling: false,
            }),
        )
    }

    /// Limit entries whose time ran out are cancelled (each once).
    pub(super) fn expire_limits(&mut self) {
        let now = Instant::now();
        let due: Vec<(i64, String)> = self
            .live
            .iter()
            .filter(|(_, l)| {
                l.phase == Phase::Entering
                    && l.limit.is_some_and(|w| !w.cancelling && w.deadline <= now)
                    && !self.inflight.contains(l.entry_id.as_str())
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.cancel_limit(&key);
        }
    }

    /// Sends the cancel of the limit entry at `key`.
    pub(super) fn cancel_limit(&mut self, key: &(i64, String)) {
        let Some(l) = self.live.get_mut(key) else {
            return;
        };
        let Some(w) = l.limit.as_mut().filter(|w| !w.cancelling) else {
            return;
        };
        w.cancelling = true;
        let msg = ex::CancelEntry {
            position_id: l.rec.id,
            symbol: l.venue_symbol.clone(),
            id: l.entry_id.clone(),
        };
        self.touch(key);
        self.send_exchange(key.0, msg);
    }

    /// A limit entry the venue answered: resting (it waits), or done.
    /// `true` when it rests and nothing more is to be done now.
    pub(super) fn limit_rests(&mut self, key: &(i64, String), r: &OrderReport) -> bool {
        let Some(l) = self.live.get_mut(key) else {
            return false;
        };
        if l.limit.is_none() || r.status.is_final() {
            return false;
        }
        // Reconciliation may look at it now: its fills are the venue's
        // (a snapshot asked before this answer says nothing of it).
        l.protecting = false;
        let entry_id = l.entry_id.clone();
        self.touch(key);
        let partial = r.filled > Decimal::ZERO;
        self.apply_report(&entry_id, Ok(r), None, None);
        if partial {
            // A part filled: the rest is cancelled, what filled protected.
            self.cancel_limit(key);
        }
        true
    }

    /// A stream update of an entry we are waiting for.
    pub(super) fn on_entry_update(&mut self, account_id: i64, id: &ClientOrderId, r: &OrderReport) {
        let key = self
            .live
            .iter()
            .find(|(k, l)| k.0 == account_id && &l.entry_id == id && l.phase == Phase::Entering)
            .map(|(k, _)| k.clone());
        let Some(key) = key else { return };
        let l = &self.live[&key];
        if l.limit.is_none() || self.inflight.contains(id.as_str()) {
            // A market entry's answer says it; a limit's first answer too.
            return;
        }
        let position_id = l.rec.id;
        if r.status == VenueStatus::Filled {
            self.on_entry_done(position_id, Ok(r.clone()));
        } else if r.filled > Decimal::ZERO {
            self.limit_rests(&key, r);
        } else if r.status.is_final() && !l.limit.is_some_and(|w| w.cancelling) {
            // Ended by the venue with nothing filled (a post-only that
            // would have taken, say): as if its time ran out.
            self.on_entry_canceled(position_id, Ok(r.clone()));
        }
    }

    /// How a cancelled limit entry ended: what filled opens the position;
    /// nothing filled falls back to market, or ends the attempt.
    pub(super) fn on_entry_canceled(
        &mut self,
        position_id: i64,
        result: Result<OrderReport, ExchangeError>,
    ) {
        let Some(key) = self.key_of(position_id) else {
            return;
        };
        let l = &self.live[&key];
        if l.phase != Phase::Entering
            || result
                .as_ref()
                .is_ok_and(|r| r.client_id != l.entry_id.as_str())
        {
            // Not the entry it waits for any more (its fallback is).
            return;
        }
        let fallback = l.limit.map(|w| w.fallback);
        match result {
            Ok(mut r) if r.filled > Decimal::ZERO => {
                // Ended with a part (or all) filled: that is the position.
                if !r.status.is_final() {
                    r.status = VenueStatus::Canceled;
                }
                if let Some(l) = self.live.get_mut(&key) {
                    l.limit = None;
                }
                self.on_entry_done(position_id, Ok(r));
            }
            Ok(r) => {
                let entry_id = l.entry_id.clone();
                self.apply_report(&entry_id, Ok(&r), None, None);
                if fallback == Some(Fallback::Market) {
                    self.enter_at_market(&key);
                } else {
                    self.alert(
                        "entry_expired",
                        format!(
                            "the limit entry of {} was not filled in time and is cancelled",
                            key.1
                        ),
                        None,
                    );
                    self.drop_entry(&key);
                }
            }
            Err(e) => {
                // Not known how it ended: the venue says, at the next look.
                tracing::warn!(user_id = self.user_id, symbol = %key.1, error = %e, "a limit entry's cancel is not confirmed");
                if let Some(w) = self.live.get_mut(&key).and_then(|l| l.limit.as_mut()) {
                    w.cancelling = false;
                }
                self.reconcile(key.0);
            }
        }
    }

    /// The fallback: the whole size at market, under its own client id.
    pub(super) fn enter_at_market(&mut self, key: &(i64, String)) {
        let Some(l) = self.live.get_mut(key) else {
            return;
        };
        let id = ClientOrderId::derive(l.strategy_id, l.entry_signal, Leg::FallbackEntry);
        if l.entry_id == id {
            // The fallback itself ended without a fill.
            self.drop_entry(key);
            return;
        }
        l.entry_id = id.clone();
        l.limit = None;
        l.protecting = true;
        let side = PositionSide::from(l.rec.side);
        let entry = OrderRequest {
            client_id: id.clone(),
            symbol: l.venue_symbol.clone(),
            side: side.entry_side(),
            kind: OrderKind::Market,
            size: OrderSize::Base(l.rec.quantity),
            reduce_only: false,
            attach: None,
        };
        let (strategy_id, signal, qty, leverage) = (
            l.strategy_id,
            l.entry_signal,
            l.rec.quantity,
            l.rec.leverage,
        );
        let margin = MarginMode::from(l.rec.margin_mode);
        let position_id = l.rec.id;
        let reference = self
            .accounts
            .get(&key.0)
            .and_then(|a| a.view.mark(&key.1))
            .unwrap_or(l.rec.entry_price);
        self.record_new_order(
            key.0,
            strategy_id,
            Some(signal),
            None,
            &entry,
            qty,
            OrderStatus::Pending,
        );
        self.inflight.insert(id.as_str().to_owned());
        self.touch(key);
        self.send_exchange(
            key.0,
            ex::Open {
                position_id,
                entry,
                leverage,
                margin,
                reference_price: reference,
                origin: None,
            },
        );
    }

    /// An entry that will not open a position: its slot is freed.
    pub(super) fn drop_entry(&mut self, key: &(i64, String)) {
        if let Some(l) = self.live.remove(key)
            && !l.slot_handed_over
        {
            self.risk.release_slot(self.user_id);
        }
        self.touch(key);
    }
}
