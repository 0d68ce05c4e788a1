//! The template library over HTTP: five cards, their parameters, and win
//! rates that are the backtester's own figures on the bundled data.

mod common;

use common::api::Api;
use common::*;
use serde_json::Value;
use tradingbot_core::templates;

#[tokio::test]
async fn the_library_shows_backtested_cards() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[]);
    let api = Api::new(&bot);
    let res = api
        .http
        .get(api.url("/pine-script/strategies"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cards: Vec<Value> = res.json().await.unwrap();
    let ids: Vec<&str> = cards.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ema_crossover",
            "rsi_reversal",
            "macd_cross",
            "bollinger",
            "supertrend"
        ]
    );
    let ema = &cards[0];
    assert_eq!(ema["name"], "EMA Crossover");
    assert_eq!(ema["difficulty"], "beginner");
    assert_eq!(ema["parameters"][0]["name"], "fast");
    assert_eq!(ema["parameters"][0]["type"], "int");
    assert_eq!(ema["parameters"][0]["default"], 9);
    assert_eq!(ema["parameters"][1]["default"], 21);
    assert_eq!(cards[3]["parameters"][2]["options"][1], "breakout");
    for card in &cards {
        let t = templates::find(card["id"].as_str().unwrap()).unwrap();
        let r = tradingbot_backtest::cards::card_report(&t).unwrap();
        assert!(r.trades > 0, "{}", t.id);
        let shown = card["win_rate"].as_f64().unwrap();
        assert!(
            (shown - r.win_rate_pct).abs() <= 0.05 + 1e-9,
            "{}: {shown} vs {}",
            t.id,
            r.win_rate_pct
        );
        assert_eq!(card["backtest"]["trades"], r.trades);
        assert_eq!(card["backtest"]["from"], "2017-05-01");
    }
}

