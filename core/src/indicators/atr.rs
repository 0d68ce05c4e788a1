//! True range and Wilder's average true range (TA-Lib: the first true range
//! needs a previous close, the first ATR is the mean of `n` true ranges).

use super::{Bar, Indicator};

/// `max(high − low, |high − prev close|, |low − prev close|)`; `None` for
/// the first bar, which has no previous close (TA-Lib's TRANGE).
#[derive(Debug, Clone, Default)]
pub struct TrueRange {
    prev_close: Option<f64>,
}

impl Indicator for TrueRange {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        let prev = self.prev_close.replace(b.close)?;
        Some(
            (b.high - b.low)
                .max((b.high - prev).abs())
                .max((b.low - prev).abs()),
        )
    }

    fn lookback(&self) -> usize {
        1
    }
}

#[derive(Debug, Clone)]
pub struct Atr {
    n: usize,
    tr: TrueRange,
    seen: usize,
    value: f64,
}

impl Atr {
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            tr: TrueRange::default(),
            seen: 0,
            value: 0.0,
        }
    }
}

impl Indicator for Atr {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        let tr = self.tr.update(b)?;
        let n = self.n as f64;
        self.seen += 1;
        if self.seen < self.n {
            self.value += tr;
            return None;
        }
        self.value = if self.seen == self.n {
            (self.value + tr) / n
        } else {
            (self.value * (n - 1.0) + tr) / n
        };
        Some(self.value)
    }

    fn lookback(&self) -> usize {
        self.n
    }
}
