//! What an alert message will say: string expressions evaluated as far as
//! the source allows (literals, concatenation, string variables, the
//! script's own functions), with the rest left as holes — then checked with
//! the very parser the webhook uses.

use super::ast::{Expr, Stmt};
use crate::signal::{Action, Alert};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(String),
    /// A value only known on the chart, described by its source.
    Hole(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(Vec<Piece>),
    Unknown(String),
}

/// Functions calls are followed this deep.
const MAX_CALL_DEPTH: usize = 8;

pub struct Evaluator<'a> {
    pub functions: HashMap<&'a str, (&'a [String], &'a [Stmt])>,
    pub globals: HashMap<String, Val>,
}

impl<'a> Evaluator<'a> {
    /// Collects the script's functions and its string variables that are
    /// assigned exactly once.
    pub fn new(program: &'a [Stmt]) -> Self {
        let mut ev = Evaluator {
            functions: HashMap::new(),
            globals: HashMap::new(),
        };
        let mut assigned: HashMap<String, usize> = HashMap::new();
        for s in program {
            match s {
                Stmt::Function {
                    name, params, body, ..
                } => {
                    ev.functions
                        .insert(name.as_str(), (params.as_slice(), body.as_slice()));
                }
                Stmt::Declare { names, .. } => {
                    for n in names {
                        *assigned.entry(n.clone()).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        let mut env = HashMap::new();
        for s in program {
            if let Stmt::Declare { names, value, .. } = s
                && let [name] = names.as_slice()
                && assigned.get(name) == Some(&1)
                && !reassigned(program, name)
            {
                let v = ev.eval(value, &env, 0);
                env.insert(name.clone(), v);
            }
        }
        ev.globals = env;
        ev
    }

    pub fn eval(&self, e: &Expr, env: &HashMap<String, Val>, depth: usize) -> Val {
        match e {
            Expr::Str(s) => Val::Str(vec![Piece::Lit(s.clone())]),
            Expr::Binary("+", a, b) => {
                let (a, b) = (self.eval(a, env, depth), self.eval(b, env, depth));
                match (a, b) {
                    (Val::Unknown(x), Val::Unknown(y)) => Val::Unknown(format!("{x} + {y}")),
                    (a, b) => {
                        let mut pieces = into_pieces(a);
                        pieces.extend(into_pieces(b));
                        Val::Str(merge(pieces))
                    }
                }
            }
            Expr::Name(n) => env
                .get(n)
                .or_else(|| self.globals.get(n))
                .cloned()
                .unwrap_or_else(|| Val::Unknown(n.clone())),
            Expr::Ternary(_, a, b) => {
                let (a, b) = (self.eval(a, env, depth), self.eval(b, env, depth));
                if a == b { a } else { Val::Unknown(describe(e)) }
            }
            Expr::Call(c) if depth < MAX_CALL_DEPTH => {
                let Some((params, body)) = self.functions.get(c.name.as_str()) else {
                    return Val::Unknown(describe(e));
                };
                let mut local = HashMap::new();
                let mut positional = c.args.iter().filter(|a| a.name.is_none());
                for p in params.iter() {
                    let arg = c
                        .args
                        .iter()
                        .find(|a| a.name.as_deref() == Some(p.as_str()))
                        .or_else(|| positional.next());
                    let v = arg.map_or_else(
                        || Val::Unknown(p.clone()),
                        |a| self.eval(&a.value, env, depth),
                    );
                    local.insert(p.clone(), v);
                }
                self.body_value(body, local, depth + 1)
                    .unwrap_or_else(|| Val::Unknown(describe(e)))
            }
            _ => Val::Unknown(describe(e)),
        }
    }

    /// A function body's value: its last expression, after its
    /// declarations.
    fn body_value(
        &self,
        body: &[Stmt],
        mut env: HashMap<String, Val>,
        depth: usize,
    ) -> Option<Val> {
        let (last, init) = body.split_last()?;
        for s in init {
            match s {
                Stmt::Declare { names, value, .. } => {
                    let v = if names.len() == 1 {
                        self.eval(value, &env, depth)
                    } else {
                        Val::Unknown(names.join(", "))
                    };
                    for n in names {
                        env.insert(n.clone(), v.clone());
                    }
                }
                Stmt::Assign {
                    target: Expr::Name(n),
                    ..
                } => {
                    env.insert(n.clone(), Val::Unknown(n.clone()));
                }
                _ => {}
            }
        }
        match last {
            Stmt::Expr { value, .. } => Some(self.eval(value, &env, depth)),
            _ => None,
        }
    }
}

fn reassigned(program: &[Stmt], name: &str) -> bool {
    program.iter().any(|s| match s {
        Stmt::Assign {
            target: Expr::Name(n),
            ..
        } => n == name,
        Stmt::If { branches, .. } => branches.iter().any(|(_, b)| reassigned(b, name)),
        Stmt::Loop { body, .. } => reassigned(body, name),
        Stmt::Switch { cases, .. } => cases.iter().any(|(_, b)| reassigned(b, name)),
        _ => false,
    })
}

fn into_pieces(v: Val) -> Vec<Piece> {
    match v {
        Val::Str(p) => p,
        Val::Unknown(what) => vec![Piece::Hole(what)],
    }
}

fn merge(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        match (out.last_mut(), p) {
            (Some(Piece::Lit(a)), Piece::Lit(b)) => a.push_str(&b),
            (_, p) => out.push(p),
        }
    }
    out
}

/// A short description of an expression, for holes.
pub fn describe(e: &Expr) -> String {
    match e {
        Expr::Name(n) => n.clone(),
        Expr::Call(c) if c.args.is_empty() => format!("{}()", c.name),
        Expr::Call(c) => {
            let inner: Vec<String> = c.args.iter().map(|a| describe(&a.value)).collect();
            format!("{}({})", c.name, inner.join(", "))
        }
        Expr::Int(i) => i.to_string(),
        Expr::Float(f) => f.to_string(),
        Expr::Str(s) => format!("\"{s}\""),
        Expr::Bool(b) => b.to_string(),
        Expr::Index(a, i) => format!("{}[{}]", describe(a), describe(i)),
        _ => "an expression".into(),
    }
}

/// How the message is shown back: holes as `«source»`, the secret masked.
pub fn render(pieces: &[Piece]) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Lit(l) => s.push_str(l),
            Piece::Hole(h) => {
                s.push('«');
                s.push_str(h);
                s.push('»');
            }
        }
    }
    mask_secret(&s)
}

