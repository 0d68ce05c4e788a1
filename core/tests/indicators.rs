//! Every indicator against reference values computed independently on the
//! bundled BTC daily candles: TA-Lib (C library, via PyPI) for its
//! indicators, Pine's reference definitions for Supertrend and VWAP.
//! `scripts/indicator_fixtures.py` regenerates the fixture.

use tradingbot_core::indicators::*;
use tradingbot_core::market::candle::parse_daily_csv;

const CANDLES: &str = include_str!("../../assets/candles/btcusd_1d_bitstamp_2017-2020.csv");
const FIXTURE: &str = include_str!("fixtures/indicators_btcusd_1d.csv");

struct Reference {
    header: Vec<String>,
    rows: Vec<Vec<Option<f64>>>,
}

impl Reference {
    fn load() -> Self {
        let mut lines = FIXTURE.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .map(|l| {
                l.split(',')
                    .skip(1)
                    .map(|c| (!c.is_empty()).then(|| c.parse::<f64>().unwrap()))
                    .collect()
            })
            .collect();
        Self { header, rows }
    }

    fn column(&self, name: &str) -> Vec<Option<f64>> {
        let i = self.header.iter().position(|h| h == name).unwrap() - 1;
        self.rows.iter().map(|r| r[i]).collect()
    }
}

fn bars() -> Vec<Bar> {
    let (candles, report) = parse_daily_csv(CANDLES).unwrap();
    assert!(report.skipped.is_empty() && report.gaps.is_empty());
    candles.iter().map(Bar::from).collect()
}

/// Same warm-up, and every value within 1e-9 relative (of at least 1).
fn agree(name: &str, ours: &[Option<f64>], reference: &[Option<f64>]) {
    assert_eq!(ours.len(), reference.len(), "{name}: lengths");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let tolerance = 1e-9 * b.abs().max(1.0);
                assert!((a - b).abs() <= tolerance, "{name}[{i}]: {a} vs {b}");
            }
            _ => panic!("{name}[{i}]: warm-up differs: {a:?} vs {b:?}"),
        }
    }
}

#[test]
fn moving_averages_rsi_and_volume_match_ta_lib() {
    let r = Reference::load();
    let b = bars();
    let close: Vec<f64> = b.iter().map(|x| x.close).collect();
    let volume: Vec<f64> = b.iter().map(|x| x.volume).collect();
    agree("sma20", &Sma::new(20).batch(&close), &r.column("sma20"));
    agree("ema9", &Ema::new(9).batch(&close), &r.column("ema9"));
    agree("ema21", &Ema::new(21).batch(&close), &r.column("ema21"));
    agree("wma20", &Wma::new(20).batch(&close), &r.column("wma20"));
    agree("rsi14", &Rsi::new(14).batch(&close), &r.column("rsi14"));
    agree(
        "vol_sma20",
        &Sma::new(20).batch(&volume),
        &r.column("vol_sma20"),
    );
}

#[test]
fn macd_and_bands_match_ta_lib() {
    let r = Reference::load();
    let close: Vec<f64> = bars().iter().map(|x| x.close).collect();
    let m = Macd::new(12, 26, 9).batch(&close);
    agree(
        "macd",
        &m.iter().map(|v| v.map(|v| v.macd)).collect::<Vec<_>>(),
        &r.column("macd"),
    );
    agree(
        "macd_signal",
        &m.iter().map(|v| v.map(|v| v.signal)).collect::<Vec<_>>(),
        &r.column("macd_signal"),
    );
    agree(
        "macd_hist",
        &m.iter().map(|v| v.map(|v| v.histogram)).collect::<Vec<_>>(),
        &r.column("macd_hist"),
    );
    let bb = BollingerBands::new(20, 2.0, 2.0).batch(&close);
    for (name, f) in [
        (
            "bb_upper",
            (|v: BandsValue| v.upper) as fn(BandsValue) -> f64,
        ),
        ("bb_middle", |v| v.middle),
        ("bb_lower", |v| v.lower),
    ] {
        agree(
            name,
            &bb.iter().map(|v| v.map(f)).collect::<Vec<_>>(),
            &r.column(name),
        );
    }
}

#[test]
fn atr_stochastic_supertrend_and_vwap_match_their_references() {
    let r = Reference::load();
    let b = bars();
    agree("atr14", &Atr::new(14).batch(&b), &r.column("atr14"));
    let s = Stoch::new(5, 3, 3).batch(&b);
    agree(
        "stoch_k",
        &s.iter().map(|v| v.map(|v| v.k)).collect::<Vec<_>>(),
        &r.column("stoch_k"),
    );
    agree(
        "stoch_d",
        &s.iter().map(|v| v.map(|v| v.d)).collect::<Vec<_>>(),
        &r.column("stoch_d"),
    );
    let st = Supertrend::new(10, 3.0).batch(&b);
    agree(
        "supertrend",
        &st.iter().map(|v| v.map(|v| v.value)).collect::<Vec<_>>(),
        &r.column("supertrend"),
    );
    let dir: Vec<Option<f64>> = st
        .iter()
        .map(|v| v.map(|v| if v.trend == Trend::Up { -1.0 } else { 1.0 }))
        .collect();
    agree("supertrend_dir", &dir, &r.column("supertrend_dir"));
    agree(
        "vwap_week",
        &Vwap::new(VwapAnchor::Week).batch(&b),
        &r.column("vwap_week"),
    );
}

#[test]
fn lookbacks_are_ta_libs() {
    assert_eq!(Sma::new(20).lookback(), 19);
    assert_eq!(Ema::new(9).lookback(), 8);
    assert_eq!(Rsi::new(14).lookback(), 14);
    assert_eq!(Macd::new(12, 26, 9).lookback(), 33);
    assert_eq!(Atr::new(14).lookback(), 14);
    assert_eq!(Stoch::new(5, 3, 3).lookback(), 8);
    let close: Vec<f64> = bars().iter().map(|x| x.close).collect();
    // The first value arrives exactly after the lookback.
    let m = Macd::new(12, 26, 9).batch(&close);
    assert!(m[32].is_none() && m[33].is_some());
}
