//! Swing highs and lows by zig-zag: a pivot is confirmed once price has
//! moved away from it by a multiple of the ATR, so the threshold follows
//! the market's own volatility instead of a fixed percentage.

use crate::indicators::{Atr, Bar, Indicator};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PivotKind {
    High,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pivot {
    pub index: usize,
    pub price: f64,
    pub kind: PivotKind,
}

/// The ATR at each bar; before it warms up, the mean high-low range so
/// far (so the first bars still have a scale).
pub fn atr_series(bars: &[Bar], len: usize) -> Vec<f64> {
    let mut atr = Atr::new(len);
    let mut range_sum = 0.0;
    bars.iter()
        .enumerate()
        .map(|(i, b)| {
            range_sum += b.high - b.low;
            atr.update(*b).unwrap_or(range_sum / (i + 1) as f64)
        })
        .collect()
}

/// Alternating swing highs and lows, each confirmed when price moved
/// `mult` × ATR away from it. The last, unconfirmed extreme is not a pivot.
pub fn zigzag(bars: &[Bar], atr: &[f64], mult: f64) -> Vec<Pivot> {
    let mut out = Vec::new();
    let Some(first) = bars.first() else {
        return out;
    };
    // Direction: None until the first move decides it.
    let mut up: Option<bool> = None;
    let (mut hi, mut hi_i) = (first.high, 0);
    let (mut lo, mut lo_i) = (first.low, 0);
    for (i, b) in bars.iter().enumerate().skip(1) {
        let t = atr[i] * mult;
        match up {
            None => {
                if b.high > hi {
                    (hi, hi_i) = (b.high, i);
                }
                if b.low < lo {
                    (lo, lo_i) = (b.low, i);
                }
                if hi - b.low >= t && hi_i < i {
                    out.push(Pivot {
                        index: hi_i,
                        price: hi,
                        kind: PivotKind::High,
                    });
                    up = Some(false);
                    (lo, lo_i) = (b.low, i);
                } else if b.high - lo >= t && lo_i < i {
                    out.push(Pivot {
                        index: lo_i,
                        price: lo,
                        kind: PivotKind::Low,
                    });
                    up = Some(true);
                    (hi, hi_i) = (b.high, i);
                }
            }
            Some(true) => {
                if b.high > hi {
                    (hi, hi_i) = (b.high, i);
                } else if hi - b.low >= t {
                    out.push(Pivot {
                        index: hi_i,
                        price: hi,
                        kind: PivotKind::High,
                    });
                    up = Some(false);
                    (lo, lo_i) = (b.low, i);
                }
            }
            Some(false) => {
                if b.low < lo {
                    (lo, lo_i) = (b.low, i);
                } else if b.high - lo >= t {
                    out.push(Pivot {
                        index: lo_i,
                        price: lo,
                        kind: PivotKind::Low,
                    });
                    up = Some(true);
                    (hi, hi_i) = (b.high, i);
                }
            }
        }
    }
    out
}
