//! Pine Script v6 for a configured template: a `strategy()` that computes
//! exactly the signals `templates::Rule` computes — TA-Lib's SMA-seeded EMA,
//! Wilder's RSI seeded the same way, MACD with TA-Lib's seeding, Pine's own
//! `ta.crossover` / `ta.supertrend` — and sends TradingBot's webhook JSON as
//! each order's `alert_message`, built in the script from real values (no
//! reliance on placeholders inside messages).

use crate::exits::{Ladder, StopTo};
use crate::sizing::TAKER_FEE;
use crate::strategy::Sizing;
use crate::templates::{Configured, ParamKind, ParamValue, Template};
use crate::trailing::Trailing;
use rust_decimal::Decimal;
use serde::Serialize;

/// The strategy a script is generated for.
#[derive(Debug, Clone)]
pub struct PineTarget<'a> {
    pub name: &'a str,
    pub secret: &'a str,
    pub webhook_url: &'a str,
    pub investment_pct: Decimal,
    /// How entries are sized; the script sizes its entries the same way so
    /// TradingView's Strategy Tester agrees with TradingBot.
    pub sizing: Sizing,
    pub leverage: u32,
    pub long_tp_pct: Decimal,
    pub long_sl_pct: Decimal,
    pub short_tp_pct: Decimal,
    pub short_sl_pct: Decimal,
    /// Take-profit targets in place of the single take-profit: one
    /// `strategy.exit` per target, so the Strategy Tester closes the same
    /// shares at the same prices.
    pub ladder: Option<Ladder>,
    /// A trailing stop, as TradingView's `trail_price` / `trail_offset`.
    pub trailing: Option<Trailing>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PineScript {
    pub script: String,
    /// What to paste into the alert's Message box.
    pub alert_message: &'static str,
    pub webhook_url: String,
    pub setup_steps: Vec<String>,
}

/// A Pine string literal.
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn inputs(t: &Template, c: &Configured) -> String {
    let mut out = String::new();
    for p in &t.params {
        let v = c.params.get(p.name).unwrap_or(&p.default);
        let line = match (p.kind, v) {
            (ParamKind::Int { min, max }, v) => format!(
                "{} = input.int({}, {}, minval = {min}, maxval = {max})\n",
                p.name,
                v.as_f64() as i64,
                lit(p.title)
            ),
            (ParamKind::Float { min, max, step }, v) => format!(
                "{} = input.float({}, {}, minval = {}, maxval = {}, step = {})\n",
                p.name,
                num(v.as_f64()),
                lit(p.title),
                num(min),
                num(max),
                num(step)
            ),
            (ParamKind::Choice { options }, ParamValue::Choice(chosen)) => format!(
                "{} = input.string({}, {}, options = [{}])\n",
                p.name,
                lit(chosen),
                lit(p.title),
                options
                    .iter()
                    .map(|o| lit(o))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (ParamKind::Choice { .. }, _) => String::new(),
        };
        out.push_str(&line);
    }
    out
}

const TB_EMA: &str = r#"// TA-Lib's EMA: seeded with the simple average of the first `len` values.
tb_ema(float src, simple int len) =>
    float seed = ta.sma(src, len)
    var float e = na
    e := na(e) ? seed : e + (src - e) * 2.0 / (len + 1)
    e
"#;

const TB_RSI: &str = r#"// Wilder's RSI as TA-Lib computes it (0 when nothing moved).
tb_rsi(float src, simple int len) =>
    float ch = ta.change(src)
    float g = ta.rma(math.max(ch, 0.0), len)
    float l = ta.rma(math.max(-ch, 0.0), len)
    g + l == 0 ? 0.0 : 100.0 * g / (g + l)
"#;

const TB_MACD: &str = r#"// TA-Lib's MACD line: both averages start where the slow one has its
// first value, the fast one seeded with the mean of its last `fastLen`.
tb_macd(float src, simple int fastLen, simple int slowLen) =>
    float fastSeed = ta.sma(src, fastLen)
    float slowSeed = ta.sma(src, slowLen)
    var float f = na
    var float s = na
    if na(s)
        if not na(slowSeed)
            s := slowSeed
            f := fastSeed
    else
        s := s + (src - s) * 2.0 / (slowLen + 1)
        f := f + (src - f) * 2.0 / (fastLen + 1)
    f - s
"#;

/// The helpers and the `longSignal` / `shortSignal` lines of a template.
fn signals(template: &str) -> String {
    match template {
        "rsi_reversal" => format!(
            "{TB_RSI}\nr = tb_rsi(close, length)\nlongSignal = ta.crossover(r, oversold)\nshortSignal = ta.crossunder(r, overbought)\nplot(r, \"RSI\", display = display.data_window)\n"
        ),
        "macd_cross" => format!(
            "{TB_EMA}\n{TB_MACD}\nmacdLine = tb_macd(close, fast, slow)\nsignalLine = tb_ema(macdLine, signal)\nlongSignal = ta.crossover(macdLine, signalLine)\nshortSignal = ta.crossunder(macdLine, signalLine)\n"
        ),
        "bollinger" => concat!(
            "basis = ta.sma(close, length)\n",
            "dev = mult * ta.stdev(close, length)\n",
            "upper = basis + dev\n",
            "lower = basis - dev\n",
            "breakout = mode == \"breakout\"\n",
            "longSignal = breakout ? ta.crossover(close, upper) : ta.crossover(close, lower)\n",
            "shortSignal = breakout ? ta.crossunder(close, lower) : ta.crossunder(close, upper)\n",
            "plot(basis, \"Basis\", color = color.gray)\n",
            "plot(upper, \"Upper\", color = color.teal)\n",
            "plot(lower, \"Lower\", color = color.teal)\n",
        )
        .to_owned(),
        "supertrend" => concat!(
            "[st, dir] = ta.supertrend(factor, atr_period)\n",
            "longSignal = dir < 0 and dir[1] > 0\n",
            "shortSignal = dir > 0 and dir[1] < 0\n",
            "plot(st, \"Supertrend\", color = dir < 0 ? color.green : color.red)\n",
        )
        .to_owned(),
        _ => format!(
            "{TB_EMA}\nfastMa = tb_ema(close, fast)\nslowMa = tb_ema(close, slow)\nlongSignal = ta.crossover(fastMa, slowMa)\nshortSignal = ta.crossunder(fastMa, slowMa)\nplot(fastMa, \"Fast EMA\", color = color.orange)\nplot(slowMa, \"Slow EMA\", color = color.blue)\n"
        ),
    }
}

fn pct(d: Decimal) -> String {
    num(rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0))
}

