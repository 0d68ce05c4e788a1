//! What an open position is worth at a price: unrealized PnL, return on
//! notional (ROI) and on margin (ROE), liquidation price, and how far the
//! stop-loss and take-profit are — the numbers a trader watches.
//!
//! Liquidation follows Binance's published USDⓈ-M formula (one-way mode):
//!
//! `LP = (WB − TMM₁ + UPNL₁ + cum − side·Q·EP) / (Q·MMR − side·Q)`
//!
//! with `WB` the wallet balance backing the position (its isolated margin, or
//! the cross wallet), `TMM₁`/`UPNL₁` the maintenance margin and unrealized PnL
//! of the account's *other* cross positions, `cum` the maintenance amount of
//! the position's bracket, `side` +1 long / −1 short. OKX's linear swaps give
//! the same price when their fee term is zero, so one formula serves both;
//! where the exchange reports its own liquidation price, that one wins.

use crate::exchange::PositionSide;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The part of a position that prices depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub side: PositionSide,
    pub entry_price: Decimal,
    /// Base asset quantity.
    pub quantity: Decimal,
    pub leverage: u32,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
}

/// A maintenance-margin bracket: rate and the cumulative amount the exchange
/// publishes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    pub rate: Decimal,
    pub amount: Decimal,
}

impl Default for Maintenance {
    /// Binance BTCUSDT's first bracket (0.4 %, no amount), the usual case
    /// for a retail-sized position.
    fn default() -> Self {
        Self {
            rate: Decimal::new(4, 3),
            amount: Decimal::ZERO,
        }
    }
}

/// What stands behind the position when the price moves against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collateral {
    /// Only the position's own margin.
    Isolated,
    /// The account's wallet, less what its other positions need.
    Cross {
        wallet: Decimal,
        others_maintenance: Decimal,
        others_unrealized: Decimal,
    },
}

/// A position valued at one price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Valuation {
    pub current_price: Decimal,
    pub notional: Decimal,
    pub initial_margin: Decimal,
    pub unrealized_pnl: Decimal,
    /// Unrealized PnL over the entry notional, in percent: the price move.
    pub roi_pct: Decimal,
    /// Unrealized PnL over the initial margin, in percent: what the trader's
    /// money made (ROI × leverage). The seed's `pnl_percentage`.
    pub roe_pct: Decimal,
    /// How far the price may still move against the position before the
    /// stop-loss triggers, in percent of the current price; negative once
    /// past it.
    pub distance_to_sl_pct: Option<Decimal>,
    /// How far the price must still move in the position's favour to reach
    /// the take-profit, in percent of the current price.
    pub distance_to_tp_pct: Option<Decimal>,
}

fn sign(side: PositionSide) -> Decimal {
    match side {
        PositionSide::Long => Decimal::ONE,
        PositionSide::Short => Decimal::NEGATIVE_ONE,
    }
}

fn pct(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        Decimal::ZERO
    } else {
        (part / whole * Decimal::ONE_HUNDRED).round_dp(4)
    }
}

/// The position at `price` (a mark, usually).
pub fn value(h: &Holding, price: Decimal) -> Valuation {
    let s = sign(h.side);
    let notional = h.entry_price * h.quantity;
    let initial_margin = notional / Decimal::from(h.leverage.max(1));
    let unrealized_pnl = s * (price - h.entry_price) * h.quantity;
    // Room left: positive while the price has not reached the level.
    let distance = |level: Option<Decimal>, towards_profit: bool| {
        level.filter(|_| !price.is_zero()).map(|l| {
            let d = if towards_profit {
                s * (l - price)
            } else {
                s * (price - l)
            };
            pct(d, price)
        })
    };
    Valuation {
        current_price: price,
        notional,
        initial_margin,
        unrealized_pnl,
        roi_pct: pct(unrealized_pnl, notional),
        roe_pct: pct(unrealized_pnl, initial_margin),
        distance_to_sl_pct: distance(h.stop_loss, false),
        distance_to_tp_pct: distance(h.take_profit, true),
    }
}

/// Where the position is liquidated; `None` when no positive price would
/// (a long backed by more than its notional, say).
pub fn liquidation_price(h: &Holding, m: Maintenance, c: Collateral) -> Option<Decimal> {
    let s = sign(h.side);
    let q = h.quantity;
    if q.is_zero() {
        return None;
    }
    let (wallet, tmm, upnl) = match c {
        Collateral::Isolated => (
            h.entry_price * q / Decimal::from(h.leverage.max(1)),
            Decimal::ZERO,
            Decimal::ZERO,
        ),
        Collateral::Cross {
            wallet,
            others_maintenance,
            others_unrealized,
        } => (wallet, others_maintenance, others_unrealized),
    };
    let denominator = q * m.rate - s * q;
    if denominator.is_zero() {
        return None;
    }
    let price = (wallet - tmm + upnl + m.amount - s * q * h.entry_price) / denominator;
    (price > Decimal::ZERO).then_some(price)
}

/// Remembers the last ±step a position's PnL % was announced at, so a trader
/// hears each new step once — and not again when the PnL wobbles back and
/// forth across the same line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PnlSteps {
    last: i64,
}

