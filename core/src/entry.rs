//! How an entry goes to the venue: at market (the seed's), or as a limit
//! order some way better than the price, resting until it fills or its
//! time runs out — then cancelled, or completed at market. Pure, so the
//! live path and the backtester price it the same way.

use crate::exchange::PositionSide;
use crate::exchange::instrument::{InstrumentRules, Rounding};
use crate::strategy::FieldError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The longest a limit entry may rest: a day (an alert older than that is
/// not the trader's signal any more).
pub const MAX_EXPIRY_SEC: u32 = 86_400;
/// The shortest: the venues' answer and stream need a few seconds.
pub const MIN_EXPIRY_SEC: u32 = 5;
/// The farthest from the price a limit entry may be asked for, %.
pub const MAX_OFFSET_PCT: Decimal = Decimal::TEN;

/// What a limit entry that did not fill in time becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Cancelled: no position (a part filled stays, protected).
    Cancel,
    /// Cancelled, then entered at market for the whole size (when nothing
    /// filled).
    Market,
}

/// A strategy's entries (API `order_type` and its fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "order_type", rename_all = "snake_case")]
pub enum EntryOrder {
    #[default]
    Market,
    Limit {
        /// % better than the price: below it for a long, above for a short.
        limit_offset_pct: Decimal,
        limit_expiry_sec: u32,
        limit_fallback: Fallback,
        /// Refused rather than filled as a taker (Binance GTX, OKX
        /// `post_only`).
        post_only: bool,
    },
}

impl EntryOrder {
    pub fn name(&self) -> &'static str {
        match self {
            EntryOrder::Market => "market",
            EntryOrder::Limit { .. } => "limit",
        }
    }

    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let EntryOrder::Limit {
            limit_offset_pct,
            limit_expiry_sec,
            ..
        } = *self
        else {
            return Ok(());
        };
        let mut errors = Vec::new();
        if limit_offset_pct < Decimal::ZERO
            || limit_offset_pct > MAX_OFFSET_PCT
            || limit_offset_pct.normalize().scale() > 2
        {
            errors.push(FieldError::new(
                "limit_offset_pct",
                "between 0 and 10 (% better than the price, two decimals at most)",
            ));
        }
        if !(MIN_EXPIRY_SEC..=MAX_EXPIRY_SEC).contains(&limit_expiry_sec) {
            errors.push(FieldError::new(
                "limit_expiry_sec",
                format!("between {MIN_EXPIRY_SEC} and {MAX_EXPIRY_SEC} seconds"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The limit price `offset_pct` % better than `price` for a `side` entry,
/// on the tick, never worse than asked (down for a long, up for a short).
pub fn limit_price(
    side: PositionSide,
    price: Decimal,
    offset_pct: Decimal,
    rules: &InstrumentRules,
) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    match side {
        PositionSide::Long => {
            rules.round_price(price * (hundred - offset_pct) / hundred, Rounding::Down)
        }
        PositionSide::Short => {
            rules.round_price(price * (hundred + offset_pct) / hundred, Rounding::Up)
        }
    }
}

/// How far an alert's own `limit_price` may be from the mark, %: beyond,
/// it is a typo (a missing digit), not a price.
pub const MAX_ALERT_LIMIT_DISTANCE_PCT: Decimal = Decimal::TEN;

/// Whether an alert's `limit_price` is close enough to `mark` to be meant.
pub fn plausible_limit(limit: Decimal, mark: Decimal) -> bool {
    !mark.is_zero()
        && ((limit - mark).abs() / mark * Decimal::ONE_HUNDRED) <= MAX_ALERT_LIMIT_DISTANCE_PCT
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn limit_prices_are_better_than_the_price_on_the_tick() {
        let rules = crate::sizing::tests::btc();
        // 43,210.7 × 0.997 = 43,081.06790 → down 43,081.0; short 43,340.3321 → up 43,340.4.
        assert_eq!(
            limit_price(PositionSide::Long, dec!(43210.7), dec!(0.3), &rules),
            dec!(43081.0)
        );
        assert_eq!(
            limit_price(PositionSide::Short, dec!(43210.7), dec!(0.3), &rules),
            dec!(43340.4)
        );
        assert_eq!(
            limit_price(PositionSide::Long, dec!(43210.7), dec!(0), &rules),
            dec!(43210.7)
        );
    }

    #[test]
    fn limits_are_checked_with_their_names() {
        let limit = |o, e| EntryOrder::Limit {
            limit_offset_pct: o,
            limit_expiry_sec: e,
            limit_fallback: Fallback::Cancel,
            post_only: false,
        };
        assert!(limit(dec!(0.5), 60).validate().is_ok());
        assert!(EntryOrder::Market.validate().is_ok());
        let fields = |o: EntryOrder| -> Vec<String> {
            o.validate()
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(limit(dec!(11), 2)),
            ["limit_offset_pct", "limit_expiry_sec"]
        );
        assert_eq!(fields(limit(dec!(0.125), 60)), ["limit_offset_pct"]);
        assert!(plausible_limit(dec!(42000), dec!(43000)));
        assert!(!plausible_limit(dec!(4300), dec!(43000)));
    }
}