/// The inputs and the function that size an entry as TradingBot does, for
/// the sizing modes other than the seed's (which is the strategy's default
/// `percent_of_equity`); `None`: no `qty` argument.
fn entry_qty(sizing: Sizing) -> (String, Option<&'static str>) {
    match sizing {
        Sizing::InvestmentPct => (String::new(), None),
        Sizing::RiskPct { risk_pct } => (
            format!(
                "riskPct = input.float({}, \"Risk per trade % (loss at the stop)\", minval = 0.01, maxval = 100.0, step = 0.1)\n\n// The loss at the stop-loss, both sides' taker fees ({} %) included, is riskPct % of equity.\ntbQty(bool isLong) =>\n    float sl = (isLong ? longSl : shortSl) / 100\n    float stop = isLong ? close * (1 - sl) : close * (1 + sl)\n    strategy.equity * riskPct / 100 / (math.abs(close - stop) + {} * (close + stop))\n",
                pct(risk_pct),
                pct(TAKER_FEE * Decimal::ONE_HUNDRED),
                pct(TAKER_FEE),
            ),
            Some("tbQty"),
        ),
        Sizing::FixedUsdt { qty_usdt } => (
            format!(
                "qtyUsdt = input.float({}, \"Position size (USDT)\", minval = 0.0)\n\ntbQty(bool isLong) =>\n    qtyUsdt / close\n",
                pct(qty_usdt)
            ),
            Some("tbQty"),
        ),
        Sizing::FixedQty { qty_base } => (
            format!(
                "qtyBase = input.float({}, \"Position size (base asset)\", minval = 0.0)\n\ntbQty(bool isLong) =>\n    qtyBase\n",
                pct(qty_base)
            ),
            Some("tbQty"),
        ),
    }
}

/// The `trail_price` / `trail_offset` arguments of an exit (TradingView
/// counts the offset in ticks: the callback % of the entry price).
fn trail_args(s: &PineTarget<'_>, long: bool) -> String {
    let Some(t) = s.trailing else {
        return String::new();
    };
    let sign = if long { "+" } else { "-" };
    let start = match t.activation_pct {
        Some(a) => format!(
            "trail_price = strategy.position_avg_price * (1 {sign} {} / 100), ",
            pct(a)
        ),
        None => "trail_points = 0, ".into(),
    };
    format!(
        "{start}trail_offset = math.round(strategy.position_avg_price * {} / 100 / syminfo.mintick), ",
        pct(t.callback_pct)
    )
}

