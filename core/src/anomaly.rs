//! Abnormal trading per strategy, judged against the strategy's own
//! history: a burst of signals far above its usual rate, repeated
//! rejections, an order far larger than its usual size, an intraday
//! drawdown past a threshold. Pure and incremental: the caller feeds events
//! with their times (off the hot path) and forwards what comes out.

use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// A burst: signals in the last `burst_window_ms` at least this many
    /// times the usual rate for such a window…
    pub burst_factor: f64,
    /// …and at least this many (a quiet strategy's third signal is no burst).
    pub burst_min: usize,
    pub burst_window_ms: i64,
    /// How far back the usual rate is measured.
    pub baseline_ms: i64,
    /// Rejections in a row.
    pub rejections_in_row: u32,
    /// An order this many times the median of the last orders.
    pub size_factor: Decimal,
    /// Orders needed before sizes are judged.
    pub size_min_history: usize,
    /// Equity this many percent below the day's peak.
    pub drawdown_pct: Decimal,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            burst_factor: 5.0,
            burst_min: 10,
            burst_window_ms: 10 * 60_000,
            baseline_ms: 7 * 86_400_000,
            rejections_in_row: 5,
            size_factor: Decimal::from(5),
            size_min_history: 5,
            drawdown_pct: Decimal::from(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    SignalBurst {
        count: usize,
        usual: f64,
    },
    RepeatedRejections {
        count: u32,
    },
    OversizedOrder {
        notional: Decimal,
        usual: Decimal,
    },
    IntradayDrawdown {
        drawdown_pct: Decimal,
        peak: Decimal,
        equity: Decimal,
    },
}

impl Anomaly {
    pub fn code(&self) -> &'static str {
        match self {
            Anomaly::SignalBurst { .. } => "signal_burst",
            Anomaly::RepeatedRejections { .. } => "repeated_rejections",
            Anomaly::OversizedOrder { .. } => "oversized_order",
            Anomaly::IntradayDrawdown { .. } => "intraday_drawdown",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Anomaly::SignalBurst { count, usual } => {
                format!("{count} signals in ten minutes; usually {usual:.1}")
            }
            Anomaly::RepeatedRejections { count } => format!("{count} signals refused in a row"),
            Anomaly::OversizedOrder { notional, usual } => format!(
                "an order of {} where the strategy's usual is {}",
                notional.round_dp(2),
                usual.round_dp(2)
            ),
            Anomaly::IntradayDrawdown { drawdown_pct, .. } => {
                format!("equity {}% below today's peak", drawdown_pct.round_dp(2))
            }
        }
    }
}

/// One strategy's recent behaviour.
#[derive(Debug, Clone)]
pub struct Detector {
    s: Settings,
    signals: VecDeque<i64>,
    first_signal_ms: Option<i64>,
    rejected_in_row: u32,
    sizes: VecDeque<Decimal>,
    day: i64,
    peak: Decimal,
    /// Each kind is raised once until the condition clears.
    burst_raised: bool,
    drawdown_raised: bool,
}

impl Detector {
    pub fn new(s: Settings) -> Self {
        Self {
            s,
            signals: VecDeque::new(),
            first_signal_ms: None,
            rejected_in_row: 0,
            sizes: VecDeque::new(),
            day: i64::MIN,
            peak: Decimal::ZERO,
            burst_raised: false,
            drawdown_raised: false,
        }
    }

