//! Recent candles for analysis: Binance's public klines (no key), kept in
//! memory until the next candle could have closed (at most a minute), with
//! the bundled BTCUSDT daily candles when the exchange is unreachable or
//! the service runs offline.

pub mod prices;

use crate::candles::{KlineError, KlineSource, interval_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tradingbot_core::indicators::Bar;
use tradingbot_core::market::candle::{BUNDLED_BTC_DAILY, Candle, parse_daily_csv};

/// Where candles came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Binance,
    Bundled,
}

#[derive(Debug, Clone)]
pub struct Candles {
    pub bars: Arc<Vec<Bar>>,
    pub origin: Origin,
}

#[derive(Debug, thiserror::Error)]
pub enum MarketDataError {
    #[error("Binance does not list {0}")]
    UnknownSymbol(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no candles for {symbol} {timeframe}: {why}; offline, only BTCUSDT at 1d (bundled) is available"
    )]
    Unavailable {
        symbol: String,
        timeframe: String,
        why: String,
    },
}

type Key = (String, String, usize);

/// Candles for a price chart: prices as the venue gives them (decimals),
/// each marked closed or still forming.
#[derive(Debug, Clone)]
pub struct Chart {
    pub candles: Arc<Vec<(Candle, bool)>>,
    pub origin: Origin,
}

/// What a chart asks for: symbol, interval, from, to, limit.
type ChartKey = (String, String, Option<i64>, Option<i64>, usize);

pub struct MarketData {
    klines: KlineSource,
    offline: bool,
    cache: Mutex<HashMap<Key, (Instant, Candles)>>,
    charts: Mutex<HashMap<ChartKey, (Instant, Duration, Chart)>>,
}

/// The bundled daily candles, parsed once.
fn bundled_candles() -> Arc<Vec<Candle>> {
    static CANDLES: std::sync::OnceLock<Arc<Vec<Candle>>> = std::sync::OnceLock::new();
    CANDLES
        .get_or_init(|| {
            Arc::new(
                parse_daily_csv(BUNDLED_BTC_DAILY)
                    .map(|(c, _)| c)
                    .unwrap_or_default(),
            )
        })
        .clone()
}

/// The bundled daily candles as bars, parsed once.
fn bundled() -> Arc<Vec<Bar>> {
    static BARS: std::sync::OnceLock<Arc<Vec<Bar>>> = std::sync::OnceLock::new();
    BARS.get_or_init(|| Arc::new(bundled_candles().iter().map(Bar::from).collect()))
        .clone()
}

impl MarketData {
    pub fn new(klines: KlineSource, offline: bool) -> Self {
        Self {
            klines,
            offline,
            cache: Mutex::new(HashMap::new()),
            charts: Mutex::new(HashMap::new()),
        }
    }