/// The exits TradingBot places on the exchange, written so the Strategy
/// Tester matches: the stop-loss with the take-profit, or one exit per
/// ladder target (its share with `qty_percent`, the stop moving to
/// break-even once the break-even target was reached), and the trailing
/// stop. Only the exit that ends the position alerts TradingBot (`flat`);
/// a target's partial fill is TradingBot's own doing on the exchange, so
/// its alert is disabled.
fn exits(s: &PineTarget<'_>) -> String {
    let mut out = String::from(
        "\n// The stop-loss, take-profit and trailing stop TradingBot places on the\n// exchange, shown here so the Strategy Tester matches.\n",
    );
    let Some(ladder) = &s.ladder else {
        out.push_str(&format!(
            "if strategy.position_size > 0\n    strategy.exit(\"Long exit\", from_entry = \"Long\", limit = longTp > 0 ? strategy.position_avg_price * (1 + longTp / 100) : na, stop = longSl > 0 ? strategy.position_avg_price * (1 - longSl / 100) : na, {}alert_message = tbMessage(\"sell\", \"flat\"))\nif strategy.position_size < 0\n    strategy.exit(\"Short exit\", from_entry = \"Short\", limit = shortTp > 0 ? strategy.position_avg_price * (1 - shortTp / 100) : na, stop = shortSl > 0 ? strategy.position_avg_price * (1 + shortSl / 100) : na, {}alert_message = tbMessage(\"buy\", \"flat\"))\n",
            trail_args(s, true),
            trail_args(s, false)
        ));
        return out;
    };
    let n = ladder.targets.len();
    // Break-even: where the stop goes once target `after` was reached.
    let be = ladder.break_even.map(|b| {
        let fees = pct(TAKER_FEE * Decimal::TWO * Decimal::ONE_HUNDRED);
        let previous = match b.to {
            StopTo::Entry => None,
            StopTo::PreviousTarget if b.after > 1 => ladder
                .targets
                .get(usize::from(b.after) - 2)
                .map(|t| t.gain_pct),
            StopTo::PreviousTarget => None,
        };
        let (long_to, short_to) = match previous {
            Some(g) => (
                format!("strategy.position_avg_price * (1 + {} / 100)", pct(g)),
                format!("strategy.position_avg_price * (1 - {} / 100)", pct(g)),
            ),
            None => (
                format!("strategy.position_avg_price * (1 + {fees} / 100)"),
                format!("strategy.position_avg_price * (1 - {fees} / 100)"),
            ),
        };
        let gain = pct(ladder.targets[usize::from(b.after) - 1].gain_pct);
        (gain, long_to, short_to)
    });
    out.push_str(
        "var bool tbMoved = false\nif strategy.position_size == 0\n    tbMoved := false\n",
    );
    if let Some((gain, _, _)) = &be {
        out.push_str(&format!(
            "if strategy.position_size > 0 and high >= strategy.position_avg_price * (1 + {gain} / 100)\n    tbMoved := true\nif strategy.position_size < 0 and low <= strategy.position_avg_price * (1 - {gain} / 100)\n    tbMoved := true\n"
        ));
    }
    let (long_be, short_be) = be
        .map(|(_, l, s)| (l, s))
        .unwrap_or_else(|| ("na".into(), "na".into()));
    out.push_str(&format!(
        "longStop = tbMoved ? {long_be} : longSl > 0 ? strategy.position_avg_price * (1 - longSl / 100) : na\nshortStop = tbMoved ? {short_be} : shortSl > 0 ? strategy.position_avg_price * (1 + shortSl / 100) : na\n"
    ));
    for (side, long) in [("Long", true), ("Short", false)] {
        let cond = if long {
            "strategy.position_size > 0"
        } else {
            "strategy.position_size < 0"
        };
        out.push_str(&format!("if {cond}\n"));
        for (i, t) in ladder.targets.iter().enumerate() {
            let last = i + 1 == n;
            let (sign, stop, closing) = if long {
                ("+", "longStop", "tbMessage(\"sell\", \"flat\")")
            } else {
                ("-", "shortStop", "tbMessage(\"buy\", \"flat\")")
            };
            // A target's partial fill alerts nobody: TradingBot fills it on
            // the exchange itself.
            let message = if last {
                format!("alert_message = {closing}")
            } else {
                "disable_alert = true".to_owned()
            };
            out.push_str(&format!(
                "    strategy.exit(\"{side} TP{k}\", from_entry = \"{side}\", qty_percent = {size}, limit = strategy.position_avg_price * (1 {sign} {gain} / 100), stop = {stop}, {trail}{message})\n",
                k = i + 1,
                size = pct(t.size_pct),
                gain = pct(t.gain_pct),
                trail = trail_args(s, long),
            ));
        }
    }
    out
}

