//! Volume by price: each bar's volume spread evenly over the part of its
//! high–low range that falls in each price bin; the point of control is
//! the fullest bin; the value area grows from it two bins at a time toward
//! the side with more volume (the CBOT market-profile rule) until it holds
//! the chosen share of all volume. Spikes: bars whose volume is far above
//! the recent ones (z-score over the previous `window` bars).

use crate::indicators::Bar;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bins {
    /// This many bins between the lowest low and the highest high.
    Count(usize),
    /// Bins this wide (e.g. the tick size times a multiple).
    Width(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub low: f64,
    pub high: f64,
    pub volume: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeProfile {
    pub bins: Vec<Bin>,
    pub total_volume: f64,
    /// Index of the point of control in `bins`.
    pub poc_index: usize,
    /// The middle of the point of control's bin.
    pub poc_price: f64,
    pub value_area_low: f64,
    pub value_area_high: f64,
    /// The share of volume the value area actually holds (≥ the target).
    pub value_area_share: f64,
    /// Bins that are local peaks well above the average (high volume nodes).
    pub high_volume_nodes: Vec<usize>,
    /// Bins that are local troughs well below it (low volume nodes).
    pub low_volume_nodes: Vec<usize>,
}

/// At most this many bins, whatever the width asked.
pub const MAX_BINS: usize = 10_000;

pub fn profile(bars: &[Bar], bins: Bins, value_area: f64) -> Option<VolumeProfile> {
    let lo = bars.iter().map(|b| b.low).fold(f64::INFINITY, f64::min);
    let hi = bars
        .iter()
        .map(|b| b.high)
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() || hi < lo {
        return None;
    }
    let (n, width) = match bins {
        Bins::Count(n) => {
            let n = n.clamp(1, MAX_BINS);
            (n, ((hi - lo) / n as f64).max(f64::MIN_POSITIVE))
        }
        Bins::Width(w) if w > 0.0 => {
            let n = (((hi - lo) / w).floor() as usize + 1).min(MAX_BINS);
            (n, w)
        }
        Bins::Width(_) => return None,
    };
    let mut vol = vec![0.0; n];
    let bin_of = |p: f64| (((p - lo) / width).floor() as usize).min(n - 1);
    for b in bars {
        if b.volume.is_nan() || b.volume <= 0.0 {
            continue;
        }
        let range = b.high - b.low;
        if range <= 0.0 {
            vol[bin_of(b.close)] += b.volume;
            continue;
        }
        let (first, last) = (bin_of(b.low), bin_of(b.high));
        for (i, v) in vol.iter_mut().enumerate().take(last + 1).skip(first) {
            let bin_lo = lo + i as f64 * width;
            let bin_hi = if i == n - 1 {
                hi.max(bin_lo + width)
            } else {
                bin_lo + width
            };
            let overlap = b.high.min(bin_hi) - b.low.max(bin_lo);
            if overlap > 0.0 {
                *v += b.volume * overlap / range;
            }
        }
    }
    let total: f64 = vol.iter().sum();
    let poc = vol
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(i, _)| i);
    let (va_lo, va_hi, share) = value_area_of(&vol, poc, value_area);
    let bins: Vec<Bin> = vol
        .iter()
        .enumerate()
        .map(|(i, v)| Bin {
            low: lo + i as f64 * width,
            high: lo + (i + 1) as f64 * width,
            volume: *v,
        })
        .collect();
    let (hvn, lvn) = nodes(&vol);
    Some(VolumeProfile {
        poc_price: (bins[poc].low + bins[poc].high) / 2.0,
        value_area_low: bins[va_lo].low,
        value_area_high: bins[va_hi].high,
        value_area_share: share,
        bins,
        total_volume: total,
        poc_index: poc,
        high_volume_nodes: hvn,
        low_volume_nodes: lvn,
    })
}

/// The value area's first and last bin and its share of the volume.
fn value_area_of(vol: &[f64], poc: usize, target: f64) -> (usize, usize, f64) {
    let total: f64 = vol.iter().sum();
    if total <= 0.0 {
        return (poc, poc, 0.0);
    }
    let (mut lo, mut hi) = (poc, poc);
    let mut inside = vol[poc];
    while inside / total < target && (lo > 0 || hi + 1 < vol.len()) {
        let up: f64 = vol.iter().skip(hi + 1).take(2).sum();
        let down: f64 = vol[lo.saturating_sub(2)..lo].iter().sum();
        let can_up = hi + 1 < vol.len();
        let can_down = lo > 0;
        if can_up && (!can_down || up >= down) {
            let add = (vol.len() - 1 - hi).min(2);
            hi += add;
            inside += up;
        } else {
            let add = lo.min(2);
            lo -= add;
            inside += down;
        }
    }
    (lo, hi, inside / total)
}

/// Local peaks above 1.5× the mean bin and troughs under half of it,
/// on the volumes smoothed over three bins.
fn nodes(vol: &[f64]) -> (Vec<usize>, Vec<usize>) {
    let n = vol.len();
    if n < 3 {
        return (Vec::new(), Vec::new());
    }
    let mean = vol.iter().sum::<f64>() / n as f64;
    let smooth: Vec<f64> = (0..n)
        .map(|i| {
            let a = i.saturating_sub(1);
            let b = (i + 1).min(n - 1);
            vol[a..=b].iter().sum::<f64>() / (b - a + 1) as f64
        })
        .collect();
    let (mut hvn, mut lvn) = (Vec::new(), Vec::new());
    for i in 1..n - 1 {
        let (l, c, r) = (smooth[i - 1], smooth[i], smooth[i + 1]);
        if c >= l && c >= r && (c > l || c > r) && c > 1.5 * mean {
            hvn.push(i);
        }
        if c <= l && c <= r && (c < l || c < r) && c < 0.5 * mean {
            lvn.push(i);
        }
    }
    (hvn, lvn)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spike {
    pub index: usize,
    pub volume: f64,
    /// Standard deviations above the previous `window` bars' mean.
    pub z: f64,
}

/// Bars whose volume is `z` or more standard deviations above the mean of
/// the `window` bars before them.
pub fn spikes(bars: &[Bar], window: usize, z: f64) -> Vec<Spike> {
    let window = window.max(2);
    let mut out = Vec::new();
    let (mut sum, mut sq) = (0.0, 0.0);
    for (i, b) in bars.iter().enumerate() {
        if i >= window {
            let n = window as f64;
            let mean = sum / n;
            let sd = (sq / n - mean * mean).max(0.0).sqrt();
            if sd > 0.0 {
                let score = (b.volume - mean) / sd;
                if score >= z {
                    out.push(Spike {
                        index: i,
                        volume: b.volume,
                        z: score,
                    });
                }
            }
            let old = bars[i - window].volume;
            sum -= old;
            sq -= old * old;
        }
        sum += b.volume;
        sq += b.volume * b.volume;
    }
    out
}
