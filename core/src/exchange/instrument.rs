//! What a venue accepts for one instrument: price tick, quantity step,
//! limits and minimum notional — and rounding in the direction that is safe.
//!
//! Quantities in the rules are in the venue's unit: the base asset on
//! Binance, contracts on OKX (`contract_value` base units each). Sizing is
//! done in the base asset and converted here, rounding *down*: an order
//! never ends up larger than the risk rules allowed.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How to round a price onto the tick grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    Down,
    Up,
    Nearest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentRules {
    /// The venue's symbol.
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub tick_size: Decimal,
    /// Zero when the venue sets none.
    pub min_price: Decimal,
    /// Zero when the venue sets none.
    pub max_price: Decimal,
    /// Step, minimum and maximum of limit-order quantities (venue units).
    pub step_size: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    /// The same for market orders (Binance's MARKET_LOT_SIZE).
    pub market_step_size: Decimal,
    pub market_min_qty: Decimal,
    pub market_max_qty: Decimal,
    /// Smallest order value in the quote asset (zero: none).
    pub min_notional: Decimal,
    /// Base units per venue unit (1 on Binance; `ctVal` on OKX).
    pub contract_value: Decimal,
    pub max_leverage: Option<u32>,
}

/// Why an order does not fit the instrument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterViolation {
    #[error("quantity {qty} is below the minimum {min}")]
    QuantityTooSmall { qty: Decimal, min: Decimal },
    #[error("quantity {qty} is above the maximum {max}")]
    QuantityTooLarge { qty: Decimal, max: Decimal },
    #[error("quantity {qty} is not a multiple of the step {step}")]
    QuantityStep { qty: Decimal, step: Decimal },
    #[error("price {price} is not a multiple of the tick {tick}")]
    PriceTick { price: Decimal, tick: Decimal },
    #[error("price {price} is outside [{min}, {max}]")]
    PriceRange {
        price: Decimal,
        min: Decimal,
        max: Decimal,
    },
    #[error("notional {notional} is below the minimum {min}")]
    NotionalTooSmall { notional: Decimal, min: Decimal },
}

fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    ((value / step).floor() * step).normalize()
}

fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    ((value / step).ceil() * step).normalize()
}

fn nearest_to(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    ((value / step).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero) * step)
        .normalize()
}

fn is_multiple(value: Decimal, step: Decimal) -> bool {
    step <= Decimal::ZERO || (value % step).is_zero()
}

impl InstrumentRules {
    /// `price` on the tick grid.
    pub fn round_price(&self, price: Decimal, rounding: Rounding) -> Decimal {
        match rounding {
            Rounding::Down => floor_to(price, self.tick_size),
            Rounding::Up => ceil_to(price, self.tick_size),
            Rounding::Nearest => nearest_to(price, self.tick_size),
        }
    }

    fn steps(&self, market: bool) -> (Decimal, Decimal, Decimal) {
        if market && self.market_step_size > Decimal::ZERO {
            (
                self.market_step_size,
                self.market_min_qty,
                self.market_max_qty,
            )
        } else {
            (self.step_size, self.min_qty, self.max_qty)
        }
    }

    /// A base-asset quantity in venue units, rounded *down* to the step.
    pub fn venue_qty(&self, base: Decimal, market: bool) -> Decimal {
        let (step, _, _) = self.steps(market);
        let units = if self.contract_value > Decimal::ZERO {
            base / self.contract_value
        } else {
            base
        };
        floor_to(units, step)
    }

    /// A venue quantity back in the base asset.
    pub fn base_qty(&self, venue_qty: Decimal) -> Decimal {
        if self.contract_value > Decimal::ZERO {
            (venue_qty * self.contract_value).normalize()
        } else {
            venue_qty
        }
    }

