//! Moving averages: simple, exponential (SMA-seeded, as TA-Lib), weighted.

use super::{Indicator, Window};

/// Simple moving average of the last `n` values.
#[derive(Debug, Clone)]
pub struct Sma {
    n: usize,
    window: Window,
    sum: f64,
}

impl Sma {
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Self {
            n,
            window: Window::new(n),
            sum: 0.0,
        }
    }
}

impl Indicator for Sma {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, v: f64) -> Option<f64> {
        self.sum += v;
        if let Some(out) = self.window.push(v) {
            self.sum -= out;
        }
        self.window.is_full().then(|| self.sum / self.n as f64)
    }

    fn lookback(&self) -> usize {
        self.n - 1
    }
}

/// Exponential moving average, `k = 2 / (n + 1)`, seeded with the simple
/// average of the first `n` values (TA-Lib's default).
#[derive(Debug, Clone)]
pub struct Ema {
    n: usize,
    k: f64,
    seed: Sma,
    value: Option<f64>,
}

impl Ema {
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Self {
            n,
            k: 2.0 / (n as f64 + 1.0),
            seed: Sma::new(n),
            value: None,
        }
    }

    /// With Wilder's smoothing factor `1 / n` (RMA), as RSI and ATR use.
    pub fn wilder(n: usize) -> Self {
        let mut e = Self::new(n);
        e.k = 1.0 / e.n as f64;
        e
    }

    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

impl Indicator for Ema {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, v: f64) -> Option<f64> {
        self.value = match self.value {
            Some(prev) => Some((v - prev) * self.k + prev),
            None => self.seed.update(v),
        };
        self.value
    }

    fn lookback(&self) -> usize {
        self.n - 1
    }
}

/// Weighted moving average: weights 1 (oldest) to `n` (newest).
#[derive(Debug, Clone)]
pub struct Wma {
    n: usize,
    window: Window,
    sum: f64,
    weighted: f64,
    ready: bool,
}

impl Wma {
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Self {
            n,
            window: Window::new(n),
            sum: 0.0,
            weighted: 0.0,
            ready: false,
        }
    }
}

impl Indicator for Wma {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, v: f64) -> Option<f64> {
        let n = self.n as f64;
        let divider = n * (n + 1.0) / 2.0;
        if self.ready {
            // Every weight drops by one, the newest enters at `n`.
            self.weighted += n * v - self.sum;
            let out = self.window.push(v).unwrap_or(0.0);
            self.sum += v - out;
        } else {
            self.window.push(v);
            if self.window.is_full() {
                self.ready = true;
                self.sum = self.window.iter().sum();
                self.weighted = self
                    .window
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (i as f64 + 1.0) * x)
                    .sum();
            }
        }
        self.ready.then(|| self.weighted / divider)
    }

    fn lookback(&self) -> usize {
        self.n - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            Sma::new(3).batch(&xs),
            [None, None, Some(2.0), Some(3.0), Some(4.0)]
        );
        // Seed 2; then k = 0.5: 2 + (4 − 2)/2 = 3; 3 + (5 − 3)/2 = 4.
        assert_eq!(
            Ema::new(3).batch(&xs),
            [None, None, Some(2.0), Some(3.0), Some(4.0)]
        );
        // (1·1 + 2·2 + 3·3)/6 = 14/6; (2 + 6 + 12)/6 = 20/6; (3 + 8 + 15)/6 = 26/6.
        let w = Wma::new(3).batch(&xs);
        assert_eq!(w[..2], [None, None]);
        for (got, want) in w[2..].iter().zip([14.0 / 6.0, 20.0 / 6.0, 26.0 / 6.0]) {
            assert!((got.unwrap() - want).abs() < 1e-12);
        }
    }
}
