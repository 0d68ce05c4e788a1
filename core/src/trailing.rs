//! A trailing stop: once the price reached its activation (or at once), it
//! follows the best price since and closes the position when the price
//! comes back `callback_pct` % from it. Pure, so the paper engine, the
//! backtester and the live path's checks read one definition; the real
//! venues hold it natively (Binance `TRAILING_STOP_MARKET`, OKX
//! `move_order_stop`) with the same semantics:
//!
//! - closing a long (a sell): armed once the price is at or above the
//!   activation; fires when it is at or below `highest × (1 − callback)`;
//! - closing a short (a buy): armed at or below the activation; fires at
//!   or above `lowest × (1 + callback)`.

use crate::exchange::PositionSide;
use crate::exchange::instrument::{InstrumentRules, Rounding};
use crate::strategy::FieldError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Binance accepts callbacks of 0.1–10 % in steps of 0.1; OKX more. The
/// common range is the strategy's.
pub const MIN_CALLBACK_PCT: Decimal = Decimal::from_parts(1, 0, 0, false, 1);
pub const MAX_CALLBACK_PCT: Decimal = Decimal::TEN;

/// A strategy's trailing stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trailing {
    /// How far back from the best price it closes, in %.
    pub callback_pct: Decimal,
    /// How far in profit (from the entry, %) it starts following; `None`:
    /// at once.
    pub activation_pct: Option<Decimal>,
}

