//! Each template's signals at its defaults equal those computed
//! independently (TA-Lib's indicators, the crossing logic written again in
//! Python) on the bundled BTC daily candles — `scripts/indicator_fixtures.py`.

use serde_json::json;
use tradingbot_core::indicators::Bar;
use tradingbot_core::market::candle::parse_daily_csv;
use tradingbot_core::templates::{self, Signal};

const CANDLES: &str = include_str!("../../assets/candles/btcusd_1d_bitstamp_2017-2020.csv");
const FIXTURE: &str = include_str!("fixtures/template_signals_btcusd_1d.csv");

fn reference(column: &str) -> Vec<Option<Signal>> {
    let mut lines = FIXTURE.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| match l.split(',').nth(i).unwrap_or("") {
            "long" => Some(Signal::Long),
            "short" => Some(Signal::Short),
            _ => None,
        })
        .collect()
}

fn ours(id: &str, params: serde_json::Value) -> Vec<Option<Signal>> {
    let (candles, _) = parse_daily_csv(CANDLES).unwrap();
    let bars: Vec<Bar> = candles.iter().map(Bar::from).collect();
    let t = templates::find(id).unwrap();
    let c = t.configure(params.as_object().unwrap()).unwrap();
    c.rule().signals(&bars)
}

fn same(name: &str, a: &[Option<Signal>], b: &[Option<Signal>]) {
    assert_eq!(a.len(), b.len());
    let differ: Vec<usize> = (0..a.len()).filter(|i| a[*i] != b[*i]).collect();
    assert!(differ.is_empty(), "{name}: bars {differ:?} differ");
    assert!(
        a.iter().flatten().count() > 10,
        "{name}: hardly any signals"
    );
}

#[test]
fn every_template_signals_what_the_reference_computes() {
    same(
        "ema_crossover",
        &ours("ema_crossover", json!({})),
        &reference("sig_ema_crossover"),
    );
    same(
        "rsi_reversal",
        &ours("rsi_reversal", json!({})),
        &reference("sig_rsi_reversal"),
    );
    same(
        "macd_cross",
        &ours("macd_cross", json!({})),
        &reference("sig_macd_cross"),
    );
    same(
        "bollinger",
        &ours("bollinger", json!({})),
        &reference("sig_bollinger"),
    );
    same(
        "bollinger breakout",
        &ours("bollinger", json!({ "mode": "breakout" })),
        &reference("sig_bollinger_breakout"),
    );
    same(
        "supertrend",
        &ours("supertrend", json!({})),
        &reference("sig_supertrend"),
    );
}
