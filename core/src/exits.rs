//! A take-profit ladder: up to five targets, each a distance from the entry
//! and a share of the position, and where the stop moves once a target
//! fills (break-even). Pure, so the live path, the backtester and Pine
//! generation read one definition.
//!
//! Every leg's quantity is rounded *down* to the venue's step and the last
//! target takes what the others leave, so the legs always add up to the
//! position; a leg too small to trade gives its quantity to the next one.
//! Target prices round towards the entry, as a single take-profit does.

use crate::exchange::PositionSide;
use crate::exchange::instrument::{InstrumentRules, Rounding};
use crate::strategy::FieldError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The most targets one position may have.
pub const MAX_TARGETS: usize = 5;

/// One take-profit: `gain_pct` % from the entry closes `size_pct` % of the
/// position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(deserialize_with = "crate::lenient::decimal")]
    pub gain_pct: Decimal,
    #[serde(deserialize_with = "crate::lenient::decimal")]
    pub size_pct: Decimal,
}

/// Where the stop goes once a target filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopTo {
    /// The entry price, plus both sides' fees on what remains: a stop there
    /// loses nothing.
    Entry,
    /// The price of the target before the one that filled (the entry after
    /// the first).
    PreviousTarget,
}

/// Move the stop after target `after` (1-based) fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BreakEven {
    pub after: u8,
    pub to: StopTo,
}

/// A position's targets and its moving stop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ladder {
    pub targets: Vec<Target>,
    pub break_even: Option<BreakEven>,
}

/// One order of the ladder, as it rests on the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// 1-based, in the order the price reaches them.
    pub target: u8,
    pub price: Decimal,
    /// In the venue's units (contracts on OKX).
    pub venue_qty: Decimal,
}

impl Ladder {
    /// The ladder the API's fields describe: `tp_levels` and, optionally,
    /// `break_even_after` (a target's number) with `break_even_to`
    /// (`entry`, the default, or `previous_target`); validated.
    pub fn from_fields(
        tp_levels: &[Target],
        break_even_after: Option<u8>,
        break_even_to: Option<&str>,
    ) -> Result<Ladder, Vec<FieldError>> {
        let to = match break_even_to {
            None | Some("entry") => StopTo::Entry,
            Some("previous_target") => StopTo::PreviousTarget,
            Some(_) => {
                return Err(vec![FieldError::new(
                    "break_even_to",
                    "`entry` or `previous_target`",
                )]);
            }
        };
        let ladder = Ladder {
            targets: tp_levels.to_vec(),
            break_even: break_even_after.map(|after| BreakEven { after, to }),
        };
        ladder.validate()?;
        Ok(ladder)
    }

