//! The strategies' protections, kept by the user actor: each strategy's
//! entries and closes of the day are counted as they happen (and rebuilt
//! from the day's positions after a start), and a pause is told once —
//! on Telegram and the websocket — not once per refused alert.

use super::*;
use crate::store::entities::positions;

impl UserActor {
    pub(super) fn count_opened(&mut self, strategy_id: Option<i64>, at: DateTime<Utc>) {
        if let Some(s) = strategy_id {
            self.protection_days.entry(s).or_default().opened(at);
        }
    }

    pub(super) fn count_closed(
        &mut self,
        strategy_id: Option<i64>,
        at: DateTime<Utc>,
        pnl: Decimal,
        reason: &str,
    ) {
        if let Some(s) = strategy_id {
            self.protection_days
                .entry(s)
                .or_default()
                .closed(at, pnl, reason == "stop_loss");
        }
    }

    /// The ledgers from the positions opened or closed today, in the order
    /// it happened.
    pub(super) fn rebuild_protection_days(&mut self, today: &[positions::Model]) {
        /// When, which strategy, and for a close its PnL and whether its stop closed it.
        type Happened = (DateTime<Utc>, Option<i64>, Option<(Decimal, bool)>);
        let mut happened: Vec<Happened> = Vec::new();
        let midnight = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        for p in today {
            if p.opened_at >= midnight {
                happened.push((p.opened_at, p.strategy_id, None));
            }
            if let Some(at) = p.closed_at {
                let stop = p.close_reason.as_deref() == Some("stop_loss");
                happened.push((at, p.strategy_id, Some((p.realized_pnl.get(), stop))));
            }
        }
        happened.sort_by_key(|(at, ..)| *at);
        for (at, strategy, closed) in happened {
            match closed {
                None => self.count_opened(strategy, at),
                Some((pnl, stop)) => {
                    self.count_closed(strategy, at, pnl, if stop { "stop_loss" } else { "" })
                }
            }
        }
    }

    /// Tells the trader a protection paused the strategy, once per pause.
    pub(super) fn protection_paused(&mut self, strategy_id: i64, t: &protections::Tripped) {
        let until = t.until();
        if self
            .protection_told
            .get(&strategy_id)
            .is_some_and(|told| *told >= until)
        {
            return;
        }
        self.protection_told.insert(strategy_id, until);
        let name = self.strategies.get(&strategy_id).map_or_else(
            || format!("strategy {strategy_id}"),
            |r| r.config.name.clone(),
        );
        self.alert(
            &format!("protection_{}", t.code()),
            format!("{name}: no new positions — {t}"),
            None,
        );
    }
}
