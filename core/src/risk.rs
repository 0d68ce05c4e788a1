//! The trader's and the operator's limits on new exposure.
//!
//! Only *entries* are checked: a closing or protective order reduces risk
//! and is never blocked by a limit, a kill switch included — a halted
//! account must still be able to get out.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

const MS_PER_DAY: i64 = 86_400_000;

/// A user's limits (the `risk_settings` row; defaults when there is none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Highest leverage any entry may use (the venue's own cap still applies).
    pub max_leverage: u32,
    /// Open positions at once, across all strategies and accounts.
    pub max_open_positions: u32,
    /// Largest notional of one position, in the quote asset; `None`: no cap.
    pub max_position_notional: Option<Decimal>,
    /// New entries stop for the rest of the UTC day once equity has fallen
    /// this many percent below the day's starting equity; `None`: no limit.
    pub daily_loss_limit_pct: Option<Decimal>,
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            max_leverage: 125,
            max_open_positions: 10,
            max_position_notional: None,
            daily_loss_limit_pct: None,
        }
    }
}

/// Which rule refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskRule {
    GlobalKillSwitch,
    UserKillSwitch,
    MaxLeverage,
    MaxOpenPositions,
    MaxPositionNotional,
    DailyLossLimit,
    /// The risk state is being rebuilt after a restart: entries wait (fail closed).
    StateLoading,
}

impl RiskRule {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskRule::GlobalKillSwitch => "global_kill_switch",
            RiskRule::UserKillSwitch => "user_kill_switch",
            RiskRule::MaxLeverage => "max_leverage",
            RiskRule::MaxOpenPositions => "max_open_positions",
            RiskRule::MaxPositionNotional => "max_position_notional",
            RiskRule::DailyLossLimit => "daily_loss_limit",
            RiskRule::StateLoading => "risk_state_loading",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RiskRejection {
    pub rule: RiskRule,
    pub message: String,
}

fn reject(rule: RiskRule, message: String) -> Result<(), RiskRejection> {
    Err(RiskRejection { rule, message })
}

/// An entry as the risk check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryCheck {
    pub leverage: u32,
    pub notional: Decimal,
    /// The user's equity now, across accounts (quote asset).
    pub equity: Decimal,
    pub now_ms: i64,
}

/// One user's risk state: what the day started with, what is open, and
/// whether entries are halted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RiskLedger {
    /// UTC day number of `start_equity`.
    pub day: i64,
    pub start_equity: Decimal,
    /// Positions open or being opened.
    pub open_positions: u32,
    /// The user's own panic button.
    pub kill_switch: bool,
    /// Set by an administrator; only an administrator lifts it.
    pub admin_kill_switch: bool,
    /// The UTC day on which the daily loss limit tripped.
    pub halted_day: Option<i64>,
}

impl RiskLedger {
    /// Starts a new day's accounting when the UTC date has changed.
    pub fn roll(&mut self, now_ms: i64, equity: Decimal) {
        let today = now_ms.div_euclid(MS_PER_DAY);
        if today != self.day || self.start_equity <= Decimal::ZERO {
            self.day = today;
            self.start_equity = equity;
        }
    }

    /// How much of the day's starting equity is gone, in percent (0 when up).
    pub fn day_loss_pct(&self, equity: Decimal) -> Decimal {
        if self.start_equity <= Decimal::ZERO || equity >= self.start_equity {
            return Decimal::ZERO;
        }
        (self.start_equity - equity) / self.start_equity * Decimal::ONE_HUNDRED
    }

