//! `tradingbot backtest`: one run from the command line — the report as a
//! table, and `trades.csv`, `equity.csv` and `equity.png` beside it — or a
//! parameter sweep ranked, with every combination in `sweep.csv`.

use crate::data::{LoadReport, load_csv};
use crate::engine::{Fill, Series, Settings, run_observed};
use crate::report::{Report, report};
use crate::rules::{self, Chosen, Overrides};
use crate::sweep::{self, RankBy};
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tradingbot_core::exchange::instrument::InstrumentRules;
use tradingbot_core::market::candle::{BUNDLED_BTC_DAILY, Candle};
use tradingbot_core::strategy::OppositeSignal;
use tradingbot_core::templates;

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// A candle CSV; `None`: the bundled BTC daily series.
    pub data: Option<PathBuf>,
    /// Candle CSV already in memory (a download); wins over `data`.
    pub text: Option<String>,
    pub template: String,
    /// `name=value` pairs.
    pub params: Vec<(String, String)>,
    pub settings: Settings,
    /// Only candles opening on or after / before (ms); default: the last
    /// six months of the data.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub whole: bool,
    pub out: PathBuf,
    /// `name=from..to[:step]` or `name=a,b`: sweep instead of one run.
    pub sweep: Vec<String>,
    pub rank_by: RankBy,
    /// How many of the best combinations the table shows.
    pub top: usize,
    /// The traded symbol (`--symbol`, or the downloaded one): its rules.
    pub symbol: Option<String>,
    /// The venue's rules for `symbol`, when they could be read.
    pub venue_rules: Option<InstrumentRules>,
    pub overrides: Overrides,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("unknown template `{0}`; one of {1}")]
    Template(String, String),
    #[error("{0}")]
    Params(String),
    #[error("no candles in the chosen window")]
    EmptyWindow,
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("{0}")]
    Sweep(String),
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

const SIX_MONTHS_MS: i64 = 182 * 86_400_000;

/// Where the window starts: `from`, or by default the data's last six
/// months (the seed's default); `None` for the whole series.
pub fn window_start(candles: &[Candle], from: Option<i64>, whole: bool) -> Option<i64> {
    let last = candles.last().map_or(0, |c| c.time_ms);
    (!whole).then(|| from.unwrap_or(last - SIX_MONTHS_MS))
}

/// The window's candles alone (no warm-up).
pub fn window(candles: &[Candle], from: Option<i64>, to: Option<i64>, whole: bool) -> Vec<Candle> {
    let from = window_start(candles, from, whole).unwrap_or(i64::MIN);
    let to = to.unwrap_or(i64::MAX);
    candles
        .iter()
        .filter(|c| c.time_ms >= from && c.time_ms < to)
        .copied()
        .collect()
}

/// The window with the bars before it as its indicators' warm-up.
pub fn warmed_window(
    candles: &[Candle],
    from: Option<i64>,
    to: Option<i64>,
    whole: bool,
) -> Series {
    Series::window(candles, window_start(candles, from, whole), to)
}

pub struct Done {
    pub table: String,
    pub report: Report,
    pub data: LoadReport,
    pub files: Vec<PathBuf>,
    pub rules: Chosen,
    /// Bars before the window that warmed the indicators.
    pub warmup: usize,
}

