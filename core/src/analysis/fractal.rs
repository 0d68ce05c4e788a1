//! Fractal behaviour of a price series: Williams fractals (local swing
//! marks), the Hurst exponent two ways (rescaled range with the
//! Anis–Lloyd–Peters small-sample correction, and detrended fluctuation
//! analysis), the fractal dimension two ways (Higuchi, Katz), whether the
//! series looks alike across timeframes, and a regime label from the
//! estimates.

use crate::indicators::Bar;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FractalKind {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WilliamsFractal {
    pub index: usize,
    pub kind: FractalKind,
    pub price: f64,
}

/// Bill Williams' fractals: a high above the two highs on each side (up),
/// a low below the two lows on each side (down). The last two bars cannot
/// be judged yet.
pub fn williams(bars: &[Bar]) -> Vec<WilliamsFractal> {
    let mut out = Vec::new();
    for i in 2..bars.len().saturating_sub(2) {
        let around = [i - 2, i - 1, i + 1, i + 2];
        if around.iter().all(|&j| bars[i].high > bars[j].high) {
            out.push(WilliamsFractal {
                index: i,
                kind: FractalKind::Up,
                price: bars[i].high,
            });
        }
        if around.iter().all(|&j| bars[i].low < bars[j].low) {
            out.push(WilliamsFractal {
                index: i,
                kind: FractalKind::Down,
                price: bars[i].low,
            });
        }
    }
    out
}

/// Least-squares slope of `y` on `x`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

/// Window sizes from `min` up to `len / 4`, spaced evenly in log scale.
fn scales(len: usize, min: usize) -> Vec<usize> {
    let max = len / 4;
    let mut out = Vec::new();
    let mut s = min as f64;
    while (s as usize) <= max {
        let v = s as usize;
        if out.last() != Some(&v) {
            out.push(v);
        }
        s *= 1.25;
    }
    out
}

/// The rescaled range of one chunk.
fn rescaled_range(x: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let (mut cum, mut lo, mut hi, mut sq) = (0.0f64, 0.0f64, 0.0f64, 0.0);
    for v in x {
        cum += v - mean;
        lo = lo.min(cum);
        hi = hi.max(cum);
        sq += (v - mean) * (v - mean);
    }
    let sd = (sq / n).sqrt();
    (sd > 0.0).then(|| (hi - lo) / sd)
}

/// Anis–Lloyd's expected R/S of independent increments, with Peters'
/// factor: what R/S would be at `n` with H = 0.5.
fn expected_rs(n: usize) -> f64 {
    let nf = n as f64;
    let sum: f64 = (1..n).map(|i| ((nf - i as f64) / i as f64).sqrt()).sum();
    let front = if n <= 340 {
        let g = gamma_ratio(nf);
        g / std::f64::consts::PI.sqrt()
    } else {
        1.0 / (nf * std::f64::consts::FRAC_PI_2).sqrt()
    };
    ((nf - 0.5) / nf) * front * sum
}

/// Γ((n−1)/2) / Γ(n/2), by logs.
fn gamma_ratio(n: f64) -> f64 {
    (ln_gamma((n - 1.0) / 2.0) - ln_gamma(n / 2.0)).exp()
}

/// Lanczos' approximation of ln Γ(x), x > 0.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = G
        .iter()
        .enumerate()
        .skip(1)
        .fold(G[0], |a, (i, g)| a + g / (x + i as f64));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Hurst exponent of increments `x` (e.g. log returns) by corrected
/// rescaled range: 0.5 plus the slope of log(R/S − E[R/S]) — the
/// Anis–Lloyd–Peters form — over chunk sizes from 8.
pub fn hurst_rs(x: &[f64]) -> Option<f64> {
    let mut points = Vec::new();
    for n in scales(x.len(), 8) {
        let chunks: Vec<f64> = x.chunks_exact(n).filter_map(rescaled_range).collect();
        if chunks.is_empty() {
            continue;
        }
        let rs = chunks.iter().sum::<f64>() / chunks.len() as f64;
        points.push(((n as f64).ln(), rs.ln() - expected_rs(n).ln()));
    }
    slope(&points).map(|s| s + 0.5)
}

/// Hurst exponent of increments `x` by detrended fluctuation analysis
/// (DFA-1): the profile's root-mean-square deviation from a straight
/// line fitted in each box grows as box size^H. Each box's fit comes from
/// prefix sums in O(1), so every scale costs only its number of boxes.
pub fn hurst_dfa(x: &[f64]) -> Option<f64> {
    if x.len() < 32 {
        return None;
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let len = x.len();
    // Prefix sums of the profile y, y² and t·y.
    let (mut s1, mut s2, mut s3) = (vec![0.0; len + 1], vec![0.0; len + 1], vec![0.0; len + 1]);
    let mut y = 0.0;
    for (t, v) in x.iter().enumerate() {
        y += v - mean;
        s1[t + 1] = s1[t] + y;
        s2[t + 1] = s2[t] + y * y;
        s3[t + 1] = s3[t] + t as f64 * y;
    }
    let residual = |s: usize, n: usize| {
        let nf = n as f64;
        let sy = s1[s + n] - s1[s];
        let syy = s2[s + n] - s2[s];
        let sxy = (s3[s + n] - s3[s]) - s as f64 * sy;
        let mx = (nf - 1.0) / 2.0;
        let sxx = nf * (nf * nf - 1.0) / 12.0;
        let cov = sxy - mx * sy;
        ((syy - sy * sy / nf) - cov * cov / sxx).max(0.0) / nf
    };
    let mut points = Vec::new();
    for n in scales(len, 8) {
        let boxes = len / n;
        // Boxes from both ends, so the tail is used too.
        let total: f64 = (0..boxes)
            .map(|k| residual(k * n, n) + residual(len - (k + 1) * n, n))
            .sum();
        if total > 0.0 {
            points.push(((n as f64).ln(), 0.5 * (total / (2 * boxes) as f64).ln()));
        }
    }
    slope(&points)
}

/// Higuchi's fractal dimension of a series (1 for a smooth curve, 2 for
/// one that fills the plane; 2 − H for fractional Brownian motion).
pub fn higuchi(x: &[f64], k_max: usize) -> Option<f64> {
    let n = x.len();
    if n < 2 * k_max.max(2) {
        return None;
    }
    let mut points = Vec::new();
    for k in 1..=k_max {
        let mut lk = 0.0;
        let mut count = 0;
        for m in 0..k {
            let steps = (n - 1 - m) / k;
            if steps == 0 {
                continue;
            }
            let length: f64 = (1..=steps)
                .map(|i| (x[m + i * k] - x[m + (i - 1) * k]).abs())
                .sum();
            lk += length * (n - 1) as f64 / (steps * k) as f64 / k as f64;
            count += 1;
        }
        if count > 0 && lk > 0.0 {
            points.push(((1.0 / k as f64).ln(), (lk / count as f64).ln()));
        }
    }
    slope(&points)
}

/// Katz's fractal dimension: log(n) / (log(n) + log(d / L)), with L the
/// curve's length and d its largest distance from the first point, in
/// units of the mean step (so the price scale does not matter).
pub fn katz(x: &[f64]) -> Option<f64> {
    if x.len() < 3 {
        return None;
    }
    let steps: Vec<f64> = x.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let mean_step = steps.iter().sum::<f64>() / steps.len() as f64;
    if mean_step <= 0.0 {
        return Some(1.0);
    }
    let length: f64 = steps
        .iter()
        .map(|s| (1.0 + (s / mean_step).powi(2)).sqrt())
        .sum();
    let d = x
        .iter()
        .enumerate()
        .map(|(i, v)| ((i as f64).powi(2) + ((v - x[0]) / mean_step).powi(2)).sqrt())
        .fold(0.0, f64::max);
    let n = steps.len() as f64;
    Some(n.log10() / (n.log10() + (d / length).log10()))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeframe {
    /// Bars of the original series per bar here.
    pub factor: usize,
    pub bars: usize,
    pub hurst_dfa: Option<f64>,
    /// Standard deviation of log returns at this timeframe.
    pub volatility: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfSimilarity {
    pub timeframes: Vec<Timeframe>,
    /// Slope of log volatility on log factor: H for a self-similar series.
    pub scaling_exponent: Option<f64>,
    /// 1 when every timeframe shows the same Hurst exponent, falling to 0
    /// as they spread (standard deviation 0.25 or more).
    pub similarity: Option<f64>,
}

/// The series resampled by 1, 2, 4, 8 and 16 (closes every `factor` bars)
/// and compared.
pub fn self_similarity(closes: &[f64]) -> SelfSimilarity {
    let mut timeframes = Vec::new();
    for factor in [1usize, 2, 4, 8, 16] {
        let sampled: Vec<f64> = closes.iter().step_by(factor).copied().collect();
        let r = log_returns(&sampled);
        if r.len() < 32 {
            break;
        }
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let vol = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
        timeframes.push(Timeframe {
            factor,
            bars: sampled.len(),
            hurst_dfa: hurst_dfa(&r),
            volatility: vol,
        });
    }
    let points: Vec<(f64, f64)> = timeframes
        .iter()
        .filter(|t| t.volatility > 0.0)
        .map(|t| ((t.factor as f64).ln(), t.volatility.ln()))
        .collect();
    let hs: Vec<f64> = timeframes.iter().filter_map(|t| t.hurst_dfa).collect();
    let similarity = (hs.len() >= 2).then(|| {
        let m = hs.iter().sum::<f64>() / hs.len() as f64;
        let sd = (hs.iter().map(|h| (h - m).powi(2)).sum::<f64>() / hs.len() as f64).sqrt();
        (1.0 - sd / 0.25).clamp(0.0, 1.0)
    });
    SelfSimilarity {
        scaling_exponent: slope(&points),
        timeframes,
        similarity,
    }
}

pub fn log_returns(closes: &[f64]) -> Vec<f64> {
    closes
        .windows(2)
        .filter(|w| w[0] > 0.0 && w[1] > 0.0)
        .map(|w| (w[1] / w[0]).ln())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    Trending,
    MeanReverting,
    RandomWalk,
}

/// The regime a Hurst exponent points to: above 0.55 persistent
/// (trending), below 0.45 anti-persistent (mean-reverting), between a
/// random walk; with a confidence growing with the distance from 0.5.
pub fn regime(h: f64) -> (Regime, f64) {
    let d = h - 0.5;
    let label = if d > 0.05 {
        Regime::Trending
    } else if d < -0.05 {
        Regime::MeanReverting
    } else {
        Regime::RandomWalk
    };
    let confidence = match label {
        Regime::RandomWalk => 1.0 - d.abs() / 0.05 * 0.5,
        _ => (0.5 + (d.abs() - 0.05) / 0.2 * 0.5).min(1.0),
    };
    (label, confidence.clamp(0.0, 1.0))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FractalAnalysis {
    pub williams: Vec<WilliamsFractal>,
    pub hurst_rs: Option<f64>,
    pub hurst_dfa: Option<f64>,
    /// Of the closes.
    pub higuchi_dimension: Option<f64>,
    pub katz_dimension: Option<f64>,
    pub self_similarity: SelfSimilarity,
    pub regime: Regime,
    pub regime_confidence: f64,
}

pub fn analyse(bars: &[Bar]) -> FractalAnalysis {
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let r = log_returns(&closes);
    let (h_rs, h_dfa) = (hurst_rs(&r), hurst_dfa(&r));
    let h = match (h_rs, h_dfa) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0.5,
    };
    let (regime, confidence) = regime(h);
    FractalAnalysis {
        williams: williams(bars),
        hurst_rs: h_rs,
        hurst_dfa: h_dfa,
        higuchi_dimension: higuchi(&closes, 10),
        katz_dimension: katz(&closes),
        self_similarity: self_similarity(&closes),
        regime,
        regime_confidence: if h_rs.is_none() && h_dfa.is_none() {
            0.0
        } else {
            confidence
        },
    }
}
