//! Trading performance from closed positions: the summary a trader reads
//! (total PnL, win rate, profit factor, drawdown, Sharpe) and the daily,
//! weekly and monthly series behind the PnL chart.
//!
//! Money stays `Decimal`; ratios (win rate, profit factor, Sharpe) are
//! statistics and use `f64`.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One closed position, as the statistics need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedTrade {
    pub position_id: i64,
    pub symbol: String,
    pub closed_at: DateTime<Utc>,
    /// Realized, after fees.
    pub pnl: Decimal,
    /// The margin the position committed (entry notional ÷ leverage).
    pub margin: Decimal,
    /// What ended it (`stop_loss`, `take_profit`, `trailing_stop`, …).
    pub close_reason: Option<String>,
}

/// The trades one exit ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExitStat {
    pub trades: u32,
    #[serde(with = "rust_decimal::serde::float")]
    pub pnl: Decimal,
}

/// A trade singled out (best, worst).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRef {
    pub position_id: i64,
    pub symbol: String,
    #[serde(with = "rust_decimal::serde::float")]
    pub pnl: Decimal,
    pub closed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    #[serde(with = "rust_decimal::serde::float")]
    pub total_pnl: Decimal,
    pub total_trades: u32,
    pub winning_trades: u32,
    pub losing_trades: u32,
    /// Winning trades over all trades, in percent (break-even counts as not
    /// winning).
    pub win_rate: f64,
    #[serde(with = "rust_decimal::serde::float")]
    pub gross_profit: Decimal,
    /// Positive: the sum of the losses' sizes.
    #[serde(with = "rust_decimal::serde::float")]
    pub gross_loss: Decimal,
    /// Gross profit over gross loss; `None` without a losing trade.
    pub profit_factor: Option<f64>,
    /// Total PnL over the margin the trades committed, in percent.
    pub roi: f64,
    #[serde(with = "rust_decimal::serde::float")]
    pub average_pnl: Decimal,
    /// Largest fall of cumulative PnL from a previous high, in money.
    #[serde(with = "rust_decimal::serde::float")]
    pub max_drawdown: Decimal,
    /// Annualised (365 days: crypto never closes) from daily PnL, every
    /// calendar day from the first close to the last counted; `None` with
    /// fewer than two days or no variation.
    pub sharpe_ratio: Option<f64>,
    pub best_trade: Option<TradeRef>,
    pub worst_trade: Option<TradeRef>,
    /// By what ended each trade: how many and their PnL.
    pub exit_reasons: std::collections::BTreeMap<String, ExitStat>,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

fn reference(t: &ClosedTrade) -> TradeRef {
    TradeRef {
        position_id: t.position_id,
        symbol: t.symbol.clone(),
        pnl: t.pnl,
        closed_at: t.closed_at,
    }
}

/// Trades in the order they closed (ties by id), as drawdown needs them.
fn chronological(trades: &[ClosedTrade]) -> Vec<&ClosedTrade> {
    let mut v: Vec<&ClosedTrade> = trades.iter().collect();
    v.sort_by_key(|t| (t.closed_at, t.position_id));
    v
}

