//! Classic reversal patterns read off the zig-zag pivots: double top and
//! bottom, head and shoulders and its inverse. The rules are strict on
//! purpose (similar peaks, a real trough between them, comparable spacing)
//! so that noise rarely qualifies; each finding says where it is, its
//! neckline, whether price broke it, and a confidence in 0–1.

use super::pivots::{Pivot, PivotKind};
use crate::indicators::Bar;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    DoubleTop,
    DoubleBottom,
    HeadAndShoulders,
    InverseHeadAndShoulders,
}

impl PatternKind {
    /// Bearish patterns point down once confirmed.
    pub fn bearish(self) -> bool {
        matches!(self, Self::DoubleTop | Self::HeadAndShoulders)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pattern {
    pub kind: PatternKind,
    /// The pivots that make it, oldest first.
    pub points: Vec<Pivot>,
    /// The neckline at the last pivot (trough of a double top, the line
    /// through the shoulders' troughs of a head and shoulders).
    pub neckline: f64,
    /// Neckline change per bar (0 for double tops and bottoms).
    pub neckline_slope: f64,
    /// The first close beyond the neckline after the pattern.
    pub confirmed_at: Option<usize>,
    pub confidence: f64,
}

/// How alike two prices are, 1 when equal, 0 at `tol` apart.
fn alike(a: f64, b: f64, tol: f64) -> f64 {
    (1.0 - (a - b).abs() / tol).max(0.0)
}

/// Spacing of the two halves in bars should be comparable (ratio ≤ 2.5).
fn balanced(left: usize, right: usize) -> Option<f64> {
    let (l, r) = (left.max(1) as f64, right.max(1) as f64);
    let ratio = l.max(r) / l.min(r);
    (ratio <= 2.5).then(|| 1.0 - (ratio - 1.0) / 3.0)
}

/// Kaufman's efficiency of the closes over the legs between consecutive
/// pivots, averaged: 1 for straight swings, well under it for noise (0.9
/// and above counts fully, 0.5 and below not at all). Clear
/// patterns are made of swings that dominate the noise around them.
fn clarity(bars: &[Bar], points: &[Pivot]) -> f64 {
    let legs: Vec<f64> = points
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0].index, w[1].index);
            let path: f64 = (a..b)
                .map(|i| (bars[i + 1].close - bars[i].close).abs())
                .sum();
            if path > 0.0 {
                (bars[b].close - bars[a].close).abs() / path
            } else {
                0.0
            }
        })
        .collect();
    let er = legs.iter().sum::<f64>() / legs.len().max(1) as f64;
    ((er - 0.5) / 0.4).clamp(0.0, 1.0)
}

fn first_close_beyond(
    bars: &[Bar],
    from: usize,
    line: impl Fn(usize) -> f64,
    below: bool,
) -> Option<usize> {
    (from + 1..bars.len()).find(|&i| {
        let c = bars[i].close;
        if below { c < line(i) } else { c > line(i) }
    })
}

/// Finds the patterns among `pivots`; `atr` is the series' volatility
/// scale (the ATR at each bar).
pub fn find(bars: &[Bar], pivots: &[Pivot], atr: &[f64]) -> Vec<Pattern> {
    let mut out = Vec::new();
    for w in pivots.windows(3) {
        let (p1, t, p2) = (w[0], w[1], w[2]);
        let scale = atr[p2.index].max(f64::EPSILON);
        let top = p1.kind == PivotKind::High;
        let depth = if top {
            p1.price.min(p2.price) - t.price
        } else {
            t.price - p1.price.max(p2.price)
        };
        // Peaks within one ATR, a trough at least three ATRs deep.
        let same = alike(p1.price, p2.price, scale);
        if same <= 0.0 || depth < 3.0 * scale || p2.index - p1.index < 6 {
            continue;
        }
        let Some(balance) = balanced(t.index - p1.index, p2.index - t.index) else {
            continue;
        };
        let confirmed_at = first_close_beyond(bars, p2.index, |_| t.price, top);
        let depth_score = ((depth / scale - 3.0) / 5.0).clamp(0.0, 1.0);
        let confidence = (0.35 * same
            + 0.25 * balance
            + 0.2 * depth_score
            + if confirmed_at.is_some() { 0.2 } else { 0.0 })
            * clarity(bars, w);
        out.push(Pattern {
            kind: if top {
                PatternKind::DoubleTop
            } else {
                PatternKind::DoubleBottom
            },
            points: w.to_vec(),
            neckline: t.price,
            neckline_slope: 0.0,
            confirmed_at,
            confidence,
        });
    }
    for w in pivots.windows(5) {
        let (s1, t1, h, t2, s2) = (w[0], w[1], w[2], w[3], w[4]);
        let scale = atr[s2.index].max(f64::EPSILON);
        let top = s1.kind == PivotKind::High;
        let sign = if top { 1.0 } else { -1.0 };
        // The head stands out from both shoulders by two ATRs or more.
        let prominence = sign
            * (h.price
                - if top {
                    s1.price.max(s2.price)
                } else {
                    s1.price.min(s2.price)
                });
        let shoulders = alike(s1.price, s2.price, 1.5 * scale);
        if prominence < 2.0 * scale || shoulders <= 0.0 {
            continue;
        }
        // The shoulders rise above the neckline, too.
        let slope = (t2.price - t1.price) / (t2.index - t1.index).max(1) as f64;
        let neck = |i: usize| t1.price + slope * (i as f64 - t1.index as f64);
        if sign * (s1.price - neck(s1.index)) < 1.5 * scale
            || sign * (s2.price - neck(s2.index)) < 1.5 * scale
        {
            continue;
        }
        // A neckline that is not too steep: under one ATR per ten bars.
        if slope.abs() > scale / 10.0 {
            continue;
        }
        let Some(balance) = balanced(h.index - s1.index, s2.index - h.index) else {
            continue;
        };
        let confirmed_at = first_close_beyond(bars, s2.index, neck, top);
        let head_score = ((prominence / scale - 2.0) / 4.0).clamp(0.0, 1.0);
        let confidence = (0.3 * shoulders
            + 0.25 * balance
            + 0.25 * head_score
            + if confirmed_at.is_some() { 0.2 } else { 0.0 })
            * clarity(bars, w);
        out.push(Pattern {
            kind: if top {
                PatternKind::HeadAndShoulders
            } else {
                PatternKind::InverseHeadAndShoulders
            },
            points: w.to_vec(),
            neckline: neck(s2.index),
            neckline_slope: slope,
            confirmed_at,
            confidence,
        });
    }
    out.sort_by_key(|p| p.points.last().map_or(0, |x| x.index));
    out
}
