//! MACD as TA-Lib computes it: both averages start on the bar where the
//! slow one has its first value — the fast one seeded with the mean of the
//! `fast` values ending there, not at the series' start — and the signal
//! line is an SMA-seeded EMA of the MACD line.

use super::{Ema, Indicator, Window};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    pub macd: f64,
    pub signal: f64,
    pub histogram: f64,
}

#[derive(Debug, Clone)]
pub struct Macd {
    fast_n: usize,
    slow_n: usize,
    signal_n: usize,
    recent: Window,
    slow_seed: Window,
    fast: Option<f64>,
    slow: Option<f64>,
    signal: Ema,
}

impl Macd {
    /// `fast` and `slow` are swapped if given the wrong way round, as TA-Lib does.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        let (fast, slow) = if slow < fast {
            (slow, fast)
        } else {
            (fast, slow)
        };
        let (fast, slow) = (fast.max(1), slow.max(1));
        Self {
            fast_n: fast,
            slow_n: slow,
            signal_n: signal.max(1),
            recent: Window::new(fast),
            slow_seed: Window::new(slow),
            fast: None,
            slow: None,
            signal: Ema::new(signal.max(1)),
        }
    }
}

fn ema_step(prev: f64, v: f64, n: usize) -> f64 {
    let k = 2.0 / (n as f64 + 1.0);
    (v - prev) * k + prev
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdValue;

    fn update(&mut self, v: f64) -> Option<MacdValue> {
        let (fast, slow) = match (self.fast, self.slow) {
            (Some(f), Some(s)) => (ema_step(f, v, self.fast_n), ema_step(s, v, self.slow_n)),
            _ => {
                self.recent.push(v);
                self.slow_seed.push(v);
                if !self.slow_seed.is_full() {
                    return None;
                }
                let mean = |w: &Window| w.iter().sum::<f64>() / w.iter().count() as f64;
                (mean(&self.recent), mean(&self.slow_seed))
            }
        };
        self.fast = Some(fast);
        self.slow = Some(slow);
        let macd = fast - slow;
        let signal = self.signal.update(macd)?;
        Some(MacdValue {
            macd,
            signal,
            histogram: macd - signal,
        })
    }

    fn lookback(&self) -> usize {
        self.slow_n - 1 + self.signal_n - 1
    }
}