pub fn summarize(trades: &[ClosedTrade]) -> Summary {
    let ordered = chronological(trades);
    let total_pnl: Decimal = ordered.iter().map(|t| t.pnl).sum();
    let wins: Vec<_> = ordered.iter().filter(|t| t.pnl > Decimal::ZERO).collect();
    let losses: Vec<_> = ordered.iter().filter(|t| t.pnl < Decimal::ZERO).collect();
    let gross_profit: Decimal = wins.iter().map(|t| t.pnl).sum();
    let gross_loss: Decimal = -losses.iter().map(|t| t.pnl).sum::<Decimal>();
    let n = ordered.len() as u32;
    let margin: Decimal = ordered.iter().map(|t| t.margin).sum();

    let mut cumulative = Decimal::ZERO;
    let mut peak = Decimal::ZERO;
    let mut max_drawdown = Decimal::ZERO;
    for t in &ordered {
        cumulative += t.pnl;
        peak = peak.max(cumulative);
        max_drawdown = max_drawdown.max(peak - cumulative);
    }

    let best = ordered
        .iter()
        .copied()
        .max_by(|a, b| a.pnl.cmp(&b.pnl).then(b.closed_at.cmp(&a.closed_at)));
    let worst = ordered
        .iter()
        .copied()
        .min_by(|a, b| a.pnl.cmp(&b.pnl).then(a.closed_at.cmp(&b.closed_at)));

    let mut exit_reasons = std::collections::BTreeMap::<String, ExitStat>::new();
    for t in &ordered {
        let e = exit_reasons
            .entry(t.close_reason.clone().unwrap_or_else(|| "signal".into()))
            .or_default();
        e.trades += 1;
        e.pnl += t.pnl;
    }
    Summary {
        exit_reasons,
        total_pnl,
        total_trades: n,
        winning_trades: wins.len() as u32,
        losing_trades: losses.len() as u32,
        win_rate: if n == 0 {
            0.0
        } else {
            wins.len() as f64 / n as f64 * 100.0
        },
        gross_profit,
        gross_loss,
        profit_factor: (!gross_loss.is_zero()).then(|| f(gross_profit) / f(gross_loss)),
        roi: if margin.is_zero() {
            0.0
        } else {
            f(total_pnl) / f(margin) * 100.0
        },
        average_pnl: if n == 0 {
            Decimal::ZERO
        } else {
            total_pnl / Decimal::from(n)
        },
        max_drawdown,
        sharpe_ratio: sharpe(&ordered),
        best_trade: best.map(reference),
        worst_trade: worst.map(reference),
    }
}

fn sharpe(ordered: &[&ClosedTrade]) -> Option<f64> {
    let first = ordered.first()?.closed_at.date_naive();
    let last = ordered.last()?.closed_at.date_naive();
    let mut daily: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let mut d = first;
    while d <= last {
        daily.insert(d, 0.0);
        d = d.checked_add_days(Days::new(1))?;
    }
    for t in ordered {
        *daily.entry(t.closed_at.date_naive()).or_default() += f(t.pnl);
    }
    let values: Vec<f64> = daily.into_values().collect();
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0).then(|| mean / sd * 365f64.sqrt())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    /// The first day of the period holding `day`: the day, its ISO week's
    /// Monday, its month's first.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Daily => day,
            Period::Weekly => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Monthly => day.with_day(1).unwrap_or(day),
        }
    }

    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Period::Daily => start.checked_add_days(Days::new(1)),
            Period::Weekly => start.checked_add_days(Days::new(7)),
            Period::Monthly => start.checked_add_months(Months::new(1)),
        }
    }
}

/// One bar of the PnL chart, with the summary's names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// First day of the period (UTC).
    pub date: NaiveDate,
    #[serde(with = "rust_decimal::serde::float")]
    pub total_pnl: Decimal,
    pub total_trades: u32,
    pub winning_trades: u32,
    pub win_rate: f64,
    /// PnL over the margin committed by the period's trades, in percent.
    pub roi: f64,
    /// The Sharpe ratio of the history up to the period's last day, as the
    /// summary would give it then (and the day's `performances` snapshot
    /// keeps it); `None` before two days of history.
    pub sharpe_ratio: Option<f64>,
    /// Running total from the first period shown.
    #[serde(with = "rust_decimal::serde::float")]
    pub cumulative_pnl: Decimal,
}

/// The daily-PnL Sharpe ratio as history grows day by day (Welford's
/// running variance), equal to [`summarize`]'s on the trades closed so far
/// without recomputing the whole history for every period.
#[derive(Default)]
struct RunningSharpe {
    days: f64,
    mean: f64,
    m2: f64,
    last: Option<NaiveDate>,
}

impl RunningSharpe {
    fn push(&mut self, x: f64) {
        self.days += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.days;
        self.m2 += delta * (x - self.mean);
    }

    /// A day with closes; the quiet days since the last one count as zero.
    /// `result`: the day's PnL as a statistic's sample (the Sharpe ratio
    /// is a float; the money stays `Decimal` in the buckets).
    fn add(&mut self, day: NaiveDate, result: f64) {
        if let Some(mut d) = self.last.and_then(|l| l.succ_opt()) {
            while d < day {
                self.push(0.0);
                d = d.succ_opt().unwrap_or(day);
            }
        }
        self.push(result);
        self.last = Some(day);
    }