#[tokio::test]
async fn a_strategy_gets_its_own_script() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("pine@example.com").await;
    let (_, s) = api.paper_strategy(&u, serde_json::json!({ "name": "MACD on BTC", "indicator_id": "macd_cross", "leverage": 5, "long_tp_pct": 4 })).await;
    let res = api
        .post(
            "/pine-script/customize",
            Some(&u.access),
            serde_json::json!({ "strategy_id": s["id"], "params": { "signal": 7 } }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["template_id"], "macd_cross");
    assert_eq!(p["params"]["signal"], 7);
    assert_eq!(p["params"]["fast"], 12);
    let script = p["script"].as_str().unwrap();
    assert!(script.starts_with("//@version=6"));
    assert!(script.contains("signal = input.int(7,"));
    assert!(script.contains("longTp = input.float(4.0,"));
    // 10 % × 5x of equity per trade, as the bot sizes it.
    assert!(script.contains("default_qty_value = 50.0"));
    let secret = s["webhook_secret"].as_str().unwrap();
    assert!(script.contains(secret));
    assert_eq!(p["webhook_url"], s["webhook_url"]);
    assert_eq!(p["alert_message"], "{{strategy.order.alert_message}}");
    assert_eq!(p["setup_steps"].as_array().unwrap().len(), 5);

    // Bad template and parameters are named; another user's strategy is not found.
    let res = api
        .post(
            "/pine-script/customize",
            Some(&u.access),
            serde_json::json!({ "strategy_id": s["id"], "template_id": "astrology" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["errors"][0]["field"], "template_id");
    let res = api
        .post(
            "/pine-script/customize",
            Some(&u.access),
            serde_json::json!({ "strategy_id": s["id"], "params": { "fast": 40, "slow": 20 } }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["errors"][0]["field"], "params.fast");
    let other = api.user("other@example.com").await;
    let res = api
        .post(
            "/pine-script/customize",
            Some(&other.access),
            serde_json::json!({ "strategy_id": s["id"] }),
        )
        .await;
    assert_eq!(res.status(), 404);
}

/// The seed's onboarding: pick a template, see its script, fill in the
/// strategy form (percentages, leverage, indicator — no name, no symbol)
/// and save. The saved strategy's script is the preview with the
/// placeholders filled in, nothing else.
#[tokio::test]
async fn the_seeds_form_previews_then_saves_with_defaults() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("onboarding@example.com").await;
    let form = serde_json::json!({ "indicator_id": "supertrend", "investment_pct": 15,
        "long_tp_pct": 6, "long_sl_pct": 2.5, "short_tp_pct": 4, "short_sl_pct": 1.5, "leverage": 4 });
    let mut ask = form.clone();
    ask["params"] = serde_json::json!({ "atr_period": 12 });
    let res = api
        .post("/pine-script/customize", Some(&u.access), ask.clone())
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["preview"], true);
    assert_eq!(
        p["placeholders"],
        serde_json::json!(["YOUR_WEBHOOK_SECRET", "YOUR_WEBHOOK_TOKEN"])
    );
    let preview = p["script"].as_str().unwrap().to_owned();
    assert!(preview.contains("atr_period = input.int(12,"), "{preview}");
    // 15 % × 4x of equity per trade.
    assert!(preview.contains("default_qty_value = 60.0"));

    // A bad form field is named as the strategy form names it.
    let mut bad = ask.clone();
    bad["leverage"] = 500.into();
    let res = api
        .post("/pine-script/customize", Some(&u.access), bad)
        .await;
    assert_eq!(res.status(), 422);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["errors"][0]["field"], "leverage");

    // Saved from the same form: a default name and symbol.
    let account = common::api::json_of(
        api.post(
            "/accounts/register",
            Some(&u.access),
            serde_json::json!({ "exchange": "paper" }),
        )
        .await,
    )
    .await;
    let mut create = form.clone();
    create["account_id"] = account["id"].clone();
    let res = api
        .post("/strategies", Some(&u.access), create.clone())
        .await;
    assert_eq!(res.status(), 201);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["name"], "Supertrend BTCUSDT");
    assert_eq!(s["symbols"], serde_json::json!(["BTCUSDT"]));
    assert_eq!(
        (s["leverage"].as_u64(), s["investment_pct"].as_f64()),
        (Some(4), Some(15.0))
    );
    let res = api.post("/strategies", Some(&u.access), create).await;
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["name"], "Supertrend BTCUSDT 2");

    let mut ask = serde_json::json!({ "strategy_id": s["id"], "params": { "atr_period": 12 } });
    let res = api
        .post("/pine-script/customize", Some(&u.access), ask.clone())
        .await;
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["preview"], false);
    let token = s["webhook_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let filled = preview
        .replace("YOUR_WEBHOOK_SECRET", s["webhook_secret"].as_str().unwrap())
        .replace("YOUR_WEBHOOK_TOKEN", token);
    assert_eq!(saved["script"].as_str().unwrap(), filled);

    // And it trades: the webhook takes an alert for the default symbol.
    let (status, body) = common::api::post_alert(
        &api,
        &s,
        common::api::tv_alert(&s, "buy", "long", "onboard-1"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    ask["strategy_id"] = 0.into();
    let res = api
        .post("/pine-script/customize", Some(&u.access), ask)
        .await;
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn a_description_becomes_a_template_and_a_script() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("words@example.com").await;
    let res = api
        .post(
            "/pine-script/generate",
            Some(&u.access),
            serde_json::json!({ "description": "RSI 7 reversal: buy oversold under 25, sell overbought above 80" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let g: Value = res.json().await.unwrap();
    assert_eq!(g["template_id"], "rsi_reversal");
    assert_eq!(g["params"]["length"], 7);
    assert_eq!(g["params"]["oversold"], 25.0);
    // No strategy yet: a preview whose secret and token are stand-ins.
    assert_eq!(g["preview"], true);
    let preview = g["script"].as_str().unwrap();
    assert!(preview.contains("length = input.int(7,"));
    assert!(preview.contains("YOUR_WEBHOOK_SECRET"));
    assert!(
        g["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with("/YOUR_WEBHOOK_TOKEN")
    );

    let (_, s) = api
        .paper_strategy(&u, serde_json::json!({ "name": "words" }))
        .await;
    let res = api
        .post(
            "/pine-script/generate",
            Some(&u.access),
            serde_json::json!({ "description": "볼린저 밴드 돌파", "strategy_id": s["id"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let g: Value = res.json().await.unwrap();
    assert_eq!(
        (g["template_id"].as_str(), g["params"]["mode"].as_str()),
        (Some("bollinger"), Some("breakout"))
    );
    assert!(
        g["script"]
            .as_str()
            .unwrap()
            .contains("mode = input.string(\"breakout\"")
    );
    assert_eq!(g["webhook_url"], s["webhook_url"]);
    assert_eq!(g["preview"], false);

    let res = api
        .post(
            "/pine-script/generate",
            Some(&u.access),
            serde_json::json!({ "description": "make me rich" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["code"], "no_match");
}

fn pine_fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../core/tests/fixtures/pine/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn a_users_own_script_is_analyzed() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("analyze@example.com").await;
    let (_, s) = api
        .paper_strategy(
            &u,
            serde_json::json!({ "name": "EMA", "indicator_id": "ema_crossover" }),
        )
        .await;
    let secret = s["webhook_secret"].as_str().unwrap().to_owned();

    // TradingBot's own script, checked against the strategy it was made for.
    let p: Value = api
        .post(
            "/pine-script/customize",
            Some(&u.access),
            serde_json::json!({ "strategy_id": s["id"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = api
        .post(
            "/pine-script/analyze",
            Some(&u.access),
            serde_json::json!({ "script": p["script"], "strategy_id": s["id"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret), "the secret came back");
    let a: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(a["version"], 6);
    assert_eq!(a["declaration"]["kind"], "strategy");
    assert_eq!(a["inputs"][0]["name"], "fast");
    assert_eq!(a["inputs"][0]["default"], 9);
    assert_eq!(a["webhook_ready"], true, "{a}");
    assert_eq!(a["findings"], serde_json::json!([]));
    assert_eq!(a["calls"][0]["function"], "strategy.entry");
    assert_eq!(a["calls"][0]["message"]["action"], "long");

    // A hand-written script: its secret is not this strategy's.
    let res = api
        .post(
            "/pine-script/analyze",
            Some(&u.access),
            serde_json::json!({ "script": pine_fixture("user_strategy.pine"), "strategy_id": s["id"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let a: Value = res.json().await.unwrap();
    assert_eq!(a["inputs"].as_array().unwrap().len(), 6);
    assert_eq!(a["inputs"][2]["default"], 30.5);
    assert_eq!(a["findings"][0]["code"], "secret_mismatch");
    assert_eq!(a["findings"][0]["line"], 19);
    assert_eq!(a["webhook_ready"], false);

    // Broken: the line and column of the cause.
    let res = api
        .post(
            "/pine-script/analyze",
            Some(&u.access),
            serde_json::json!({ "script": pine_fixture("broken.pine") }),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["code"], "pine_syntax_error");
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(10), Some(19))
    );
    assert!(e["detail"].as_str().unwrap().contains("line 10"));

    // Empty, oversized, anonymous, someone else's strategy.
    let res = api
        .post(
            "/pine-script/analyze",
            Some(&u.access),
            serde_json::json!({ "script": "  " }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let huge = "// padding\n".repeat(60_000);
    let res = api
        .post(
            "/pine-script/analyze",
            Some(&u.access),
            serde_json::json!({ "script": huge }),
        )
        .await;
    assert_eq!(res.status(), 413);
    let res = api
        .post(
            "/pine-script/analyze",
            None,
            serde_json::json!({ "script": "//@version=6" }),
        )
        .await;
    assert_eq!(res.status(), 401);
    let other = api.user("analyze-other@example.com").await;
    let res = api
        .post(
            "/pine-script/analyze",
            Some(&other.access),
            serde_json::json!({ "script": "//@version=6\nindicator(\"x\")\n", "strategy_id": s["id"] }),
        )
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_model_writes_the_script_checked_and_retried_once() {
    use tradingbot_testkit::llm::{Api as LlmApi, LocalLlm, Reply};
    let openai = LocalLlm::start(LlmApi::OpenAi, "sk-pine-test", "gpt-pine");
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("OPENAI_API_KEY", "sk-pine-test"),
            ("TRADINGBOT_OPENAI_BASE_URL", &openai.url),
            ("TRADINGBOT_OPENAI_MODEL", "gpt-pine"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("pine-llm@example.com").await;
    let (_, s) = api
        .paper_strategy(&u, serde_json::json!({ "name": "LLM" }))
        .await;
    let secret = s["webhook_secret"].as_str().unwrap().to_owned();

    // First a script that does not parse, then a good one.
    openai.script(Reply::Vote(serde_json::json!({
        "script": "//@version=6\nstrategy(\"Dip buyer\")\nif ta.crossover(close, ta.sma(close, 50))\nstrategy.entry(\"L\", strategy.long)\n",
        "explanation": "buys dips"
    })));
    let good = "//@version=6\nstrategy(\"Dip buyer\", overlay = true)\nlen = input.int(50, \"SMA length\")\nmsg = '{\"secret\": \"__TRADINGBOT_SECRET__\", \"action\": \"buy\", \"market_position\": \"long\", \"symbol\": \"{{ticker}}\", \"timestamp\": \"{{timenow}}\"}'\nif ta.crossover(close, ta.sma(close, len))\n    strategy.entry(\"L\", strategy.long, alert_message = msg)\nif ta.crossunder(close, ta.sma(close, len))\n    strategy.close(\"L\", alert_message = '{\"secret\": \"__TRADINGBOT_SECRET__\", \"action\": \"close_long\", \"timestamp\": \"{{timenow}}\"}')\n";
    openai.script(Reply::Vote(
        serde_json::json!({ "script": good, "explanation": "SMA 50 crossover" }),
    ));
    let res = api
        .post(
            "/pine-script/generate",
            Some(&u.access),
            serde_json::json!({ "description": "buy when price crosses above its 50 SMA", "strategy_id": s["id"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let g: Value = res.json().await.unwrap();
    assert_eq!(g["source"], "llm", "{g}");
    assert_eq!(g["provider"], "openai");
    assert_eq!(g["attempts"], 2);
    assert_eq!(g["analysis"]["webhook_ready"], true, "{g}");
    assert_eq!(g["analysis"]["inputs"][0]["name"], "len");
    let script = g["script"].as_str().unwrap();
    assert!(
        script.contains(&secret),
        "the placeholder became the strategy's secret"
    );
    assert!(!script.contains("__TRADINGBOT_SECRET__"));
    assert_eq!(g["webhook_url"], s["webhook_url"]);
    // The retry carried the parse error; no request ever carried the secret.
    let sent = openai.received();
    assert_eq!(sent.len(), 2);
    let retry: Value =
        serde_json::from_str(sent[1].body["messages"][1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(retry["problems"]["syntax_error"]["line"], 3, "{retry}");
    assert!(
        retry["previous_script"]
            .as_str()
            .unwrap()
            .contains("Dip buyer")
    );
    assert!(sent.iter().all(|r| !r.body.to_string().contains(&secret)));

    // Two bad scripts: the template path answers, and says why.
    let no_secret = "//@version=6\nstrategy(\"x\")\nif close > open\n    strategy.entry(\"L\", strategy.long, alert_message = '{\"action\": \"buy\"}')\n";
    for _ in 0..2 {
        openai.script(Reply::Vote(
            serde_json::json!({ "script": no_secret, "explanation": "?" }),
        ));
    }
    let g: Value = api
        .post(
            "/pine-script/generate",
            Some(&u.access),
            serde_json::json!({ "description": "EMA crossover 12/26" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g["source"], "template", "{g}");
    assert_eq!(g["template_id"], "ema_crossover");
    let attempts = g["llm"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        attempts[0]["problems"]["findings"][0]["code"], "no_secret",
        "{g}"
    );
}
