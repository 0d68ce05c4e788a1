//! Volume-weighted average price of the typical price `(h + l + c) / 3`,
//! restarting at each anchor period (UTC), as TradingView's `ta.vwap`
//! restarts at each session.

use super::{Bar, Indicator};
use chrono::{DateTime, Datelike};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VwapAnchor {
    Day,
    /// ISO weeks, from Monday.
    Week,
    Month,
    /// Never restarts.
    None,
}

impl VwapAnchor {
    fn period(self, time_ms: i64) -> i64 {
        let Some(t) = DateTime::from_timestamp_millis(time_ms) else {
            return 0;
        };
        let d = t.date_naive();
        match self {
            VwapAnchor::Day => i64::from(d.num_days_from_ce()),
            VwapAnchor::Week => {
                i64::from(d.num_days_from_ce()) - i64::from(d.weekday().num_days_from_monday())
            }
            VwapAnchor::Month => i64::from(d.year()) * 12 + i64::from(d.month0()),
            VwapAnchor::None => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Vwap {
    anchor: VwapAnchor,
    period: Option<i64>,
    pv: f64,
    volume: f64,
}

impl Vwap {
    pub fn new(anchor: VwapAnchor) -> Self {
        Self {
            anchor,
            period: None,
            pv: 0.0,
            volume: 0.0,
        }
    }
}

impl Indicator for Vwap {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        let p = self.anchor.period(b.time_ms);
        if self.period != Some(p) {
            self.period = Some(p);
            self.pv = 0.0;
            self.volume = 0.0;
        }
        let typical = (b.high + b.low + b.close) / 3.0;
        self.pv += typical * b.volume;
        self.volume += b.volume;
        // No volume yet in the period: the typical price itself.
        Some(if self.volume > 0.0 {
            self.pv / self.volume
        } else {
            typical
        })
    }

    fn lookback(&self) -> usize {
        0
    }
}
