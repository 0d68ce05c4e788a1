//! Replaying candles as a continuous price: each candle's period is walked
//! open → extreme → other extreme → close (the low first on a rising
//! candle, the high first on a falling one), linearly, a third of the period
//! per leg; the series repeats when it ends. Used by the paper exchange's
//! embedded price feed, so prices move realistically without a network.

use super::Candle;
use rust_decimal::Decimal;

/// The price `elapsed_ms` into the replay, each candle lasting `candle_ms`.
pub fn price_at(candles: &[Candle], elapsed_ms: i64, candle_ms: i64) -> Option<Decimal> {
    if candles.is_empty() || candle_ms <= 0 {
        return None;
    }
    let total = candle_ms * candles.len() as i64;
    let t = elapsed_ms.rem_euclid(total);
    let c = &candles[(t / candle_ms) as usize];
    let within = t % candle_ms;
    let (first, second) = if c.close >= c.open {
        (c.low, c.high)
    } else {
        (c.high, c.low)
    };
    let points = [c.open, first, second, c.close];
    let leg_ms = Decimal::from(candle_ms) / Decimal::from(3);
    let pos = Decimal::from(within) / leg_ms;
    let leg = (pos.floor().to_string().parse::<usize>().unwrap_or(0)).min(2);
    let frac = pos - Decimal::from(leg as u32);
    Some(points[leg] + (points[leg + 1] - points[leg]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn candle(open: Decimal, high: Decimal, low: Decimal, close: Decimal) -> Candle {
        Candle {
            time_ms: 0,
            open,
            high,
            low,
            close,
            volume: dec!(1),
        }
    }

    #[test]
    fn walks_open_low_high_close_on_a_rising_candle() {
        let c = [candle(dec!(100), dec!(130), dec!(90), dec!(120))];
        assert_eq!(price_at(&c, 0, 3000), Some(dec!(100)));
        assert_eq!(price_at(&c, 500, 3000), Some(dec!(95)));
        assert_eq!(price_at(&c, 1000, 3000), Some(dec!(90)));
        assert_eq!(price_at(&c, 2000, 3000), Some(dec!(130)));
        assert_eq!(
            price_at(&c, 2999, 3000).map(|p| p.round_dp(2)),
            Some(dec!(120.01))
        );
        // The series repeats.
        assert_eq!(price_at(&c, 3000, 3000), Some(dec!(100)));
    }

    #[test]
    fn walks_the_high_first_on_a_falling_candle_and_moves_to_the_next() {
        let c = [
            candle(dec!(100), dec!(110), dec!(80), dec!(90)),
            candle(dec!(90), dec!(95), dec!(85), dec!(95)),
        ];
        assert_eq!(price_at(&c, 1000, 3000), Some(dec!(110)));
        assert_eq!(price_at(&c, 2000, 3000), Some(dec!(80)));
        assert_eq!(price_at(&c, 3000, 3000), Some(dec!(90)));
        assert!(price_at(&[], 0, 1).is_none());
    }
}
