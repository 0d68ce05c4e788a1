//! A strategy's protections: rules that stop it opening new positions for a
//! while after it traded too often or lost too much, whatever its alerts
//! say (closes are always taken). Each is off unless the strategy sets it.
//! The same ledger is kept live (rebuilt from the day's positions after a
//! restart) and can be replayed by a backtest.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a strategy set (API fields of the same names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Protections {
    /// Most new positions per UTC day.
    pub max_entries_per_day: Option<u32>,
    /// Minutes without new positions after one closed at its stop-loss.
    pub cooldown_after_sl_min: Option<u32>,
    /// After this many stop-losses in a row, no new position until the
    /// next UTC day.
    pub pause_after_sl_streak: Option<u32>,
    /// When the day's realized PnL has fallen this % of the wallet below its
    /// peak of the day, no new position until the next UTC day.
    pub max_drawdown_pct: Option<Decimal>,
}

impl Protections {
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// Why a protection holds entries back, and until when.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tripped {
    #[error("{entries} positions opened today, the strategy's maximum; entries resume at {until}")]
    MaxEntriesPerDay { entries: u32, until: DateTime<Utc> },
    #[error("a stop-loss closed a position at {at}; entries resume at {until}")]
    CooldownAfterStopLoss {
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("{streak} stop-losses in a row; entries resume at {until}")]
    StopLossStreak { streak: u32, until: DateTime<Utc> },
    #[error(
        "today's realized PnL is {drawdown} below its peak, more than {max_pct} % of the wallet; entries resume at {until}"
    )]
    MaxDrawdown {
        drawdown: Decimal,
        max_pct: Decimal,
        until: DateTime<Utc>,
    },
}

impl Tripped {
    /// The refusal's machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Tripped::MaxEntriesPerDay { .. } => "max_entries_per_day",
            Tripped::CooldownAfterStopLoss { .. } => "cooldown_after_stop_loss",
            Tripped::StopLossStreak { .. } => "stop_loss_streak",
            Tripped::MaxDrawdown { .. } => "max_drawdown",
        }
    }

    pub fn until(&self) -> DateTime<Utc> {
        match self {
            Tripped::MaxEntriesPerDay { until, .. }
            | Tripped::CooldownAfterStopLoss { until, .. }
            | Tripped::StopLossStreak { until, .. }
            | Tripped::MaxDrawdown { until, .. } => *until,
        }
    }
}

/// One strategy's trading of the current UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    day: Option<NaiveDate>,
    entries: u32,
    sl_streak: u32,
    last_sl_at: Option<DateTime<Utc>>,
    realized: Decimal,
    peak: Decimal,
}

fn next_day(now: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    midnight + Duration::days(1)
}

impl Ledger {
    /// A new day starts clean; the last stop-loss's time is kept (a
    /// cooldown may run over midnight).
    fn roll(&mut self, now: DateTime<Utc>) {
        let today = now.date_naive();
        if self.day != Some(today) {
            *self = Ledger {
                day: Some(today),
                last_sl_at: self.last_sl_at,
                ..Ledger::default()
            };
        }
    }

    /// A position of the strategy opened.
    pub fn opened(&mut self, at: DateTime<Utc>) {
        self.roll(at);
        self.entries += 1;
    }

    /// A position of the strategy closed with `pnl` (fees included);
    /// `stop_loss` when its stop closed it.
    pub fn closed(&mut self, at: DateTime<Utc>, pnl: Decimal, stop_loss: bool) {
        self.roll(at);
        self.realized += pnl;
        self.peak = self.peak.max(self.realized);
        if stop_loss {
            self.sl_streak += 1;
            self.last_sl_at = Some(self.last_sl_at.map_or(at, |t| t.max(at)));
        } else {
            self.sl_streak = 0;
        }
    }

