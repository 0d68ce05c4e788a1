//! Supertrend as TradingView's `ta.supertrend(factor, atrPeriod)`: bands
//! `hl2 ± factor·ATR` that only tighten while the trend holds, ATR being
//! Pine's `ta.atr` (an RMA of the true range, whose first bar is
//! `high − low`, seeded with the SMA of the first `n`).

use super::{Bar, Indicator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupertrendValue {
    /// The line: the lower band in an uptrend, the upper in a downtrend.
    pub value: f64,
    pub trend: Trend,
}

#[derive(Debug, Clone)]
pub struct Supertrend {
    n: usize,
    factor: f64,
    prev_close: Option<f64>,
    seen: usize,
    tr_sum: f64,
    atr: Option<f64>,
    upper: f64,
    lower: f64,
    /// Whether the previous line was the upper band.
    on_upper: Option<bool>,
}

impl Supertrend {
    pub fn new(atr_period: usize, factor: f64) -> Self {
        Self {
            n: atr_period.max(1),
            factor,
            prev_close: None,
            seen: 0,
            tr_sum: 0.0,
            atr: None,
            upper: 0.0,
            lower: 0.0,
            on_upper: None,
        }
    }
}

impl Indicator for Supertrend {
    type Input = Bar;
    type Output = SupertrendValue;

    fn update(&mut self, b: Bar) -> Option<SupertrendValue> {
        let tr = match self.prev_close {
            None => b.high - b.low,
            Some(pc) => (b.high - b.low)
                .max((b.high - pc).abs())
                .max((b.low - pc).abs()),
        };
        let prev_close = self.prev_close.replace(b.close);
        let n = self.n as f64;
        self.seen += 1;
        let had_atr = self.atr.is_some();
        self.atr = match self.atr {
            Some(a) => Some((tr - a) / n + a),
            None => {
                self.tr_sum += tr;
                (self.seen == self.n).then(|| self.tr_sum / n)
            }
        };
        let atr = self.atr?;
        let hl2 = (b.high + b.low) / 2.0;
        let mut upper = hl2 + self.factor * atr;
        let mut lower = hl2 - self.factor * atr;
        // Pine's nz(): a band not defined on the previous bar counts as 0.
        let (prev_upper, prev_lower) = if had_atr {
            (self.upper, self.lower)
        } else {
            (0.0, 0.0)
        };
        let pc = prev_close.unwrap_or(0.0);
        if !(lower > prev_lower || pc < prev_lower) {
            lower = prev_lower;
        }
        if !(upper < prev_upper || pc > prev_upper) {
            upper = prev_upper;
        }
        let trend = match self.on_upper {
            None => Trend::Down,
            Some(true) => {
                if b.close > upper {
                    Trend::Up
                } else {
                    Trend::Down
                }
            }
            Some(false) => {
                if b.close < lower {
                    Trend::Down
                } else {
                    Trend::Up
                }
            }
        };
        self.upper = upper;
        self.lower = lower;
        self.on_upper = Some(trend == Trend::Down);
        Some(SupertrendValue {
            value: if trend == Trend::Up { lower } else { upper },
            trend,
        })
    }

    fn lookback(&self) -> usize {
        self.n - 1
    }
}
