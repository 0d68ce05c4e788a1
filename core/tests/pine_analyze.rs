//! The Pine analyzer on a hand-written strategy, an indicator with alert
//! conditions, a broken script, and every script TradingBot generates.
//! (`core/tests/pine.rs` shows with pynescript that the two hand-written
//! scripts are valid Pine and where the broken one fails.)

mod common;

use serde_json::json;
use tradingbot_core::pine::{self, Analysis, Context, Severity};
use tradingbot_core::templates;

const NOW: &str = "2026-11-24T08:00:00Z";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/pine/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ctx(secret: Option<&[u8]>) -> Context<'_> {
    Context {
        now_iso: NOW,
        expected_secret: secret,
    }
}

fn codes(a: &Analysis) -> Vec<(&'static str, Option<usize>)> {
    a.findings.iter().map(|f| (f.code, f.line)).collect()
}

/// Each sizing mode in turn, so every kind of generated sizing is checked.

#[test]
fn a_hand_written_strategy_is_read_whole() {
    let a = pine::analyze(
        &fixture("user_strategy.pine"),
        &ctx(Some(b"my-webhook-secret")),
    )
    .unwrap();
    assert_eq!(a.version, Some(6));
    let d = a.declaration.as_ref().unwrap();
    assert_eq!(
        (d.kind.as_str(), d.title.as_deref(), d.line),
        ("strategy", Some("Trend pullback"), 3)
    );

    let inputs: Vec<_> = a
        .inputs
        .iter()
        .map(|i| {
            (
                i.name.as_str(),
                i.kind.as_str(),
                i.default.clone(),
                i.title.as_deref(),
                i.line,
            )
        })
        .collect();
    assert_eq!(
        inputs,
        vec![
            ("trendLen", "int", Some(json!(200)), Some("Trend EMA"), 5),
            ("rsiLen", "int", Some(json!(14)), Some("RSI length"), 6),
            ("oversold", "float", Some(json!(30.5)), Some("Oversold"), 7),
            (
                "useShorts",
                "bool",
                Some(json!(true)),
                Some("Allow shorts"),
                8
            ),
            ("src", "source", Some(json!("close")), Some("Source"), 9),
            (
                "mode",
                "string",
                Some(json!("aggressive")),
                Some("Mode"),
                10
            ),
        ]
    );
    assert_eq!(a.inputs[0].minval, Some(json!(10)));
    assert_eq!(a.inputs[0].maxval, Some(json!(500)));
    assert_eq!(
        a.inputs[5].options,
        Some(vec![json!("aggressive"), json!("careful")])
    );

    let calls: Vec<_> = a
        .calls
        .iter()
        .map(|c| {
            let m = c.message.as_ref().unwrap();
            (
                c.function.as_str(),
                c.line,
                c.id.as_deref(),
                c.direction.as_deref(),
                m.valid_webhook_json,
                m.action,
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "strategy.entry",
                19,
                Some("Long"),
                Some("long"),
                true,
                Some("long")
            ),
            (
                "strategy.entry",
                21,
                Some("Short"),
                Some("short"),
                true,
                Some("short")
            ),
            (
                "strategy.close",
                25,
                Some("Long"),
                None,
                true,
                Some("close_long")
            ),
            ("alert", 28, None, None, true, Some("close")),
        ]
    );
    // A message built from a variable is followed to its text; the secret
    // never comes back; chart values stay holes.
    let long = a.calls[0].message.as_ref().unwrap();
    assert!(long.constant);
    assert!(
        long.text
            .starts_with("{\"secret\": \"***\", \"action\": \"buy\""),
        "{}",
        long.text
    );
    let alert = a.calls[3].message.as_ref().unwrap();
    assert!(!alert.constant);
    assert!(
        alert.text.contains("«str.tostring(close)»"),
        "{}",
        alert.text
    );
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert!(a.webhook_ready);

    let other = pine::analyze(&fixture("user_strategy.pine"), &ctx(Some(b"another"))).unwrap();
    assert_eq!(
        codes(&other),
        vec![
            ("secret_mismatch", Some(19)),
            ("secret_mismatch", Some(21)),
            ("secret_mismatch", Some(25)),
            ("secret_mismatch", Some(28))
        ]
    );
    assert!(!other.webhook_ready);
    let json = serde_json::to_string(&other).unwrap();
    assert!(!json.contains("my-webhook-secret") && !json.contains("another"));
}