    /// Checks a new entry against every rule, in order of severity.
    pub fn check_entry(
        &mut self,
        limits: &RiskLimits,
        global_kill_switch: bool,
        entry: EntryCheck,
    ) -> Result<(), RiskRejection> {
        self.roll(entry.now_ms, entry.equity);
        if global_kill_switch {
            return reject(
                RiskRule::GlobalKillSwitch,
                "trading is halted by the operator for everyone; closing still works".into(),
            );
        }
        if self.admin_kill_switch || self.kill_switch {
            return reject(
                RiskRule::UserKillSwitch,
                "your kill switch is on: new entries are refused, closing still works".into(),
            );
        }
        if entry.leverage > limits.max_leverage {
            return reject(
                RiskRule::MaxLeverage,
                format!(
                    "leverage {}x is above your limit of {}x",
                    entry.leverage, limits.max_leverage
                ),
            );
        }
        if self.open_positions >= limits.max_open_positions {
            return reject(
                RiskRule::MaxOpenPositions,
                format!(
                    "{} positions are open, your limit is {}",
                    self.open_positions, limits.max_open_positions
                ),
            );
        }
        if let Some(max) = limits.max_position_notional
            && entry.notional > max
        {
            return reject(
                RiskRule::MaxPositionNotional,
                format!(
                    "the position would be worth {}, above your limit of {max}",
                    entry.notional.round_dp(2)
                ),
            );
        }
        let today = entry.now_ms.div_euclid(MS_PER_DAY);
        if self.halted_day == Some(today) {
            return reject(
                RiskRule::DailyLossLimit,
                "the daily loss limit was reached today; entries resume at 00:00 UTC".into(),
            );
        }
        if let Some(limit) = limits.daily_loss_limit_pct {
            let lost = self.day_loss_pct(entry.equity);
            if lost >= limit {
                self.halted_day = Some(today);
                return reject(
                    RiskRule::DailyLossLimit,
                    format!(
                        "equity is down {}% today, your daily limit is {limit}%; entries resume at 00:00 UTC",
                        lost.round_dp(2)
                    ),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const DAY: i64 = 1_705_276_800_000; // 2024-01-15T00:00:00Z

    fn entry(leverage: u32, notional: Decimal, equity: Decimal, now_ms: i64) -> EntryCheck {
        EntryCheck {
            leverage,
            notional,
            equity,
            now_ms,
        }
    }

    fn rule(r: Result<(), RiskRejection>) -> Option<RiskRule> {
        r.err().map(|e| e.rule)
    }

    #[test]
    fn each_rule_refuses_its_case() {
        let limits = RiskLimits {
            max_leverage: 10,
            max_open_positions: 2,
            max_position_notional: Some(dec!(5000)),
            daily_loss_limit_pct: Some(dec!(5)),
        };
        let mut l = RiskLedger::default();
        let ok = entry(5, dec!(1000), dec!(10000), DAY + 1);
        assert_eq!(rule(l.check_entry(&limits, false, ok)), None);
        assert_eq!(l.start_equity, dec!(10000));
        assert_eq!(
            rule(l.check_entry(&limits, true, ok)),
            Some(RiskRule::GlobalKillSwitch)
        );
        assert_eq!(
            rule(l.check_entry(&limits, false, entry(11, dec!(1000), dec!(10000), DAY + 2))),
            Some(RiskRule::MaxLeverage)
        );
        assert_eq!(
            rule(l.check_entry(
                &limits,
                false,
                entry(5, dec!(5000.01), dec!(10000), DAY + 2)
            )),
            Some(RiskRule::MaxPositionNotional)
        );
        l.open_positions = 2;
        assert_eq!(
            rule(l.check_entry(&limits, false, ok)),
            Some(RiskRule::MaxOpenPositions)
        );
        l.open_positions = 0;
        l.kill_switch = true;
        assert_eq!(
            rule(l.check_entry(&limits, false, ok)),
            Some(RiskRule::UserKillSwitch)
        );
        l.kill_switch = false;
        l.admin_kill_switch = true;
        assert_eq!(
            rule(l.check_entry(&limits, false, ok)),
            Some(RiskRule::UserKillSwitch)
        );
    }

    #[test]
    fn the_daily_loss_limit_latches_until_the_next_utc_day() {
        let limits = RiskLimits {
            daily_loss_limit_pct: Some(dec!(5)),
            ..RiskLimits::default()
        };
        let mut l = RiskLedger::default();
        assert!(
            l.check_entry(&limits, false, entry(3, dec!(100), dec!(10000), DAY + 1))
                .is_ok()
        );
        // Down 4.99 %: still fine.
        assert!(
            l.check_entry(&limits, false, entry(3, dec!(100), dec!(9501), DAY + 2))
                .is_ok()
        );
        // Down 5 %: halted…
        assert_eq!(
            rule(l.check_entry(&limits, false, entry(3, dec!(100), dec!(9500), DAY + 3))),
            Some(RiskRule::DailyLossLimit)
        );
        // …even after a recovery, for the rest of the day.
        assert_eq!(
            rule(l.check_entry(&limits, false, entry(3, dec!(100), dec!(10200), DAY + 4))),
            Some(RiskRule::DailyLossLimit)
        );
        // A new day starts from the equity it finds.
        let next = DAY + MS_PER_DAY;
        assert!(
            l.check_entry(&limits, false, entry(3, dec!(100), dec!(9400), next))
                .is_ok()
        );
        assert_eq!(l.start_equity, dec!(9400));
    }
}
