//! Support and resistance: pivot prices that cluster (within half an ATR
//! of each other) are one level; the more touches and the more recent,
//! the stronger. Trendlines: lines through two swing lows (or highs) that
//! no close crossed in between, with the pivots that touch them and the
//! bar where price broke through.

use super::pivots::{Pivot, PivotKind};
use crate::indicators::Bar;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LevelKind {
    Support,
    Resistance,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    pub price: f64,
    pub kind: LevelKind,
    pub touches: usize,
    pub first_index: usize,
    pub last_index: usize,
    /// 0–1: touches (saturating at five) and recency together.
    pub strength: f64,
}

/// Levels from `pivots`, strongest first; `tolerance` is the price
/// distance within which pivots count as the same level.
pub fn support_resistance(
    pivots: &[Pivot],
    last_close: f64,
    bars: usize,
    tolerance: f64,
) -> Vec<Level> {
    let mut sorted: Vec<&Pivot> = pivots.iter().collect();
    sorted.sort_by(|a, b| a.price.total_cmp(&b.price));
    let mut clusters: Vec<Vec<&Pivot>> = Vec::new();
    for p in sorted {
        match clusters.last_mut() {
            Some(c) if p.price - mean(c) <= tolerance => c.push(p),
            _ => clusters.push(vec![p]),
        }
    }
    let mut levels: Vec<Level> = clusters
        .into_iter()
        .filter(|c| c.len() >= 2)
        .map(|c| {
            let price = mean(&c);
            let last_index = c.iter().map(|p| p.index).max().unwrap_or(0);
            let recency = if bars > 1 {
                last_index as f64 / (bars - 1) as f64
            } else {
                1.0
            };
            let touch_score = (c.len() as f64 - 1.0).min(4.0) / 4.0;
            Level {
                price,
                kind: if price <= last_close {
                    LevelKind::Support
                } else {
                    LevelKind::Resistance
                },
                touches: c.len(),
                first_index: c.iter().map(|p| p.index).min().unwrap_or(0),
                last_index,
                strength: (0.7 * touch_score + 0.3 * recency).clamp(0.0, 1.0),
            }
        })
        .collect();
    levels.sort_by(|a, b| b.strength.total_cmp(&a.strength));
    levels
}

fn mean(c: &[&Pivot]) -> f64 {
    c.iter().map(|p| p.price).sum::<f64>() / c.len().max(1) as f64
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trendline {
    /// `support` through lows, `resistance` through highs.
    pub kind: LevelKind,
    pub start_index: usize,
    pub start_price: f64,
    pub end_index: usize,
    pub end_price: f64,
    /// Price change per bar.
    pub slope: f64,
    /// Pivots of its kind within tolerance of the line (at least the two
    /// that define it).
    pub touches: usize,
    /// The first bar after `end_index` that closed beyond the line.
    pub broken_at: Option<usize>,
    /// The line's value at the last bar.
    pub value_now: f64,
}

/// Swings of each kind that trendlines are drawn through: the recent
/// ones (older lines are history, and the search is quadratic).
const RECENT_SWINGS: usize = 24;

/// Trendlines through pairs of recent pivots of one kind (each with its
/// next three), most touches first, at most `keep`.
pub fn trendlines(bars: &[Bar], pivots: &[Pivot], tolerance: f64, keep: usize) -> Vec<Trendline> {
    let mut out = Vec::new();
    for kind in [PivotKind::Low, PivotKind::High] {
        let all: Vec<&Pivot> = pivots.iter().filter(|p| p.kind == kind).collect();
        let same = &all[all.len().saturating_sub(RECENT_SWINGS)..];
        for (ai, a) in same.iter().enumerate() {
            for b in same.iter().skip(ai + 1).take(3) {
                if let Some(t) = line(bars, same, a, b, kind, tolerance) {
                    out.push(t);
                }
            }
        }
    }
    out.sort_by(|a, b| {
        b.touches
            .cmp(&a.touches)
            .then(b.end_index.cmp(&a.end_index))
    });
    out.truncate(keep);
    out
}

fn line(
    bars: &[Bar],
    same: &[&Pivot],
    a: &Pivot,
    b: &Pivot,
    kind: PivotKind,
    tolerance: f64,
) -> Option<Trendline> {
    let slope = (b.price - a.price) / (b.index - a.index) as f64;
    let at = |i: usize| a.price + slope * (i as f64 - a.index as f64);
    // Support: no close below the line between its points; resistance: none above.
    let beyond = |i: usize, price: f64| match kind {
        PivotKind::Low => price < at(i) - tolerance,
        PivotKind::High => price > at(i) + tolerance,
    };
    if (a.index..=b.index).any(|i| beyond(i, bars[i].close)) {
        return None;
    }
    let touches = same
        .iter()
        .filter(|p| p.index >= a.index && (p.price - at(p.index)).abs() <= tolerance)
        .count();
    let broken_at = (b.index + 1..bars.len()).find(|&i| beyond(i, bars[i].close));
    let last = bars.len().saturating_sub(1);
    Some(Trendline {
        kind: match kind {
            PivotKind::Low => LevelKind::Support,
            PivotKind::High => LevelKind::Resistance,
        },
        start_index: a.index,
        start_price: a.price,
        end_index: b.index,
        end_price: b.price,
        slope,
        touches,
        broken_at,
        value_now: at(last),
    })
}
