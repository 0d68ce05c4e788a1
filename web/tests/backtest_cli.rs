//! `tradingbot backtest` from the real binary: the report, the files, and
//! clear refusals.

mod common;

use common::*;
use std::process::Command;

#[test]
fn the_cli_backtests_the_bundled_data_and_writes_its_files() {
    let (_tmp, dir) = workdir();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .args([
            "backtest",
            "--template",
            "ema_crossover",
            "--param",
            "fast=9",
            "--param",
            "slow=21",
        ])
        .args(["--leverage", "3", "--all", "--out", "report"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "EMA Crossover (fast=9, slow=21)",
        "1318 bars",
        "win rate",
        "max drawdown",
        "exits",
    ] {
        assert!(stdout.contains(part), "{part} missing in\n{stdout}");
    }
    let trades = std::fs::read_to_string(dir.join("report/trades.csv")).unwrap();
    let rows = trades.lines().count() - 1;
    let line = stdout.lines().find(|l| l.starts_with("trades")).unwrap();
    assert_eq!(line.split_whitespace().last().unwrap(), rows.to_string());
    let equity = std::fs::read_to_string(dir.join("report/equity.csv")).unwrap();
    assert_eq!(equity.lines().count(), 1318 + 1);
    // equity.png is a real PNG of the documented size.
    let png = std::fs::read(dir.join("report/equity.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1200, 720));
    assert!(png.len() > 20_000, "a drawing, not a blank image");

    // The default window is the data's last six months.
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .args(["backtest", "--template", "supertrend", "--out", "six"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let equity = std::fs::read_to_string(dir.join("six/equity.csv")).unwrap();
    assert_eq!(equity.lines().count(), 183 + 1);

    // Bad parameters are named, with a non-zero exit.
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .args(["backtest", "--param", "fast=40", "--param", "slow=21"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--param fast: must be shorter than `slow`")
    );
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .args(["backtest", "--template", "astrology"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown template `astrology`"));
}

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .arg("backtest")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_sweep_ranks_every_combination() {
    let (_tmp, dir) = workdir();
    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "--all",
            "--sweep",
            "fast=5..20",
            "--sweep",
            "slow=20..40:5",
            "--top",
            "3",
            "--out",
            "sweep",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    // 16 × 5 combinations; fast=20 with slow=20 is refused by the template.
    assert!(stdout.contains("80 combinations, 1 refused"), "{stdout}");
    let ranked: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert_eq!(ranked.len(), 3, "{stdout}");
    let csv = std::fs::read_to_string(dir.join("sweep/sweep.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 79);
    let returns: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(returns.windows(2).all(|w| w[0] >= w[1]), "ranked by return");

    // The best row is what a single run with those parameters reports.
    let (fast, slow) = (rows[0][0], rows[0][1]);
    let (ok, single, _) = run(
        &dir,
        &[
            "--all",
            "--param",
            &format!("fast={fast}"),
            "--param",
            &format!("slow={slow}"),
            "--out",
            "best",
        ],
    );
    assert!(ok);
    let line = single
        .lines()
        .find(|l| l.starts_with("total return"))
        .unwrap();
    let shown: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(
        (shown - returns[0]).abs() < 0.006,
        "{shown} vs {}",
        returns[0]
    );

    for (args, expected) in [
        (vec!["--sweep", "speed=1..3"], "not a parameter"),
        (vec!["--sweep", "fast=9..5"], "positive step"),
        (
            vec!["--sweep", "fast=5..9", "--rank-by", "luck"],
            "--rank-by",
        ),
    ] {
        let (ok, _, stderr) = run(&dir, &args);
        assert!(!ok);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn the_cli_downloads_klines_once_and_then_reads_its_cache() {
    use rust_decimal::Decimal;
    let (_tmp, dir) = workdir();
    let venue = tradingbot_testkit::binance::LocalBinance::start();
    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    // January and February 2024 in hourly candles: a wave, so EMAs cross.
    let candles: Vec<_> = (0..(31 + 29) * 24)
        .map(|i| {
            let wave = ((i as f64) / 40.0).sin() * 2_000.0;
            let open = Decimal::from(40_000 + wave as i64);
            let close = Decimal::from(
                40_000 + (((i + 1) as f64) / 40.0).sin().mul_add(2_000.0, 0.0) as i64,
            );
            tradingbot_core::market::candle::Candle {
                time_ms: start + i as i64 * 3_600_000,
                open,
                high: open.max(close) + Decimal::from(20),
                low: open.min(close) - Decimal::from(20),
                close,
                volume: Decimal::ONE,
            }
        })
        .collect();
    venue.set_klines("BTCUSDT", "1h", candles);
    let args = [
        "--download",
        "btcusdt",
        "--interval",
        "1h",
        "--from",
        "2024-01-01",
        "--to",
        "2024-02-29",
        "--binance-url",
        &venue.rest_url,
        "--cache-dir",
        "cache",
        "--out",
        "dl",
    ];
    let (ok, stdout, stderr) = run(&dir, &args);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("2 months downloaded (2 requests), 0 from the cache"),
        "{stderr}"
    );
    assert!(stdout.contains("1440 bars (binance_klines)"), "{stdout}");
    assert!(stdout.contains("0 missing bars, 0 duplicates"), "{stdout}");
    assert!(dir.join("cache/binance/BTCUSDT/1h/2024-01.csv").exists());
    let trades = std::fs::read_to_string(dir.join("dl/trades.csv")).unwrap();
    assert!(trades.lines().count() > 1, "the wave makes trades");

    let (ok, again, stderr) = run(&dir, &args);
    assert!(ok);
    assert!(
        stderr.contains("0 months downloaded (0 requests), 2 from the cache"),
        "{stderr}"
    );
    assert_eq!(again, stdout);
    let asked = venue
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
        .count();
    assert_eq!(asked, 2);

    let (ok, _, stderr) = run(
        &dir,
        &[
            "--download",
            "NOPEUSDT",
            "--binance-url",
            &venue.rest_url,
            "--cache-dir",
            "cache",
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("Invalid symbol"), "{stderr}");
}