impl Trailing {
    /// The trailing stop the API's fields describe (`trail_pct` 0 or
    /// absent: none), validated.
    pub fn from_fields(
        trail_pct: Option<Decimal>,
        activation_pct: Option<Decimal>,
    ) -> Result<Option<Trailing>, Vec<FieldError>> {
        let Some(callback_pct) = trail_pct.filter(|p| !p.is_zero()) else {
            return match activation_pct.filter(|p| !p.is_zero()) {
                Some(_) => Err(vec![FieldError::new(
                    "trail_activation_pct",
                    "starts a trailing stop: set trail_pct too",
                )]),
                None => Ok(None),
            };
        };
        let t = Trailing {
            callback_pct: callback_pct.normalize(),
            activation_pct: activation_pct
                .filter(|p| !p.is_zero())
                .map(|p| p.normalize()),
        };
        t.validate()?;
        Ok(Some(t))
    }

    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let c = self.callback_pct;
        if c < MIN_CALLBACK_PCT || c > MAX_CALLBACK_PCT || !(c * Decimal::TEN).fract().is_zero() {
            errors.push(FieldError::new(
                "trail_pct",
                "between 0.1 and 10 (% back from the best price), in steps of 0.1",
            ));
        }
        if let Some(a) = self.activation_pct
            && (a < Decimal::new(1, 1) || a > Decimal::ONE_HUNDRED || a.normalize().scale() > 2)
        {
            errors.push(FieldError::new(
                "trail_activation_pct",
                "between 0.1 and 100 (% in profit from the entry, two decimals at most), or 0 for at once",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Where it starts following for a position entered at `entry`: on the
    /// tick, away from the entry (never earlier than asked).
    pub fn activation_price(
        &self,
        side: PositionSide,
        entry: Decimal,
        rules: &InstrumentRules,
    ) -> Option<Decimal> {
        let a = self.activation_pct?;
        let hundred = Decimal::ONE_HUNDRED;
        Some(match side {
            PositionSide::Long => rules.round_price(entry * (hundred + a) / hundred, Rounding::Up),
            PositionSide::Short => {
                rules.round_price(entry * (hundred - a) / hundred, Rounding::Down)
            }
        })
    }
}

/// A trailing stop following prices one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trail {
    /// The position it closes.
    side: PositionSide,
    callback_pct: Decimal,
    activation: Option<Decimal>,
    /// The best price since it armed; `None` until then.
    best: Option<Decimal>,
}

impl Trail {
    /// A trail for a `side` position; `activation` `None`: armed at the
    /// first price it sees (the venues' default, the price at placement).
    pub fn new(side: PositionSide, callback_pct: Decimal, activation: Option<Decimal>) -> Self {
        Self {
            side,
            callback_pct,
            activation,
            best: None,
        }
    }

    /// The best price since it armed.
    pub fn best(&self) -> Option<Decimal> {
        self.best
    }

    /// The price it fires at now, once armed.
    pub fn trigger(&self) -> Option<Decimal> {
        let back = self.callback_pct / Decimal::ONE_HUNDRED;
        self.best.map(|b| match self.side {
            PositionSide::Long => b * (Decimal::ONE - back),
            PositionSide::Short => b * (Decimal::ONE + back),
        })
    }

    /// Sees `price`; true when the trail fires at it.
    pub fn observe(&mut self, price: Decimal) -> bool {
        let better = |a: Decimal, b: Decimal| match self.side {
            PositionSide::Long => a > b,
            PositionSide::Short => a < b,
        };
        match self.best {
            None => {
                let armed = self.activation.is_none_or(|a| match self.side {
                    PositionSide::Long => price >= a,
                    PositionSide::Short => price <= a,
                });
                if armed {
                    self.best = Some(price);
                }
                false
            }
            Some(best) => {
                if better(price, best) {
                    self.best = Some(price);
                    return false;
                }
                let trigger = self.trigger().expect("armed");
                match self.side {
                    PositionSide::Long => price <= trigger,
                    PositionSide::Short => price >= trigger,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_long_trail_arms_follows_and_fires() {
        // 1 % back, from 44,000 on.
        let mut t = Trail::new(PositionSide::Long, dec!(1), Some(dec!(44000)));
        assert!(!t.observe(dec!(43500)));
        assert_eq!(t.trigger(), None, "not armed below the activation");
        assert!(!t.observe(dec!(44100)));
        assert_eq!(t.trigger(), Some(dec!(43659)));
        assert!(!t.observe(dec!(45000)));
        // Best 45,000 → fires at 44,550 or below.
        assert_eq!(t.trigger(), Some(dec!(44550)));
        assert!(!t.observe(dec!(44600)));
        assert!(t.observe(dec!(44550)));
    }

    #[test]
    fn a_short_trail_follows_the_lowest_price() {
        let mut t = Trail::new(PositionSide::Short, dec!(2), None);
        assert!(!t.observe(dec!(43000)), "armed at the first price");
        assert!(!t.observe(dec!(42000)));
        // 42,000 × 1.02 = 42,840.
        assert!(!t.observe(dec!(42839)));
        assert!(t.observe(dec!(42840)));
    }

    #[test]
    fn fields_are_checked_with_their_names() {
        assert_eq!(Trailing::from_fields(None, None), Ok(None));
        assert_eq!(Trailing::from_fields(Some(dec!(0)), None), Ok(None));
        let t = Trailing::from_fields(Some(dec!(1.5)), Some(dec!(2)))
            .unwrap()
            .unwrap();
        assert_eq!(t.activation_pct, Some(dec!(2)));
        let field = |r: Result<Option<Trailing>, Vec<FieldError>>| r.unwrap_err()[0].field.clone();
        assert_eq!(
            field(Trailing::from_fields(Some(dec!(0.05)), None)),
            "trail_pct"
        );
        assert_eq!(
            field(Trailing::from_fields(Some(dec!(11)), None)),
            "trail_pct"
        );
        assert_eq!(
            field(Trailing::from_fields(Some(dec!(1.25)), None)),
            "trail_pct"
        );
        assert_eq!(
            field(Trailing::from_fields(Some(dec!(1)), Some(dec!(101)))),
            "trail_activation_pct"
        );
        assert_eq!(
            field(Trailing::from_fields(None, Some(dec!(1)))),
            "trail_activation_pct"
        );
    }

    #[test]
    fn the_activation_is_on_the_tick_away_from_the_entry() {
        let rules = crate::sizing::tests::btc();
        let t = Trailing {
            callback_pct: dec!(1),
            activation_pct: Some(dec!(1.5)),
        };
        // 43,210.7 × 1.015 = 43,858.8605 → up to 43,858.9; short 42,562.5395 → down 42,562.5.
        assert_eq!(
            t.activation_price(PositionSide::Long, dec!(43210.7), &rules),
            Some(dec!(43858.9))
        );
        assert_eq!(
            t.activation_price(PositionSide::Short, dec!(43210.7), &rules),
            Some(dec!(42562.5))
        );
    }
}
