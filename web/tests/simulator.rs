//! The risk simulator over HTTP: the worked example of `core`'s tests
//! through `POST /strategies/simulate`, a saved strategy simulated with its
//! paper account's real balance and mark, the user's daily loss limit in
//! the warnings, and refusals by field.

mod common;

use common::api::{Api, json_of};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn the_simulator_answers_with_the_exchanges_math() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("sim@example.com").await;

    let s: Value = json_of(
        api.post(
            "/strategies/simulate",
            Some(&u.access),
            json!({ "entry_price": 50000, "balance": 10000, "investment_pct": 10, "leverage": 10 }),
        )
        .await,
    )
    .await;
    assert_eq!(s["exchange"], "binance");
    assert_eq!(s["balance_source"], "given");
    let long = &s["long"];
    assert_eq!(long["quantity"], "0.2");
    assert_eq!(long["loss_at_stop"], "-207.92");
    assert_eq!(long["gain_at_target"], "491.8");
    assert_eq!(long["risk_reward"], "2.3653");
    assert_eq!(long["liquidation_price_isolated"], "45180.8");
    assert_eq!(long["warnings"][0]["code"], "leverage_above_3x");
    assert_eq!(s["short"]["liquidation_price_isolated"], "54780.8");
    assert_eq!(s["short"]["liquidation_price_cross"], "99601.5");

    let okx: Value = json_of(
        api.post(
            "/strategies/simulate",
            Some(&u.access),
            json!({ "exchange": "okx", "entry_price": 50000, "balance": 10000, "investment_pct": 10, "leverage": 10 }),
        )
        .await,
    )
    .await;
    assert_eq!(okx["long"]["liquidation_price_isolated"], "45203.5");
    assert_eq!(okx["long"]["venue_quantity"], "20");

    // Risk sizing: 1 % of 10,000 lost at a 2 % stop, both fees included.
    let risk: Value = json_of(
        api.post(
            "/strategies/simulate",
            Some(&u.access),
            json!({ "entry_price": 50000, "balance": 10000, "leverage": 10,
                    "sizing_mode": "risk_pct", "risk_pct": 1 }),
        )
        .await,
    )
    .await;
    assert_eq!(risk["sizing_mode"], "risk_pct");
    assert_eq!(risk["long"]["quantity"], "0.096", "{risk}");
    assert_eq!(risk["long"]["loss_at_stop"], "-99.8016");

    // A ladder: each target's gain and the blend.
    let ladder: Value = json_of(
        api.post(
            "/strategies/simulate",
            Some(&u.access),
            json!({ "entry_price": 50000, "balance": 10000, "investment_pct": 10, "leverage": 10,
                    "tp_levels": [{ "gain_pct": 2, "size_pct": 50 }, { "gain_pct": 6, "size_pct": 50 }] }),
        )
        .await,
    )
    .await;
    assert_eq!(ladder["long"]["targets"][0]["gain"], "95.96", "{ladder}");
    assert_eq!(ladder["long"]["gain_at_target"], "391.84");
    assert_eq!(ladder["long"]["risk_reward"], "1.8846");

    for (body, field) in [
        (
            json!({ "entry_price": 50000, "sizing_mode": "risk_pct" }),
            "risk_pct",
        ),
        (json!({ "entry_price": 50000, "leverage": 200 }), "leverage"),
        (json!({ "leverage": 5 }), "entry_price"),
        (
            json!({ "entry_price": 3000, "symbol": "ETHUSDT" }),
            "symbol",
        ),
        (
            json!({ "entry_price": 50000, "exchange": "kraken" }),
            "exchange",
        ),
        (json!({ "entry_price": 50000, "leverag": 5 }), "leverag"),
    ] {
        let res = api
            .post("/strategies/simulate", Some(&u.access), body.clone())
            .await;
        assert_eq!(res.status(), 422, "{body}");
        let e = json_of(res).await;
        assert!(e.to_string().contains(field), "{body}: {e}");
    }

    // A saved strategy on paper: the account's balance and mark.
    let (_, strategy) = api
        .paper_strategy(
            &u,
            json!({ "name": "sim", "leverage": 20, "long_sl_pct": 3 }),
        )
        .await;
    // A daily loss limit of 0.5 %: one stop-loss would break it.
    let res = api
        .call(
            reqwest::Method::PUT,
            "/risk",
            Some(&u.access),
            Some(json!({ "daily_loss_limit_pct": 0.5 })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let saved: Value = json_of(
        api.get(
            &format!("/strategies/{}/simulate", strategy["id"]),
            &u.access,
        )
        .await,
    )
    .await;
    assert_eq!(saved["balance_source"], "account", "{saved}");
    assert_eq!(saved["balance"], "10000");
    assert_eq!(saved["leverage"], 20);
    assert!(
        saved["entry_price"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    let codes: Vec<&str> = saved["long"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"loss_exceeds_daily_limit") && codes.contains(&"leverage_above_3x"),
        "{codes:?}"
    );
    assert_eq!(saved["daily_loss_limit_pct"], "0.5");

    let other = api.user("sim-other@example.com").await;
    let res = api
        .get(
            &format!("/strategies/{}/simulate", strategy["id"]),
            &other.access,
        )
        .await;
    assert_eq!(res.status(), 404);
}

/// Saved strategies on the local Binance and OKX servers are simulated
/// with the venue's own maintenance tiers for their symbol.
///
/// Binance ETHUSDT at 2,300, 10 % of 10,000 at 20x: 8.695 ETH (step 0.001),
/// notional 19,998.5 — the second bracket (0.65 %, cum = 10,000 × (0.65 % −
/// 0.5 %) = 15). Isolated: (19,998.5 − 999.925 − 15) / (8.695 × 0.9935) =
/// 2,197.559 → 2,197.56; cross with the 10,000 wallet: 1,155.70066 → 1,155.71.
///
/// OKX BTC-USDT-SWAP at 43,000, 20 % of 7,000 at 10x: 32.55 contracts of
/// 0.01 (0.3255 BTC), notional 13,996.5 — past the first tier's 20
/// contracts (8,600 USDT), so 0.6 %. Isolated: (13,996.5 − 1,399.65) /
/// (0.3255 × (1 − 0.006 − 0.0005)) = 38,953.196 → 38,953.2; cross with
/// 7,000: 21,635.253 → 21,635.3.
#[tokio::test]
async fn saved_strategies_use_the_venues_tiers() {
    use common::venues::{self, BINANCE_KEY, BINANCE_SECRET, OKX_KEY, OKX_PASS, OKX_SECRET};
    use rust_decimal_macros::dec;
    use tradingbot_testkit::binance::LocalBinance;
    use tradingbot_testkit::okx::LocalOkx;
    let binance = LocalBinance::start();
    binance.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    binance.set_mark("ETHUSDT", dec!(2300));
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    okx.set_mark("BTC-USDT-SWAP", dec!(43000));
    let (_tmp, dir) = workdir();
    let mut env = vec![("TRADINGBOT_RATE_LIMIT_USER", "100000")];
    env.extend(venues::env(Some(&binance), Some(&okx)));
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("tiers@example.com").await;
    let mut results = Vec::new();
    for (account, strategy) in [
        (
            venues::binance_account(),
            json!({ "symbol": "ETHUSDT", "investment_pct": 10, "leverage": 20 }),
        ),
        (
            venues::okx_account(),
            json!({ "symbol": "BTC-USDT-SWAP", "investment_pct": 20, "leverage": 10,
                    "margin_mode": "cross" }),
        ),
    ] {
        let res = api
            .post("/accounts/register", Some(&u.access), account)
            .await;
        assert_eq!(res.status(), 201);
        let account_id = json_of(res).await["id"].clone();
        let mut body = strategy;
        body["name"] = json!("tiers");
        body["account_id"] = account_id;
        let res = api.post("/strategies", Some(&u.access), body).await;
        assert_eq!(res.status(), 201);
        let s = json_of(res).await;
        let sim = json_of(
            api.get(&format!("/strategies/{}/simulate", s["id"]), &u.access)
                .await,
        )
        .await;
        assert_eq!(sim["tiers_source"], "exchange", "{sim}");
        results.push(sim);
    }
    let eth = &results[0]["long"];
    assert_eq!(eth["quantity"], "8.695");
    assert_eq!(eth["maintenance_rate"], "0.0065", "{eth}");
    assert_eq!(eth["maintenance_amount"], "15");
    assert_eq!(eth["liquidation_price_isolated"], "2197.56");
    assert_eq!(eth["liquidation_price_cross"], "1155.71");
    let btc = &results[1]["long"];
    assert_eq!(btc["venue_quantity"], "32.55");
    assert_eq!(btc["maintenance_rate"], "0.006", "{btc}");
    assert_eq!(btc["liquidation_price_isolated"], "38953.2");
    assert_eq!(btc["liquidation_price_cross"], "21635.3");
    // The venues were asked, each with its own request.
    assert!(
        binance
            .requests()
            .iter()
            .any(|r| r.path == "/fapi/v1/leverageBracket" && r.status == 200)
    );
    assert!(
        okx.requests()
            .iter()
            .any(|r| r.path == "/api/v5/public/position-tiers"
                && r.query.contains("tdMode=cross")
                && r.query.contains("instFamily=BTC-USDT"))
    );
}