fn mask_secret(s: &str) -> String {
    let Some(k) = s.find("\"secret\"") else {
        return s.to_owned();
    };
    let after = &s[k + 8..];
    let trimmed = after.trim_start();
    let Some(rest) = trimmed.strip_prefix(':') else {
        return s.to_owned();
    };
    let rest = rest.trim_start();
    let Some(value) = rest.strip_prefix('"') else {
        return s.to_owned();
    };
    let mut end = None;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                end = Some(i);
                break;
            }
            _ => escaped = false,
        }
    }
    let Some(end) = end else {
        return s.to_owned();
    };
    let value_start = s.len() - value.len();
    format!("{}***{}", &s[..value_start], &s[value_start + end..])
}

/// Where a message's text comes from decides what TradingView substitutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `alert_message` of a strategy order, or `alertcondition`'s
    /// `message`: `{{placeholders}}` are replaced when the alert fires.
    Placeholders,
    /// `alert()`: the text is sent as is.
    Verbatim,
}

/// A message checked against TradingBot's webhook schema.
#[derive(Debug, Clone)]
pub struct Checked {
    pub error: Option<String>,
    pub has_secret: bool,
    pub secret_matches: Option<bool>,
    /// The action when it does not depend on chart values.
    pub action: Option<Action>,
    pub unknown_placeholders: Vec<String>,
    pub placeholders_in_alert: bool,
}

