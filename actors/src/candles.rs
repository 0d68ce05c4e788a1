//! Historical candles from Binance's public klines endpoint
//! (`GET /fapi/v1/klines`, no key needed), cached on disk one UTC month per
//! file in Binance's own kline CSV format, so the backtester's loader reads
//! downloads and data.binance.vision files alike. Only months that have
//! fully closed are cached: the current month is fetched again each time.

use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::path::PathBuf;
use tradingbot_core::exchange::instrument::InstrumentRules;
use tradingbot_core::market::candle::Candle;

/// Binance allows at most this many candles per request.
const PAGE: usize = 1500;

/// The intervals a month of candles divides into evenly (`1M` does not).
pub fn interval_ms(interval: &str) -> Option<i64> {
    Some(match interval {
        "1m" => 60_000,
        "3m" => 180_000,
        "5m" => 300_000,
        "15m" => 900_000,
        "30m" => 1_800_000,
        "1h" => 3_600_000,
        "2h" => 7_200_000,
        "4h" => 14_400_000,
        "6h" => 21_600_000,
        "8h" => 28_800_000,
        "12h" => 43_200_000,
        "1d" => 86_400_000,
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum KlineError {
    #[error("unknown interval `{0}`: one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d")]
    Interval(String),
    #[error("`{0}` is not a symbol (letters and digits, e.g. BTCUSDT)")]
    Symbol(String),
    #[error("the range is empty")]
    EmptyRange,
    #[error("Binance refused the request ({status}, code {code}): {msg}")]
    Refused { status: u16, code: i64, msg: String },
    #[error("Binance's rate limit is exhausted ({status}); retry in {retry_after_s} s")]
    RateLimited { status: u16, retry_after_s: u64 },
    #[error("Binance could not be reached: {0}")]
    Network(String),
    #[error("Binance answered something that is not klines: {0}")]
    Malformed(String),
    #[error("the candle cache at {0}: {1}")]
    Cache(PathBuf, std::io::Error),
}

/// What one fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Binance kline CSV rows (no header), oldest first, within the range.
    pub csv: String,
    pub requests: u32,
    pub months_from_cache: u32,
    pub months_downloaded: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedRules {
    fetched_ms: i64,
    rules: InstrumentRules,
}

pub struct KlineSource {
    client: reqwest::Client,
    base_url: String,
    cache_dir: Option<PathBuf>,
}

impl KlineSource {
    /// `base_url`: `https://fapi.binance.com` (or a local venue in tests);
    /// `cache_dir`: where months are kept, or `None` to always download.
    pub fn new(base_url: &str, cache_dir: Option<PathBuf>) -> Self {
        Self {
            client: crate::exchange::http::client(std::time::Duration::from_secs(20)),
            base_url: base_url.trim_end_matches('/').to_owned(),
            cache_dir,
        }
    }

    /// Closed candles of `symbol` opening in `[from_ms, to_ms)`;
    /// `progress(done, total)` counts months.
    pub async fn fetch(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Fetched, KlineError> {
        let step = interval_ms(interval).ok_or_else(|| KlineError::Interval(interval.into()))?;
        // The symbol becomes a path: nothing but letters and digits.
        if symbol.is_empty()
            || symbol.len() > 24
            || !symbol
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(KlineError::Symbol(symbol.chars().take(24).collect()));
        }
        let to_ms = to_ms.min(now_ms);
        if from_ms >= to_ms {
            return Err(KlineError::EmptyRange);
        }
        let months = months_between(from_ms, to_ms);
        let mut out = Fetched::default();
        for (i, (start, end)) in months.iter().enumerate() {
            let complete = *end <= now_ms;
            let path = self.cache_dir.as_ref().map(|d| {
                d.join("binance")
                    .join(symbol)
                    .join(interval)
                    .join(format!("{}.csv", month_label(*start)))
            });
            let cached = match &path {
                Some(p) if complete => match std::fs::read_to_string(p) {
                    Ok(text) => Some(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(KlineError::Cache(p.clone(), e)),
                },
                _ => None,
            };
            let text = match cached {
                Some(text) => {
                    out.months_from_cache += 1;
                    text
                }
                None => {
                    let text = self
                        .month(
                            symbol,
                            interval,
                            step,
                            *start,
                            *end,
                            now_ms,
                            &mut out.requests,
                        )
                        .await?;
                    out.months_downloaded += 1;
                    if let (Some(p), true) = (&path, complete) {
                        store(p, &text)?;
                    }
                    text
                }
            };
            for line in text.lines() {
                let open: i64 = line
                    .split(',')
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(i64::MIN);
                if open >= from_ms && open < to_ms {
                    out.csv.push_str(line);
                    out.csv.push('\n');
                }
            }
            progress(i as u64 + 1, months.len() as u64);
        }
        Ok(out)
    }

    /// One month's closed candles, page by page.
    #[allow(clippy::too_many_arguments)]
    async fn month(
        &self,
        symbol: &str,
        interval: &str,
        step: i64,
        start: i64,
        end: i64,
        now_ms: i64,
        requests: &mut u32,
    ) -> Result<String, KlineError> {
        let mut text = String::new();
        let mut cursor = start;
        let last = end.min(now_ms) - 1;
        while cursor <= last {
            let url = format!(
                "{}/fapi/v1/klines?symbol={symbol}&interval={interval}&startTime={cursor}&endTime={last}&limit={PAGE}",
                self.base_url
            );
            *requests += 1;
            let rows = self.page(&url, PAGE).await?;
            let rows = &rows;
            let mut newest = None;
            for row in rows {
                let open = row[0]
                    .as_i64()
                    .ok_or_else(|| KlineError::Malformed("a row without an open time".into()))?;
                // A candle still open would change later: never keep it.
                if open + step > now_ms {
                    continue;
                }
                write_row(&mut text, row)?;
                newest = Some(open);
            }
            match newest {
                Some(open) if rows.len() == PAGE => cursor = open + step,
                _ => break,
            }
        }
        Ok(text)
    }
}

impl KlineSource {
    /// One request of `limit` candles; Binance's refusals and rate limits
    /// as errors. Klines weigh on the same per-address budget as trading
    /// (a chart or a backtest download must not get the address banned):
    /// they are background reads, refused rather than waited for when it is
    /// short, and a 429 or 418 they receive holds trading too.
    async fn page(&self, url: &str, limit: usize) -> Result<Vec<serde_json::Value>, KlineError> {
        let weight = match limit {
            0..100 => 1,
            100..500 => 2,
            500..=1000 => 5,
            _ => 10,
        };
        match self.get(url, weight).await? {
            serde_json::Value::Array(rows) => Ok(rows),
            _ => Err(KlineError::Malformed("not an array".into())),
        }
    }

    /// One public GET of `weight` on the address's budget.
    async fn get(&self, url: &str, weight: u32) -> Result<serde_json::Value, KlineError> {
        use crate::exchange::budget::{self, Hold, Priority};
        let ip = budget::ip_budget(&self.base_url, 2400);
        let now = crate::exchange::http::now_ms();
        if let Err(hold) = ip.acquire(weight, Priority::Background, now) {
            let (status, left) = match hold {
                Hold::Banned(d) => (418, d),
                Hold::Wait(d) => (429, d),
            };
            return Err(KlineError::RateLimited {
                status,
                retry_after_s: left.as_secs().max(1),
            });
        }
        let res = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| KlineError::Network(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        if let Some(used) = res
            .headers()
            .get("X-MBX-USED-WEIGHT-1M")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            ip.observe(used, crate::exchange::http::now_ms());
        }
        if status == 429 || status == 418 {
            let retry_after_s = res
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(60);
            let wait = std::time::Duration::from_secs(retry_after_s);
            let now = crate::exchange::http::now_ms();
            if status == 418 {
                ip.banned(wait, now);
            } else {
                ip.rate_limited(wait, now);
            }
            return Err(KlineError::RateLimited {
                status,
                retry_after_s,
            });
        }
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| KlineError::Malformed(e.without_url().to_string()))?;
        if status != 200 {
            return Err(KlineError::Refused {
                status,
                code: body["code"].as_i64().unwrap_or(0),
                msg: body["msg"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            });
        }
        Ok(body)
    }

    /// The venue's rules (tick, step, quantity limits) for `symbol`, from
    /// `GET /fapi/v1/exchangeInfo`; kept a day in the cache, and the cached
    /// copy used at any age when the venue cannot be reached.
    pub async fn rules(&self, symbol: &str, now_ms: i64) -> Result<InstrumentRules, KlineError> {
        const FRESH_MS: i64 = 86_400_000;
        let cached_path = self.cache_dir.as_ref().and_then(|d| {
            symbol
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
                .then(|| d.join("rules").join(format!("{symbol}.json")))
        });
        let cached: Option<CachedRules> = cached_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(c) = &cached
            && now_ms - c.fetched_ms < FRESH_MS
        {
            return Ok(c.rules.clone());
        }
        let fetched = async {
            let body = self
                .get(&format!("{}/fapi/v1/exchangeInfo", self.base_url), 1)
                .await?;
            let info: tradingbot_core::exchange::binance::model::ExchangeInfo =
                serde_json::from_value(body).map_err(|e| KlineError::Malformed(e.to_string()))?;
            info.trading_rules()
                .into_iter()
                .find(|r| r.symbol == symbol)
                .ok_or_else(|| KlineError::Refused {
                    status: 200,
                    code: 0,
                    msg: format!("{symbol} is not a trading perpetual on the venue"),
                })
        }
        .await;
        match fetched {
            Ok(rules) => {
                if let Some(p) = &cached_path {
                    let c = CachedRules {
                        fetched_ms: now_ms,
                        rules: rules.clone(),
                    };
                    if let Some(dir) = p.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    if let Ok(b) = serde_json::to_vec(&c) {
                        let _ = std::fs::write(p, b);
                    }
                }
                Ok(rules)
            }
            // The venue said no: not a symbol to trust an old copy for.
            Err(e @ KlineError::Refused { .. }) => Err(e),
            Err(e) => cached.map(|c| c.rules).ok_or(e),
        }
    }

    /// The last `limit` closed candles (1–1,499), oldest first, in one
    /// request.
    pub async fn recent(
        &self,
        symbol: &str,
        interval: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Candle>, KlineError> {
        let limit = limit.clamp(1, PAGE - 1);
        // One more than asked: the newest is usually still open.
        let mut out: Vec<Candle> = self
            .window(symbol, interval, None, None, limit + 1, now_ms)
            .await?
            .into_iter()
            .filter(|(_, closed)| *closed)
            .map(|(c, _)| c)
            .collect();
        let skip = out.len().saturating_sub(limit);
        Ok(out.split_off(skip))
    }

    /// Up to `limit` candles (1–1,500) opening in `[from_ms, to_ms]`, oldest
    /// first, in one request: from `from_ms` forward when it is given, the
    /// most recent otherwise. Each says whether it has closed (the newest
    /// is usually still forming, which a price chart shows).
    pub async fn window(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<(Candle, bool)>, KlineError> {
        let step = interval_ms(interval).ok_or_else(|| KlineError::Interval(interval.into()))?;
        check_symbol(symbol)?;
        let limit = limit.clamp(1, PAGE);
        let mut url = format!(
            "{}/fapi/v1/klines?symbol={symbol}&interval={interval}&limit={limit}",
            self.base_url,
        );
        if let Some(f) = from_ms {
            url.push_str(&format!("&startTime={f}"));
        }
        if let Some(t) = to_ms {
            url.push_str(&format!("&endTime={t}"));
        }
        let rows = self.page(&url, limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let cell = |i: usize| -> Option<Decimal> {
                match &row[i] {
                    serde_json::Value::String(s) => s.parse().ok(),
                    _ => None,
                }
            };
            let c = (|| {
                Some(Candle {
                    time_ms: row[0].as_i64()?,
                    open: cell(1)?,
                    high: cell(2)?,
                    low: cell(3)?,
                    close: cell(4)?,
                    volume: cell(5)?,
                })
            })()
            .filter(Candle::is_sane)
            .ok_or_else(|| KlineError::Malformed("a row that is not a candle".into()))?;
            let closed = c.time_ms + step <= now_ms;
            out.push((c, closed));
        }
        Ok(out)
    }
}

fn check_symbol(symbol: &str) -> Result<(), KlineError> {
    // The symbol becomes a path and a query: letters and digits only.
    if symbol.is_empty()
        || symbol.len() > 24
        || !symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(KlineError::Symbol(symbol.chars().take(24).collect()));
    }
    Ok(())
}

/// A kline array as a Binance CSV line (the twelve columns of
/// data.binance.vision).
fn write_row(out: &mut String, row: &serde_json::Value) -> Result<(), KlineError> {
    let cells = row
        .as_array()
        .filter(|c| c.len() >= 11)
        .ok_or_else(|| KlineError::Malformed("a row with fewer than 11 columns".into()))?;
    for (i, cell) in cells.iter().take(12).enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            serde_json::Value::String(s) => out.push_str(s),
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
    out.push('\n');
    Ok(())
}

/// Writes a month whole or not at all (a crash leaves no half file).
fn store(path: &PathBuf, text: &str) -> Result<(), KlineError> {
    let err = |e| KlineError::Cache(path.clone(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("csv.partial");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// UTC months overlapping `[from, to)`, as `[start, end)` in ms.
fn months_between(from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let Some(first) = Utc.timestamp_millis_opt(from).single() else {
        return out;
    };
    let (mut y, mut m) = (first.year(), first.month());
    loop {
        let start = month_start(y, m);
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let end = month_start(ny, nm);
        if start >= to {
            break;
        }
        out.push((start, end));
        (y, m) = (ny, nm);
    }
    out
}

fn month_start(y: i32, m: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .map_or(i64::MAX, |t| t.timestamp_millis())
}

fn month_label(start: i64) -> String {
    Utc.timestamp_millis_opt(start)
        .single()
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_cover_the_range() {
        let d = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        let m = months_between(d("2024-11-15T00:00:00Z"), d("2025-02-01T00:00:00Z"));
        let labels: Vec<String> = m.iter().map(|(s, _)| month_label(*s)).collect();
        assert_eq!(labels, ["2024-11", "2024-12", "2025-01"]);
        assert_eq!(m[1].1, d("2025-01-01T00:00:00Z"));
    }
}
