//! How big an entry is, and where its stop-loss and take-profit sit.
//!
//! Sizing: margin = investment % × available balance; notional = margin ×
//! leverage; quantity = notional ÷ price, rounded *down* to the venue's
//! step, so an order is never larger than the trader allowed. Protection
//! prices come from the entry price and the strategy's percentages and are
//! rounded onto the tick towards the entry: a stop never ends up further
//! away (more loss) than asked, and a target never further than asked.

use crate::exchange::PositionSide;
use crate::exchange::instrument::{InstrumentRules, Rounding};
use crate::strategy::Sizing;
use rust_decimal::Decimal;
use serde::Serialize;

/// An entry's size, in the venue's units and in the base asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntrySize {
    /// What the order carries (contracts on OKX).
    pub venue_qty: Decimal,
    /// The same in the base asset (BTC).
    pub base_qty: Decimal,
    /// `base_qty × price`, in the quote asset.
    pub notional: Decimal,
    /// `notional ÷ leverage`.
    pub margin: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    #[error("no available balance to size the entry from")]
    NoBalance,
    #[error("no usable price for {0}")]
    NoPrice(String),
    #[error(
        "the entry would be {qty} {unit}, below the minimum {min}: raise investment_pct or leverage, or fund the account"
    )]
    BelowMinQuantity {
        qty: Decimal,
        min: Decimal,
        unit: String,
    },
    #[error(
        "the entry would be worth {notional}, below the venue's minimum order value {min}: raise investment_pct or leverage, or fund the account"
    )]
    BelowMinNotional { notional: Decimal, min: Decimal },
    #[error(
        "the entry needs {needed} of margin, more than the {available} available: lower the risk or the amount, or raise leverage"
    )]
    InsufficientMargin { needed: Decimal, available: Decimal },
    #[error(
        "a {side:?} entry at {price} with its stop at {stop} risks nothing: the stop must be on the losing side"
    )]
    StopNotAtRisk {
        side: PositionSide,
        price: Decimal,
        stop: Decimal,
    },
}

impl SizingError {
    /// Stable machine code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            SizingError::NoBalance => "no_balance",
            SizingError::NoPrice(_) => "no_price",
            SizingError::BelowMinQuantity { .. } => "below_min_quantity",
            SizingError::BelowMinNotional { .. } => "below_min_notional",
            SizingError::InsufficientMargin { .. } => "insufficient_margin",
            SizingError::StopNotAtRisk { .. } => "stop_not_at_risk",
        }
    }
}

/// What an entry is sized by: the seed's percentage of the balance, or the
/// loss a trader accepts at the stop, or a fixed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// This percentage of the available balance becomes the margin (the
    /// seed's `investment_pct`).
    MarginPct(Decimal),
    /// The loss if the stop is hit, both sides' fees included, is this
    /// percentage of `equity` — equal-risk trades, whatever the stop's
    /// distance. Rounding only ever makes the loss smaller.
    RiskPct {
        pct: Decimal,
        equity: Decimal,
        side: PositionSide,
        stop: Decimal,
        /// Taker fee rate per side (0.0005 for 0.05 %).
        fee_rate: Decimal,
    },
    /// This notional, in the quote asset (USDT).
    Quote(Decimal),
    /// This quantity of the base asset (BTC).
    Base(Decimal),
}

/// The taker fee a risk-sized entry counts on each side: both venues'
/// base tier for USDT-margined perpetuals (Binance 0.05 %, OKX 0.05 %). A
/// trader on a cheaper tier loses a little less than asked at the stop.
pub const TAKER_FEE: Decimal = Decimal::from_parts(5, 0, 0, false, 4);