    fn value(&self) -> Option<f64> {
        if self.days < 2.0 {
            return None;
        }
        let sd = (self.m2 / (self.days - 1.0)).sqrt();
        (sd > 0.0).then(|| self.mean / sd * 365f64.sqrt())
    }
}

/// PnL per period between `from` and `to` (inclusive days, UTC), periods
/// without trades included as zero so a chart has no gaps. Trades closed
/// before `from` count only towards `sharpe_ratio`.
pub fn series(
    trades: &[ClosedTrade],
    period: Period,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Bucket> {
    let mut by: BTreeMap<NaiveDate, (Decimal, u32, u32, Decimal)> = BTreeMap::new();
    let mut daily: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
    for t in trades {
        let day = t.closed_at.date_naive();
        if day > to {
            continue;
        }
        *daily.entry(day).or_default() += t.pnl;
        if day < from {
            continue;
        }
        let e = by.entry(period.start(day)).or_default();
        e.0 += t.pnl;
        e.1 += 1;
        e.2 += u32::from(t.pnl > Decimal::ZERO);
        e.3 += t.margin;
    }
    let mut days = daily.into_iter().peekable();
    let mut sharpe = RunningSharpe::default();
    let mut out = Vec::new();
    let mut cumulative = Decimal::ZERO;
    let mut start = Some(period.start(from));
    while let Some(s) = start.filter(|s| *s <= to) {
        let next = period.next(s);
        while let Some((day, pnl)) = days.next_if(|(d, _)| next.is_none_or(|n| *d < n)) {
            sharpe.add(day, f(pnl));
        }
        let (pnl, trades, wins, margin) = by.get(&s).copied().unwrap_or_default();
        cumulative += pnl;
        out.push(Bucket {
            date: s,
            total_pnl: pnl,
            total_trades: trades,
            winning_trades: wins,
            win_rate: if trades == 0 {
                0.0
            } else {
                f64::from(wins) / f64::from(trades) * 100.0
            },
            roi: if margin.is_zero() {
                0.0
            } else {
                f(pnl) / f(margin) * 100.0
            },
            sharpe_ratio: sharpe.value(),
            cumulative_pnl: cumulative,
        });
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn t(id: i64, day: u32, hour: u32, pnl: Decimal) -> ClosedTrade {
        ClosedTrade {
            close_reason: Some(
                if pnl > Decimal::ZERO {
                    "take_profit"
                } else {
                    "stop_loss"
                }
                .into(),
            ),
            position_id: id,
            symbol: "BTCUSDT".into(),
            closed_at: Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap(),
            pnl,
            margin: dec!(100),
        }
    }

    /// +50, −20, +30, −40, +10 over 2, 2, 3, 5, 5 November.
    fn five() -> Vec<ClosedTrade> {
        vec![
            t(1, 2, 1, dec!(50)),
            t(2, 2, 5, dec!(-20)),
            t(3, 3, 9, dec!(30)),
            t(4, 5, 2, dec!(-40)),
            t(5, 5, 8, dec!(10)),
        ]
    }

    #[test]
    fn summary_by_hand() {
        let s = summarize(&five());
        assert_eq!(s.total_pnl, dec!(30));
        assert_eq!(
            (s.total_trades, s.winning_trades, s.losing_trades),
            (5, 3, 2)
        );
        assert!((s.win_rate - 60.0).abs() < 1e-12);
        assert_eq!((s.gross_profit, s.gross_loss), (dec!(90), dec!(60)));
        assert!((s.profit_factor.unwrap() - 1.5).abs() < 1e-12);
        // 30 on 500 of margin.
        assert!((s.roi - 6.0).abs() < 1e-12);
        assert_eq!(s.average_pnl, dec!(6));
        // Cumulative 50, 30, 60, 20, 30: the fall from 60 to 20.
        assert_eq!(s.max_drawdown, dec!(40));
        assert_eq!(s.best_trade.as_ref().unwrap().position_id, 1);
        assert_eq!(s.worst_trade.as_ref().unwrap().position_id, 4);
        // Daily PnL 2..5 Nov: 30, 30, 0, −30. Mean 7.5; deviations 22.5,
        // 22.5, −7.5, −37.5; squares 506.25·2 + 56.25 + 1406.25 = 2475;
        // sample variance 825; sd 28.7228…; Sharpe 7.5/28.7228·√365.
        let expected = 7.5 / 825f64.sqrt() * 365f64.sqrt();
        assert!((s.sharpe_ratio.unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn empty_and_loss_free_histories() {
        let s = summarize(&[]);
        assert_eq!(s.total_trades, 0);
        assert_eq!(s.win_rate, 0.0);
        assert_eq!(s.profit_factor, None);
        assert_eq!(s.sharpe_ratio, None);
        assert_eq!(s.best_trade, None);
        let s = summarize(&[t(1, 2, 1, dec!(5)), t(2, 2, 3, dec!(7))]);
        assert_eq!(s.profit_factor, None);
        assert_eq!(s.max_drawdown, Decimal::ZERO);
        // One day only: no Sharpe.
        assert_eq!(s.sharpe_ratio, None);
    }

    #[test]
    fn daily_series_fills_the_gaps() {
        let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 11, 5).unwrap();
        let s = series(&five(), Period::Daily, from, to);
        let pnl: Vec<Decimal> = s.iter().map(|b| b.total_pnl).collect();
        assert_eq!(pnl, [dec!(0), dec!(30), dec!(30), dec!(0), dec!(-30)]);
        let cumulative: Vec<Decimal> = s.iter().map(|b| b.cumulative_pnl).collect();
        assert_eq!(
            cumulative,
            [dec!(0), dec!(30), dec!(60), dec!(60), dec!(30)]
        );
        assert_eq!((s[1].total_trades, s[1].winning_trades), (2, 1));
        assert!((s[1].win_rate - 50.0).abs() < 1e-12);
        // 30 on 200 of margin.
        assert!((s[1].roi - 15.0).abs() < 1e-12);
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-11-02 is a Monday; 1 Nov a Sunday (the week of 26 Oct).
        let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
        let w = series(&five(), Period::Weekly, from, to);
        let dates: Vec<String> = w.iter().map(|b| b.date.to_string()).collect();
        assert_eq!(dates, ["2026-10-26", "2026-11-02", "2026-11-09"]);
        assert_eq!(w[1].total_pnl, dec!(30));
        assert_eq!(w[1].total_trades, 5);
        let m = series(
            &five(),
            Period::Monthly,
            NaiveDate::from_ymd_opt(2026, 10, 15).unwrap(),
            to,
        );
        let dates: Vec<String> = m.iter().map(|b| b.date.to_string()).collect();
        assert_eq!(dates, ["2026-10-01", "2026-11-01"]);
        assert_eq!(m[1].total_pnl, dec!(30));
    }

    #[test]
    fn each_period_carries_the_sharpe_of_the_history_up_to_its_end() {
        // A loss in October, before the series starts, still counts.
        let mut trades = vec![t(9, 1, 3, dec!(-25))];
        trades[0].closed_at = Utc.with_ymd_and_hms(2026, 10, 28, 3, 0, 0).unwrap();
        trades.extend(five());
        let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 11, 12).unwrap();
        for period in [Period::Daily, Period::Weekly, Period::Monthly] {
            let s = series(&trades, period, from, to);
            for (i, b) in s.iter().enumerate() {
                let end = s
                    .get(i + 1)
                    .map_or(to, |n| n.date.pred_opt().unwrap())
                    .min(to);
                let upto: Vec<ClosedTrade> = trades
                    .iter()
                    .filter(|t| t.closed_at.date_naive() <= end)
                    .cloned()
                    .collect();
                let want = summarize(&upto).sharpe_ratio;
                match (b.sharpe_ratio, want) {
                    (Some(a), Some(w)) => assert!((a - w).abs() < 1e-9, "{period:?} {}", b.date),
                    (a, w) => assert_eq!(a, w, "{period:?} {}", b.date),
                }
            }
            assert!(s.iter().any(|b| b.sharpe_ratio.is_some()));
        }
        // The October loss is outside every bar's PnL.
        let d = series(&trades, Period::Daily, from, to);
        assert_eq!(d[0].total_pnl, Decimal::ZERO);
        assert_eq!(d.last().unwrap().cumulative_pnl, dec!(30));
    }
}
