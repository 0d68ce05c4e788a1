//! Market analysis as mathematics: swing pivots, support and resistance,
//! trendlines, reversal patterns, volume by price, fractal measures and the
//! technical recommendation built from them. Statistics, so `f64`; pure, so
//! the API, the watch loop and the benchmarks all run the same code.

pub mod advice;
pub mod ensemble;
pub mod fractal;
pub mod levels;
pub mod patterns;
pub mod pivots;
pub mod volume;

use crate::indicators::Bar;
use serde::Serialize;

/// Parameters with the defaults the API uses.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub atr_len: usize,
    /// Pivots are confirmed by moves of this many ATRs.
    pub zigzag_atr: f64,
    /// Pivots within this many ATRs are one level.
    pub level_atr: f64,
    pub profile_bins: usize,
    /// Price width of a bin instead of a count (e.g. a multiple of the tick).
    pub profile_bin_width: Option<f64>,
    pub value_area: f64,
    pub spike_window: usize,
    pub spike_z: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            atr_len: 14,
            zigzag_atr: 2.0,
            level_atr: 0.5,
            profile_bins: 50,
            profile_bin_width: None,
            value_area: 0.7,
            spike_window: 20,
            spike_z: 3.0,
        }
    }
}

/// Everything computed over one series.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    #[serde(skip)]
    pub bars: Vec<Bar>,
    pub atr_now: f64,
    pub pivots: Vec<pivots::Pivot>,
    pub levels: Vec<levels::Level>,
    pub trendlines: Vec<levels::Trendline>,
    pub patterns: Vec<patterns::Pattern>,
    pub profile: Option<volume::VolumeProfile>,
    pub spikes: Vec<volume::Spike>,
    pub fractal: fractal::FractalAnalysis,
}

pub fn analyse(bars: &[Bar], s: &Settings) -> Analysis {
    let atr = pivots::atr_series(bars, s.atr_len);
    let atr_now = atr.last().copied().unwrap_or(0.0);
    let piv = pivots::zigzag(bars, &atr, s.zigzag_atr);
    let close = bars.last().map_or(0.0, |b| b.close);
    let tolerance = s.level_atr * atr_now;
    Analysis {
        levels: levels::support_resistance(&piv, close, bars.len(), tolerance),
        trendlines: levels::trendlines(bars, &piv, tolerance, 6),
        patterns: patterns::find(bars, &piv, &atr),
        profile: volume::profile(
            bars,
            match s.profile_bin_width {
                Some(w) => volume::Bins::Width(w),
                None => volume::Bins::Count(s.profile_bins),
            },
            s.value_area,
        ),
        spikes: volume::spikes(bars, s.spike_window, s.spike_z),
        fractal: fractal::analyse(bars),
        pivots: piv,
        atr_now,
        bars: bars.to_vec(),
    }
}