    /// Up to `limit` candles of `symbol` at `interval` opening in
    /// `[from_ms, to_ms]` — from `from_ms` forward, or the most recent —
    /// the newest possibly still forming. A window that reaches the present
    /// is kept two seconds (a chart polls its live candle); one wholly in
    /// the past, ten minutes.
    pub async fn chart(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: usize,
    ) -> Result<Chart, MarketDataError> {
        let step = interval_ms(interval).ok_or_else(|| {
            MarketDataError::Invalid(format!(
                "interval `{interval}`: one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d"
            ))
        })?;
        let key = (
            symbol.to_owned(),
            interval.to_owned(),
            from_ms,
            to_ms,
            limit,
        );
        if let Some((at, ttl, c)) = self.charts_lock().get(&key)
            && at.elapsed() < *ttl
        {
            return Ok(c.clone());
        }
        let now = chrono::Utc::now().timestamp_millis();
        let fallback = |why: String| {
            if symbol == "BTCUSDT" && interval == "1d" {
                let within: Vec<(Candle, bool)> = bundled_candles()
                    .iter()
                    .filter(|c| from_ms.is_none_or(|f| c.time_ms >= f))
                    .filter(|c| to_ms.is_none_or(|t| c.time_ms <= t))
                    .map(|c| (*c, true))
                    .collect();
                let picked = if from_ms.is_some() {
                    within.into_iter().take(limit).collect()
                } else {
                    let skip = within.len().saturating_sub(limit);
                    within.into_iter().skip(skip).collect()
                };
                Ok(Chart {
                    candles: Arc::new(picked),
                    origin: Origin::Bundled,
                })
            } else {
                Err(MarketDataError::Unavailable {
                    symbol: symbol.to_owned(),
                    timeframe: interval.to_owned(),
                    why,
                })
            }
        };
        let got = if self.offline {
            fallback("the service runs with TRADINGBOT_MARKET_DATA=offline".into())?
        } else {
            match self
                .klines
                .window(symbol, interval, from_ms, to_ms, limit, now)
                .await
            {
                Ok(c) => Chart {
                    candles: Arc::new(c),
                    origin: Origin::Binance,
                },
                Err(KlineError::Refused { code: -1121, .. }) => {
                    return Err(MarketDataError::UnknownSymbol(symbol.to_owned()));
                }
                Err(KlineError::Symbol(s)) => {
                    return Err(MarketDataError::Invalid(format!("`{s}` is not a symbol")));
                }
                Err(e) => fallback(e.to_string())?,
            }
        };
        let settled = to_ms.is_some_and(|t| t + step <= now);
        let ttl = Duration::from_secs(if settled { 600 } else { 2 });
        let mut charts = self.charts_lock();
        if charts.len() > 512 {
            charts.clear();
        }
        charts.insert(key, (Instant::now(), ttl, got.clone()));
        Ok(got)
    }

    fn charts_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ChartKey, (Instant, Duration, Chart)>> {
        self.charts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last `limit` closed candles of `symbol` at `timeframe`.
    pub async fn candles(
        &self,
        symbol: &str,
        timeframe: &str,
        limit: usize,
    ) -> Result<Candles, MarketDataError> {
        let step = interval_ms(timeframe).ok_or_else(|| {
            MarketDataError::Invalid(format!(
                "timeframe `{timeframe}`: one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d"
            ))
        })?;
        let key = (symbol.to_owned(), timeframe.to_owned(), limit);
        if let Some((at, c)) = self.lock().get(&key)
            && at.elapsed() < Duration::from_millis(step.min(60_000) as u64)
        {
            return Ok(c.clone());
        }
        let fallback = |why: String| {
            if symbol == "BTCUSDT" && timeframe == "1d" {
                let all = bundled();
                let skip = all.len().saturating_sub(limit);
                Ok(Candles {
                    bars: Arc::new(all[skip..].to_vec()),
                    origin: Origin::Bundled,
                })
            } else {
                Err(MarketDataError::Unavailable {
                    symbol: symbol.to_owned(),
                    timeframe: timeframe.to_owned(),
                    why,
                })
            }
        };
        let got = if self.offline {
            fallback("the service runs with TRADINGBOT_MARKET_DATA=offline".into())?
        } else {
            let now = chrono::Utc::now().timestamp_millis();
            match self.klines.recent(symbol, timeframe, limit, now).await {
                Ok(c) if !c.is_empty() => Candles {
                    bars: Arc::new(c.iter().map(Bar::from).collect()),
                    origin: Origin::Binance,
                },
                Ok(_) => fallback("Binance returned no candles".into())?,
                Err(KlineError::Refused { code: -1121, .. }) => {
                    return Err(MarketDataError::UnknownSymbol(symbol.to_owned()));
                }
                Err(KlineError::Symbol(s)) => {
                    return Err(MarketDataError::Invalid(format!("`{s}` is not a symbol")));
                }
                Err(e) => fallback(e.to_string())?,
            }
        };
        let mut cache = self.lock();
        if cache.len() > 512 {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), got.clone()));
        Ok(got)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, Candles)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