    /// Checks the ladder; errors name the fields as the API does
    /// (`tp_levels[1].size_pct`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let n = self.targets.len();
        if n == 0 || n > MAX_TARGETS {
            errors.push(FieldError::new(
                "tp_levels",
                format!("between 1 and {MAX_TARGETS} targets"),
            ));
        }
        let hundred = Decimal::ONE_HUNDRED;
        let mut previous = Decimal::ZERO;
        for (i, t) in self.targets.iter().enumerate() {
            if t.gain_pct < Decimal::new(1, 1) || t.gain_pct > hundred {
                errors.push(FieldError::new(
                    format!("tp_levels[{i}].gain_pct"),
                    "between 0.1 and 100 (% from the entry)",
                ));
            } else if t.gain_pct <= previous {
                errors.push(FieldError::new(
                    format!("tp_levels[{i}].gain_pct"),
                    "further from the entry than the target before it",
                ));
            }
            previous = previous.max(t.gain_pct);
            if t.size_pct < Decimal::ONE || t.size_pct > hundred {
                errors.push(FieldError::new(
                    format!("tp_levels[{i}].size_pct"),
                    "between 1 and 100 (% of the position)",
                ));
            }
        }
        let total: Decimal = self.targets.iter().map(|t| t.size_pct).sum();
        if n > 0 && total != hundred {
            errors.push(FieldError::new(
                "tp_levels",
                format!("the targets' size_pct add up to {total}, not 100"),
            ));
        }
        if let Some(b) = self.break_even
            && (b.after == 0 || usize::from(b.after) >= n.max(1))
        {
            errors.push(FieldError::new(
                "break_even_after",
                "a target before the last (the last one closes the position)",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The ladder's orders for a position of `venue_qty` entered at `entry`.
    pub fn legs(
        &self,
        side: PositionSide,
        entry: Decimal,
        venue_qty: Decimal,
        rules: &InstrumentRules,
    ) -> Vec<Leg> {
        let hundred = Decimal::ONE_HUNDRED;
        let step = if rules.market_step_size > Decimal::ZERO {
            rules.market_step_size
        } else {
            rules.step_size
        };
        let min = if rules.market_min_qty > Decimal::ZERO {
            rules.market_min_qty
        } else {
            rules.min_qty
        };
        let floor = |q: Decimal| {
            if step > Decimal::ZERO {
                (q / step).floor() * step
            } else {
                q
            }
        };
        let mut legs = Vec::new();
        let mut left = venue_qty;
        let mut carried = Decimal::ZERO;
        let n = self.targets.len();
        for (i, t) in self.targets.iter().enumerate() {
            let last = i + 1 == n;
            let qty = if last {
                left
            } else {
                floor(venue_qty * t.size_pct / hundred + carried).min(left)
            };
            let price = match side {
                PositionSide::Long => {
                    rules.round_price(entry * (hundred + t.gain_pct) / hundred, Rounding::Down)
                }
                PositionSide::Short => {
                    rules.round_price(entry * (hundred - t.gain_pct) / hundred, Rounding::Up)
                }
            };
            if !last && (qty <= Decimal::ZERO || qty < min) {
                // Too small to trade: the next target takes it.
                carried += venue_qty * t.size_pct / hundred;
                continue;
            }
            carried = Decimal::ZERO;
            if qty > Decimal::ZERO {
                left -= qty;
                legs.push(Leg {
                    target: (i + 1) as u8,
                    price,
                    venue_qty: qty.normalize(),
                });
            }
        }
        legs
    }

    /// Where the stop goes once target `filled` (1-based) filled, if the
    /// ladder moves it then: `legs` as [`Ladder::legs`] made them, `fee_rate`
    /// per side.
    pub fn moved_stop(
        &self,
        filled: u8,
        side: PositionSide,
        entry: Decimal,
        legs: &[Leg],
        fee_rate: Decimal,
        rules: &InstrumentRules,
    ) -> Option<Decimal> {
        let b = self.break_even.filter(|b| b.after == filled)?;
        let at_entry = || {
            // Both fills' fees on what remains, so the stop loses nothing.
            let cover = entry * fee_rate.abs() * Decimal::TWO;
            match side {
                PositionSide::Long => rules.round_price(entry + cover, Rounding::Up),
                PositionSide::Short => rules.round_price(entry - cover, Rounding::Down),
            }
        };
        Some(match b.to {
            StopTo::Entry => at_entry(),
            StopTo::PreviousTarget => legs
                .iter()
                .rev()
                .find(|l| l.target < filled)
                .map_or_else(at_entry, |l| l.price),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn btc() -> InstrumentRules {
        crate::sizing::tests::btc()
    }

    fn ladder(targets: &[(Decimal, Decimal)], break_even: Option<BreakEven>) -> Ladder {
        Ladder {
            targets: targets
                .iter()
                .map(|&(gain_pct, size_pct)| Target { gain_pct, size_pct })
                .collect(),
            break_even,
        }
    }

    #[test]
    fn three_targets_add_up_to_the_position() {
        let l = ladder(
            &[
                (dec!(1), dec!(50)),
                (dec!(2), dec!(30)),
                (dec!(4), dec!(20)),
            ],
            None,
        );
        l.validate().unwrap();
        // 0.069 BTC: 0.0345 → 0.034, 0.0207 → 0.020, the rest 0.015.
        let legs = l.legs(PositionSide::Long, dec!(43210.7), dec!(0.069), &btc());
        assert_eq!(
            legs.iter()
                .map(|l| (l.price, l.venue_qty))
                .collect::<Vec<_>>(),
            [
                (dec!(43642.8), dec!(0.034)),
                (dec!(44074.9), dec!(0.02)),
                (dec!(44939.1), dec!(0.015)),
            ]
        );
        let short = l.legs(PositionSide::Short, dec!(43210.7), dec!(0.069), &btc());
        assert_eq!(short[0].price, dec!(42778.6));
    }

    #[test]
    fn a_leg_too_small_gives_its_share_to_the_next() {
        // 0.002 BTC in 20/80: 0.0004 is below the 0.001 step.
        let l = ladder(&[(dec!(1), dec!(20)), (dec!(2), dec!(80))], None);
        let legs = l.legs(PositionSide::Long, dec!(43000), dec!(0.002), &btc());
        assert_eq!(legs.len(), 1);
        assert_eq!((legs[0].target, legs[0].venue_qty), (2, dec!(0.002)));
    }

    #[test]
    fn the_stop_moves_to_entry_plus_fees_or_the_previous_target() {
        let be = |to| {
            ladder(
                &[
                    (dec!(1), dec!(40)),
                    (dec!(2), dec!(40)),
                    (dec!(3), dec!(20)),
                ],
                Some(BreakEven { after: 2, to }),
            )
        };
        let l = be(StopTo::Entry);
        let legs = l.legs(PositionSide::Long, dec!(43000), dec!(0.1), &btc());
        assert_eq!(
            l.moved_stop(
                1,
                PositionSide::Long,
                dec!(43000),
                &legs,
                dec!(0.0005),
                &btc()
            ),
            None
        );
        // 43,000 + 2 × 0.05 % = 43,043.
        assert_eq!(
            l.moved_stop(
                2,
                PositionSide::Long,
                dec!(43000),
                &legs,
                dec!(0.0005),
                &btc()
            ),
            Some(dec!(43043))
        );
        let l = be(StopTo::PreviousTarget);
        assert_eq!(
            l.moved_stop(
                2,
                PositionSide::Long,
                dec!(43000),
                &legs,
                dec!(0.0005),
                &btc()
            ),
            Some(dec!(43430))
        );
        let short = l.legs(PositionSide::Short, dec!(43000), dec!(0.1), &btc());
        assert_eq!(
            be(StopTo::Entry).moved_stop(
                2,
                PositionSide::Short,
                dec!(43000),
                &short,
                dec!(0.0005),
                &btc()
            ),
            Some(dec!(42957))
        );
    }

    #[test]
    fn bad_ladders_name_their_fields() {
        let fields = |l: Ladder| -> Vec<String> {
            l.validate()
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(ladder(&[(dec!(2), dec!(50)), (dec!(1), dec!(40))], None)),
            ["tp_levels[1].gain_pct", "tp_levels"]
        );
        assert_eq!(
            fields(ladder(&[(dec!(1), dec!(0.5)), (dec!(2), dec!(99.5))], None)),
            ["tp_levels[0].size_pct"]
        );
        let six: Vec<(Decimal, Decimal)> = (1..=6).map(|i| (Decimal::from(i), dec!(10))).collect();
        assert!(fields(ladder(&six, None)).contains(&"tp_levels".to_owned()));
        assert_eq!(
            fields(ladder(
                &[(dec!(1), dec!(50)), (dec!(2), dec!(50))],
                Some(BreakEven {
                    after: 2,
                    to: StopTo::Entry
                })
            )),
            ["break_even_after"]
        );
    }
}