/// Builds the body TradingView would send, with sample values for what only
/// the chart knows, and parses it as the webhook would.
pub fn check(
    pieces: &[Piece],
    origin: Origin,
    now_iso: &str,
    expected_secret: Option<&[u8]>,
) -> Checked {
    let mut unknown = Vec::new();
    let sample = |action: &str, unknown: &mut Vec<String>| {
        let mut body = String::new();
        for p in pieces {
            match p {
                Piece::Lit(l) if origin == Origin::Placeholders => {
                    body.push_str(&substitute(l, action, now_iso, unknown));
                }
                Piece::Lit(l) => body.push_str(l),
                Piece::Hole(_) => {
                    let v = sample_for(key_before(&body).as_deref(), action, now_iso);
                    body.push_str(&v);
                }
            }
        }
        body
    };
    let buy = sample("buy", &mut unknown);
    let sell = sample("sell", &mut Vec::new());
    let placeholders_in_alert = origin == Origin::Verbatim
        && pieces
            .iter()
            .any(|p| matches!(p, Piece::Lit(l) if l.contains("{{")));
    match (Alert::parse(buy.as_bytes()), Alert::parse(sell.as_bytes())) {
        (Ok(a), Ok(b)) => Checked {
            error: None,
            has_secret: a.has_secret(),
            secret_matches: expected_secret.map(|s| a.secret_matches(s)),
            action: (a.action == b.action).then_some(a.action),
            unknown_placeholders: unknown,
            placeholders_in_alert,
        },
        (Err(e), _) | (_, Err(e)) => Checked {
            error: Some(e.to_string()),
            has_secret: false,
            secret_matches: None,
            action: None,
            unknown_placeholders: unknown,
            placeholders_in_alert,
        },
    }
}

/// The JSON key whose value is being written at the end of `body`, e.g.
/// `action` for `{"action": "`.
fn key_before(body: &str) -> Option<String> {
    let colon = body.rfind(':')?;
    let tail = body[colon + 1..].trim_start();
    if !(tail.is_empty() || tail == "\"") {
        return None;
    }
    let before = body[..colon].trim_end().strip_suffix('"')?;
    let start = before.rfind('"')?;
    Some(before[start + 1..].to_owned())
}

fn sample_for(key: Option<&str>, action: &str, now_iso: &str) -> String {
    match key {
        Some("action") => action.into(),
        Some("market_position") => if action == "buy" { "long" } else { "short" }.into(),
        Some("symbol" | "ticker") => "BTCUSDT".into(),
        Some("timestamp" | "time") => now_iso.into(),
        _ => "1".into(),
    }
}

/// TradingView's placeholders with values of the right shape.
fn substitute(text: &str, action: &str, now_iso: &str, unknown: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = rest[start + 2..start + len].trim();
        let value = match name {
            "ticker" => "BTCUSDT",
            "exchange" => "BINANCE",
            "close" | "open" | "high" | "low" | "strategy.order.price" => "42000.5",
            "volume"
            | "strategy.order.contracts"
            | "strategy.position_size"
            | "strategy.market_position_size"
            | "strategy.prev_market_position_size" => "0.01",
            "time" | "timenow" => now_iso,
            "interval" => "60",
            "strategy.order.action" => action,
            "strategy.market_position" => {
                if action == "buy" {
                    "long"
                } else {
                    "short"
                }
            }
            "strategy.prev_market_position" => "flat",
            "strategy.order.id" | "strategy.order.comment" => "Entry",
            "syminfo.currency" => "USDT",
            "syminfo.basecurrency" => "BTC",
            n if n.starts_with("plot_") || n.starts_with("plot(") => "1",
            other => {
                unknown.push(other.to_owned());
                "1"
            }
        };
        out.push_str(value);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_before_holes() {
        assert_eq!(key_before("{\"action\": \"").as_deref(), Some("action"));
        assert_eq!(
            key_before("{\"a\": 1, \"price\":").as_deref(),
            Some("price")
        );
        assert_eq!(key_before("{\"a\": \"x").as_deref(), None);
    }

    #[test]
    fn the_secret_is_masked() {
        assert_eq!(
            render(&[Piece::Lit(
                "{\"secret\": \"abc\\\"d\", \"action\": \"buy\"}".into()
            )]),
            "{\"secret\": \"***\", \"action\": \"buy\"}"
        );
    }
}