    /// A signal arrived at `at_ms`; `accepted`: it passed the risk checks.
    pub fn signal(&mut self, at_ms: i64, accepted: bool) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let first = *self.first_signal_ms.get_or_insert(at_ms);
        self.signals.push_back(at_ms);
        while self
            .signals
            .front()
            .is_some_and(|t| *t < at_ms - self.s.baseline_ms)
        {
            self.signals.pop_front();
        }
        let window = self.s.burst_window_ms.max(1);
        let recent = self.signals.iter().filter(|t| **t > at_ms - window).count();
        // The usual count per window, from what came before this window.
        let history_from = first.max(at_ms - self.s.baseline_ms);
        let history_span = at_ms - window - history_from;
        let (usual, threshold) = if history_span >= window {
            let before = (self.signals.len() - recent) as f64;
            let usual = before * window as f64 / history_span as f64;
            (
                usual,
                (self.s.burst_factor * usual).max(self.s.burst_min as f64),
            )
        } else {
            // No history yet: only a flood counts.
            (0.0, self.s.burst_factor * self.s.burst_min as f64)
        };
        let burst = recent as f64 >= threshold;
        if burst && !self.burst_raised {
            out.push(Anomaly::SignalBurst {
                count: recent,
                usual,
            });
        }
        self.burst_raised = burst;
        if accepted {
            self.rejected_in_row = 0;
        } else {
            self.rejected_in_row += 1;
            if self.rejected_in_row == self.s.rejections_in_row {
                out.push(Anomaly::RepeatedRejections {
                    count: self.rejected_in_row,
                });
            }
        }
        out
    }

    /// An order of `notional` was placed.
    pub fn order(&mut self, notional: Decimal) -> Option<Anomaly> {
        let verdict = if self.sizes.len() >= self.s.size_min_history {
            let mut sorted: Vec<Decimal> = self.sizes.iter().copied().collect();
            sorted.sort();
            let median = sorted[sorted.len() / 2];
            (median > Decimal::ZERO && notional >= median * self.s.size_factor).then_some(
                Anomaly::OversizedOrder {
                    notional,
                    usual: median,
                },
            )
        } else {
            None
        };
        self.sizes.push_back(notional);
        if self.sizes.len() > 50 {
            self.sizes.pop_front();
        }
        verdict
    }

    /// The account's equity at `at_ms`.
    pub fn equity(&mut self, at_ms: i64, equity: Decimal) -> Option<Anomaly> {
        let day = at_ms.div_euclid(86_400_000);
        if day != self.day {
            self.day = day;
            self.peak = equity;
            self.drawdown_raised = false;
        }
        self.peak = self.peak.max(equity);
        if self.peak <= Decimal::ZERO {
            return None;
        }
        let dd = (self.peak - equity) / self.peak * Decimal::ONE_HUNDRED;
        let over = dd >= self.s.drawdown_pct;
        let fire = over && !self.drawdown_raised;
        self.drawdown_raised = over;
        fire.then_some(Anomaly::IntradayDrawdown {
            drawdown_pct: dd.round_dp(4),
            peak: self.peak,
            equity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    #[test]
    fn a_burst_stands_out_from_the_usual_rate() {
        let mut d = Detector::new(Settings::default());
        let mut t = 0;
        for _ in 0..48 {
            assert!(d.signal(t, true).is_empty());
            t += HOUR;
        }
        // Twelve within ten minutes where one an hour is usual.
        let mut raised = Vec::new();
        for i in 0..12 {
            raised.extend(d.signal(t + i * 30_000, true));
        }
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert!(
            matches!(raised[0], Anomaly::SignalBurst { count: 10, .. }),
            "{raised:?}"
        );
        // Quiet again later: nothing.
        assert!(d.signal(t + 2 * HOUR, true).is_empty());
    }

    #[test]
    fn a_new_strategy_needs_a_flood() {
        let mut d = Detector::new(Settings::default());
        let all: Vec<Anomaly> = (0..40).flat_map(|i| d.signal(i * 10_000, true)).collect();
        assert!(all.is_empty(), "{all:?}");
        let mut d = Detector::new(Settings::default());
        let all: Vec<Anomaly> = (0..60).flat_map(|i| d.signal(i * 5_000, true)).collect();
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn rejections_in_a_row() {
        let mut d = Detector::new(Settings::default());
        let mut t = 0;
        let mut next = |d: &mut Detector, ok: bool| {
            t += HOUR;
            d.signal(t, ok)
        };
        for _ in 0..4 {
            assert!(next(&mut d, false).is_empty());
        }
        assert_eq!(
            next(&mut d, false),
            vec![Anomaly::RepeatedRejections { count: 5 }]
        );
        assert!(next(&mut d, false).is_empty());
        assert!(next(&mut d, true).is_empty());
        for _ in 0..4 {
            assert!(next(&mut d, false).is_empty());
        }
        assert_eq!(next(&mut d, false).len(), 1);
    }

    #[test]
    fn an_order_far_above_the_usual_size() {
        let mut d = Detector::new(Settings::default());
        for _ in 0..5 {
            assert_eq!(d.order(Decimal::from(100)), None);
        }
        assert_eq!(d.order(Decimal::from(400)), None);
        assert_eq!(
            d.order(Decimal::from(500)),
            Some(Anomaly::OversizedOrder {
                notional: Decimal::from(500),
                usual: Decimal::from(100)
            })
        );
    }

    #[test]
    fn intraday_drawdown_from_the_day_peak() {
        let mut d = Detector::new(Settings::default());
        let day = 86_400_000;
        assert_eq!(d.equity(day, Decimal::from(10_000)), None);
        assert_eq!(d.equity(day + HOUR, Decimal::from(10_500)), None);
        // 9,450 is 10 % under 10,500.
        let a = d.equity(day + 2 * HOUR, Decimal::from(9_450)).unwrap();
        assert_eq!(a.code(), "intraday_drawdown");
        assert_eq!(
            d.equity(day + 3 * HOUR, Decimal::from(9_400)),
            None,
            "raised once"
        );
        assert_eq!(d.equity(day + 4 * HOUR, Decimal::from(10_000)), None);
        assert!(
            d.equity(day + 5 * HOUR, Decimal::from(9_400)).is_some(),
            "raised again after recovering"
        );
        // A new day starts from its own first equity.
        assert_eq!(d.equity(2 * day + HOUR, Decimal::from(9_400)), None);
    }
}