impl PnlSteps {
    /// The step (…, −2, −1, 1, 2, …) to announce now that the PnL is
    /// `pnl_pct`, if it is one not announced last. Steps count toward zero:
    /// +1.9 % is step 1 with a 1 % step.
    pub fn observe(&mut self, pnl_pct: Decimal, step_pct: Decimal) -> Option<i64> {
        if step_pct <= Decimal::ZERO {
            return None;
        }
        let level = (pnl_pct / step_pct).trunc();
        let level: i64 = level.try_into().ok()?;
        if level == 0 || level == self.last {
            return None;
        }
        self.last = level;
        Some(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn long() -> Holding {
        Holding {
            side: PositionSide::Long,
            entry_price: dec!(50000),
            quantity: dec!(0.1),
            leverage: 10,
            stop_loss: Some(dec!(49000)),
            take_profit: Some(dec!(52500)),
        }
    }

    fn short() -> Holding {
        Holding {
            side: PositionSide::Short,
            stop_loss: Some(dec!(51000)),
            take_profit: Some(dec!(47500)),
            ..long()
        }
    }

    #[test]
    fn a_long_valued_by_hand() {
        // 0.1 BTC at 50 000, 10x: notional 5 000, margin 500. At 50 750 the
        // position made 75: 1.5 % of notional, 15 % of margin.
        let v = value(&long(), dec!(50750));
        assert_eq!(v.notional, dec!(5000.0));
        assert_eq!(v.initial_margin, dec!(500));
        assert_eq!(v.unrealized_pnl, dec!(75.0));
        assert_eq!(v.roi_pct, dec!(1.5));
        assert_eq!(v.roe_pct, dec!(15));
        // SL 49 000 is (50 750 − 49 000) / 50 750 = 3.4483 % below.
        assert_eq!(v.distance_to_sl_pct, Some(dec!(3.4483)));
        // TP 52 500 is 1 750 / 50 750 = 3.4483 % above.
        assert_eq!(v.distance_to_tp_pct, Some(dec!(3.4483)));
    }

    #[test]
    fn a_short_valued_by_hand() {
        // Short 0.1 at 50 000; price 50 750 is a loss of 75: −15 % ROE.
        let v = value(&short(), dec!(50750));
        assert_eq!(v.unrealized_pnl, dec!(-75.0));
        assert_eq!(v.roi_pct, dec!(-1.5));
        assert_eq!(v.roe_pct, dec!(-15));
        // SL 51 000 is 250 / 50 750 = 0.4926 % above: still room.
        assert_eq!(v.distance_to_sl_pct, Some(dec!(0.4926)));
        // TP 47 500 needs a 3 250 / 50 750 = 6.4039 % fall.
        assert_eq!(v.distance_to_tp_pct, Some(dec!(6.4039)));
        // Past the stop-loss the distance turns negative.
        let past = value(&short(), dec!(51500));
        assert!(past.distance_to_sl_pct.unwrap() < Decimal::ZERO);
    }

    #[test]
    fn isolated_liquidation_by_hand() {
        // Long: (500 − 5 000) / (0.1·0.004 − 0.1) = −4 500 / −0.0996
        //     = 45 180.7228915662…
        let lp = liquidation_price(&long(), Maintenance::default(), Collateral::Isolated).unwrap();
        assert_eq!(lp.round_dp(4), dec!(45180.7229));
        // Short: (500 + 5 000) / (0.0004 + 0.1) = 54 780.8764940239…
        let lp = liquidation_price(&short(), Maintenance::default(), Collateral::Isolated).unwrap();
        assert_eq!(lp.round_dp(4), dec!(54780.8765));
        // The same as the closed form entry·(1 − 1/L)/(1 − mmr).
        assert_eq!(
            (dec!(50000) * dec!(0.9) / dec!(0.996)).round_dp(4),
            dec!(45180.7229)
        );
    }

    #[test]
    fn cross_liquidation_by_hand() {
        // Long 0.1 at 50 000 backed by a 2 000 wallet, with a second bracket
        // (0.5 %, amount 50) and another position needing 20 and showing −30:
        // (2 000 − 20 − 30 + 50 − 5 000) / (0.0005 − 0.1)
        //   = −3 000 / −0.0995 = 30 150.7537688442…
        let c = Collateral::Cross {
            wallet: dec!(2000),
            others_maintenance: dec!(20),
            others_unrealized: dec!(-30),
        };
        let m = Maintenance {
            rate: dec!(0.005),
            amount: dec!(50),
        };
        let lp = liquidation_price(&long(), m, c).unwrap();
        assert_eq!(lp.round_dp(4), dec!(30150.7538));
        // Short with the same wallet: (2 000 − 20 − 30 + 50 + 5 000) /
        // (0.0005 + 0.1) = 7 000 / 0.1005 = 69 651.7412935323…
        let lp = liquidation_price(&short(), m, c).unwrap();
        assert_eq!(lp.round_dp(4), dec!(69651.7413));
        // A long backed by more than its notional cannot be liquidated.
        let rich = Collateral::Cross {
            wallet: dec!(10000),
            others_maintenance: Decimal::ZERO,
            others_unrealized: Decimal::ZERO,
        };
        assert_eq!(liquidation_price(&long(), m, rich), None);
    }

    #[test]
    fn pnl_steps_are_announced_once_each() {
        let mut s = PnlSteps::default();
        let step = dec!(1);
        assert_eq!(s.observe(dec!(0.4), step), None);
        assert_eq!(s.observe(dec!(1.2), step), Some(1));
        assert_eq!(s.observe(dec!(1.9), step), None);
        // Wobbling back under the line and over it again says nothing new.
        assert_eq!(s.observe(dec!(0.8), step), None);
        assert_eq!(s.observe(dec!(1.1), step), None);
        assert_eq!(s.observe(dec!(2.0), step), Some(2));
        assert_eq!(s.observe(dec!(-1.0), step), Some(-1));
        assert_eq!(s.observe(dec!(-3.5), step), Some(-3));
        assert_eq!(s.observe(dec!(5), Decimal::ZERO), None);
    }
}
