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