pub fn generate(t: &Template, c: &Configured, s: &PineTarget<'_>) -> PineScript {
    let size = (s.investment_pct * Decimal::from(s.leverage.max(1))).min(Decimal::ONE_HUNDRED);
    let mut script = format!(
        "//@version=6\n// Generated by TradingBot for the strategy {name}: template `{id}`.\n// Signals are computed exactly as TradingBot's backtester computes them.\nstrategy({title}, overlay = true, initial_capital = 10000, default_qty_type = strategy.percent_of_equity, default_qty_value = {size}, commission_type = strategy.commission.percent, commission_value = 0.04, pyramiding = 0)\n\n",
        name = lit(s.name),
        id = t.id,
        title = lit(&format!("TradingBot · {}", s.name)),
        size = pct(size),
    );
    script.push_str(&inputs(t, c));
    script.push_str(&format!(
        "longTp = input.float({}, \"Long take-profit %\", minval = 0.0, maxval = 100.0, step = 0.1)\nlongSl = input.float({}, \"Long stop-loss %\", minval = 0.0, maxval = 100.0, step = 0.1)\nshortTp = input.float({}, \"Short take-profit %\", minval = 0.0, maxval = 100.0, step = 0.1)\nshortSl = input.float({}, \"Short stop-loss %\", minval = 0.0, maxval = 100.0, step = 0.1)\n\n",
        pct(s.long_tp_pct),
        pct(s.long_sl_pct),
        pct(s.short_tp_pct),
        pct(s.short_sl_pct)
    ));
    script.push_str(&signals(t.id));
    let (sizing_inputs, qty) = entry_qty(s.sizing);
    script.push_str(&sizing_inputs);
    script.push_str(&format!(
        r#"
// TradingBot's webhook JSON, from this bar's values.
tbMessage(string action, string position) =>
    string ts = str.format_time(timenow, "yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC")
    "{{\"secret\": \"{secret}\", \"action\": \"" + action + "\", \"market_position\": \"" + position + "\", \"symbol\": \"" + syminfo.ticker + "\", \"price\": \"" + str.tostring(close) + "\", \"timestamp\": \"" + ts + "\", \"id\": \"" + syminfo.ticker + "-" + action + "-" + position + "-" + str.tostring(time) + "\"}}"

if longSignal
    strategy.entry("Long", strategy.long, {long_qty}alert_message = tbMessage("buy", "long"))
if shortSignal
    strategy.entry("Short", strategy.short, {short_qty}alert_message = tbMessage("sell", "short"))

{exits}"#,
        secret = s.secret.replace(['"', '\\'], ""),
        long_qty = qty.map_or(String::new(), |q| format!("qty = {q}(true), ")),
        short_qty = qty.map_or(String::new(), |q| format!("qty = {q}(false), ")),
        exits = exits(s),
    ));
    PineScript {
        script,
        alert_message: "{{strategy.order.alert_message}}",
        webhook_url: s.webhook_url.to_owned(),
        setup_steps: vec![
            "Copy the script.".into(),
            "In TradingView open the Pine Editor, paste it over the editor's contents and click \"Save\".".into(),
            "Click \"Add to chart\" on the symbol and timeframe you trade (the strategy's symbol).".into(),
            format!(
                "Create an alert: Condition = this strategy, \"Order fills only\"; Message = {{{{strategy.order.alert_message}}}}; Notifications → Webhook URL = {}.",
                s.webhook_url
            ),
            "Done: each signal now reaches TradingBot, which sizes, places and protects the order.".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates;

    #[test]
    fn the_script_carries_the_inputs_and_the_secret() {
        let t = templates::find("ema_crossover").unwrap();
        let c = t
            .configure(serde_json::json!({ "fast": 5 }).as_object().unwrap())
            .unwrap();
        let target = PineTarget {
            name: "My \"EMA\"",
            secret: "s3cr3t-XYZ",
            webhook_url: "https://bot.example.com/api/v1/webhook/tradingview/tok",
            investment_pct: Decimal::from(10),
            sizing: Sizing::InvestmentPct,
            leverage: 3,
            long_tp_pct: Decimal::from(5),
            long_sl_pct: Decimal::from(2),
            short_tp_pct: Decimal::from(5),
            short_sl_pct: Decimal::from(2),
            ladder: None,
            trailing: None,
        };
        let p = generate(&t, &c, &target);
        assert!(p.script.starts_with("//@version=6\n"));
        assert!(
            p.script
                .contains("fast = input.int(5, \"Fast EMA length\", minval = 2, maxval = 200)")
        );
        assert!(p.script.contains("slow = input.int(21,"));
        assert!(p.script.contains("default_qty_value = 30.0"));
        assert!(p.script.contains("\\\"secret\\\": \\\"s3cr3t-XYZ\\\""));
        assert!(p.script.contains("TradingBot · My \\\"EMA\\\""));
        assert!(p.script.contains("longTp = input.float(5.0,"));
        assert_eq!(p.setup_steps.len(), 5);
        assert!(p.setup_steps[3].contains("/webhook/tradingview/tok"));
        assert!(
            !p.script.contains("qty ="),
            "the seed's sizing is the default"
        );

        // Risk sizing: each entry's quantity computed as TradingBot computes it.
        let risk = generate(
            &t,
            &c,
            &PineTarget {
                sizing: Sizing::RiskPct {
                    risk_pct: Decimal::new(15, 1),
                },
                ..target.clone()
            },
        );
        assert!(risk.script.contains("riskPct = input.float(1.5,"));
        assert!(
            risk.script
                .contains("(math.abs(close - stop) + 0.0005 * (close + stop))")
        );
        assert!(
            risk.script
                .contains("strategy.entry(\"Long\", strategy.long, qty = tbQty(true), ")
        );
        assert!(
            risk.script
                .contains("strategy.entry(\"Short\", strategy.short, qty = tbQty(false), ")
        );
        // A ladder: one exit per target for its share, the stop moving to
        // the entry plus both fees once target 1 was reached; only the last
        // target alerts. A trailing stop: TradingView's trail arguments.
        let ladder = generate(
            &t,
            &c,
            &PineTarget {
                ladder: Some(Ladder {
                    targets: vec![
                        crate::exits::Target {
                            gain_pct: Decimal::ONE,
                            size_pct: Decimal::from(60),
                        },
                        crate::exits::Target {
                            gain_pct: Decimal::from(3),
                            size_pct: Decimal::from(40),
                        },
                    ],
                    break_even: Some(crate::exits::BreakEven {
                        after: 1,
                        to: StopTo::Entry,
                    }),
                }),
                trailing: Some(Trailing {
                    callback_pct: Decimal::new(15, 1),
                    activation_pct: Some(Decimal::TWO),
                }),
                ..target.clone()
            },
        );
        let l = &ladder.script;
        assert!(l.contains("strategy.exit(\"Long TP1\", from_entry = \"Long\", qty_percent = 60.0, limit = strategy.position_avg_price * (1 + 1.0 / 100), stop = longStop, trail_price = strategy.position_avg_price * (1 + 2.0 / 100), trail_offset = math.round(strategy.position_avg_price * 1.5 / 100 / syminfo.mintick), disable_alert = true)"), "{l}");
        assert!(l.contains("qty_percent = 40.0, limit = strategy.position_avg_price * (1 - 3.0 / 100), stop = shortStop"), "{l}");
        assert!(
            l.contains(
                "high >= strategy.position_avg_price * (1 + 1.0 / 100)\n    tbMoved := true"
            ),
            "{l}"
        );
        assert!(
            l.contains("longStop = tbMoved ? strategy.position_avg_price * (1 + 0.1 / 100)"),
            "{l}"
        );
        assert_eq!(l.matches("disable_alert = true").count(), 2);
        assert_eq!(l.matches("tbMessage(\"sell\", \"flat\")").count(), 1);

        let usdt = generate(
            &t,
            &c,
            &PineTarget {
                sizing: Sizing::FixedUsdt {
                    qty_usdt: Decimal::from(250),
                },
                ..target.clone()
            },
        );
        assert!(usdt.script.contains("qtyUsdt = input.float(250.0,"));
        assert!(usdt.script.contains("    qtyUsdt / close\n"));
    }
}
