//! OHLCV candles and the CSV format the bundled data uses
//! (`Date,Open,High,Low,Close,Volume`, one row per UTC day). Prices stay
//! exact decimals; indicators convert to `f64` themselves.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Open time, Unix milliseconds.
    pub time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
}

impl Candle {
    /// Whether the prices are consistent (high ≥ open, close ≥ low > 0).
    pub fn is_sane(&self) -> bool {
        self.low > Decimal::ZERO
            && self.high >= self.low
            && self.high >= self.open.max(self.close)
            && self.low <= self.open.min(self.close)
            && self.volume >= Decimal::ZERO
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CandleError {
    #[error("the header must be Date,Open,High,Low,Close,Volume (got {0:?})")]
    Header(String),
    #[error("no usable candles")]
    Empty,
}

/// What loading skipped or noticed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvReport {
    /// Rows that could not be read or were not sane (line numbers, 1-based).
    pub skipped: Vec<usize>,
    /// Missing periods: (time of the candle before the gap, periods missing).
    pub gaps: Vec<(i64, u32)>,
    /// Rows repeating an earlier time.
    pub duplicates: usize,
}

const DAY_MS: i64 = 86_400_000;

/// Parses daily candles, oldest first; bad rows (unparsable, all-zero,
/// inconsistent) are skipped and reported, as are gaps and duplicates.
pub fn parse_daily_csv(text: &str) -> Result<(Vec<Candle>, CsvReport), CandleError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim();
    if !header.eq_ignore_ascii_case("Date,Open,High,Low,Close,Volume") {
        return Err(CandleError::Header(header.chars().take(60).collect()));
    }
    let mut report = CsvReport::default();
    let mut candles: Vec<Candle> = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed = (|| {
            if f.len() != 6 {
                return None;
            }
            let date = NaiveDate::parse_from_str(f[0], "%Y-%m-%d").ok()?;
            let n = |s: &str| Decimal::from_str(s).ok();
            Some(Candle {
                time_ms: date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
                open: n(f[1])?,
                high: n(f[2])?,
                low: n(f[3])?,
                close: n(f[4])?,
                volume: n(f[5])?,
            })
        })();
        match parsed.filter(Candle::is_sane) {
            None => report.skipped.push(line_no),
            Some(c) => match candles.last() {
                Some(prev) if c.time_ms <= prev.time_ms => report.duplicates += 1,
                Some(prev) => {
                    let missing = (c.time_ms - prev.time_ms) / DAY_MS - 1;
                    if missing > 0 {
                        report.gaps.push((prev.time_ms, missing as u32));
                    }
                    candles.push(c);
                }
                None => candles.push(c),
            },
        }
    }
    if candles.is_empty() {
        return Err(CandleError::Empty);
    }
    Ok((candles, report))
}

/// The clean bundled series (2017-05-01 → 2020-12-08), compiled in.
pub const BUNDLED_BTC_DAILY: &str =
    include_str!("../../../assets/candles/btcusd_1d_bitstamp_2017-2020.csv");

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn loads_the_bundled_series_whole() {
        let (candles, report) = parse_daily_csv(BUNDLED_BTC_DAILY).unwrap();
        assert_eq!(candles.len(), 1318);
        assert_eq!(report, CsvReport::default());
        assert_eq!(candles[0].open, dec!(1336.77));
        assert_eq!(candles.last().unwrap().close, dec!(19248.82));
        assert!(
            candles
                .windows(2)
                .all(|w| w[1].time_ms - w[0].time_ms == DAY_MS)
        );
    }

    #[test]
    fn reports_the_raw_series_gaps_and_bad_rows() {
        let raw = include_str!("../../../assets/candles/btcusd_1d_bitstamp_2013-2020_raw.csv");
        let (candles, report) = parse_daily_csv(raw).unwrap();
        assert_eq!(
            candles.len() + report.skipped.len() + report.duplicates,
            2751
        );
        assert_eq!(report.skipped.len(), 2, "the two all-zero rows");
        let missing: u32 = report.gaps.iter().map(|(_, n)| n).sum();
        // 35 missing days, plus the two days whose rows were dropped.
        assert_eq!(missing, 37);
    }

    #[test]
    fn refuses_a_foreign_header() {
        assert!(matches!(
            parse_daily_csv("time,price\n1,2"),
            Err(CandleError::Header(_))
        ));
        assert_eq!(
            parse_daily_csv("Date,Open,High,Low,Close,Volume\n"),
            Err(CandleError::Empty)
        );
    }
}