#[test]
fn an_indicator_with_alert_conditions_gets_line_by_line_findings() {
    let a = pine::analyze(&fixture("indicator_alerts.pine"), &ctx(None)).unwrap();
    assert_eq!(a.version, Some(5));
    assert_eq!(a.declaration.as_ref().unwrap().kind, "indicator");
    assert_eq!(a.inputs.len(), 1);
    assert_eq!(
        (a.inputs[0].kind.as_str(), a.inputs[0].default.clone()),
        ("int", Some(json!(14)))
    );
    assert_eq!(a.calls.len(), 5);
    assert_eq!(a.calls[0].id.as_deref(), Some("RSI up"));
    assert!(a.calls[0].message.as_ref().unwrap().valid_webhook_json);
    // The action comes from a placeholder: not known before the alert fires.
    assert_eq!(a.calls[0].message.as_ref().unwrap().action, None);
    assert!(!a.calls[1].message.as_ref().unwrap().valid_webhook_json);
    assert!(a.calls[2].message.as_ref().unwrap().valid_webhook_json);
    assert!(!a.calls[3].message.as_ref().unwrap().valid_webhook_json);
    assert_eq!(
        codes(&a),
        vec![
            ("invalid_webhook_message", Some(7)),
            ("unknown_placeholder", Some(8)),
            ("invalid_webhook_message", Some(9)),
            ("strategy_call_outside_strategy", Some(10)),
        ]
    );
    let sl = a.findings.iter().find(|f| f.line == Some(7)).unwrap();
    assert!(sl.message.contains("sl_pct"), "{}", sl.message);
    assert!(!a.webhook_ready);
}

#[test]
fn a_broken_script_fails_with_its_line() {
    let e = pine::analyze(&fixture("broken.pine"), &ctx(None)).unwrap_err();
    assert_eq!((e.line, e.column), (10, 19), "{e}");
    assert!(e.message.contains("never closed"), "{e}");

    for (src, line) in [
        ("//@version=6\nstrategy(\"x\")\na = 1 +\n", 3),
        (
            "//@version=6\nstrategy(\"x\")\nif close > open\nstrategy.entry(\"L\", strategy.long)\n",
            3,
        ),
        ("//@version=6\nstrategy(\"x\")\nx = close >> 2\n", 3),
        ("//@version=6\nstrategy(\"x\")\nmsg = \"unterminated\n", 3),
        (
            "//@version=6\nstrategy(\"x\")\nfor i = 0 10\n    x = i\n",
            3,
        ),
        (
            "//@version=6\nstrategy(\"x\")\nplot(close)\n        plot(open)\n",
            4,
        ),
        (
            "//@version=6\nstrategy(\"x\")\nx = ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\n",
            3,
        ),
    ] {
        let e = pine::analyze(src, &ctx(None)).unwrap_err();
        assert_eq!(e.line, line, "{src:?}: {e}");
    }
    let deep = format!(
        "//@version=6\nstrategy(\"x\")\nx = {}1\n",
        "-".repeat(100_000)
    );
    assert_eq!(pine::analyze(&deep, &ctx(None)).unwrap_err().line, 3);
}

#[test]
fn missing_declaration_version_and_signals_are_reported() {
    let a = pine::analyze("x = close\nplot(x)\n", &ctx(None)).unwrap();
    let c: Vec<_> = a.findings.iter().map(|f| f.code).collect();
    assert_eq!(c, vec!["no_declaration", "no_version", "no_signals"]);
    let a = pine::analyze(
        "//@version=6\nstrategy(\"x\")\nif close > open\n    strategy.entry(\"L\", strategy.long)\n",
        &ctx(None),
    )
    .unwrap();
    assert_eq!(a.findings.len(), 1);
    assert_eq!(
        (a.findings[0].code, a.findings[0].severity),
        ("message_box_needed", Severity::Info)
    );
    assert!(!a.webhook_ready);
}

#[test]
fn every_generated_script_is_webhook_ready() {
    for (i, t) in templates::library().into_iter().enumerate() {
        let c = t.configure(&serde_json::Map::new()).unwrap();
        let target = common::target(t.name, "gen-secret-42", i);
        let script = pine::generate(&t, &c, &target).script;
        let a = pine::analyze(&script, &ctx(Some(b"gen-secret-42")))
            .unwrap_or_else(|e| panic!("{}: {e}", t.id));
        assert!(a.findings.is_empty(), "{}: {:?}", t.id, a.findings);
        assert!(a.webhook_ready, "{}", t.id);
        let names: Vec<_> = a.inputs.iter().map(|i| i.name.as_str()).collect();
        for p in &t.params {
            assert!(
                names.contains(&p.name),
                "{}: {} missing from {names:?}",
                t.id,
                p.name
            );
        }
        // Every call that alerts carries its action; a ladder's partial
        // targets alert nobody (TradingBot fills them on the exchange).
        let silent = a.calls.iter().filter(|c| c.silent).count();
        let targets = common::exits(i).0.map_or(0, |l| l.targets.len());
        assert_eq!(silent, 2 * targets.saturating_sub(1), "{}", t.id);
        let actions: Vec<_> = a
            .calls
            .iter()
            .filter(|c| !c.silent)
            .map(|c| {
                (
                    c.function.as_str(),
                    c.message.as_ref().and_then(|m| m.action),
                )
            })
            .collect();
        assert_eq!(
            actions,
            vec![
                ("strategy.entry", Some("long")),
                ("strategy.entry", Some("short")),
                ("strategy.exit", Some("close_long")),
                ("strategy.exit", Some("close_short")),
            ],
            "{}",
            t.id
        );
    }
}