/// The budget a strategy's sizing gives an entry on `side` at `price`:
/// `investment_pct` for the seed's mode; for risk sizing, the stop is where
/// the strategy's `sl_pct` puts it (rounded as it will rest) and `equity` is
/// the wallet balance, and each side's fee is `fee_rate` ([`TAKER_FEE`] live).
#[allow(clippy::too_many_arguments)]
pub fn budget(
    sizing: Sizing,
    investment_pct: Decimal,
    side: PositionSide,
    price: Decimal,
    sl_pct: Decimal,
    equity: Decimal,
    fee_rate: Decimal,
    rules: &InstrumentRules,
) -> Result<Budget, SizingError> {
    Ok(match sizing {
        Sizing::InvestmentPct => Budget::MarginPct(investment_pct),
        Sizing::RiskPct { risk_pct } => {
            let stop = protection(side, price, Decimal::ONE, sl_pct, rules)
                .stop_loss
                .ok_or(SizingError::StopNotAtRisk {
                    side,
                    price,
                    stop: Decimal::ZERO,
                })?;
            Budget::RiskPct {
                pct: risk_pct,
                equity,
                side,
                stop,
                fee_rate,
            }
        }
        Sizing::FixedUsdt { qty_usdt } => Budget::Quote(qty_usdt),
        Sizing::FixedQty { qty_base } => Budget::Base(qty_base),
    })
}

/// Sizes a market entry from `investment_pct` of the available balance.
pub fn entry_size(
    available: Decimal,
    investment_pct: Decimal,
    leverage: u32,
    price: Decimal,
    rules: &InstrumentRules,
) -> Result<EntrySize, SizingError> {
    size_entry(
        Budget::MarginPct(investment_pct),
        available,
        leverage,
        price,
        rules,
    )
}

/// The base quantity `budget` asks for at `price`, before the venue's
/// step, limits and the margin check (the risk simulator shows it too).
pub fn base_budget(
    budget: Budget,
    available: Decimal,
    leverage: u32,
    price: Decimal,
    rules: &InstrumentRules,
) -> Result<Decimal, SizingError> {
    if available <= Decimal::ZERO {
        return Err(SizingError::NoBalance);
    }
    if price <= Decimal::ZERO {
        return Err(SizingError::NoPrice(rules.symbol.clone()));
    }
    let leverage_d = Decimal::from(leverage.max(1));
    Ok(match budget {
        Budget::MarginPct(pct) => available * pct / Decimal::ONE_HUNDRED * leverage_d / price,
        Budget::RiskPct {
            pct,
            equity,
            side,
            stop,
            fee_rate,
        } => {
            let distance = match side {
                PositionSide::Long => price - stop,
                PositionSide::Short => stop - price,
            };
            if stop <= Decimal::ZERO || distance <= Decimal::ZERO {
                return Err(SizingError::StopNotAtRisk { side, price, stop });
            }
            let loss_per_unit = distance + fee_rate.abs() * (price + stop);
            equity.max(Decimal::ZERO) * pct / Decimal::ONE_HUNDRED / loss_per_unit
        }
        Budget::Quote(quote) => quote / price,
        Budget::Base(base) => base,
    })
}

/// Sizes a market entry at `price` by `budget`. The size is a ceiling: it is
/// rounded down to the venue's step, and refused when the margin it needs is
/// more than is available rather than silently made smaller.
pub fn size_entry(
    budget: Budget,
    available: Decimal,
    leverage: u32,
    price: Decimal,
    rules: &InstrumentRules,
) -> Result<EntrySize, SizingError> {
    let leverage_d = Decimal::from(leverage.max(1));
    let base_budget = base_budget(budget, available, leverage, price, rules)?;
    let mut venue_qty = rules.venue_qty(base_budget, true);
    // Never more than one order may carry: the budget is a ceiling, not a target.
    let max = if rules.market_max_qty > Decimal::ZERO {
        rules.market_max_qty
    } else {
        rules.max_qty
    };
    if max > Decimal::ZERO && venue_qty > max {
        venue_qty = rules.venue_qty(rules.base_qty(max), true);
    }
    let min = if rules.market_min_qty > Decimal::ZERO {
        rules.market_min_qty
    } else {
        rules.min_qty
    };
    let unit = if rules.contract_value > Decimal::ZERO && rules.contract_value != Decimal::ONE {
        "contracts".to_owned()
    } else {
        rules.base_asset.clone()
    };
    if venue_qty <= Decimal::ZERO || venue_qty < min {
        return Err(SizingError::BelowMinQuantity {
            qty: venue_qty,
            min,
            unit,
        });
    }
    let base_qty = rules.base_qty(venue_qty);
    let notional = (base_qty * price).normalize();
    if rules.min_notional > Decimal::ZERO && notional < rules.min_notional {
        return Err(SizingError::BelowMinNotional {
            notional: notional.round_dp(4),
            min: rules.min_notional,
        });
    }
    let margin = (notional / leverage_d).round_dp(8).normalize();
    if margin > available {
        return Err(SizingError::InsufficientMargin {
            needed: margin.round_dp(4),
            available: available.round_dp(4),
        });
    }
    Ok(EntrySize {
        venue_qty,
        base_qty,
        notional,
        margin,
    })
}

