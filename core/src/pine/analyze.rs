//! A user's own Pine Script read for what TradingBot cares about: its
//! version and declaration, its inputs, the calls that produce orders and
//! alerts, and whether those alerts would reach TradingBot as valid webhook
//! JSON.

use super::ast::{Call, Expr, Stmt};
use super::message::{self, Evaluator, Origin, Val};
use super::{SyntaxError, lexer, parser};
use crate::signal::Action;
use serde::Serialize;
use std::collections::HashMap;

/// What the analysis is told about its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Stands in for `{{timenow}}` so that the freshness check passes.
    pub now_iso: &'a str,
    /// The secret of the strategy the script is meant for, when known.
    pub expected_secret: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub version: Option<u32>,
    pub declaration: Option<Declaration>,
    pub inputs: Vec<Input>,
    pub calls: Vec<OrderCall>,
    /// At least one call sends a message TradingBot accepts and nothing is
    /// an error.
    pub webhook_ready: bool,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Declaration {
    /// `strategy`, `indicator` or `library`.
    pub kind: String,
    pub title: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub name: String,
    /// `int`, `float`, `bool`, `string`, `source`, `timeframe`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The literal default; `null` when it is computed.
    pub default: Option<serde_json::Value>,
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minval: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxval: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<serde_json::Value>>,
    pub line: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderCall {
    /// `strategy.entry`, `strategy.order`, `strategy.exit`,
    /// `strategy.close`, `strategy.close_all`, `alertcondition` or `alert`.
    pub function: String,
    pub line: usize,
    /// The order id, or the `alertcondition`'s title.
    pub id: Option<String>,
    /// `long` or `short` for entries and orders.
    pub direction: Option<String>,
    pub message: Option<Message>,
    /// `disable_alert = true`: its fills alert nobody (a partial exit the
    /// exchange fills by itself, say).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The argument it came from: `alert_message` or `message`.
    pub argument: &'static str,
    /// The text, with chart-time values shown as `«source»` and the secret
    /// masked.
    pub text: String,
    /// Whether the whole text is known before the chart runs.
    pub constant: bool,
    pub valid_webhook_json: bool,
    /// The action TradingBot would take, when it does not depend on chart
    /// values.
    pub action: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable, machine-readable.
    pub code: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

const ORDER_FUNCTIONS: [&str; 7] = [
    "strategy.entry",
    "strategy.order",
    "strategy.exit",
    "strategy.close",
    "strategy.close_all",
    "alertcondition",
    "alert",
];

pub fn analyze(src: &str, ctx: &Context<'_>) -> Result<Analysis, SyntaxError> {
    let lexed = lexer::lex(src)?;
    let program = parser::parse(&lexed.lines)?;
    let mut calls: Vec<(&Call, bool)> = Vec::new();
    let mut inputs = Vec::new();
    walk(&program, false, &mut calls, &mut inputs);

    let mut findings = Vec::new();
    let version = lexed.version.map(|(v, _)| v);
    match lexed.version {
        None => findings.push(Finding {
            severity: Severity::Warning,
            code: "no_version",
            line: None,
            message: "no `//@version=` line: TradingView then reads the script as version 1; add `//@version=6` at the top".into(),
        }),
        Some((v, line)) if v < 5 => findings.push(Finding {
            severity: Severity::Warning,
            code: "old_version",
            line: Some(line),
            message: format!("version {v} is outdated; TradingView's converter brings it to v6 (Pine Editor → Manage script → Convert)"),
        }),
        Some(_) => {}
    }

    let declaration = calls
        .iter()
        .find(|(c, nested)| {
            !nested
                && matches!(
                    c.name.as_str(),
                    "strategy" | "indicator" | "library" | "study"
                )
        })
        .map(|(c, _)| Declaration {
            kind: if c.name == "study" {
                "indicator".into()
            } else {
                c.name.clone()
            },
            title: c.arg("title", 0).and_then(literal_str),
            line: c.line,
        });
    if declaration.is_none() {
        findings.push(Finding {
            severity: Severity::Error,
            code: "no_declaration",
            line: None,
            message: "the script declares neither `strategy()` nor `indicator()`".into(),
        });
    }
    let kind = declaration.as_ref().map(|d| d.kind.as_str());

    let ev = Evaluator::new(&program);
    let mut order_calls = Vec::new();
    for (c, nested) in &calls {
        if !ORDER_FUNCTIONS.contains(&c.name.as_str()) || *nested {
            continue;
        }
        order_calls.push(order_call(c, kind, &ev, ctx, &mut findings));
    }
    overall_findings(&order_calls, kind, &mut findings);

    let webhook_ready = !findings.iter().any(|f| f.severity == Severity::Error)
        && order_calls
            .iter()
            .any(|c| c.message.as_ref().is_some_and(|m| m.valid_webhook_json));
    findings.sort_by_key(|f| (f.line.unwrap_or(0), f.severity as u8));
    Ok(Analysis {
        version,
        declaration,
        inputs,
        calls: order_calls,
        webhook_ready,
        findings,
    })
}

fn order_call(
    c: &Call,
    kind: Option<&str>,
    ev: &Evaluator<'_>,
    ctx: &Context<'_>,
    findings: &mut Vec<Finding>,
) -> OrderCall {
    let line = c.line;
    let is_strategy_call = c.name.starts_with("strategy.");
    if is_strategy_call && kind.is_some_and(|k| k != "strategy") {
        findings.push(Finding {
            severity: Severity::Error,
            code: "strategy_call_outside_strategy",
            line: Some(line),
            message: format!(
                "`{}` only works in a script declared with `strategy()`",
                c.name
            ),
        });
    }
    if c.name == "alertcondition" && kind == Some("strategy") {
        findings.push(Finding {
            severity: Severity::Warning,
            code: "alertcondition_in_strategy",
            line: Some(line),
            message: "`alertcondition` has no effect in a strategy: use `alert_message` on the orders, or `alert()`".into(),
        });
    }
    let id = match c.name.as_str() {
        "alertcondition" => c.arg("title", 1).and_then(literal_str),
        "strategy.close_all" | "alert" => None,
        _ => c.arg("id", 0).and_then(literal_str),
    };
    let direction = match c.name.as_str() {
        "strategy.entry" | "strategy.order" => c.arg("direction", 1).and_then(|d| match d {
            Expr::Name(n) if n == "strategy.long" => Some("long".to_owned()),
            Expr::Name(n) if n == "strategy.short" => Some("short".to_owned()),
            _ => None,
        }),
        _ => None,
    };
    let (argument, origin, expr) = match c.name.as_str() {
        "alert" => ("message", Origin::Verbatim, c.arg("message", 0)),
        "alertcondition" => ("message", Origin::Placeholders, c.arg("message", 2)),
        _ => (
            "alert_message",
            Origin::Placeholders,
            c.named("alert_message"),
        ),
    };
    let message = expr.map(|e| {
        let pieces = match ev.eval(e, &HashMap::new(), 0) {
            Val::Str(p) => p,
            Val::Unknown(what) => vec![message::Piece::Hole(what)],
        };
        let constant = pieces.iter().all(|p| matches!(p, message::Piece::Lit(_)));
        let checked = message::check(&pieces, origin, ctx.now_iso, ctx.expected_secret);
        message_findings(c, &checked, constant, direction.as_deref(), findings);
        Message {
            argument,
            text: message::render(&pieces),
            constant,
            valid_webhook_json: checked.error.is_none(),
            action: checked.action.map(Action::as_str),
        }
    });
    let silent = matches!(c.named("disable_alert"), Some(Expr::Bool(true)));
    OrderCall {
        function: c.name.clone(),
        line,
        id,
        direction,
        message,
        silent,
    }
}

fn message_findings(
    c: &Call,
    checked: &message::Checked,
    constant: bool,
    direction: Option<&str>,
    findings: &mut Vec<Finding>,
) {
    let line = Some(c.line);
    let mut add = |severity, code, message: String| {
        findings.push(Finding {
            severity,
            code,
            line,
            message,
        })
    };
    if let Some(e) = &checked.error {
        add(
            Severity::Error,
            "invalid_webhook_message",
            format!("the message of `{}` is not a TradingBot alert: {e}", c.name),
        );
        return;
    }
    if c.name == "alertcondition" && !constant {
        add(
            Severity::Error,
            "alertcondition_message_not_constant",
            "`alertcondition` needs a constant message; use {{placeholders}} for chart values"
                .into(),
        );
    }
    if checked.placeholders_in_alert {
        add(
            Severity::Error,
            "placeholders_in_alert",
            "`alert()` sends its text as is: {{placeholders}} are not replaced there; build the value with `str.tostring()`".into(),
        );
    }
    for p in &checked.unknown_placeholders {
        add(
            Severity::Warning,
            "unknown_placeholder",
            format!(
                "`{{{{{p}}}}}` is not a TradingView placeholder TradingBot knows; it may arrive unreplaced"
            ),
        );
    }
    if !checked.has_secret {
        add(
            Severity::Error,
            "no_secret",
            "the message has no `secret`: TradingBot refuses alerts without the strategy's webhook secret".into(),
        );
    }
    if checked.secret_matches == Some(false) {
        add(
            Severity::Error,
            "secret_mismatch",
            "the message's `secret` is not this strategy's webhook secret".into(),
        );
    }
    if let (Some(action), Some(direction)) = (checked.action, direction) {
        let agrees = matches!(
            (action, direction),
            (Action::Long, "long") | (Action::Short, "short")
        );
        if !agrees {
            add(
                Severity::Warning,
                "action_direction_mismatch",
                format!(
                    "this {direction} order sends the action `{}`",
                    action.as_str()
                ),
            );
        }
    }
}

fn overall_findings(calls: &[OrderCall], kind: Option<&str>, findings: &mut Vec<Finding>) {
    let orders = calls
        .iter()
        .filter(|c| c.function.starts_with("strategy."))
        .count();
    let alerts = calls
        .iter()
        .filter(|c| matches!(c.function.as_str(), "alert" | "alertcondition"))
        .count();
    if orders + alerts == 0 {
        findings.push(Finding {
            severity: Severity::Warning,
            code: "no_signals",
            line: None,
            message: "no `strategy.entry`, `strategy.close`, `alert` or `alertcondition` call: nothing would ever reach TradingBot".into(),
        });
    }
    if kind == Some("strategy")
        && alerts == 0
        && calls
            .iter()
            .any(|c| c.function.starts_with("strategy.") && c.message.is_none() && !c.silent)
    {
        findings.push(Finding {
            severity: Severity::Info,
            code: "message_box_needed",
            line: None,
            message: "some orders carry no `alert_message`: the alert's Message box must then hold TradingBot's JSON, e.g. {\"secret\": \"…\", \"action\": \"{{strategy.order.action}}\", \"market_position\": \"{{strategy.market_position}}\", \"symbol\": \"{{ticker}}\", \"timestamp\": \"{{timenow}}\"}".into(),
        });
    }
}

/// Every call in the program, marked when it sits inside a function body
/// (whose calls run only when the function is called), and the inputs.
fn walk<'p>(
    stmts: &'p [Stmt],
    nested: bool,
    calls: &mut Vec<(&'p Call, bool)>,
    inputs: &mut Vec<Input>,
) {
    for s in stmts {
        match s {
            Stmt::Declare { names, value, .. } => {
                if let ([name], Expr::Call(c)) = (names.as_slice(), value)
                    && !nested
                    && (c.name == "input" || c.name.starts_with("input."))
                {
                    inputs.push(input(name, c));
                }
                exprs(value, nested, calls, inputs);
            }
            Stmt::Assign { target, value, .. } => {
                exprs(target, nested, calls, inputs);
                exprs(value, nested, calls, inputs);
            }
            Stmt::Function { body, .. } => walk(body, true, calls, inputs),
            Stmt::If { branches, .. } => {
                for (cond, body) in branches {
                    if let Some(c) = cond {
                        exprs(c, nested, calls, inputs);
                    }
                    walk(body, nested, calls, inputs);
                }
            }
            Stmt::Loop { header, body, .. } => {
                for h in header {
                    exprs(h, nested, calls, inputs);
                }
                walk(body, nested, calls, inputs);
            }
            Stmt::Switch { subject, cases, .. } => {
                if let Some(s) = subject {
                    exprs(s, nested, calls, inputs);
                }
                for (guard, body) in cases {
                    if let Some(g) = guard {
                        exprs(g, nested, calls, inputs);
                    }
                    walk(body, nested, calls, inputs);
                }
            }
            Stmt::Expr { value, .. } => exprs(value, nested, calls, inputs),
            Stmt::Other { .. } | Stmt::Break { .. } => {}
        }
    }
}

fn exprs<'p>(
    e: &'p Expr,
    nested: bool,
    calls: &mut Vec<(&'p Call, bool)>,
    inputs: &mut Vec<Input>,
) {
    match e {
        Expr::Call(c) => {
            calls.push((c, nested));
            for a in &c.args {
                exprs(&a.value, nested, calls, inputs);
            }
        }
        Expr::List(items) => items.iter().for_each(|i| exprs(i, nested, calls, inputs)),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => {
            exprs(a, nested, calls, inputs);
            exprs(b, nested, calls, inputs);
        }
        Expr::Member(a, _) | Expr::Unary(_, a) => exprs(a, nested, calls, inputs),
        Expr::Ternary(a, b, c) => {
            for x in [a, b, c] {
                exprs(x, nested, calls, inputs);
            }
        }
        Expr::Block(stmts) => walk(stmts, nested, calls, inputs),
        _ => {}
    }
}

fn input(name: &str, c: &Call) -> Input {
    let default = c.arg("defval", 0).and_then(literal);
    let kind = match c.name.strip_prefix("input.") {
        Some(k) => k.to_owned(),
        None => match &default {
            Some(serde_json::Value::Bool(_)) => "bool".into(),
            Some(serde_json::Value::String(_)) => "string".into(),
            Some(serde_json::Value::Number(n)) if n.is_i64() => "int".into(),
            Some(serde_json::Value::Number(_)) => "float".into(),
            _ => "source".into(),
        },
    };
    let default = default.or_else(|| match c.arg("defval", 0) {
        // `input.source(close, …)`: the series' name is the default.
        Some(Expr::Name(n)) => Some(serde_json::Value::String(n.clone())),
        _ => None,
    });
    Input {
        name: name.to_owned(),
        kind,
        default,
        title: c.arg("title", 1).and_then(literal_str),
        minval: c.named("minval").and_then(literal),
        maxval: c.named("maxval").and_then(literal),
        options: c.named("options").and_then(|o| match o {
            Expr::List(items) => items.iter().map(literal).collect(),
            _ => None,
        }),
        line: c.line,
    }
}

fn literal(e: &Expr) -> Option<serde_json::Value> {
    Some(match e {
        Expr::Int(i) => (*i).into(),
        Expr::Float(f) => serde_json::Number::from_f64(*f)?.into(),
        Expr::Str(s) => s.clone().into(),
        Expr::Bool(b) => (*b).into(),
        Expr::Color(c) => c.clone().into(),
        Expr::Unary("-", inner) => match literal(inner)? {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => (-i).into(),
                None => serde_json::Number::from_f64(-n.as_f64()?)?.into(),
            },
            _ => return None,
        },
        _ => return None,
    })
}

fn literal_str(e: &Expr) -> Option<String> {
    match e {
        Expr::Str(s) => Some(s.clone()),
        _ => None,
    }
}