    /// Checks an order of `venue_qty` at `price` (the reference price for
    /// market orders) the way the venue will.
    pub fn check(
        &self,
        venue_qty: Decimal,
        price: Decimal,
        market: bool,
        limit_price: bool,
    ) -> Result<(), FilterViolation> {
        let (step, min, max) = self.steps(market);
        if venue_qty < min || venue_qty <= Decimal::ZERO {
            return Err(FilterViolation::QuantityTooSmall {
                qty: venue_qty,
                min,
            });
        }
        if max > Decimal::ZERO && venue_qty > max {
            return Err(FilterViolation::QuantityTooLarge {
                qty: venue_qty,
                max,
            });
        }
        if !is_multiple(venue_qty, step) {
            return Err(FilterViolation::QuantityStep {
                qty: venue_qty,
                step,
            });
        }
        if limit_price {
            if !is_multiple(price, self.tick_size) {
                return Err(FilterViolation::PriceTick {
                    price,
                    tick: self.tick_size,
                });
            }
            let below = self.min_price > Decimal::ZERO && price < self.min_price;
            let above = self.max_price > Decimal::ZERO && price > self.max_price;
            if below || above {
                return Err(FilterViolation::PriceRange {
                    price,
                    min: self.min_price,
                    max: self.max_price,
                });
            }
        }
        let notional = self.base_qty(venue_qty) * price;
        if self.min_notional > Decimal::ZERO && notional < self.min_notional {
            return Err(FilterViolation::NotionalTooSmall {
                notional: notional.normalize(),
                min: self.min_notional,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn btcusdt() -> InstrumentRules {
        InstrumentRules {
            symbol: "BTCUSDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.10),
            min_price: dec!(556.80),
            max_price: dec!(4529764),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: dec!(1000),
            market_step_size: dec!(0.001),
            market_min_qty: dec!(0.001),
            market_max_qty: dec!(120),
            min_notional: dec!(100),
            contract_value: dec!(1),
            max_leverage: Some(125),
        }
    }

    #[test]
    fn rounds_prices_onto_the_tick() {
        let r = btcusdt();
        assert_eq!(r.round_price(dec!(43250.17), Rounding::Down), dec!(43250.1));
        assert_eq!(r.round_price(dec!(43250.11), Rounding::Up), dec!(43250.2));
        assert_eq!(
            r.round_price(dec!(43250.15), Rounding::Nearest),
            dec!(43250.2)
        );
        assert_eq!(r.round_price(dec!(43250.1), Rounding::Up), dec!(43250.1));
        assert_eq!(
            r.round_price(dec!(43250.1), Rounding::Down).to_string(),
            "43250.1"
        );
    }

    #[test]
    fn quantities_round_down_never_up() {
        let r = btcusdt();
        assert_eq!(r.venue_qty(dec!(0.0129999), true), dec!(0.012));
        assert_eq!(r.venue_qty(dec!(0.0009), true), dec!(0));
        assert_eq!(r.venue_qty(dec!(2), false).to_string(), "2");
    }

    #[test]
    fn contracts_convert_through_the_contract_value() {
        // OKX BTC-USDT-SWAP: 0.01 BTC a contract, lots of 0.01 contracts.
        let mut r = btcusdt();
        r.contract_value = dec!(0.01);
        r.step_size = dec!(0.01);
        r.market_step_size = dec!(0.01);
        r.min_qty = dec!(0.01);
        r.market_min_qty = dec!(0.01);
        r.min_notional = dec!(0);
        assert_eq!(r.venue_qty(dec!(0.123456), true), dec!(12.34));
        assert_eq!(r.base_qty(dec!(12.34)), dec!(0.1234));
    }

    #[test]
    fn checks_like_the_venue() {
        let r = btcusdt();
        assert_eq!(r.check(dec!(0.003), dec!(43000), true, false), Ok(()));
        assert!(matches!(
            r.check(dec!(0.002), dec!(43000), true, false),
            Err(FilterViolation::NotionalTooSmall { .. })
        ));
        assert!(matches!(
            r.check(dec!(0.0035), dec!(43000), true, false),
            Err(FilterViolation::QuantityStep { .. })
        ));
        assert!(matches!(
            r.check(dec!(121), dec!(43000), true, false),
            Err(FilterViolation::QuantityTooLarge { .. })
        ));
        assert_eq!(
            r.check(dec!(121), dec!(43000), false, true),
            Ok(()),
            "limit orders use LOT_SIZE"
        );
        assert!(matches!(
            r.check(dec!(0.01), dec!(43000.05), false, true),
            Err(FilterViolation::PriceTick { .. })
        ));
        assert!(matches!(
            r.check(dec!(0.5), dec!(500), false, true),
            Err(FilterViolation::PriceRange { .. })
        ));
    }
}
