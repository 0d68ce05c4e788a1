//! Candles from CSV: Binance's kline files (data.binance.vision, with or
//! without their header, millisecond or microsecond open times) and any
//! OHLCV CSV with a header naming its columns. The bar interval is inferred;
//! gaps, duplicates, out-of-order and unusable rows are reported, never
//! silently absorbed.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::str::FromStr;
use tradingbot_core::market::candle::Candle;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// `binance_klines` or `ohlcv`.
    pub format: &'static str,
    pub rows: usize,
    /// Lines (1-based) that could not be read or were not sane candles.
    pub skipped: Vec<usize>,
    /// The bar length the data has, in milliseconds.
    pub interval_ms: i64,
    /// Missing bars: (open time of the bar before the gap, bars missing).
    pub gaps: Vec<(i64, u64)>,
    pub duplicates: usize,
    /// Rows earlier than the row before them (the series is sorted).
    pub out_of_order: usize,
}

impl LoadReport {
    pub fn missing_bars(&self) -> u64 {
        self.gaps.iter().map(|g| g.1).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error(
        "the header does not name open, high, low and close columns and a time column (got {0:?})"
    )]
    Columns(String),
    #[error("no usable candles")]
    Empty,
}

struct Layout {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
}

fn layout(header: &[&str]) -> Option<Layout> {
    let find = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    // pandas writes its index first under an empty name: a DatetimeIndex
    // is the time column when no other column is named for it.
    let index_time = header
        .first()
        .is_some_and(|h| h.trim().is_empty())
        .then_some(0);
    Some(Layout {
        time: find(&[
            "time",
            "timestamp",
            "date",
            "datetime",
            "open_time",
            "opentime",
        ])
        .or(index_time)?,
        open: find(&["open", "o"])?,
        high: find(&["high", "h"])?,
        low: find(&["low", "l"])?,
        close: find(&["close", "c"])?,
        volume: find(&["volume", "vol", "v"]),
    })
}

