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

    // Sizing and protections as a strategy's.
    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "--sizing-mode",
            "risk_pct",
            "--risk-pct",
            "1",
            // A week without entries after each stop (the data is daily).
            "--cooldown-after-sl-min",
            "10080",
            "--all",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("entries held back by the strategy's protections"),
        "{stdout}"
    );
    // A ladder: every trade row says how many targets it hit.
    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "--tp-level",
            "2:50",
            "--tp-level",
            "6:50",
            "--break-even-after",
            "1",
            "--all",
            "--out",
            "ladder",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let trades = std::fs::read_to_string(dir.join("ladder/trades.csv")).unwrap();
    assert!(
        trades.starts_with("entry_time,")
            && trades.lines().next().unwrap().ends_with(",targets_hit")
    );
    assert!(
        trades.lines().skip(1).any(|l| !l.ends_with(",0")),
        "{trades}"
    );
    // A trailing stop: some trades end on it.
    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "--trail-pct",
            "3",
            "--long-tp",
            "30",
            "--all",
            "--out",
            "trail",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let trades = std::fs::read_to_string(dir.join("trail/trades.csv")).unwrap();
    assert!(trades.contains(",TrailingStop,"), "{trades}");
    // Limit entries 3 % under the price for a day: some never fill.
    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "--order-type",
            "limit",
            "--limit-offset-pct",
            "3",
            "--limit-expiry-sec",
            "86400",
            "--all",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("limit entries not filled in time"),
        "{stdout}"
    );
    let (ok, _, stderr) = run(&dir, &["--limit-offset-pct", "1"]);
    assert!(!ok);
    assert!(stderr.contains("--order-type: `limit` for"), "{stderr}");
    let (ok, _, stderr) = run(&dir, &["--trail-pct", "20"]);
    assert!(!ok);
    assert!(
        stderr.contains("--trail-pct: between 0.1 and 10"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&dir, &["--tp-level", "2:60", "--tp-level", "4:30"]);
    assert!(!ok);
    assert!(stderr.contains("add up to 90, not 100"), "{stderr}");
    let (ok, _, stderr) = run(&dir, &["--sizing-mode", "risk_pct"]);
    assert!(!ok);
    assert!(
        stderr.contains("--risk-pct: required with sizing_mode `risk_pct`"),
        "{stderr}"
    );
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
    let start = chrono::DateTime::parse_from_rfc3339("2023-11-01T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    // November 2023 to February 2024 in hourly candles: a wave, so EMAs
    // cross. The window is January and February; the 1,000 bars before it
    // (from November 20) warm the indicators.
    let candles: Vec<_> = (0..(30 + 31 + 31 + 29) * 24)
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
        stderr.contains("4 months downloaded (4 requests), 0 from the cache"),
        "{stderr}"
    );
    assert!(stdout.contains("1440 bars (binance_klines)"), "{stdout}");
    assert!(
        stdout.contains("1000 bars before the window warmed the indicators"),
        "{stdout}"
    );
    // The venue's own filters for the symbol, kept beside the candles.
    let instrument = stdout
        .lines()
        .find(|l| l.starts_with("instrument"))
        .unwrap();
    assert!(
        instrument.ends_with("BTCUSDT from the venue"),
        "{instrument}"
    );
    assert!(dir.join("cache/rules/BTCUSDT.json").exists());
    assert!(stdout.contains("0 missing bars, 0 duplicates"), "{stdout}");
    assert!(dir.join("cache/binance/BTCUSDT/1h/2024-01.csv").exists());
    let trades = std::fs::read_to_string(dir.join("dl/trades.csv")).unwrap();
    assert!(trades.lines().count() > 1, "the wave makes trades");

    let (ok, again, stderr) = run(&dir, &args);
    assert!(ok);
    assert!(
        stderr.contains("0 months downloaded (0 requests), 4 from the cache"),
        "{stderr}"
    );
    assert_eq!(again, stdout);
    let asked = venue
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
        .count();
    assert_eq!(asked, 4);
    let asked = |path: &str| venue.requests().iter().filter(|r| r.path == path).count();
    assert_eq!(
        asked("/fapi/v1/exchangeInfo"),
        1,
        "the rules come from the cache too"
    );

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

/// Issue 19, cases 3 and 4: EURUSD data exported by pandas gets rules of
/// its own (a 0.5 % stop lands 0.5 % away; no BTC quantity cap), flags replace
/// them, errors are printed once, and `| head` is not a crash.
#[test]
fn other_data_gets_its_own_rules_and_the_cli_behaves_in_a_pipe() {
    let (_tmp, dir) = workdir();
    // 400 days of EURUSD-like prices, five decimals, `df.to_csv()` layout.
    let mut csv = String::from(",open,high,low,close,volume\n");
    let day0 = chrono::NaiveDate::from_ymd_opt(2022, 1, 1).unwrap();
    let price = |i: i64| 1.08 + ((i as f64) / 9.0).sin() * 0.04;
    for i in 0..400i64 {
        let (o, c) = (price(i), price(i + 1));
        let _ = std::fmt::Write::write_fmt(
            &mut csv,
            format_args!(
                "{},{:.5},{:.5},{:.5},{:.5},0\n",
                day0 + chrono::Days::new(i as u64),
                o,
                // Wicks of ~0.75 %: a 0.5 % stop is reached inside a
                // bar, never by a gap.
                o.max(c) + 0.008,
                o.min(c) - 0.008,
                c
            ),
        );
    }
    std::fs::write(dir.join("eurusd.csv"), &csv).unwrap();
    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "--data",
            "eurusd.csv",
            "--all",
            "--out",
            "fx",
            "--long-sl",
            "0.5",
            "--short-sl",
            "0.5",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let instrument = stdout
        .lines()
        .find(|l| l.starts_with("instrument"))
        .unwrap();
    assert!(
        instrument.contains("tick 0.00001, step 1, max quantity none — derived from the data"),
        "{instrument}"
    );
    let trades = std::fs::read_to_string(dir.join("fx/trades.csv")).unwrap();
    let rows: Vec<Vec<String>> = trades
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert!(rows.len() > 5, "{trades}");
    let num = |s: &str| s.parse::<f64>().unwrap();
    // 10,000 × 10 % × 3 / ~1.08: some 2,700 units, never cut to 1,000.
    assert!(rows.iter().all(|r| num(&r[5]) > 2_000.0), "{trades}");
    let stops: Vec<f64> = rows
        .iter()
        .filter(|r| r[8] == "StopLoss")
        .map(|r| (num(&r[4]) / num(&r[3]) - 1.0).abs() * 100.0)
        .collect();
    assert!(!stops.is_empty(), "{trades}");
    for d in &stops {
        // Within a tick (0.00001 on ~1.08) of 0.5 %; BTCUSDT's 0.1 tick
        // would put it at 1.0 or 1.1.
        assert!(
            (d - 0.5).abs() < 0.002,
            "a 0.5 % stop filled {d} % away\n{trades}"
        );
    }

    // The trader's flags win, and say so.
    let (ok, stdout, _) = run(
        &dir,
        &[
            "--data",
            "eurusd.csv",
            "--all",
            "--out",
            "fx2",
            "--tick",
            "0.001",
            "--max-qty",
            "1000",
        ],
    );
    assert!(ok);
    let instrument = stdout
        .lines()
        .find(|l| l.starts_with("instrument"))
        .unwrap();
    assert!(
        instrument.contains("tick 0.001, step 1, max quantity 1000"),
        "{instrument}"
    );
    assert!(
        instrument.ends_with("with --tick --max-qty"),
        "{instrument}"
    );
    let trades = std::fs::read_to_string(dir.join("fx2/trades.csv")).unwrap();
    assert!(
        trades
            .lines()
            .skip(1)
            .all(|l| num(l.split(',').nth(5).unwrap()) <= 1000.0),
        "{trades}"
    );

    // An unreadable file: its error, once.
    std::fs::write(dir.join("bad.csv"), "a,b,c\n1,2,3\n").unwrap();
    let (ok, _, stderr) = run(&dir, &["--data", "bad.csv"]);
    assert!(!ok);
    assert_eq!(
        stderr.matches("the header does not name").count(),
        1,
        "{stderr}"
    );

    // `tradingbot backtest … | head`: the reader leaves before the report.
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .args(["backtest", "--data", "eurusd.csv", "--all", "--out", "fx3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}
