//! The five indicator templates a strategy is built on: their cards
//! (id, name, description, difficulty, parameters with defaults and
//! ranges) and the rule turning candles into signals. The same rule runs
//! in the backtester and is what the generated Pine Script computes, so the
//! alerts TradingView fires and the trades a backtest shows agree.

mod describe;
mod rules;

pub use describe::{Suggestion, suggest};
pub use rules::{Rule, Signal};

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Beginner,
    Intermediate,
    Advanced,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum ParamKind {
    /// Whole numbers in `[min, max]`.
    Int { min: i64, max: i64 },
    /// Decimals in `[min, max]`, on a grid of `step`.
    Float { min: f64, max: f64, step: f64 },
    /// One of the listed words.
    Choice { options: &'static [&'static str] },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    /// Shown next to the input.
    pub title: &'static str,
    #[serde(flatten)]
    pub kind: ParamKind,
    pub default: ParamValue,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Choice(&'static str),
}

impl ParamValue {
    pub fn as_f64(&self) -> f64 {
        match self {
            ParamValue::Int(i) => *i as f64,
            ParamValue::Float(f) => *f,
            ParamValue::Choice(_) => f64::NAN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub difficulty: Difficulty,
    pub params: Vec<ParamSpec>,
}

fn int(name: &'static str, title: &'static str, default: i64, min: i64, max: i64) -> ParamSpec {
    ParamSpec {
        name,
        title,
        kind: ParamKind::Int { min, max },
        default: ParamValue::Int(default),
    }
}

fn float(
    name: &'static str,
    title: &'static str,
    default: f64,
    min: f64,
    max: f64,
    step: f64,
) -> ParamSpec {
    ParamSpec {
        name,
        title,
        kind: ParamKind::Float { min, max, step },
        default: ParamValue::Float(default),
    }
}

/// The library, in the order the onboarding shows it.
pub fn library() -> Vec<Template> {
    vec![
        Template {
            id: "ema_crossover",
            name: "EMA Crossover",
            description: "Goes long when the fast EMA crosses above the slow one and short when it crosses below: the classic trend follower.",
            difficulty: Difficulty::Beginner,
            params: vec![
                int("fast", "Fast EMA length", 9, 2, 200),
                int("slow", "Slow EMA length", 21, 3, 400),
            ],
        },
        Template {
            id: "rsi_reversal",
            name: "RSI Reversal",
            description: "Buys when RSI climbs back above the oversold line and sells when it falls back below the overbought line: fades stretched moves.",
            difficulty: Difficulty::Beginner,
            params: vec![
                int("length", "RSI length", 14, 2, 100),
                float("oversold", "Oversold level", 30.0, 5.0, 50.0, 0.5),
                float("overbought", "Overbought level", 70.0, 50.0, 95.0, 0.5),
            ],
        },
        Template {
            id: "macd_cross",
            name: "MACD Signal Cross",
            description: "Long when the MACD line crosses above its signal line, short when it crosses below: momentum turning.",
            difficulty: Difficulty::Intermediate,
            params: vec![
                int("fast", "Fast length", 12, 2, 100),
                int("slow", "Slow length", 26, 3, 200),
                int("signal", "Signal length", 9, 2, 100),
            ],
        },
        Template {
            id: "bollinger",
            name: "Bollinger Bands",
            description: "Reversion: long when the close comes back inside above the lower band, short when back inside below the upper one. Breakout: long on a close crossing above the upper band, short below the lower.",
            difficulty: Difficulty::Intermediate,
            params: vec![
                int("length", "Length", 20, 5, 200),
                float("mult", "Standard deviations", 2.0, 0.5, 5.0, 0.1),
                ParamSpec {
                    name: "mode",
                    title: "Mode",
                    kind: ParamKind::Choice {
                        options: &["reversion", "breakout"],
                    },
                    default: ParamValue::Choice("reversion"),
                },
            ],
        },
        Template {
            id: "supertrend",
            name: "Supertrend",
            description: "Follows the ATR-based Supertrend line: long when the trend turns up, short when it turns down.",
            difficulty: Difficulty::Advanced,
            params: vec![
                int("atr_period", "ATR length", 10, 2, 100),
                float("factor", "ATR multiplier", 3.0, 0.5, 10.0, 0.1),
            ],
        },
    ]
}

pub fn find(id: &str) -> Option<Template> {
    library().into_iter().find(|t| t.id == id)
}

/// A parameter the caller got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

/// A template with every parameter decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Configured {
    pub template: &'static str,
    pub params: BTreeMap<&'static str, ParamValue>,
}

impl Configured {
    pub fn get(&self, name: &str) -> f64 {
        self.params.get(name).map_or(f64::NAN, ParamValue::as_f64)
    }

