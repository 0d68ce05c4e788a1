//! Full market analysis (pivots, levels, trendlines, patterns, volume
//! profile and spikes, Williams fractals, Hurst by R/S and DFA, Higuchi and
//! Katz dimensions, self-similarity) of 10,000 candles on one core. The
//! candles are a deterministic random walk around BTC's price.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tradingbot_core::analysis::{Settings, analyse};
use tradingbot_core::indicators::Bar;

fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn walk(n: usize) -> Vec<Bar> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut price = 43_000.0;
    (0..n)
        .map(|i| {
            let step = ((next(&mut s) % 2001) as f64 - 1000.0) / 10.0;
            let open = price;
            let close = (open + step).max(1000.0);
            price = close;
            let wick = |s: &mut u64| (next(s) % 400) as f64 / 10.0;
            Bar {
                time_ms: i as i64 * 3_600_000,
                open,
                high: open.max(close) + wick(&mut s),
                low: open.min(close) - wick(&mut s),
                close,
                volume: 10.0 + (next(&mut s) % 1000) as f64,
            }
        })
        .collect()
}

fn full(c: &mut Criterion) {
    let bars = walk(10_000);
    let settings = Settings::default();
    let once = analyse(&bars, &settings);
    println!(
        "10,000 bars: {} pivots, {} levels, {} patterns, Hurst DFA {:?}",
        once.pivots.len(),
        once.levels.len(),
        once.patterns.len(),
        once.fractal.hurst_dfa
    );
    let mut g = c.benchmark_group("analysis");
    g.throughput(Throughput::Elements(bars.len() as u64));
    g.bench_function("full_10k_candles", |b| {
        b.iter(|| black_box(analyse(&bars, &settings)))
    });
    g.finish();
}

criterion_group!(benches, full);
criterion_main!(benches);
