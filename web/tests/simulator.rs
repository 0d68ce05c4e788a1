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

    for (body, field) in [
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
