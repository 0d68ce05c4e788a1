//! Parameter sweeps: every combination of the swept parameters backtested
//! on the same candles, spread over all cores with rayon, ranked.

use crate::engine::{Series, Settings, run};
use crate::report::{Report, report};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tradingbot_core::templates::{ParamKind, ParamValue, Template};

/// More combinations than this is a mistake on the command line.
pub const MAX_COMBINATIONS: usize = 100_000;

/// One swept parameter and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: &'static str,
    pub values: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankBy {
    Return,
    Sharpe,
    ProfitFactor,
    WinRate,
    Drawdown,
}

impl RankBy {
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "return" => Self::Return,
            "sharpe" => Self::Sharpe,
            "profit-factor" | "profit_factor" => Self::ProfitFactor,
            "win-rate" | "win_rate" => Self::WinRate,
            "drawdown" => Self::Drawdown,
            _ => return None,
        })
    }

    /// Higher is better.
    fn score(self, r: &Report) -> f64 {
        match self {
            Self::Return => r.total_return_pct,
            Self::Sharpe => r.sharpe.unwrap_or(f64::NEG_INFINITY),
            Self::ProfitFactor => r.profit_factor.unwrap_or(f64::NEG_INFINITY),
            Self::WinRate => r.win_rate_pct,
            Self::Drawdown => -r.max_drawdown_pct,
        }
    }
}

/// Reads `name=from..to[:step]` (numbers) or `name=a,b,c` (any) for a
/// template's parameter. Integer ranges step by 1 unless told; decimal
/// ranges by the parameter's own step.
pub fn parse_axis(t: &Template, spec: &str) -> Result<Axis, String> {
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| format!("--sweep {spec}: expected NAME=FROM..TO[:STEP] or NAME=A,B,C"))?;
    let name = name.trim();
    let p = t.params.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = t.params.iter().map(|p| p.name).collect();
        format!(
            "--sweep {spec}: `{name}` is not a parameter of {} ({})",
            t.id,
            names.join(", ")
        )
    })?;
    let bad = |why: &str| format!("--sweep {spec}: {why}");
    let values: Vec<serde_json::Value> = if let Some((from, rest)) = values.split_once("..") {
        let (to, step) = match rest.split_once(':') {
            Some((to, step)) => (to, Some(step)),
            None => (rest, None),
        };
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| bad(&format!("`{s}` is not a number")))
        };
        let (from, to) = (num(from)?, num(to)?);
        let step = match (step, p.kind) {
            (Some(s), _) => num(s)?,
            (None, ParamKind::Float { step, .. }) => step,
            (None, _) => 1.0,
        };
        if step.is_nan() || step <= 0.0 || to < from {
            return Err(bad("the range must go up by a positive step"));
        }
        let n = ((to - from) / step + 1e-9).floor() as usize + 1;
        if n > MAX_COMBINATIONS {
            return Err(bad("too many values"));
        }
        match p.kind {
            ParamKind::Int { .. } => (0..n)
                .map(|i| serde_json::Value::from((from + step * i as f64).round() as i64))
                .collect(),
            ParamKind::Float { .. } => (0..n)
                .map(|i| {
                    let v = from + step * i as f64;
                    serde_json::Value::from((v * 1e9).round() / 1e9)
                })
                .collect(),
            ParamKind::Choice { .. } => return Err(bad("a choice takes a list: NAME=A,B")),
        }
    } else {
        values
            .split(',')
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| match v.parse::<i64>() {
                Ok(i) if !matches!(p.kind, ParamKind::Choice { .. }) => serde_json::Value::from(i),
                _ => match v.parse::<f64>() {
                    Ok(f) if !matches!(p.kind, ParamKind::Choice { .. }) => {
                        serde_json::Value::from(f)
                    }
                    _ => serde_json::Value::from(v),
                },
            })
            .collect()
    };
    if values.is_empty() {
        return Err(bad("no values"));
    }
    Ok(Axis {
        name: p.name,
        values,
    })
}

/// One combination's result.
#[derive(Debug, Clone)]
pub struct Row {
    pub params: BTreeMap<&'static str, ParamValue>,
    pub report: Report,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    /// Best first.
    pub rows: Vec<Row>,
    /// Combinations the template refused (e.g. fast ≥ slow), with why.
    pub refused: Vec<(String, String)>,
}

/// Every combination of `axes` (on top of the `fixed` parameters).
pub fn combinations(
    fixed: &serde_json::Map<String, serde_json::Value>,
    axes: &[Axis],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let total = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()));
    match total {
        Some(n) if n <= MAX_COMBINATIONS => {}
        _ => {
            return Err(format!(
                "more than {MAX_COMBINATIONS} combinations; narrow the sweep"
            ));
        }
    }
    let mut out = vec![fixed.clone()];
    for a in axes {
        out = out
            .into_iter()
            .flat_map(|m| {
                a.values.iter().map(move |v| {
                    let mut m = m.clone();
                    m.insert(a.name.to_owned(), v.clone());
                    m
                })
            })
            .collect();
    }
    Ok(out)
}

/// Runs every combination on the current rayon pool; `progress(done,
/// total)` is called as combinations finish, from any thread.
pub fn sweep(
    series: &Series,
    t: &Template,
    combos: &[serde_json::Map<String, serde_json::Value>],
    s: &Settings,
    rank: RankBy,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Outcome {
    let done = AtomicU64::new(0);
    let total = combos.len() as u64;
    let results: Vec<Result<Row, (String, String)>> = combos
        .par_iter()
        .map(|given| {
            let r = match t.configure(given) {
                Ok(c) => {
                    let o = run(series, c.rule(), s);
                    Ok(Row {
                        report: report(series.traded(), s.capital, &o),
                        params: c.params,
                    })
                }
                Err(errors) => Err((
                    serde_json::Value::Object(given.clone()).to_string(),
                    errors
                        .iter()
                        .map(|e| e.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                )),
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            r
        })
        .collect();
    let (mut rows, mut refused) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => refused.push(e),
        }
    }
    rows.sort_by(|a, b| rank.score(&b.report).total_cmp(&rank.score(&a.report)));
    Outcome { rows, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradingbot_core::templates;

    #[test]
    fn axes_read_ranges_steps_and_lists() {
        let ema = templates::find("ema_crossover").unwrap();
        let a = parse_axis(&ema, "fast=5..20").unwrap();
        assert_eq!(a.values.len(), 16);
        assert_eq!(a.values[0], 5);
        let a = parse_axis(&ema, "slow=20..50:10").unwrap();
        assert_eq!(
            a.values,
            vec![serde_json::json!(20), 30.into(), 40.into(), 50.into()]
        );
        let bb = templates::find("bollinger").unwrap();
        let m = parse_axis(&bb, "mult=1.5..2.5:0.5").unwrap();
        assert_eq!(
            m.values,
            vec![serde_json::json!(1.5), 2.0.into(), 2.5.into()]
        );
        let mode = parse_axis(&bb, "mode=breakout,reversion").unwrap();
        assert_eq!(
            mode.values,
            vec![serde_json::json!("breakout"), "reversion".into()]
        );
        assert!(
            parse_axis(&ema, "speed=1..2")
                .unwrap_err()
                .contains("not a parameter")
        );
        assert!(parse_axis(&ema, "fast=20..5").is_err());
        assert!(parse_axis(&ema, "fast").is_err());
        let c = combinations(
            &serde_json::Map::new(),
            &[
                parse_axis(&ema, "fast=5..7").unwrap(),
                parse_axis(&ema, "slow=20..21").unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(c.len(), 6);
    }
}
