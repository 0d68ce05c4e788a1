//! Historical klines from the local Binance venue: paging at Binance's
//! 1,500-row limit, only closed candles, closed months cached on disk and
//! read back without a request, and Binance's refusals passed on clearly.

use rust_decimal::Decimal;
use tradingbot_actors::candles::{KlineError, KlineSource};
use tradingbot_backtest::data::load_csv;
use tradingbot_core::market::candle::Candle;
use tradingbot_testkit::binance::{Failure, LocalBinance};

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// `n` candles of `step` ms from `start`, a slow deterministic walk.
fn candles(start: i64, step: i64, n: usize) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let open = Decimal::from(40_000 + (i as i64 * 7919) % 1000);
            let close = open + Decimal::from((i as i64 * 31) % 21 - 10);
            Candle {
                time_ms: start + i as i64 * step,
                open,
                high: open.max(close) + Decimal::from(5),
                low: open.min(close) - Decimal::from(5),
                close,
                volume: Decimal::new(12345, 3),
            }
        })
        .collect()
}

fn klines_requests(venue: &LocalBinance) -> usize {
    venue
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
        .count()
}

#[tokio::test]
async fn months_are_paged_cached_and_read_back() {
    let venue = LocalBinance::start();
    let step = 15 * 60_000;
    let start = ms("2024-01-01T00:00:00Z");
    // Jan, Feb and half of March 2024 in 15-minute candles.
    let all = candles(start, step, (31 + 29 + 15) * 96);
    venue.set_klines("BTCUSDT", "15m", all.clone());
    let cache = tempfile::tempdir().unwrap();
    let source = KlineSource::new(&venue.rest_url, Some(cache.path().to_owned()));
    // "Now" is mid-March, inside a candle that is still open.
    let now = ms("2024-03-15T00:07:00Z");
    let progress = |_: u64, _: u64| {};
    let got = source
        .fetch(
            "BTCUSDT",
            "15m",
            ms("2024-01-10T00:00:00Z"),
            ms("2024-03-20T00:00:00Z"),
            now,
            &progress,
        )
        .await
        .unwrap();
    // January: 2,976 rows = two pages; February 2,784 = two; March so far one.
    assert_eq!(got.requests, 5);
    assert_eq!(klines_requests(&venue), 5);
    assert_eq!((got.months_downloaded, got.months_from_cache), (3, 0));
    let (loaded, report) = load_csv(&got.csv).unwrap();
    assert_eq!(report.format, "binance_klines");
    assert_eq!(report.interval_ms, step);
    assert!(report.gaps.is_empty() && report.duplicates == 0);
    let expected: Vec<&Candle> = all
        .iter()
        .filter(|c| c.time_ms >= ms("2024-01-10T00:00:00Z") && c.time_ms + step <= now)
        .collect();
    assert_eq!(loaded.len(), expected.len());
    assert_eq!(loaded.first(), expected.first().copied());
    assert_eq!(loaded.last(), expected.last().copied());
    // The candle open at 00:00 on the 15th is not closed at 00:07.
    assert_eq!(loaded.last().unwrap().time_ms, ms("2024-03-14T23:45:00Z"));
    // Limits as Binance sets them: 1,500 rows per page.
    let pages: Vec<String> = venue
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
        .map(|r| {
            r.params
                .iter()
                .find(|(k, _)| k == "limit")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    assert!(pages.iter().all(|l| l == "1500"));

    let jan = cache.path().join("binance/BTCUSDT/15m/2024-01.csv");
    assert_eq!(
        std::fs::read_to_string(&jan).unwrap().lines().count(),
        31 * 96
    );
    assert!(
        !cache
            .path()
            .join("binance/BTCUSDT/15m/2024-03.csv")
            .exists(),
        "an open month is not cached"
    );

    // Again: closed months come from disk; only March is asked for.
    let again = source
        .fetch(
            "BTCUSDT",
            "15m",
            ms("2024-01-10T00:00:00Z"),
            ms("2024-03-20T00:00:00Z"),
            now,
            &progress,
        )
        .await
        .unwrap();
    assert_eq!((again.months_downloaded, again.months_from_cache), (1, 2));
    assert_eq!(again.requests, 1);
    assert_eq!(again.csv, got.csv);
}

#[tokio::test]
async fn refusals_and_bad_requests_are_clear() {
    let venue = LocalBinance::start();
    let source = KlineSource::new(&venue.rest_url, None);
    let now = ms("2024-03-15T00:00:00Z");
    let progress = |_: u64, _: u64| {};
    let from = ms("2024-03-01T00:00:00Z");
    let e = source
        .fetch("NOPEUSDT", "1h", from, now, now, &progress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            KlineError::Refused {
                status: 400,
                code: -1121,
                ..
            }
        ),
        "{e}"
    );
    let e = source
        .fetch("../etc", "1h", from, now, now, &progress)
        .await
        .unwrap_err();
    assert!(matches!(e, KlineError::Symbol(_)), "{e}");
    let e = source
        .fetch("BTCUSDT", "7m", from, now, now, &progress)
        .await
        .unwrap_err();
    assert!(matches!(e, KlineError::Interval(_)), "{e}");
    let e = source
        .fetch("BTCUSDT", "1h", now, from, now, &progress)
        .await
        .unwrap_err();
    assert!(matches!(e, KlineError::EmptyRange), "{e}");
    venue.fail_next(
        "/fapi/v1/klines",
        Failure::RateLimited {
            retry_after_secs: 7,
        },
    );
    let e = source
        .fetch("BTCUSDT", "1h", from, now, now, &progress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            KlineError::RateLimited {
                status: 429,
                retry_after_s: 7
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("retry in 7 s"));
}
