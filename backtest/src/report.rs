//! What a backtest is judged by, computed from its trades and equity curve.
//! Money in `Decimal`; ratios in `f64`.

use crate::engine::{ExitReason, Outcome};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use std::collections::BTreeMap;
use tradingbot_core::market::candle::Candle;

const YEAR_MS: f64 = 365.25 * 86_400_000.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(with = "rust_decimal::serde::float")]
    pub initial_capital: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    pub final_equity: Decimal,
    pub total_return_pct: f64,
    pub cagr_pct: f64,
    /// Largest fall from a previous equity high, percent.
    pub max_drawdown_pct: f64,
    /// Longest time below a previous high, in days.
    pub max_drawdown_days: f64,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    pub trades: usize,
    pub win_rate_pct: f64,
    pub profit_factor: Option<f64>,
    /// Average net PnL per trade.
    #[serde(with = "rust_decimal::serde::float")]
    pub expectancy: Decimal,
    /// Mean of take-profit distance over stop-loss distance.
    pub avg_risk_reward: Option<f64>,
    /// Share of bars with a position open, percent.
    pub exposure_pct: f64,
    pub buy_and_hold_pct: f64,
    #[serde(with = "rust_decimal::serde::float")]
    pub fees: Decimal,
    pub exit_reasons: BTreeMap<ExitReason, usize>,
    pub ruined: bool,
    pub skipped_entries: usize,
    /// Entries the strategy's protections held back.
    pub held_back_entries: usize,
    /// Limit entries whose time ran out with nothing filled.
    pub expired_entries: usize,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

pub fn report(candles: &[Candle], capital: Decimal, o: &Outcome) -> Report {
    let final_equity = o.final_wallet;
    let total = if capital.is_zero() {
        0.0
    } else {
        f((final_equity - capital) / capital) * 100.0
    };
    let span_ms = match (candles.first(), candles.last()) {
        (Some(a), Some(b)) if b.time_ms > a.time_ms => {
            // The last bar lasts as long as the ones before it.
            let step = (b.time_ms - a.time_ms) as f64 / (candles.len() - 1) as f64;
            (b.time_ms - a.time_ms) as f64 + step
        }
        _ => 0.0,
    };
    let years = span_ms / YEAR_MS;
    let growth = f(final_equity) / f(capital).max(f64::MIN_POSITIVE);
    let cagr = if years > 0.0 && growth > 0.0 {
        (growth.powf(1.0 / years) - 1.0) * 100.0
    } else if growth <= 0.0 {
        -100.0
    } else {
        0.0
    };

    // Drawdown depth and duration.
    let mut peak = f(capital);
    let mut peak_time = candles.first().map_or(0, |c| c.time_ms);
    let mut max_dd = 0.0f64;
    let mut max_dd_ms = 0i64;
    for (t, e) in &o.equity {
        let e = *e;
        if e >= peak {
            peak = e;
            peak_time = *t;
        } else {
            if peak > 0.0 {
                max_dd = max_dd.max((peak - e) / peak * 100.0);
            }
            max_dd_ms = max_dd_ms.max(t - peak_time);
        }
    }

    // Per-bar returns, annualised by the bars in a year.
    let returns: Vec<f64> = o
        .equity
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w[0].1, w[1].1);
            (a > 0.0).then(|| b / a - 1.0)
        })
        .collect();
    let per_year = if candles.len() > 1 && span_ms > 0.0 {
        YEAR_MS / (span_ms / candles.len() as f64)
    } else {
        0.0
    };
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n.max(1.0);
    let sd = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n.max(1.0)).sqrt();
    let sharpe = (n > 1.0 && sd > 0.0).then(|| mean / sd * per_year.sqrt());
    let sortino = (n > 1.0 && downside > 0.0).then(|| mean / downside * per_year.sqrt());
    let calmar = (max_dd > 0.0).then(|| cagr / max_dd);

    let trades = o.trades.len();
    let wins = o.trades.iter().filter(|t| t.pnl > Decimal::ZERO).count();
    let gross_profit: Decimal = o
        .trades
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p > Decimal::ZERO)
        .sum();
    let gross_loss: Decimal = -o
        .trades
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p < Decimal::ZERO)
        .sum::<Decimal>();
    let net: Decimal = o.trades.iter().map(|t| t.pnl).sum();
    let rr: Vec<f64> = o
        .trades
        .iter()
        .filter_map(|t| {
            let risk = (t.entry_price - t.stop_loss?).abs();
            let reward = (t.take_profit? - t.entry_price).abs();
            (!risk.is_zero()).then(|| f(reward / risk))
        })
        .collect();
    let mut exit_reasons = BTreeMap::new();
    for t in &o.trades {
        *exit_reasons.entry(t.exit_reason).or_insert(0) += 1;
    }
    let buy_and_hold = match (candles.first(), candles.last()) {
        (Some(a), Some(b)) if a.open > Decimal::ZERO => f((b.close - a.open) / a.open) * 100.0,
        _ => 0.0,
    };
    Report {
        initial_capital: capital,
        final_equity,
        total_return_pct: total,
        cagr_pct: cagr,
        max_drawdown_pct: max_dd,
        max_drawdown_days: max_dd_ms as f64 / 86_400_000.0,
        sharpe,
        sortino,
        calmar,
        trades,
        win_rate_pct: if trades == 0 {
            0.0
        } else {
            wins as f64 / trades as f64 * 100.0
        },
        profit_factor: (!gross_loss.is_zero()).then(|| f(gross_profit) / f(gross_loss)),
        expectancy: if trades == 0 {
            Decimal::ZERO
        } else {
            (net / Decimal::from(trades)).round_dp(8)
        },
        avg_risk_reward: (!rr.is_empty()).then(|| rr.iter().sum::<f64>() / rr.len() as f64),
        exposure_pct: if candles.is_empty() {
            0.0
        } else {
            o.bars_in_market as f64 / candles.len() as f64 * 100.0
        },
        buy_and_hold_pct: buy_and_hold,
        fees: o.trades.iter().map(|t| t.fees).sum(),
        exit_reasons,
        ruined: o.ruined,
        skipped_entries: o.skipped_entries,
        held_back_entries: o.held_back_entries,
        expired_entries: o.expired_entries,
    }
}
