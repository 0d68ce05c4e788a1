//! The analysis endpoints over HTTP: offline on the bundled BTC data (the
//! embedded default with no network), and on candles from the local
//! Binance venue's public klines; refusals for unknown symbols and
//! timeframes.

mod common;

use common::api::{Api, json_of};
use common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use tradingbot_testkit::binance::LocalBinance;

#[tokio::test]
async fn offline_the_bundled_btc_candles_are_analysed() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_MARKET_DATA", "offline"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("analysis@example.com").await;
    let p: Value = api
        .get(
            "/analysis/BTCUSDT/patterns?timeframe=1d&limit=400",
            &u.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["source"], "bundled");
    assert_eq!(p["bars"], 400);
    assert_eq!(p["to"], "2020-12-08T00:00:00Z");
    assert!(p["pivots"].as_array().unwrap().len() > 10, "{p}");
    assert!(p["atr"].as_f64().unwrap() > 0.0);
    for key in ["levels", "trendlines", "patterns"] {
        assert!(p[key].is_array(), "{key}");
    }

    let v: Value = api
        .get("/analysis/BTCUSDT/volume-profile?bins=40", &u.access)
        .await
        .json()
        .await
        .unwrap();
    let profile = &v["profile"];
    assert_eq!(profile["bins"].as_array().unwrap().len(), 40);
    let (lo, hi, poc) = (
        profile["value_area_low"].as_f64().unwrap(),
        profile["value_area_high"].as_f64().unwrap(),
        profile["poc_price"].as_f64().unwrap(),
    );
    assert!(lo <= poc && poc <= hi);
    assert!(profile["value_area_share"].as_f64().unwrap() >= 0.7);
    // By tick width instead: bins of 250 USDT.
    let w: Value = api
        .get("/analysis/BTCUSDT/volume-profile?bin_width=250", &u.access)
        .await
        .json()
        .await
        .unwrap();
    let bins = w["profile"]["bins"].as_array().unwrap();
    let width = bins[0]["high"].as_f64().unwrap() - bins[0]["low"].as_f64().unwrap();
    assert!((width - 250.0).abs() < 1e-6, "{width}");
    let res = api
        .get("/analysis/BTCUSDT/volume-profile?bin_width=-1", &u.access)
        .await;
    assert_eq!(res.status(), 422);

    let f: Value = api
        .get("/analysis/BTCUSDT/fractal", &u.access)
        .await
        .json()
        .await
        .unwrap();
    let h = f["fractal"]["hurst_dfa"].as_f64().unwrap();
    assert!((0.3..0.8).contains(&h), "{h}");
    assert!(
        ["trending", "mean_reverting", "random_walk"]
            .contains(&f["fractal"]["regime"].as_str().unwrap())
    );

    let r: Value = api
        .get("/analysis/BTCUSDT/recommendation?side=long", &u.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ["hold", "close", "reduce", "reverse"].contains(&r["action"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["mode"], "technical_only");
    assert_eq!(r["sources"], serde_json::json!(["technical"]));
    assert!(r["confidence"].as_f64().unwrap() <= 1.0);

    // Offline there is nothing else; bad input is named.
    let res = api
        .get("/analysis/ETHUSDT/patterns?timeframe=1h", &u.access)
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(json_of(res).await["code"], "market_data_unavailable");
    let res = api
        .get("/analysis/BTCUSDT/patterns?timeframe=7m", &u.access)
        .await;
    assert_eq!(res.status(), 422);
    let res = api
        .get("/analysis/BTCUSDT/patterns?limit=5", &u.access)
        .await;
    assert_eq!(res.status(), 422);
    let res = api
        .get("/analysis/BTCUSDT/recommendation?side=sideways", &u.access)
        .await;
    assert_eq!(res.status(), 422);
    let res = api.get("/analysis/BTC%20USDT!/fractal", &u.access).await;
    assert_eq!(res.status(), 422);

    // The price chart's candles, offline: the bundled days, by date range.
    let c: Value = api
        .get(
            "/market/BTCUSDT.P/candles?interval=1d&from=2020-01-01&to=2020-01-10",
            &u.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (c["symbol"].as_str(), c["source"].as_str()),
        (Some("BTCUSDT"), Some("bundled"))
    );
    let days = c["candles"].as_array().unwrap();
    assert_eq!(days.len(), 10, "{c}");
    assert_eq!(days[0]["open_time"], "2020-01-01T00:00:00Z");
    assert_eq!(days[9]["open_time"], "2020-01-10T00:00:00Z");
    assert_eq!(days[0]["time"], 1_577_836_800_000_i64);
    for d in days {
        assert_eq!(d["closed"], true);
        let (h, l, o, cl) = (
            d["high"].as_f64().unwrap(),
            d["low"].as_f64().unwrap(),
            d["open"].as_f64().unwrap(),
            d["close"].as_f64().unwrap(),
        );
        assert!(h >= o.max(cl) && l <= o.min(cl) && l > 0.0, "{d}");
    }
    let c: Value = api
        .get("/market/BTCUSDT/candles?interval=1d&limit=3", &u.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["candles"].as_array().unwrap().len(), 3);
    assert_eq!(c["candles"][2]["open_time"], "2020-12-08T00:00:00Z");
    for (query, status, field) in [
        ("/market/ETHUSDT/candles", 503, None),
        ("/market/BTCUSDT/candles?interval=7m", 422, Some("interval")),
        ("/market/BTCUSDT/candles?limit=0", 422, Some("limit")),
        ("/market/BTCUSDT/candles?limit=1501", 422, Some("limit")),
        ("/market/BTCUSDT/candles?from=yesterday", 422, Some("from")),
        (
            "/market/BTCUSDT/candles?from=2020-02-01&to=2020-01-01",
            422,
            Some("to"),
        ),
        ("/market/BTC%20USDT!/candles", 422, Some("symbol")),
    ] {
        let res = api.get(query, &u.access).await;
        assert_eq!(res.status(), status, "{query}");
        let e = json_of(res).await;
        if let Some(f) = field {
            assert_eq!(e["errors"][0]["field"], f, "{query}: {e}");
        } else {
            assert_eq!(e["code"], "market_data_unavailable");
        }
    }
    let res = api
        .http
        .get(api.url("/market/BTCUSDT/candles"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = api
        .http
        .get(api.url("/analysis/BTCUSDT/patterns"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn exchange_candles_are_fetched_and_unknown_symbols_refused() {
    let venue = LocalBinance::start();
    let now = chrono::Utc::now().timestamp_millis();
    let step = 3_600_000;
    let first = (now / step - 600) * step;
    let candles: Vec<_> = (0..601).map(|i| candles_at(first, step, i)).collect();
    venue.set_klines("ETHUSDT", "1h", candles);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_BINANCE_LIVE_REST_URL", &venue.rest_url),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("analysis-live@example.com").await;
    let p: Value = api
        .get(
            "/analysis/ETHUSDT/patterns?timeframe=1h&limit=300",
            &u.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["source"], "binance");
    // The newest candle is still open: only closed ones are analysed.
    assert_eq!(p["bars"], 300);
    let last = chrono::DateTime::parse_from_rfc3339(p["to"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert!(last + step <= now + 60_000);
    // The sine swings: pivots alternate and there are levels.
    assert!(p["pivots"].as_array().unwrap().len() >= 4, "{p}");
    assert!(
        last + 2 * step > now,
        "the most recent candles: {}",
        p["to"]
    );
    // A second request within the minute is served from memory.
    let _ = api
        .get(
            "/analysis/ETHUSDT/fractal?timeframe=1h&limit=300",
            &u.access,
        )
        .await;
    let asked = venue
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
        .count();
    assert_eq!(asked, 1);
    let res = api
        .get("/analysis/NOPEUSDT/patterns?timeframe=1h", &u.access)
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(json_of(res).await["code"], "unknown_symbol");

    // The price chart: the latest candles, the newest still forming, with
    // the venue's exact prices.
    let c: Value = api
        .get("/market/ETHUSDT.P/candles?interval=1h&limit=100", &u.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["source"], "binance");
    let bars = c["candles"].as_array().unwrap();
    assert_eq!(bars.len(), 100);
    assert_eq!(bars[99]["time"], first + 600 * step);
    assert_eq!(bars[99]["closed"], false);
    assert_eq!(bars[98]["closed"], true);
    // A window in the past, by Unix milliseconds.
    let from = first + 10 * step;
    let to = first + 19 * step;
    let path = format!("/market/ETHUSDT/candles?interval=1h&from={from}&to={to}");
    let c: Value = api.get(&path, &u.access).await.json().await.unwrap();
    let bars = c["candles"].as_array().unwrap();
    assert_eq!(bars.len(), 10);
    assert_eq!(bars[0]["time"], from);
    assert_eq!(bars[9]["time"], to);
    let want = candles_at(first, step, 10);
    assert_eq!(
        bars[0]["open"].as_f64().unwrap().to_string(),
        want.open.to_string()
    );
    assert_eq!(
        bars[0]["volume"].as_f64().unwrap().to_string(),
        want.volume.to_string()
    );
    // Asked again: served from memory, not from the venue.
    let before = klines_asked(&venue);
    let _ = api.get(&path, &u.access).await;
    assert_eq!(klines_asked(&venue), before);
    let res = api
        .get("/market/NOPEUSDT/candles?interval=1h", &u.access)
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(json_of(res).await["code"], "unknown_symbol");
}

fn klines_asked(venue: &LocalBinance) -> usize {
    venue
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
        .count()
}

/// The `i`th of the synthetic hourly candles the venue serves.
fn candles_at(first: i64, step: i64, i: i64) -> tradingbot_core::market::candle::Candle {
    let p = |k: i64| Decimal::from(3_000 + ((k as f64 / 25.0).sin() * 120.0) as i64);
    let (open, close) = (p(i), p(i + 1));
    tradingbot_core::market::candle::Candle {
        time_ms: first + i * step,
        open,
        high: open.max(close) + Decimal::from(2),
        low: open.min(close) - Decimal::from(2),
        close,
        volume: Decimal::from(10 + i % 7),
    }
}

#[tokio::test]
async fn with_keys_the_models_vote_on_a_position() {
    use tradingbot_testkit::llm::{Api as LlmApi, LocalLlm, Reply};
    let openai = LocalLlm::start(LlmApi::OpenAi, "sk-openai-test", "gpt-test");
    let claude = LocalLlm::start(LlmApi::Anthropic, "sk-ant-test", "claude-test");
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_MARKET_DATA", "offline"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("OPENAI_API_KEY", "sk-openai-test"),
            ("TRADINGBOT_OPENAI_BASE_URL", &openai.url),
            ("TRADINGBOT_OPENAI_MODEL", "gpt-test"),
            ("ANTHROPIC_API_KEY", "sk-ant-test"),
            ("TRADINGBOT_ANTHROPIC_BASE_URL", &claude.url),
            ("TRADINGBOT_ANTHROPIC_MODEL", "claude-test"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("ai@example.com").await;
    openai.script(Reply::Vote(
        serde_json::json!({ "action": "close", "confidence": 0.9, "reasons": ["lower highs"] }),
    ));
    claude.script(Reply::Vote(
        serde_json::json!({ "action": "close", "confidence": 0.8, "reasons": ["volume fading"] }),
    ));
    let r: Value = api
        .get("/analysis/BTCUSDT/recommendation?side=long", &u.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["mode"], "ensemble", "{r}");
    let voters: Vec<&str> = r["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["source"].as_str().unwrap())
        .collect();
    assert_eq!(voters, ["openai", "anthropic"]);
    assert_eq!(r["missing"], serde_json::json!([]));
    let sources: Vec<&str> = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"technical")
            && sources.contains(&"openai")
            && sources.contains(&"anthropic")
    );
    // The models saw the computed analysis and the position.
    let sent: Value = serde_json::from_str(
        openai.received()[0].body["messages"][1]["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent["symbol"], "BTCUSDT");
    assert_eq!(sent["position"]["side"], "long");
    assert!(sent["fractal"]["hurst_dfa"].is_number());
    assert!(sent["technical"]["score"].is_number());
    // The keys never come back.
    let text = r.to_string();
    assert!(!text.contains("sk-openai-test") && !text.contains("sk-ant-test"));

    // A failing provider is left out, and said so.
    openai.script(Reply::Status(500));
    let r: Value = api
        .get("/analysis/BTCUSDT/recommendation?side=short", &u.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["mode"], "ensemble");
    assert_eq!(r["votes"].as_array().unwrap().len(), 1);
    assert_eq!(r["missing"][0]["source"], "openai");
    assert_eq!(r["missing"][0]["reason"], "server error 500");
}
