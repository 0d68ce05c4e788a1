//! Indicator updates per second: each streaming indicator fed the bundled
//! BTC daily closes (1,318 bars) again and again, so the figure is the
//! per-bar cost of the O(1) update live trading and the backtester pay.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tradingbot_core::indicators::*;
use tradingbot_core::market::candle::parse_daily_csv;

const CANDLES: &str = include_str!("../../assets/candles/btcusd_1d_bitstamp_2017-2020.csv");

fn bars() -> Vec<Bar> {
    let (candles, _) = parse_daily_csv(CANDLES).expect("bundled candles");
    candles.iter().map(Bar::from).collect()
}

fn run<I: Indicator + Clone>(c: &mut Criterion, name: &str, fresh: I, inputs: &[I::Input]) {
    let mut g = c.benchmark_group("indicator_update");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut ind = fresh.clone();
            for x in inputs {
                black_box(ind.update(*x));
            }
        })
    });
    g.finish();
}

fn indicators(c: &mut Criterion) {
    let bars = bars();
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    run(c, "sma20", Sma::new(20), &close);
    run(c, "ema21", Ema::new(21), &close);
    run(c, "wma20", Wma::new(20), &close);
    run(c, "rsi14", Rsi::new(14), &close);
    run(c, "macd_12_26_9", Macd::new(12, 26, 9), &close);
    run(c, "bbands20", BollingerBands::new(20, 2.0, 2.0), &close);
    run(c, "atr14", Atr::new(14), &bars);
    run(c, "stoch_5_3_3", Stoch::new(5, 3, 3), &bars);
    run(c, "supertrend_10_3", Supertrend::new(10, 3.0), &bars);
    run(c, "vwap_week", Vwap::new(VwapAnchor::Week), &bars);
}

criterion_group!(benches, indicators);
criterion_main!(benches);