/// Stop-loss and take-profit trigger prices of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Protection {
    /// `None` when the percentage puts it at or beyond zero (a 100 % stop
    /// on a long): the position has no stop but its liquidation.
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
}

/// Protection prices for a position entered at `entry`.
pub fn protection(
    side: PositionSide,
    entry: Decimal,
    tp_pct: Decimal,
    sl_pct: Decimal,
    rules: &InstrumentRules,
) -> Protection {
    let hundred = Decimal::ONE_HUNDRED;
    let up = |pct: Decimal| entry * (hundred + pct) / hundred;
    let down = |pct: Decimal| entry * (hundred - pct) / hundred;
    let valid = |p: Decimal| {
        (p > Decimal::ZERO
            && p >= rules.min_price
            && (rules.max_price <= Decimal::ZERO || p <= rules.max_price))
            .then_some(p)
    };
    match side {
        PositionSide::Long => Protection {
            // Below the entry: rounding up keeps it at or inside the asked distance.
            stop_loss: valid(rules.round_price(down(sl_pct), Rounding::Up)),
            take_profit: valid(rules.round_price(up(tp_pct), Rounding::Down)),
        },
        PositionSide::Short => Protection {
            stop_loss: valid(rules.round_price(up(sl_pct), Rounding::Down)),
            take_profit: valid(rules.round_price(down(tp_pct), Rounding::Up)),
        },
    }
}

