//! `POST /api/v1/backtest` as a background job over HTTP: the bundled data
//! and a download from the local Binance venue, the result equal to the
//! engine run directly, progress, refusals by field, ownership and the
//! per-user limit.

mod common;

use common::api::{Api, Session};
use common::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::{Failure, LocalBinance};

async fn until_done(api: &Api<'_>, user: &Session, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = api
            .http
            .get(api.url(location.trim_start_matches("/api/v1")))
            .bearer_auth(&user.access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let job: Value = res.json().await.unwrap();
        if job["status"] == "completed" || job["status"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "still {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(api: &Api<'_>, user: &Session, body: Value) -> (u16, Value, Option<String>) {
    let res = api.post("/backtest", Some(&user.access), body).await;
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, res.json().await.unwrap(), location)
}

#[tokio::test]
async fn the_bundled_data_backtests_like_the_engine() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("bt@example.com").await;
    let (status, job, location) = start(
        &api,
        &u,
        json!({ "indicator_id": "ema_crossover", "params": { "fast": 5, "slow": 13 }, "leverage": 2 }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let location = location.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/backtest/{}", job["id"].as_str().unwrap())
    );
    assert!(matches!(job["status"].as_str(), Some("queued" | "running")));
    assert_eq!(job["request"]["source"], "bundled");
    assert_eq!(job["request"]["leverage"], 2);
    assert_eq!(job["request"]["params"]["fast"], 5);
    let done = until_done(&api, &u, &location).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 1.0);
    let r = &done["result"];
    // The seed's default window: the data's last six months.
    assert_eq!(r["data"]["bars"], 183);
    assert_eq!(r["data"]["to"], "2020-12-08T00:00:00Z");
    assert_eq!(r["data"]["missing_bars"], 0);

    // The same run, in process.
    use tradingbot_backtest::{Settings, run};
    let (candles, _) =
        tradingbot_backtest::data::load_csv(tradingbot_core::market::candle::BUNDLED_BTC_DAILY)
            .unwrap();
    // Warmed on the bars before the window, as the job is.
    let series = tradingbot_backtest::cli::warmed_window(&candles, None, None, false);
    assert_eq!(r["data"]["warmup_bars"], series.warmup());
    assert!(series.warmup() > 1000);
    assert_eq!(r["instrument"]["source"], "bundled");
    assert_eq!(r["instrument"]["tick_size"], "0.1");
    let c = tradingbot_core::templates::find("ema_crossover")
        .unwrap()
        .configure(json!({ "fast": 5, "slow": 13 }).as_object().unwrap())
        .unwrap();
    let s = Settings {
        leverage: 2,
        ..Settings::defaults()
    };
    let o = run(&series, c.rule(), &s);
    let report = tradingbot_backtest::report(series.traded(), s.capital, &o);
    assert_eq!(r["report"]["trades"], o.trades.len());
    assert_eq!(r["trades"].as_array().unwrap().len(), o.trades.len());
    let shown: Decimal = r["report"]["final_equity"].to_string().parse().unwrap();
    assert_eq!(shown, report.final_equity);
    assert_eq!(
        r["trades"][0]["entry_price"],
        json!(o.trades[0].entry_price.to_string())
    );
    assert_eq!(r["equity"].as_array().unwrap().len(), 183);

    // Listed, without the result.
    let list: Value = api.get("/backtest", &u.access).await.json().await.unwrap();
    assert_eq!(list[0]["id"], done["id"]);
    assert!(list[0].get("result").is_none());

    // Another user sees nothing; a malformed id is simply not found.
    let other = api.user("bt-other@example.com").await;
    let res = api
        .get(&location.replace("/api/v1", ""), &other.access)
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        api.get("/backtest/not-a-uuid", &u.access).await.status(),
        404
    );
    let list: Value = api
        .get("/backtest", &other.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_saved_strategy_and_bad_requests() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("bt-strategy@example.com").await;
    let (_, s) = api.paper_strategy(&u, json!({ "name": "MACD", "indicator_id": "macd_cross", "leverage": 5, "investment_pct": 20, "long_sl_pct": 3, "sizing_mode": "risk_pct", "risk_pct": 1.5, "cooldown_after_sl_min": 120 })).await;
    let (status, job, location) = start(
        &api,
        &u,
        json!({ "strategy_id": s["id"], "start_date": "2020-01-01", "end_date": "2020-06-30" }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["request"]["indicator_id"], "macd_cross");
    assert_eq!(job["request"]["leverage"], 5);
    assert_eq!(job["request"]["investment_pct"], "20");
    assert_eq!(job["request"]["long_sl_pct"], "3");
    // The strategy's sizing comes with it.
    assert_eq!(job["request"]["sizing_mode"], "risk_pct");
    assert_eq!(job["request"]["risk_pct"], "1.5");
    assert_eq!(job["request"]["cooldown_after_sl_min"], 120);
    let done = until_done(&api, &u, &location.unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["data"]["from"], "2020-01-01T00:00:00Z");
    assert_eq!(done["result"]["data"]["to"], "2020-06-30T00:00:00Z");
    assert_eq!(done["result"]["template_id"], "macd_cross");

    for (body, field) in [
        (json!({ "leverage": 200 }), "leverage"),
        (json!({ "investment_pct": 0 }), "investment_pct"),
        (json!({ "indicator_id": "astrology" }), "indicator_id"),
        (
            json!({ "params": { "fast": 40, "slow": 20 } }),
            "params.fast",
        ),
        (json!({ "timeframe": "7m" }), "timeframe"),
        (
            json!({ "source": "bundled", "symbol": "ETHUSDT" }),
            "source",
        ),
        (
            json!({ "start_date": "2020-06-01", "end_date": "2020-01-01" }),
            "end_date",
        ),
        (json!({ "fill": "sometime" }), "fill"),
        (json!({ "sizing_mode": "fixed_usdt" }), "qty_usdt"),
        (json!({ "sizing_mode": "martingale" }), "sizing_mode"),
        (
            json!({ "pause_after_sl_streak": 101 }),
            "pause_after_sl_streak",
        ),
        (
            json!({ "tp_levels": [{ "gain_pct": 2, "size_pct": 60 }, { "gain_pct": 1, "size_pct": 30 }] }),
            "tp_levels[1].gain_pct",
        ),
        (json!({ "break_even_after": 1 }), "break_even_after"),
        (
            json!({ "tp_levels": [{ "gain_pct": 2, "size_pct": 100 }], "break_even_after": 1 }),
            "break_even_after",
        ),
        (json!({ "trail_pct": 0.05 }), "trail_pct"),
        (json!({ "trail_activation_pct": 2 }), "trail_activation_pct"),
        (json!({ "levrage": 3 }), "levrage"),
    ] {
        let (status, e, _) = start(&api, &u, body.clone()).await;
        assert_eq!(status, 422, "{body}: {e}");
        let fields: Vec<&str> = e["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field) || e["detail"].as_str().is_some_and(|d| d.contains(field)),
            "{body}: {e}"
        );
    }
    // A ladder: echoed, and every trade says how many targets it hit.
    let (status, job, location) = start(
        &api,
        &u,
        json!({ "strategy_id": s["id"], "start_date": "2020-01-01", "end_date": "2020-06-30",
                "tp_levels": [{ "gain_pct": 2, "size_pct": 50 }, { "gain_pct": 6, "size_pct": 50 }],
                "break_even_after": 1 }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["request"]["tp_levels"][1]["size_pct"], "50");
    assert_eq!(job["request"]["break_even"]["to"], "entry");
    let done = until_done(&api, &u, &location.unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let trades = done["result"]["trades"].as_array().unwrap();
    assert!(!trades.is_empty());
    assert!(
        trades
            .iter()
            .all(|t| t["targets_hit"].as_u64().unwrap() <= 2)
    );
    // A trailing stop: echoed, and trades end on it.
    let (status, job, location) = start(
        &api,
        &u,
        json!({ "strategy_id": s["id"], "start_date": "2020-01-01", "end_date": "2020-12-31",
                "long_tp_pct": 50, "short_tp_pct": 50, "trail_pct": 3 }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["request"]["trail_pct"], "3");
    let done = until_done(&api, &u, &location.unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let trades = done["result"]["trades"].as_array().unwrap();
    assert!(
        trades.iter().any(|t| t["exit_reason"] == "trailing_stop"),
        "{trades:?}"
    );

    let other = api.user("bt-thief@example.com").await;
    let (status, _, _) = start(&api, &other, json!({ "strategy_id": s["id"] })).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_download_from_binance_runs_and_failures_are_reported() {
    let venue = LocalBinance::start();
    let step = 3_600_000;
    let start_ms = chrono::DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    let candles: Vec<_> = (0..31 * 24)
        .map(|i| {
            let p = |k: i64| Decimal::from(3_000 + ((k as f64 / 30.0).sin() * 150.0) as i64);
            let (open, close) = (p(i), p(i + 1));
            tradingbot_core::market::candle::Candle {
                time_ms: start_ms + i * step,
                open,
                high: open.max(close) + Decimal::from(3),
                low: open.min(close) - Decimal::from(3),
                close,
                volume: Decimal::TEN,
            }
        })
        .collect();
    venue.set_klines("ETHUSDT", "1h", candles);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("TRADINGBOT_BINANCE_LIVE_REST_URL", &venue.rest_url),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("bt-dl@example.com").await;
    let (status, job, location) = start(
        &api,
        &u,
        json!({ "symbol": "ETHUSDT", "timeframe": "1h", "start_date": "2024-05-01", "end_date": "2024-05-31",
                "indicator_id": "supertrend" }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["request"]["source"], "binance");
    let done = until_done(&api, &u, &location.unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let data = &done["result"]["data"];
    assert_eq!(
        (
            data["source"].as_str(),
            data["symbol"].as_str(),
            data["timeframe"].as_str()
        ),
        (Some("binance"), Some("ETHUSDT"), Some("1h"))
    );
    assert_eq!(data["bars"], 31 * 24);
    assert_eq!(data["interval_ms"], step);
    assert!(done["result"]["report"]["trades"].as_u64().unwrap() > 0);
    // The closed month is now cached beside the database.
    assert!(
        dir.join("data/candles/binance/ETHUSDT/1h/2024-05.csv")
            .exists()
    );

    // Binance refuses a symbol: the job fails with Binance's reason.
    let (_, _, location) =
        start(&api, &u, json!({ "symbol": "NOPEUSDT", "timeframe": "1h" })).await;
    let failed = until_done(&api, &u, &location.unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "candles_unavailable");
    assert!(
        failed["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid symbol"),
        "{failed}"
    );

    // Two jobs waiting on a slow exchange: a third is refused.
    for _ in 0..2 {
        venue.fail_next(
            "/fapi/v1/klines",
            Failure::Unknown {
                execute: false,
                delay_ms: 1500,
            },
        );
    }
    let body = json!({ "symbol": "ETHUSDT", "timeframe": "1h", "start_date": "2024-06-01", "end_date": "2024-06-10" });
    let (a, _, _) = start(&api, &u, body.clone()).await;
    let (b, _, _) = start(&api, &u, body.clone()).await;
    let (c, e, _) = start(&api, &u, body).await;
    assert_eq!((a, b, c), (202, 202, 429), "{e}");
    assert_eq!(e["code"], "too_many_backtests");
}

/// Jobs are kept in the database: after a restart a finished job is still
/// there with its result, and one the restart interrupted says so.
#[tokio::test]
async fn jobs_outlive_a_restart() {
    let (_tmp, dir) = workdir();
    let env = [("TRADINGBOT_RATE_LIMIT_USER", "100000")];
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("kept@example.com").await;
    let (status, job, location) = start(
        &api,
        &u,
        json!({ "indicator_id": "ema_crossover", "params": { "fast": 5, "slow": 13 } }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let location = location.unwrap();
    let done = until_done(&api, &u, &location).await;
    assert_eq!(done["status"], "completed");
    let (status, _) = bot.signal_and_wait("TERM");
    assert!(status.success());

    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let res = api.login("kept@example.com", common::api::PASSWORD).await;
    let access = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = Session { access, ..u };
    let again = until_done(&api, &u, &location).await;
    assert_eq!(again["status"], "completed");
    assert_eq!(again["result"], done["result"], "the result as it was");
    let listed: Value = api
        .http
        .get(api.url("/backtest"))
        .bearer_auth(&u.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("result").is_none(), "lists carry no results");
}