    /// Whether a new position may open at `now`; `wallet` values the
    /// drawdown limit.
    pub fn check(
        &self,
        p: &Protections,
        now: DateTime<Utc>,
        wallet: Decimal,
    ) -> Result<(), Tripped> {
        // A ledger of an earlier day counts nothing but its last stop-loss.
        let mut today = self.clone();
        today.roll(now);
        let tomorrow = next_day(now);
        if let Some(max) = p.max_entries_per_day
            && today.entries >= max
        {
            return Err(Tripped::MaxEntriesPerDay {
                entries: today.entries,
                until: tomorrow,
            });
        }
        if let (Some(min), Some(at)) = (p.cooldown_after_sl_min, today.last_sl_at) {
            let until = at + Duration::minutes(i64::from(min));
            if now < until {
                return Err(Tripped::CooldownAfterStopLoss { at, until });
            }
        }
        if let Some(n) = p.pause_after_sl_streak
            && today.sl_streak >= n
        {
            return Err(Tripped::StopLossStreak {
                streak: today.sl_streak,
                until: tomorrow,
            });
        }
        if let Some(max_pct) = p.max_drawdown_pct {
            let drawdown = today.peak - today.realized;
            if drawdown > Decimal::ZERO && drawdown >= wallet * max_pct / Decimal::ONE_HUNDRED {
                return Err(Tripped::MaxDrawdown {
                    drawdown: drawdown.round_dp(2),
                    max_pct,
                    until: tomorrow,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0).unwrap()
    }

    #[test]
    fn nothing_set_holds_nothing() {
        let mut l = Ledger::default();
        for i in 0..50 {
            l.opened(at(1, i));
            l.closed(at(1, i), dec!(-100), true);
        }
        assert_eq!(
            l.check(&Protections::default(), at(2, 0), dec!(1000)),
            Ok(())
        );
    }

    #[test]
    fn entries_per_day_reset_at_midnight() {
        let p = Protections {
            max_entries_per_day: Some(2),
            ..Default::default()
        };
        let mut l = Ledger::default();
        l.opened(at(9, 0));
        assert!(l.check(&p, at(9, 1), dec!(1000)).is_ok());
        l.opened(at(10, 0));
        let e = l.check(&p, at(23, 59), dec!(1000)).unwrap_err();
        assert_eq!(e.code(), "max_entries_per_day");
        assert_eq!(
            e.until(),
            Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap()
        );
        let tomorrow = Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 1).unwrap();
        assert!(l.check(&p, tomorrow, dec!(1000)).is_ok());
    }

    #[test]
    fn a_cooldown_follows_a_stop_loss_even_over_midnight() {
        let p = Protections {
            cooldown_after_sl_min: Some(30),
            ..Default::default()
        };
        let mut l = Ledger::default();
        l.closed(at(23, 50), dec!(-10), true);
        let e = l
            .check(
                &p,
                Utc.with_ymd_and_hms(2026, 12, 8, 0, 5, 0).unwrap(),
                dec!(1000),
            )
            .unwrap_err();
        assert_eq!(e.code(), "cooldown_after_stop_loss");
        assert_eq!(
            e.until(),
            Utc.with_ymd_and_hms(2026, 12, 8, 0, 20, 0).unwrap()
        );
        assert!(
            l.check(
                &p,
                Utc.with_ymd_and_hms(2026, 12, 8, 0, 20, 0).unwrap(),
                dec!(1000)
            )
            .is_ok()
        );
        // A take-profit starts no cooldown.
        let mut l = Ledger::default();
        l.closed(at(12, 0), dec!(10), false);
        assert!(l.check(&p, at(12, 1), dec!(1000)).is_ok());
    }

    #[test]
    fn a_streak_of_stop_losses_pauses_until_tomorrow_and_a_win_breaks_it() {
        let p = Protections {
            pause_after_sl_streak: Some(3),
            ..Default::default()
        };
        let mut l = Ledger::default();
        l.closed(at(9, 0), dec!(-10), true);
        l.closed(at(10, 0), dec!(-10), true);
        l.closed(at(11, 0), dec!(5), false);
        l.closed(at(12, 0), dec!(-10), true);
        l.closed(at(13, 0), dec!(-10), true);
        assert!(l.check(&p, at(13, 1), dec!(1000)).is_ok());
        l.closed(at(14, 0), dec!(-10), true);
        let e = l.check(&p, at(14, 1), dec!(1000)).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().starts_with("3 stop-losses")),
            ("stop_loss_streak", true)
        );
    }

    #[test]
    fn the_drawdown_is_from_the_days_peak() {
        let p = Protections {
            max_drawdown_pct: Some(dec!(5)),
            ..Default::default()
        };
        let mut l = Ledger::default();
        // Up 80, then down 40 + 30: 70 below the peak, 5 % of 1,000 is 50.
        l.closed(at(9, 0), dec!(80), false);
        l.closed(at(10, 0), dec!(-40), false);
        assert!(l.check(&p, at(10, 1), dec!(1000)).is_ok());
        l.closed(at(11, 0), dec!(-30), false);
        let e = l.check(&p, at(11, 1), dec!(1000)).unwrap_err();
        assert_eq!(
            e,
            Tripped::MaxDrawdown {
                drawdown: dec!(70),
                max_pct: dec!(5),
                until: Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap(),
            }
        );
        // A larger wallet: within the limit.
        assert!(l.check(&p, at(11, 1), dec!(2000)).is_ok());
    }
}