    pub fn choice(&self, name: &str) -> &'static str {
        match self.params.get(name) {
            Some(ParamValue::Choice(c)) => c,
            _ => "",
        }
    }

    /// The signal rule these parameters make.
    pub fn rule(&self) -> Rule {
        Rule::new(self)
    }
}

impl Template {
    /// Checks `given` (JSON numbers or strings) against the parameters:
    /// unknown names, wrong types, out-of-range values and inconsistent
    /// pairs (a fast average not faster than the slow one) are refused by
    /// name. Missing parameters take their defaults.
    pub fn configure(
        &self,
        given: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Configured, Vec<ParamError>> {
        let mut errors = Vec::new();
        let err = |field: &str, message: String| ParamError {
            field: format!("params.{field}"),
            message,
        };
        for k in given.keys() {
            if !self.params.iter().any(|p| p.name == k) {
                let names: Vec<&str> = self.params.iter().map(|p| p.name).collect();
                errors.push(err(
                    k,
                    format!("unknown parameter; {} takes {}", self.id, names.join(", ")),
                ));
            }
        }
        let mut params = BTreeMap::new();
        for p in &self.params {
            let Some(v) = given.get(p.name) else {
                params.insert(p.name, p.default.clone());
                continue;
            };
            let number = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            match p.kind {
                ParamKind::Int { min, max } => match number {
                    Some(x) if x.fract() == 0.0 && (min as f64..=max as f64).contains(&x) => {
                        params.insert(p.name, ParamValue::Int(x as i64));
                    }
                    _ => errors.push(err(p.name, format!("a whole number from {min} to {max}"))),
                },
                ParamKind::Float { min, max, step } => match number {
                    Some(x) if (min..=max).contains(&x) => {
                        // On the step grid, as TradingView's input would be.
                        let snapped = ((x / step).round() * step * 1e9).round() / 1e9;
                        params.insert(p.name, ParamValue::Float(snapped));
                    }
                    _ => errors.push(err(p.name, format!("a number from {min} to {max}"))),
                },
                ParamKind::Choice { options } => {
                    match v
                        .as_str()
                        .and_then(|s| options.iter().find(|o| o.eq_ignore_ascii_case(s.trim())))
                    {
                        Some(o) => {
                            params.insert(p.name, ParamValue::Choice(o));
                        }
                        None => errors.push(err(p.name, format!("one of {}", options.join(", ")))),
                    }
                }
            }
        }
        let c = Configured {
            template: self.id,
            params,
        };
        if errors.is_empty() {
            let pair = |fast: &str, slow: &str| c.get(fast) < c.get(slow);
            match self.id {
                "ema_crossover" | "macd_cross" if !pair("fast", "slow") => {
                    errors.push(err("fast", "must be shorter than `slow`".into()))
                }
                "rsi_reversal" if !pair("oversold", "overbought") => {
                    errors.push(err("oversold", "must be below `overbought`".into()))
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_library_matches_the_strategy_ids() {
        let ids: Vec<&str> = library().iter().map(|t| t.id).collect();
        let known: Vec<&str> = crate::strategy::INDICATORS
            .iter()
            .copied()
            .filter(|i| *i != "custom")
            .collect();
        assert_eq!(ids, known);
        let ema = find("ema_crossover").unwrap();
        assert_eq!(ema.params[0].default, ParamValue::Int(9));
        assert_eq!(ema.params[1].default, ParamValue::Int(21));
    }

    #[test]
    fn parameters_are_checked_by_name() {
        let ema = find("ema_crossover").unwrap();
        let c = ema.configure(&map(json!({ "fast": 5 }))).unwrap();
        assert_eq!((c.get("fast"), c.get("slow")), (5.0, 21.0));
        let e = ema
            .configure(&map(json!({ "fast": 30, "slow": 20, "colour": 1 })))
            .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["params.colour"]);
        let e = ema
            .configure(&map(json!({ "fast": 30, "slow": 20 })))
            .unwrap_err();
        assert_eq!(e[0].field, "params.fast");
        let e = ema.configure(&map(json!({ "fast": 2.5 }))).unwrap_err();
        assert_eq!(e[0].field, "params.fast");
        let bb = find("bollinger").unwrap();
        let c = bb
            .configure(&map(json!({ "mode": "Breakout", "mult": "2.04" })))
            .unwrap();
        assert_eq!((c.choice("mode"), c.get("mult")), ("breakout", 2.0));
        assert!(bb.configure(&map(json!({ "mode": "sideways" }))).is_err());
    }
}
