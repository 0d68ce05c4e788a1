//! The figures on a template's card, computed by the backtester on the
//! bundled data — never typed in.

use crate::engine::{Series, Settings, run};
use crate::report::{Report, report};
use serde::Serialize;
use std::sync::OnceLock;
use tradingbot_core::market::candle::{BUNDLED_BTC_DAILY, parse_daily_csv};
use tradingbot_core::templates::{self, Template};

#[derive(Debug, Clone, Serialize)]
pub struct CardStats {
    pub win_rate: f64,
    pub trades: usize,
    pub total_return_pct: f64,
    pub max_drawdown_pct: f64,
    /// What the figures were computed on.
    pub data: &'static str,
    pub from: String,
    pub to: String,
}

fn bundled() -> &'static Series {
    static SERIES: OnceLock<Series> = OnceLock::new();
    SERIES.get_or_init(|| {
        let (candles, _) = parse_daily_csv(BUNDLED_BTC_DAILY).unwrap_or_default();
        Series::new(candles)
    })
}

/// The template at its defaults, with the seed's default strategy settings
/// (10 % of $10,000, 3x, TP 5 %, SL 2 %, taker fee 0.04 %), over the whole
/// bundled BTC daily series.
pub fn card_report(t: &Template) -> Option<Report> {
    let series = bundled();
    let configured = t.configure(&serde_json::Map::new()).ok()?;
    let settings = Settings::defaults();
    let outcome = run(series, configured.rule(), &settings);
    Some(report(&series.candles, settings.capital, &outcome))
}

/// Every template's card figures, computed once per process.
pub fn card_stats(id: &str) -> Option<CardStats> {
    static STATS: OnceLock<Vec<(&'static str, CardStats)>> = OnceLock::new();
    let all = STATS.get_or_init(|| {
        let series = bundled();
        let day = |ms: Option<i64>| {
            ms.and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.date_naive().to_string())
                .unwrap_or_default()
        };
        templates::library()
            .iter()
            .filter_map(|t| {
                let r = card_report(t)?;
                Some((
                    t.id,
                    CardStats {
                        win_rate: (r.win_rate_pct * 10.0).round() / 10.0,
                        trades: r.trades,
                        total_return_pct: (r.total_return_pct * 100.0).round() / 100.0,
                        max_drawdown_pct: (r.max_drawdown_pct * 100.0).round() / 100.0,
                        data: "BTC/USD daily candles (Bitstamp), bundled",
                        from: day(series.candles.first().map(|c| c.time_ms)),
                        to: day(series.candles.last().map(|c| c.time_ms)),
                    },
                ))
            })
            .collect()
    });
    all.iter().find(|(i, _)| *i == id).map(|(_, s)| s.clone())
}
