//! Where a full analysis spends its time (release build):
//! `cargo run --release -p tradingbot-core --example analysis_timing`.

use std::time::Instant;
use tradingbot_core::analysis::{fractal, levels, patterns, pivots, volume};
use tradingbot_core::indicators::Bar;

fn main() {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut price = 43_000.0;
    let bars: Vec<Bar> = (0..10_000)
        .map(|i| {
            let step = ((next() % 2001) as f64 - 1000.0) / 10.0;
            let open: f64 = price;
            let close = (open + step).max(1000.0);
            price = close;
            Bar {
                time_ms: i,
                open,
                high: open.max(close) + (next() % 400) as f64 / 10.0,
                low: open.min(close) - (next() % 400) as f64 / 10.0,
                close,
                volume: 10.0 + (next() % 1000) as f64,
            }
        })
        .collect();
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let r = fractal::log_returns(&closes);
    let time = |name: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..20 {
            f();
        }
        println!(
            "{name:<16} {:>8.3} ms",
            t.elapsed().as_secs_f64() * 1000.0 / 20.0
        );
    };
    let atr = pivots::atr_series(&bars, 14);
    let piv = pivots::zigzag(&bars, &atr, 2.0);
    time("atr+zigzag", &mut || {
        let a = pivots::atr_series(&bars, 14);
        std::hint::black_box(pivots::zigzag(&bars, &a, 2.0));
    });
    time("levels", &mut || {
        std::hint::black_box(levels::support_resistance(&piv, 1.0, bars.len(), 10.0));
    });
    time("trendlines", &mut || {
        std::hint::black_box(levels::trendlines(&bars, &piv, 10.0, 6));
    });
    time("patterns", &mut || {
        std::hint::black_box(patterns::find(&bars, &piv, &atr));
    });
    time("profile", &mut || {
        std::hint::black_box(volume::profile(&bars, volume::Bins::Count(50), 0.7));
    });
    time("spikes", &mut || {
        std::hint::black_box(volume::spikes(&bars, 20, 3.0));
    });
    time("williams", &mut || {
        std::hint::black_box(fractal::williams(&bars));
    });
    time("hurst_rs", &mut || {
        std::hint::black_box(fractal::hurst_rs(&r));
    });
    time("hurst_dfa", &mut || {
        std::hint::black_box(fractal::hurst_dfa(&r));
    });
    time("higuchi", &mut || {
        std::hint::black_box(fractal::higuchi(&closes, 10));
    });
    time("katz", &mut || {
        std::hint::black_box(fractal::katz(&closes));
    });
    time("self_similarity", &mut || {
        std::hint::black_box(fractal::self_similarity(&closes));
    });
}
