//! Wilder's relative strength index.

use super::Indicator;

/// RSI over `n` changes: the first averages are simple means of the first
/// `n` gains and losses, then Wilder-smoothed (`(prev·(n−1) + x) / n`).
/// 0 when nothing moved at all.
#[derive(Debug, Clone)]
pub struct Rsi {
    n: usize,
    prev: Option<f64>,
    seen: usize,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            prev: None,
            seen: 0,
            gain: 0.0,
            loss: 0.0,
        }
    }
}

impl Indicator for Rsi {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, v: f64) -> Option<f64> {
        let prev = self.prev.replace(v)?;
        let change = v - prev;
        let (g, l) = if change > 0.0 {
            (change, 0.0)
        } else {
            (0.0, -change)
        };
        let n = self.n as f64;
        self.seen += 1;
        if self.seen < self.n {
            self.gain += g;
            self.loss += l;
            return None;
        }
        if self.seen == self.n {
            self.gain = (self.gain + g) / n;
            self.loss = (self.loss + l) / n;
        } else {
            self.gain = (self.gain * (n - 1.0) + g) / n;
            self.loss = (self.loss * (n - 1.0) + l) / n;
        }
        let total = self.gain + self.loss;
        Some(if total == 0.0 {
            0.0
        } else {
            100.0 * self.gain / total
        })
    }

    fn lookback(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // Changes +1, −1, +2 over n = 2: first gains (1 + 0)/2, losses
        // (0 + 1)/2 → 50; then gain (0.5 + 2)/2 = 1.25, loss 0.5/2 = 0.25
        // → 100·1.25/1.5.
        let r = Rsi::new(2).batch(&[10.0, 11.0, 10.0, 12.0]);
        assert_eq!(r[..2], [None, None]);
        assert_eq!(r[2], Some(50.0));
        assert!((r[3].unwrap() - 100.0 * 1.25 / 1.5).abs() < 1e-12);
        assert_eq!(Rsi::new(2).batch(&[5.0, 5.0, 5.0])[2], Some(0.0));
    }
}