/// Runs the request; `progress(done, total)` hears about bars (one run) or
/// combinations (a sweep) as they complete.
pub fn execute(req: &Request, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Done, CliError> {
    let text = match (&req.text, &req.data) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| CliError::Read(p.clone(), e))?,
        (None, None) => BUNDLED_BTC_DAILY.to_owned(),
    };
    let (candles, data) = load_csv(&text)?;
    // The bundled series is BTC's.
    let symbol = req
        .symbol
        .clone()
        .or_else(|| (req.text.is_none() && req.data.is_none()).then(|| "BTCUSDT".to_owned()));
    let chosen_rules = rules::choose(
        req.venue_rules.clone(),
        symbol.as_deref(),
        &candles,
        req.overrides,
    );
    let settings = Settings {
        rules: chosen_rules.rules.clone(),
        ..req.settings.clone()
    };
    let t = templates::find(&req.template).ok_or_else(|| {
        let ids: Vec<&str> = templates::library().iter().map(|t| t.id).collect();
        CliError::Template(req.template.clone(), ids.join(", "))
    })?;
    let given: serde_json::Map<String, serde_json::Value> = req
        .params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let configured = t.configure(&given).map_err(|errors| {
        CliError::Params(
            errors
                .iter()
                .map(|e| {
                    format!(
                        "--param {}: {}",
                        e.field.trim_start_matches("params."),
                        e.message
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let series = warmed_window(&candles, req.from_ms, req.to_ms, req.whole);
    if series.traded().is_empty() {
        return Err(CliError::EmptyWindow);
    }
    std::fs::create_dir_all(&req.out).map_err(|e| CliError::Write(req.out.clone(), e))?;
    if !req.sweep.is_empty() {
        return execute_sweep(
            req,
            &settings,
            &t,
            &given,
            &series,
            data,
            chosen_rules,
            progress,
        );
    }
    let total = series.traded().len() as u64;
    let mut rule = configured.rule();
    let outcome = run_observed(
        &series,
        |_, bar| rule.update(*bar),
        &settings,
        |done| progress(done as u64, total),
    );
    let r = report(series.traded(), settings.capital, &outcome);

    let trades_path = req.out.join("trades.csv");
    let mut csv = String::from(
        "entry_time,exit_time,side,entry_price,exit_price,quantity,fees,pnl,exit_reason,targets_hit\n",
    );
    for t in &outcome.trades {
        let _ = writeln!(
            csv,
            "{},{},{:?},{},{},{},{},{},{:?},{}",
            iso(t.entry_time_ms),
            iso(t.exit_time_ms),
            t.side,
            t.entry_price,
            t.exit_price,
            t.quantity,
            t.fees,
            t.pnl,
            t.exit_reason,
            t.targets_hit
        );
    }
    write(&trades_path, &csv)?;
    let equity_path = req.out.join("equity.csv");
    let mut eq = String::from("time,equity\n");
    for (t, e) in &outcome.equity {
        let _ = writeln!(eq, "{},{e:.2}", iso(*t));
    }
    write(&equity_path, &eq)?;
    let png_path = req.out.join("equity.png");
    let closes: Vec<(i64, f64)> = series
        .traded()
        .iter()
        .zip(&series.bars[series.start..])
        .map(|(c, b)| (c.time_ms, b.close))
        .collect();
    crate::plot::equity_png(
        &png_path,
        &format!("{} · {}", t.name, params_text(&configured)),
        &outcome.equity,
        &closes,
    )?;

    let first = series.traded().first().map_or(0, |c| c.time_ms);
    let last = series.traded().last().map_or(0, |c| c.time_ms);
    let table = table(
        t.name,
        &configured,
        &data,
        (first, last, series.traded().len(), series.warmup()),
        &chosen_rules,
        &r,
    );
    Ok(Done {
        table,
        report: r,
        data,
        files: vec![trades_path, equity_path, png_path],
        rules: chosen_rules,
        warmup: series.warmup(),
    })
}

#[allow(clippy::too_many_arguments)]
fn execute_sweep(
    req: &Request,
    settings: &Settings,
    t: &templates::Template,
    fixed: &serde_json::Map<String, serde_json::Value>,
    series: &Series,
    data: LoadReport,
    chosen_rules: Chosen,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Done, CliError> {
    let axes = req
        .sweep
        .iter()
        .map(|spec| sweep::parse_axis(t, spec))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::Sweep)?;
    let mut fixed = fixed.clone();
    for a in &axes {
        fixed.remove(a.name);
    }
    let combos = sweep::combinations(&fixed, &axes).map_err(CliError::Sweep)?;
    let result = sweep::sweep(series, t, &combos, settings, req.rank_by, progress);
    let Some(best) = result.rows.first() else {
        return Err(CliError::Sweep(format!(
            "every combination was refused, e.g. {}: {}",
            result.refused.first().map_or("", |r| r.0.as_str()),
            result.refused.first().map_or("", |r| r.1.as_str())
        )));
    };
    let csv_path = req.out.join("sweep.csv");
    let names: Vec<&str> = best.params.keys().copied().collect();
    let mut csv = format!(
        "{},total_return_pct,cagr_pct,max_drawdown_pct,sharpe,profit_factor,win_rate_pct,trades\n",
        names.join(",")
    );
    for row in &result.rows {
        let values: Vec<String> = row.params.values().map(value_text).collect();
        let r = &row.report;
        let _ = writeln!(
            csv,
            "{},{:.4},{:.4},{:.4},{},{},{:.2},{}",
            values.join(","),
            r.total_return_pct,
            r.cagr_pct,
            r.max_drawdown_pct,
            r.sharpe.map_or(String::new(), |v| format!("{v:.4}")),
            r.profit_factor.map_or(String::new(), |v| format!("{v:.4}")),
            r.win_rate_pct,
            r.trades
        );
    }
    write(&csv_path, &csv)?;
    let first = series.traded().first().map_or(0, |c| c.time_ms);
    let last = series.traded().last().map_or(0, |c| c.time_ms);
    let mut table = format!(
        "sweep of {} over {} bars ({}, {} warm-up bars before), {} → {}: {} combinations, {} refused by the template\ninstrument: {chosen_rules}\n\n",
        t.name,
        series.traded().len(),
        data.format,
        series.warmup(),
        iso(first),
        iso(last),
        combos.len(),
        result.refused.len()
    );
    let header = format!(
        "{:>4}  {:<28}  {:>9}  {:>8}  {:>7}  {:>7}  {:>6}  {:>6}",
        "rank", "parameters", "return %", "max DD %", "Sharpe", "PF", "win %", "trades"
    );
    let _ = writeln!(table, "{header}");
    for (i, row) in result.rows.iter().take(req.top.max(1)).enumerate() {
        let r = &row.report;
        let params: Vec<String> = row
            .params
            .iter()
            .filter(|(k, _)| axes.iter().any(|a| a.name == **k))
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        let _ = writeln!(
            table,
            "{:>4}  {:<28}  {:>9.2}  {:>8.2}  {:>7}  {:>7}  {:>6.1}  {:>6}",
            i + 1,
            params.join(" "),
            r.total_return_pct,
            r.max_drawdown_pct,
            opt(r.sharpe),
            opt(r.profit_factor),
            r.win_rate_pct,
            r.trades
        );
    }
    Ok(Done {
        table,
        report: best.report.clone(),
        data,
        files: vec![csv_path],
        rules: chosen_rules,
        warmup: series.warmup(),
    })
}

fn value_text(v: &templates::ParamValue) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

fn params_text(c: &templates::Configured) -> String {
    c.params
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::Write(path.to_owned(), e))
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// To the cent, half away from zero (a formatter's precision truncates).
fn cents(d: Decimal) -> String {
    format!(
        "{:.2}",
        d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    )
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2}"))
}

fn table(
    name: &str,
    c: &templates::Configured,
    data: &LoadReport,
    (first, last, bars, warmup): (i64, i64, usize, usize),
    rules: &Chosen,
    r: &Report,
) -> String {
    let rows: Vec<(&str, String)> = vec![
        ("strategy", format!("{name} ({})", params_text(c))),
        (
            "data",
            format!(
                "{} bars ({}), {} → {}",
                bars,
                data.format,
                iso(first),
                iso(last)
            ),
        ),
        (
            "warm-up",
            if warmup == 0 {
                "none: the window starts at the data's first bar".to_owned()
            } else {
                format!("{warmup} bars before the window warmed the indicators")
            },
        ),
        ("instrument", rules.to_string()),
        (
            "data problems",
            format!(
                "{} missing bars, {} duplicates, {} unusable rows",
                data.missing_bars(),
                data.duplicates,
                data.skipped.len()
            ),
        ),
        (
            "final equity",
            format!(
                "{} (from {})",
                cents(r.final_equity),
                cents(r.initial_capital)
            ),
        ),
        ("total return", format!("{:.2} %", r.total_return_pct)),
        ("buy and hold", format!("{:.2} %", r.buy_and_hold_pct)),
        ("CAGR", format!("{:.2} %", r.cagr_pct)),
        (
            "max drawdown",
            format!(
                "{:.2} % over {:.0} days",
                r.max_drawdown_pct, r.max_drawdown_days
            ),
        ),
        (
            "Sharpe / Sortino / Calmar",
            format!("{} / {} / {}", opt(r.sharpe), opt(r.sortino), opt(r.calmar)),
        ),
        ("trades", r.trades.to_string()),
        ("win rate", format!("{:.1} %", r.win_rate_pct)),
        ("profit factor", opt(r.profit_factor)),
        ("expectancy", format!("{:.2} per trade", r.expectancy)),
        ("average risk/reward", opt(r.avg_risk_reward)),
        ("exposure", format!("{:.1} % of bars", r.exposure_pct)),
        ("fees", format!("{:.2}", r.fees)),
        (
            "exits",
            r.exit_reasons
                .iter()
                .map(|(k, v)| format!("{k:?} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    if r.held_back_entries > 0 {
        let _ = writeln!(
            out,
            "{} entries held back by the strategy's protections",
            r.held_back_entries
        );
    }
    if r.expired_entries > 0 {
        let _ = writeln!(
            out,
            "{} limit entries not filled in time",
            r.expired_entries
        );
    }
    if r.ruined {
        out.push_str("the account was wiped out; trading stopped\n");
    }
    out
}

/// Settings from the command line's words.
pub fn fill(word: &str) -> Option<Fill> {
    match word {
        "next-open" | "next_open" => Some(Fill::NextOpen),
        "close" => Some(Fill::Close),
        _ => None,
    }
}

pub fn opposite(word: &str) -> Option<OppositeSignal> {
    match word {
        "reverse" => Some(OppositeSignal::Reverse),
        "close" => Some(OppositeSignal::Close),
        _ => None,
    }
}

/// `--capital` and friends arrive as decimals.
pub fn decimal(word: &str) -> Option<Decimal> {
    word.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::cents;
    use rust_decimal_macros::dec;

    #[test]
    fn final_equity_is_rounded_to_the_cent_not_cut() {
        assert_eq!(cents(dec!(10293.7810614)), "10293.78");
        assert_eq!(cents(dec!(10293.785)), "10293.79");
        assert_eq!(cents(dec!(8999.999)), "9000.00");
        assert_eq!(cents(dec!(-0.005)), "-0.01");
        assert_eq!(cents(dec!(10000)), "10000.00");
    }
}
