//! The stochastic oscillator as TA-Lib's STOCH: fast %K over `k` bars,
//! slow %K its SMA over `k_smooth`, %D the SMA of slow %K over `d`.

use super::{Bar, Indicator, Sma, Window};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochValue {
    pub k: f64,
    pub d: f64,
}

#[derive(Debug, Clone)]
pub struct Stoch {
    k: usize,
    k_smooth: usize,
    d_n: usize,
    highs: Window,
    lows: Window,
    slow_k: Sma,
    d: Sma,
}

impl Stoch {
    pub fn new(k: usize, k_smooth: usize, d: usize) -> Self {
        let k = k.max(1);
        Self {
            k,
            k_smooth: k_smooth.max(1),
            d_n: d.max(1),
            highs: Window::new(k),
            lows: Window::new(k),
            slow_k: Sma::new(k_smooth),
            d: Sma::new(d),
        }
    }
}

impl Indicator for Stoch {
    type Input = Bar;
    type Output = StochValue;

    fn update(&mut self, b: Bar) -> Option<StochValue> {
        self.highs.push(b.high);
        self.lows.push(b.low);
        if !self.highs.is_full() {
            return None;
        }
        let hh = self.highs.iter().fold(f64::MIN, f64::max);
        let ll = self.lows.iter().fold(f64::MAX, f64::min);
        let range = hh - ll;
        let fast_k = if range > 0.0 {
            100.0 * (b.close - ll) / range
        } else {
            0.0
        };
        let k = self.slow_k.update(fast_k)?;
        let d = self.d.update(k)?;
        Some(StochValue { k, d })
    }

    fn lookback(&self) -> usize {
        (self.k - 1) + (self.k_smooth - 1) + (self.d_n - 1)
    }
}
