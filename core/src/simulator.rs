//! The risk simulator beside the leverage slider: what a strategy's next
//! entry would be — quantity after the exchange's step, notional, margin,
//! the loss at the stop-loss and the gain at the take-profit with fees,
//! risk/reward, and where the position would be liquidated, isolated and
//! cross, using the exchange's maintenance-margin tiers — and the warnings
//! a trader should see before saving.
//!
//! Binance (USDⓈ-M, one-way): `LP = (WB + cum − side·Q·EP) / (Q·MMR − side·Q)`
//! with the bracket's `MMR` and `cum` (see `position`). OKX (USDT-margined
//! swaps) liquidates when `(margin + PnL) ≤ Q·P·(MMR + taker fee)`, so
//! `LP = (EP·Q − C) / (Q·(1 − MMR − fee))` long and
//! `LP = (EP·Q + C) / (Q·(1 + MMR + fee))` short, with `C` the position's
//! margin (isolated) or the account's balance (cross).

use crate::exchange::PositionSide;
use crate::exchange::instrument::{InstrumentRules, Rounding};
use crate::exits::Ladder;
use crate::position::{Collateral, Holding, Maintenance, liquidation_price};
use crate::sizing::{self, pnl, protection};
use crate::strategy::Sizing;
use rust_decimal::Decimal;
use serde::Serialize;

/// One maintenance-margin tier: positions whose notional is at most `cap`
/// (and above the previous tier's) keep `rate` of it, with at most
/// `max_leverage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tier {
    pub cap: Decimal,
    pub rate: Decimal,
    pub max_leverage: u32,
}

/// Binance's published BTCUSDT brackets (notional cap, maintenance rate,
/// leverage); the cumulative amounts follow from them.
pub fn binance_btcusdt_tiers() -> Vec<Tier> {
    let t = |cap: i64, rate_permille_x10: i64, max_leverage: u32| Tier {
        cap: Decimal::from(cap),
        rate: Decimal::new(rate_permille_x10, 4),
        max_leverage,
    };
    vec![
        t(50_000, 40, 125),
        t(500_000, 50, 100),
        t(8_000_000, 100, 50),
        t(50_000_000, 250, 20),
        t(80_000_000, 500, 10),
        t(100_000_000, 1000, 5),
        t(200_000_000, 1250, 4),
        t(300_000_000, 1500, 3),
        t(500_000_000, 2500, 2),
        t(800_000_000, 5000, 1),
    ]
}

/// OKX BTC-USDT-SWAP's first tier (0.4 %, 125x): the simulator's default
/// when the venue's own tier list is not at hand.
pub fn okx_default_tiers() -> Vec<Tier> {
    vec![Tier {
        cap: Decimal::MAX,
        rate: Decimal::new(4, 3),
        max_leverage: 125,
    }]
}

