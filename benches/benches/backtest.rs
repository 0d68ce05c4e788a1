//! Backtest throughput on one core: EMA crossover (9/21) with stop-loss
//! and take-profit over six months of 1-minute candles (262,080 bars).
//! No real intraday candles are bundled, so the bars are a deterministic
//! synthetic random walk around BTC's price (said here, as the data README
//! asks).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use std::hint::black_box;
use tradingbot_backtest::engine::{Series, Settings, run};
use tradingbot_core::market::candle::Candle;
use tradingbot_core::templates;

const BARS: usize = 182 * 24 * 60;

/// xorshift64*: deterministic, dependency-free.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn minutes() -> Vec<Candle> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut price: i64 = 4_300_000; // cents
    (0..BARS)
        .map(|i| {
            let step = (next(&mut s) % 4001) as i64 - 2000;
            let open = price;
            let close = (open + step).max(100_000);
            let wick_up = (next(&mut s) % 1500) as i64;
            let wick_down = (next(&mut s) % 1500) as i64;
            price = close;
            Candle {
                time_ms: 1_700_000_000_000 + i as i64 * 60_000,
                open: Decimal::new(open, 2),
                high: Decimal::new(open.max(close) + wick_up, 2),
                low: Decimal::new(open.min(close) - wick_down, 2),
                close: Decimal::new(close, 2),
                volume: Decimal::ONE,
            }
        })
        .collect()
}

fn throughput(c: &mut Criterion) {
    let series = Series::new(minutes());
    let settings = Settings::defaults();
    let configured = templates::find("ema_crossover")
        .expect("template")
        .configure(&serde_json::Map::new())
        .expect("defaults");
    let once = run(&series, configured.rule(), &settings);
    println!(
        "{} bars, {} trades, final wallet {}",
        series.candles.len(),
        once.trades.len(),
        once.final_wallet.round_dp(2)
    );
    let mut g = c.benchmark_group("backtest");
    g.throughput(Throughput::Elements(series.candles.len() as u64));
    g.sample_size(20);
    g.bench_function("ema_crossover_sl_tp_6m_1m_bars", |b| {
        b.iter(|| black_box(run(&series, configured.rule(), &settings)))
    });
    g.finish();
}

/// A 16-combination sweep (fast 5..=12 × slow 21, 34) on the same bars,
/// on rayon pools of 1 and of every core: how the sweep scales.
fn sweep_scaling(c: &mut Criterion) {
    use tradingbot_backtest::sweep::{RankBy, combinations, parse_axis, sweep};
    let series = Series::new(minutes()[..BARS / 4].to_vec());
    let settings = Settings::defaults();
    let t = templates::find("ema_crossover").expect("template");
    let axes = [
        parse_axis(&t, "fast=5..12").expect("axis"),
        parse_axis(&t, "slow=21,34").expect("axis"),
    ];
    let combos = combinations(&serde_json::Map::new(), &axes).expect("combinations");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("sweep");
    g.throughput(Throughput::Elements(
        (combos.len() * series.candles.len()) as u64,
    ));
    g.sample_size(10);
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        g.bench_function(format!("16_combinations_65k_bars/{threads}_threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    black_box(sweep(
                        &series,
                        &t,
                        &combos,
                        &settings,
                        RankBy::Return,
                        &|_, _| {},
                    ))
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, throughput, sweep_scaling);
criterion_main!(benches);
