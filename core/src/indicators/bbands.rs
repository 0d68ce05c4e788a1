//! Bollinger Bands: SMA middle, population standard deviation (TA-Lib's:
//! mean of squares minus square of mean).

use super::{Indicator, Window};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandsValue {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

#[derive(Debug, Clone)]
pub struct BollingerBands {
    n: usize,
    k_up: f64,
    k_down: f64,
    window: Window,
    sum: f64,
    sum_sq: f64,
}

impl BollingerBands {
    pub fn new(n: usize, k_up: f64, k_down: f64) -> Self {
        let n = n.max(1);
        Self {
            n,
            k_up,
            k_down,
            window: Window::new(n),
            sum: 0.0,
            sum_sq: 0.0,
        }
    }
}

impl Indicator for BollingerBands {
    type Input = f64;
    type Output = BandsValue;

    fn update(&mut self, v: f64) -> Option<BandsValue> {
        self.sum += v;
        self.sum_sq += v * v;
        if let Some(out) = self.window.push(v) {
            self.sum -= out;
            self.sum_sq -= out * out;
        }
        if !self.window.is_full() {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let var = self.sum_sq / n - mean * mean;
        let sd = if var > 1e-14 { var.sqrt() } else { 0.0 };
        Some(BandsValue {
            upper: mean + self.k_up * sd,
            middle: mean,
            lower: mean - self.k_down * sd,
        })
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
        // 2, 4, 6: mean 4, population variance 8/3.
        let b = BollingerBands::new(3, 2.0, 2.0).batch(&[2.0, 4.0, 6.0]);
        let v = b[2].unwrap();
        let sd = (8.0f64 / 3.0).sqrt();
        assert!((v.middle - 4.0).abs() < 1e-12);
        assert!((v.upper - (4.0 + 2.0 * sd)).abs() < 1e-12);
        assert!((v.lower - (4.0 - 2.0 * sd)).abs() < 1e-12);
    }
}