/// The tier a notional falls in, with its cumulative maintenance amount
/// (`cum_n = cum_{n−1} + floor_n · (rate_n − rate_{n−1})`).
pub fn tier_for(tiers: &[Tier], notional: Decimal) -> Option<(Tier, Decimal)> {
    let mut cum = Decimal::ZERO;
    let mut floor = Decimal::ZERO;
    let mut prev_rate = Decimal::ZERO;
    for t in tiers {
        cum += floor * (t.rate - prev_rate);
        if notional <= t.cap {
            return Some((*t, cum));
        }
        floor = t.cap;
        prev_rate = t.rate;
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    Binance,
    Okx,
}

/// What is simulated.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub venue: Venue,
    pub rules: InstrumentRules,
    pub tiers: Vec<Tier>,
    pub entry_price: Decimal,
    /// The account's available balance (USDT).
    pub balance: Decimal,
    pub investment_pct: Decimal,
    /// What the entry is sized by (risk sizing takes `balance` as the
    /// wallet and `fee_rate` on both sides).
    pub sizing: Sizing,
    /// Take-profit targets in place of `tp_pct`.
    pub ladder: Option<Ladder>,
    pub leverage: u32,
    pub tp_pct: Decimal,
    pub sl_pct: Decimal,
    /// Taker fee as a fraction (0.0004 = 0.04 %).
    pub fee_rate: Decimal,
    /// The user's daily loss limit in percent of equity, if set.
    pub daily_loss_limit_pct: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

/// One target of a ladder, simulated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetOutcome {
    pub target: u8,
    pub price: Decimal,
    /// Base asset.
    pub quantity: Decimal,
    pub gain: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Simulation {
    pub side: PositionSide,
    pub entry_price: Decimal,
    /// Base asset, after rounding to the step.
    pub quantity: Decimal,
    /// In the venue's units (contracts on OKX).
    pub venue_quantity: Decimal,
    pub notional: Decimal,
    pub margin: Decimal,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    /// Negative: what is lost when the stop-loss fills, entry and exit
    /// fees included.
    pub loss_at_stop: Option<Decimal>,
    pub loss_at_stop_pct: Option<Decimal>,
    /// What is gained when the take-profit fills, fees included.
    pub gain_at_target: Option<Decimal>,
    pub gain_at_target_pct: Option<Decimal>,
    /// Gain at the target over the loss at the stop.
    pub risk_reward: Option<Decimal>,
    /// With a ladder: each target's order and what it gains (fees
    /// included); `gain_at_target` and `risk_reward` are then the blend of
    /// all of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetOutcome>,
    pub liquidation_price_isolated: Option<Decimal>,
    pub liquidation_price_cross: Option<Decimal>,
    pub maintenance_rate: Option<Decimal>,
    pub maintenance_amount: Option<Decimal>,
    pub tier_max_leverage: Option<u32>,
    pub warnings: Vec<Warning>,
}

fn fee(notional: Decimal, rate: Decimal) -> Decimal {
    (notional * rate).round_dp(8)
}

fn pct_of(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (!whole.is_zero()).then(|| {
        (part / whole * Decimal::ONE_HUNDRED)
            .round_dp(4)
            .normalize()
    })
}

/// The result of a trade closed at `exit`, fees included.
fn outcome(
    side: PositionSide,
    entry: Decimal,
    exit: Decimal,
    qty: Decimal,
    rate: Decimal,
) -> Decimal {
    (pnl(side, entry, exit, qty) - fee(entry * qty, rate) - fee(exit * qty, rate))
        .round_dp(8)
        .normalize()
}

fn okx_liquidation(
    side: PositionSide,
    entry: Decimal,
    qty: Decimal,
    collateral: Decimal,
    mmr: Decimal,
    fee_rate: Decimal,
) -> Option<Decimal> {
    if qty.is_zero() {
        return None;
    }
    let p = match side {
        PositionSide::Long => {
            let d = qty * (Decimal::ONE - mmr - fee_rate);
            (!d.is_zero()).then(|| (entry * qty - collateral) / d)?
        }
        PositionSide::Short => (entry * qty + collateral) / (qty * (Decimal::ONE + mmr + fee_rate)),
    };
    (p > Decimal::ZERO).then_some(p)
}

/// Simulates one side of the strategy.
pub fn simulate(i: &Inputs, side: PositionSide) -> Simulation {
    let rules = &i.rules;
    let leverage = i.leverage.max(1);
    let mut warnings = Vec::new();
    let base_budget = sizing::budget(
        i.sizing,
        i.investment_pct,
        side,
        i.entry_price,
        i.sl_pct,
        i.balance,
        i.fee_rate,
        rules,
    )
    .and_then(|b| sizing::base_budget(b, i.balance, leverage, i.entry_price, rules));
    let base_budget = match base_budget {
        Ok(b) => b,
        Err(e @ sizing::SizingError::StopNotAtRisk { .. }) => {
            warnings.push(Warning {
                code: e.code(),
                message: e.to_string(),
            });
            Decimal::ZERO
        }
        // No balance or price: nothing to size, and the quantity warning says so.
        Err(_) => Decimal::ZERO,
    };
    let venue_quantity = rules.venue_qty(base_budget, true);
    let quantity = rules.base_qty(venue_quantity);
    let notional = (quantity * i.entry_price).normalize();
    let margin = (notional / Decimal::from(leverage)).round_dp(8).normalize();
    if margin > i.balance {
        warnings.push(Warning {
            code: "insufficient_margin",
            message: format!(
                "the entry needs {} of margin, more than the {} available",
                margin.round_dp(2),
                i.balance.round_dp(2)
            ),
        });
    }
    let min_qty = if rules.market_min_qty > Decimal::ZERO {
        rules.market_min_qty
    } else {
        rules.min_qty
    };
    if venue_quantity.is_zero() || venue_quantity < min_qty {
        warnings.push(Warning {
            code: "below_min_quantity",
            message: format!("the entry would be {venue_quantity}, below the minimum quantity {min_qty}: raise investment_pct or leverage"),
        });
    } else if rules.min_notional > Decimal::ZERO && notional < rules.min_notional {
        warnings.push(Warning {
            code: "below_min_notional",
            message: format!(
                "the entry would be worth {}, below the exchange's minimum order value {}",
                notional.round_dp(2),
                rules.min_notional
            ),
        });
    }
    if leverage > 3 {
        warnings.push(Warning {
            code: "leverage_above_3x",
            message: format!("{leverage}x: 3x or less is recommended while a strategy is new"),
        });
    }
    let prot = protection(side, i.entry_price, i.tp_pct, i.sl_pct, rules);
    let stop_loss = prot.stop_loss.filter(|_| i.sl_pct > Decimal::ZERO);
    let take_profit = prot.take_profit.filter(|_| i.tp_pct > Decimal::ZERO);
    let loss_at_stop = stop_loss.map(|sl| outcome(side, i.entry_price, sl, quantity, i.fee_rate));
    let gain_at_target =
        take_profit.map(|tp| outcome(side, i.entry_price, tp, quantity, i.fee_rate));
    let targets: Vec<TargetOutcome> = i.ladder.as_ref().map_or_else(Vec::new, |l| {
        l.legs(side, i.entry_price, venue_quantity, rules)
            .into_iter()
            .map(|leg| {
                let qty = rules.base_qty(leg.venue_qty);
                TargetOutcome {
                    target: leg.target,
                    price: leg.price,
                    quantity: qty,
                    gain: outcome(side, i.entry_price, leg.price, qty, i.fee_rate),
                }
            })
            .collect()
    });
    let (take_profit, gain_at_target) = if targets.is_empty() {
        (take_profit, gain_at_target)
    } else {
        (
            targets.last().map(|t| t.price),
            Some(targets.iter().map(|t| t.gain).sum::<Decimal>().normalize()),
        )
    };
    let risk_reward = match (loss_at_stop, gain_at_target) {
        (Some(l), Some(g)) if l < Decimal::ZERO => Some((g / -l).round_dp(4).normalize()),
        _ => None,
    };
    let tier = tier_for(&i.tiers, notional);
    if let Some((t, _)) = tier
        && leverage > t.max_leverage
    {
        warnings.push(Warning {
            code: "leverage_above_tier_max",
            message: format!(
                "a position of {} allows at most {}x",
                notional.round_dp(2),
                t.max_leverage
            ),
        });
    }
    let (liq_iso, liq_cross) = match (tier, quantity.is_zero()) {
        (Some((t, cum)), false) => match i.venue {
            Venue::Binance => {
                let h = Holding {
                    side,
                    entry_price: i.entry_price,
                    quantity,
                    leverage,
                    stop_loss,
                    take_profit,
                };
                let m = Maintenance {
                    rate: t.rate,
                    amount: cum,
                };
                (
                    liquidation_price(&h, m, Collateral::Isolated),
                    liquidation_price(
                        &h,
                        m,
                        Collateral::Cross {
                            wallet: i.balance,
                            others_maintenance: Decimal::ZERO,
                            others_unrealized: Decimal::ZERO,
                        },
                    ),
                )
            }
            Venue::Okx => (
                okx_liquidation(side, i.entry_price, quantity, margin, t.rate, i.fee_rate),
                okx_liquidation(side, i.entry_price, quantity, i.balance, t.rate, i.fee_rate),
            ),
        },
        _ => (None, None),
    };
    // Shown on the tick grid, rounded toward the entry (the cautious side).
    let toward_entry = match side {
        PositionSide::Long => Rounding::Up,
        PositionSide::Short => Rounding::Down,
    };
    let liq_iso = liq_iso.map(|p| rules.round_price(p, toward_entry));
    let liq_cross = liq_cross.map(|p| rules.round_price(p, toward_entry));
    if let (Some(sl), Some(liq)) = (stop_loss, liq_iso) {
        let beyond = match side {
            PositionSide::Long => sl <= liq,
            PositionSide::Short => sl >= liq,
        };
        if beyond {
            warnings.push(Warning {
                code: "stop_loss_beyond_liquidation",
                message: format!("the stop-loss {sl} lies beyond the isolated liquidation price {liq}: the position would be liquidated first"),
            });
        }
    }
    if let (Some(limit), Some(loss)) = (i.daily_loss_limit_pct, loss_at_stop) {
        let loss_pct = pct_of(-loss, i.balance).unwrap_or(Decimal::ZERO);
        if loss_pct > limit {
            warnings.push(Warning {
                code: "loss_exceeds_daily_limit",
                message: format!("one stop-loss loses {loss_pct} % of the balance, more than the daily loss limit of {limit} %"),
            });
        }
    }
    Simulation {
        side,
        entry_price: i.entry_price,
        quantity,
        venue_quantity,
        notional,
        margin,
        stop_loss,
        take_profit,
        loss_at_stop,
        loss_at_stop_pct: loss_at_stop.and_then(|l| pct_of(l, i.balance)),
        gain_at_target,
        gain_at_target_pct: gain_at_target.and_then(|g| pct_of(g, i.balance)),
        risk_reward,
        targets,
        liquidation_price_isolated: liq_iso,
        liquidation_price_cross: liq_cross,
        maintenance_rate: tier.map(|t| t.0.rate),
        maintenance_amount: tier.map(|t| t.1.normalize()),
        tier_max_leverage: tier.map(|t| t.0.max_leverage),
        warnings,
    }
}