/// Profit (negative: loss) of closing `base_qty` opened at `entry` at `exit`,
/// before fees.
pub fn pnl(side: PositionSide, entry: Decimal, exit: Decimal, base_qty: Decimal) -> Decimal {
    match side {
        PositionSide::Long => (exit - entry) * base_qty,
        PositionSide::Short => (entry - exit) * base_qty,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    /// Binance BTCUSDT's filters.
    /// Binance BTCUSDT's filters.
    pub(crate) fn btc() -> InstrumentRules {
        InstrumentRules {
            symbol: "BTCUSDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.10),
            min_price: dec!(261.10),
            max_price: dec!(809484),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: dec!(1000),
            market_step_size: dec!(0.001),
            market_min_qty: dec!(0.001),
            market_max_qty: dec!(120),
            min_notional: dec!(100),
            contract_value: Decimal::ONE,
            max_leverage: Some(125),
        }
    }

    /// OKX BTC-USDT-SWAP: 0.01 BTC a contract, lots of 0.01.
    fn okx_btc() -> InstrumentRules {
        InstrumentRules {
            symbol: "BTC-USDT-SWAP".into(),
            tick_size: dec!(0.1),
            min_price: Decimal::ZERO,
            max_price: Decimal::ZERO,
            step_size: dec!(0.01),
            min_qty: dec!(0.01),
            max_qty: dec!(10000),
            market_step_size: dec!(0.01),
            market_min_qty: dec!(0.01),
            market_max_qty: dec!(10000),
            min_notional: Decimal::ZERO,
            contract_value: dec!(0.01),
            ..btc()
        }
    }

    #[test]
    fn the_seeds_example_sizes_down_to_the_step() {
        // $10,000 deposit, 10 %, 3x, BTC at 43,210.7: $3,000 notional.
        let s = entry_size(dec!(10000), dec!(10), 3, dec!(43210.7), &btc()).unwrap();
        assert_eq!(s.venue_qty, dec!(0.069)); // 0.06942… rounded down
        assert_eq!(s.base_qty, dec!(0.069));
        assert_eq!(s.notional, dec!(2981.5383));
        assert_eq!(s.margin, dec!(993.8461));
        // OKX: the same in contracts of 0.01 BTC.
        let o = entry_size(dec!(10000), dec!(10), 3, dec!(43210.7), &okx_btc()).unwrap();
        assert_eq!(o.venue_qty, dec!(6.94));
        assert_eq!(o.base_qty, dec!(0.0694));
    }

    #[test]
    fn refuses_what_the_venue_would() {
        assert_eq!(
            entry_size(dec!(0), dec!(10), 3, dec!(43000), &btc()),
            Err(SizingError::NoBalance)
        );
        assert!(matches!(
            entry_size(dec!(100), dec!(10), 3, dec!(43000), &btc()),
            Err(SizingError::BelowMinQuantity { .. })
        ));
        // 0.002 BTC at 43,000 is $86: above the step, below $100.
        let e = entry_size(dec!(300), dec!(10), 3, dec!(43000), &btc()).unwrap_err();
        assert_eq!(
            e,
            SizingError::BelowMinNotional {
                notional: dec!(86),
                min: dec!(100)
            }
        );
        assert_eq!(e.code(), "below_min_notional");
    }

    #[test]
    fn a_budget_beyond_the_venues_largest_order_is_capped() {
        // $100M × 100 % × 125x would be 290,000 BTC; BTCUSDT market orders stop at 120.
        let s = entry_size(dec!(100000000), dec!(100), 125, dec!(43000), &btc()).unwrap();
        assert_eq!(s.venue_qty, dec!(120));
        assert_eq!(s.notional, dec!(5160000));
    }

    fn risk(pct: Decimal, equity: Decimal, side: PositionSide, stop: Decimal) -> Budget {
        Budget::RiskPct {
            pct,
            equity,
            side,
            stop,
            fee_rate: dec!(0.0005),
        }
    }

    /// The loss at the stop of `base` entered at `entry`, both sides' fees included.
    fn loss_at_stop(base: Decimal, entry: Decimal, stop: Decimal) -> Decimal {
        base * (entry - stop).abs() + dec!(0.0005) * base * (entry + stop)
    }

    #[test]
    fn risk_sizing_loses_the_stated_share_at_the_stop_after_rounding() {
        // $10,000 equity, 1 % risk ($100), long at 43,000, stop 1 % below:
        // each BTC loses 430 + 0.05 % × (43,000 + 42,570) = 472.785, so
        // 0.21151… BTC, rounded down to 0.211.
        let b = risk(dec!(1), dec!(10000), PositionSide::Long, dec!(42570));
        let s = size_entry(b, dec!(10000), 10, dec!(43000), &btc()).unwrap();
        assert_eq!(s.base_qty, dec!(0.211));
        let loss = loss_at_stop(s.base_qty, dec!(43000), dec!(42570));
        assert_eq!(loss.round_dp(4), dec!(99.7576));
        // One step more would lose more than asked.
        assert!(loss_at_stop(s.base_qty + dec!(0.001), dec!(43000), dec!(42570)) > dec!(100));
        // A stop twice as far: half the size, the same dollar risk.
        let b = risk(dec!(1), dec!(10000), PositionSide::Short, dec!(43860));
        let s = size_entry(b, dec!(10000), 10, dec!(43000), &btc()).unwrap();
        assert_eq!(s.base_qty, dec!(0.110)); // 100 ÷ 903.43
        assert!(loss_at_stop(s.base_qty, dec!(43000), dec!(43860)) <= dec!(100));
    }

    #[test]
    fn risk_sizing_refuses_a_stop_that_risks_nothing_or_margin_it_does_not_have() {
        for (side, stop) in [
            (PositionSide::Long, dec!(43000)),
            (PositionSide::Long, dec!(44000)),
            (PositionSide::Short, dec!(42000)),
            (PositionSide::Long, dec!(0)),
        ] {
            let e = size_entry(
                risk(dec!(1), dec!(10000), side, stop),
                dec!(10000),
                10,
                dec!(43000),
                &btc(),
            )
            .unwrap_err();
            assert_eq!(e.code(), "stop_not_at_risk", "{side:?} {stop}");
        }
        // 5 % risk with a stop 0.1 % away at 1x: a $500,000 position from $10,000.
        let b = risk(dec!(5), dec!(10000), PositionSide::Long, dec!(42957));
        let e = size_entry(b, dec!(10000), 1, dec!(43000), &btc()).unwrap_err();
        assert!(matches!(e, SizingError::InsufficientMargin { .. }), "{e}");
        assert_eq!(e.code(), "insufficient_margin");
    }

    #[test]
    fn a_strategys_risk_budget_stops_where_its_stop_will_rest() {
        // Long at 43,210.7 with a 2 % stop: the stop rests at 42,346.5.
        let b = budget(
            Sizing::RiskPct { risk_pct: dec!(1) },
            dec!(10),
            PositionSide::Long,
            dec!(43210.7),
            dec!(2),
            dec!(5000),
            TAKER_FEE,
            &btc(),
        )
        .unwrap();
        assert_eq!(
            b,
            Budget::RiskPct {
                pct: dec!(1),
                equity: dec!(5000),
                side: PositionSide::Long,
                stop: dec!(42346.5),
                fee_rate: dec!(0.0005),
            }
        );
        // A 100 % stop on a long is no stop: nothing to size a risk by.
        let e = budget(
            Sizing::RiskPct { risk_pct: dec!(1) },
            dec!(10),
            PositionSide::Long,
            dec!(43210.7),
            dec!(100),
            dec!(5000),
            TAKER_FEE,
            &btc(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "stop_not_at_risk");
        let b = budget(
            Sizing::InvestmentPct,
            dec!(10),
            PositionSide::Short,
            dec!(1),
            dec!(2),
            dec!(1),
            TAKER_FEE,
            &btc(),
        );
        assert_eq!(b, Ok(Budget::MarginPct(dec!(10))));
    }

    #[test]
    fn fixed_amounts_round_down_to_the_step() {
        let s = size_entry(Budget::Quote(dec!(1000)), dec!(500), 3, dec!(43000), &btc()).unwrap();
        assert_eq!(s.base_qty, dec!(0.023)); // 0.02325…
        assert_eq!(s.margin, dec!(329.66666667));
        let s = size_entry(
            Budget::Base(dec!(0.0505)),
            dec!(10000),
            3,
            dec!(43000),
            &okx_btc(),
        )
        .unwrap();
        assert_eq!((s.venue_qty, s.base_qty), (dec!(5.05), dec!(0.0505)));
        let e = size_entry(
            Budget::Quote(dec!(100000)),
            dec!(500),
            3,
            dec!(43000),
            &btc(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "insufficient_margin");
    }

    #[test]
    fn protection_rounds_towards_the_entry() {
        // Long at 43,210.7: SL 2 % = 42,346.486 → up to 42,346.5; TP 5 % = 45,371.235 → down to 45,371.2.
        let p = protection(PositionSide::Long, dec!(43210.7), dec!(5), dec!(2), &btc());
        assert_eq!(p.stop_loss, Some(dec!(42346.5)));
        assert_eq!(p.take_profit, Some(dec!(45371.2)));
        // Short: SL 2 % above = 44,074.914 → down to 44,074.9; TP 5 % below = 41,050.165 → up to 41,050.2.
        let p = protection(PositionSide::Short, dec!(43210.7), dec!(5), dec!(2), &btc());
        assert_eq!(p.stop_loss, Some(dec!(44074.9)));
        assert_eq!(p.take_profit, Some(dec!(41050.2)));
        // A 100 % stop on a long is no stop.
        let p = protection(
            PositionSide::Long,
            dec!(43210.7),
            dec!(5),
            dec!(100),
            &btc(),
        );
        assert_eq!(p.stop_loss, None);
    }

    #[test]
    fn pnl_by_side() {
        assert_eq!(
            pnl(PositionSide::Long, dec!(100), dec!(110), dec!(2)),
            dec!(20)
        );
        assert_eq!(
            pnl(PositionSide::Short, dec!(100), dec!(110), dec!(2)),
            dec!(-20)
        );
    }

    proptest! {
        #[test]
        fn never_larger_than_allowed(
            avail in 1u32..10_000_000,
            inv in 1u32..=100,
            lev in 1u32..=125,
            price_cents in 100_000u64..20_000_000,
        ) {
            let price = Decimal::new(price_cents as i64, 2);
            let rules = btc();
            let budget = Decimal::from(avail) * Decimal::from(inv) / dec!(100) * Decimal::from(lev);
            if let Ok(s) = entry_size(Decimal::from(avail), Decimal::from(inv), lev, price, &rules) {
                prop_assert!(s.notional <= budget);
                prop_assert!((s.venue_qty % rules.market_step_size).is_zero());
                // Rounded down by less than one step (unless capped at the largest order).
                if s.venue_qty < rules.market_max_qty {
                    prop_assert!(budget - s.notional < rules.market_step_size * price);
                }
            }
        }

        #[test]
        fn risk_sizing_never_loses_more_than_asked(
            equity in 100u64..1_000_000,
            pct_tenths in 1u32..50,
            entry_tenths in 100_000u64..1_000_000,
            stop_bps in 5u32..2_000,
            long in any::<bool>(),
        ) {
            let entry = Decimal::new(entry_tenths as i64, 1);
            let side = if long { PositionSide::Long } else { PositionSide::Short };
            let away = entry * Decimal::new(stop_bps as i64, 4);
            let stop = match side {
                PositionSide::Long => entry - away,
                PositionSide::Short => entry + away,
            };
            let equity = Decimal::from(equity);
            let pct = Decimal::new(pct_tenths as i64, 1);
            let asked = equity * pct / Decimal::ONE_HUNDRED;
            if let Ok(s) = size_entry(risk(pct, equity, side, stop), equity, 125, entry, &btc()) {
                let loss = loss_at_stop(s.base_qty, entry, stop);
                prop_assert!(loss <= asked, "lost {loss} > {asked}");
                // Within one step of it, unless the venue's largest order capped it.
                if s.venue_qty < dec!(120) {
                    prop_assert!(loss_at_stop(s.base_qty + dec!(0.001), entry, stop) > asked);
                }
            }
        }

        #[test]
        fn stops_never_widen(entry_tenths in 3_000u64..5_000_000, sl in 1u32..1000, tp in 1u32..1000) {
            let entry = Decimal::new(entry_tenths as i64, 1);
            let (sl, tp) = (Decimal::new(sl as i64, 1), Decimal::new(tp as i64, 1));
            let rules = btc();
            let long = protection(PositionSide::Long, entry, tp, sl, &rules);
            if let Some(s) = long.stop_loss {
                prop_assert!(s >= entry * (dec!(100) - sl) / dec!(100));
                prop_assert!(s <= entry);
                prop_assert!((s % rules.tick_size).is_zero());
            }
            if let Some(t) = long.take_profit {
                prop_assert!(t <= entry * (dec!(100) + tp) / dec!(100) && t >= entry);
            }
            let short = protection(PositionSide::Short, entry, tp, sl, &rules);
            if let Some(s) = short.stop_loss {
                prop_assert!(s <= entry * (dec!(100) + sl) / dec!(100) && s >= entry);
            }
            if let Some(t) = short.take_profit {
                prop_assert!(t >= entry * (dec!(100) - tp) / dec!(100) && t <= entry);
            }
        }
    }
}