/// Unix milliseconds from epoch seconds, milliseconds or microseconds, or
/// an ISO date / date-time (UTC).
fn time_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i64>() {
        return Some(match n {
            n if n >= 100_000_000_000_000 => n / 1000, // µs
            n if n >= 100_000_000_000 => n,            // ms
            n => n * 1000,                             // s
        });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

pub fn load_csv(text: &str) -> Result<(Vec<Candle>, LoadReport), DataError> {
    let mut lines = text.lines().enumerate().peekable();
    let first: Vec<&str> = lines
        .peek()
        .map(|(_, l)| l.split(',').collect())
        .unwrap_or_default();
    // Binance's kline files: twelve columns, open time first; a header only
    // in newer files.
    let binance = first.len() == 12
        && (first[0].trim().parse::<i64>().is_ok() || first[0].trim() == "open_time");
    let (format, l) = if binance {
        if first[0].trim() == "open_time" {
            lines.next();
        }
        (
            "binance_klines",
            Layout {
                time: 0,
                open: 1,
                high: 2,
                low: 3,
                close: 4,
                volume: Some(5),
            },
        )
    } else {
        let header = first.clone();
        let l = layout(&header)
            .ok_or_else(|| DataError::Columns(first.join(",").chars().take(80).collect()))?;
        lines.next();
        ("ohlcv", l)
    };
    let mut report = LoadReport {
        format,
        ..Default::default()
    };
    let mut rows: Vec<Candle> = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        report.rows += 1;
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| f.get(i).map(|s| s.trim());
        let n = |i: usize| get(i).and_then(|s| Decimal::from_str(s).ok());
        let candle = (|| {
            Some(Candle {
                time_ms: time_ms(get(l.time)?)?,
                open: n(l.open)?,
                high: n(l.high)?,
                low: n(l.low)?,
                close: n(l.close)?,
                volume: match l.volume {
                    Some(v) => n(v)?,
                    None => Decimal::ZERO,
                },
            })
        })();
        match candle.filter(Candle::is_sane) {
            Some(c) => {
                if rows.last().is_some_and(|p| c.time_ms < p.time_ms) {
                    report.out_of_order += 1;
                }
                rows.push(c);
            }
            None => report.skipped.push(i + 1),
        }
    }
    rows.sort_by_key(|c| c.time_ms);
    let before = rows.len();
    rows.dedup_by_key(|c| c.time_ms);
    report.duplicates = before - rows.len();
    if rows.is_empty() {
        return Err(DataError::Empty);
    }
    // The most common step is the interval.
    let mut steps: HashMap<i64, usize> = HashMap::new();
    for w in rows.windows(2) {
        *steps.entry(w[1].time_ms - w[0].time_ms).or_default() += 1;
    }
    report.interval_ms = steps
        .into_iter()
        .max_by_key(|(step, count)| (*count, -step))
        .map_or(0, |(s, _)| s);
    if report.interval_ms > 0 {
        for w in rows.windows(2) {
            let missing = (w[1].time_ms - w[0].time_ms) / report.interval_ms - 1;
            if missing > 0 {
                report.gaps.push((w[0].time_ms, missing as u64));
            }
        }
    }
    Ok((rows, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn reads_binance_kline_files_with_and_without_header() {
        // data.binance.vision's futures/um/daily/klines/BTCUSDT/1m rows.
        let rows = "1704067200000,42283.58,42298.62,42261.02,42298.61,35.92,1704067259999,1518722.35,983,21.53,910336.58,0\n\
                    1704067260000,42298.62,42320.00,42298.61,42301.01,21.61,1704067319999,914257.86,651,12.88,544934.77,0\n\
                    1704067380000,42301.01,42330.00,42300.00,42329.99,10.00,1704067439999,423000.00,300,5.00,211500.00,0\n";
        let (c, r) = load_csv(rows).unwrap();
        assert_eq!(r.format, "binance_klines");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].open, dec!(42283.58));
        assert_eq!(r.interval_ms, 60_000);
        // 00:02 is missing.
        assert_eq!(r.gaps, vec![(1_704_067_260_000, 1)]);
        let with_header = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{rows}"
        );
        assert_eq!(load_csv(&with_header).unwrap().0, c);
        // Microsecond open times (the 2025 spot files) read the same.
        let micro = rows.replacen("1704067200000,", "1704067200000000,", 1);
        assert_eq!(load_csv(&micro).unwrap().0[0].time_ms, 1_704_067_200_000);
    }

    #[test]
    fn reads_named_columns_and_reports_what_is_wrong() {
        let text = "timestamp,open,high,low,close,volume\n\
                    2024-01-01T00:00:00Z,10,11,9,10.5,100\n\
                    2024-01-01T01:00:00Z,10.5,12,10,11,50\n\
                    2024-01-01T01:00:00Z,10.5,12,10,11,50\n\
                    2024-01-01T00:30:00Z,oops,1,1,1,1\n\
                    2024-01-01T04:00:00Z,11,11.5,10.5,11,20\n\
                    2024-01-01T02:00:00Z,11,13,0,12,10\n\
                    2024-01-01T03:00:00Z,11,12,10,11.5,10\n";
        let (c, r) = load_csv(text).unwrap();
        assert_eq!(r.format, "ohlcv");
        assert_eq!(r.interval_ms, 3_600_000);
        assert_eq!(r.skipped, vec![5, 7], "the unreadable row and the low of 0");
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.out_of_order, 1);
        assert_eq!(c.len(), 4);
        assert!(c.windows(2).all(|w| w[0].time_ms < w[1].time_ms));
        // 02:00 was unusable: one bar missing between 01:00 and 03:00.
        assert_eq!(r.missing_bars(), 1);
        assert!(matches!(
            load_csv("a,b,c\n1,2,3\n"),
            Err(DataError::Columns(_))
        ));
    }

    #[test]
    fn reads_pandas_exports_with_their_unnamed_index() {
        // `df.to_csv()` of a frame indexed by time.
        let indexed = ",open,high,low,close,volume\n\
                       2024-01-01,1.1034,1.1045,1.1001,1.1040,0\n\
                       2024-01-02,1.1040,1.1050,1.0990,1.0995,0\n";
        let (c, r) = load_csv(indexed).unwrap();
        assert_eq!((r.format, c.len()), ("ohlcv", 2));
        assert_eq!(c[1].close, dec!(1.0995));
        assert_eq!(r.interval_ms, 86_400_000);
        // `df.reset_index().to_csv()`: a 0, 1, 2 … index before a named time.
        let numbered = ",Date,Open,High,Low,Close,Volume\n\
                        0,2024-01-01,10,11,9,10.5,100\n\
                        1,2024-01-02,10.5,12,10,11,50\n";
        let (c, _) = load_csv(numbered).unwrap();
        assert_eq!(c[0].time_ms, 1_704_067_200_000);
        assert_eq!(c[1].high, dec!(12));
    }

    #[test]
    fn the_raw_bundled_file_has_its_gaps_and_zero_rows_found() {
        let raw = include_str!("../../assets/candles/btcusd_1d_bitstamp_2013-2020_raw.csv");
        let (c, r) = load_csv(raw).unwrap();
        assert_eq!(r.interval_ms, 86_400_000);
        assert_eq!(r.skipped.len(), 2, "the two all-zero rows");
        assert_eq!(c.len() + 2, r.rows);
        // 35 missing days, plus the two zero rows now missing too.
        assert_eq!(r.missing_bars(), 37);
    }
}
