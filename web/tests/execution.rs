//! TradingView alerts, end to end: the real binary, real sockets, and local
//! Binance / OKX venues that check every request as the real ones do —
//! webhook → sized, signed orders on the right endpoints → protection →
//! database rows the API shows.

mod common;

use common::api::{
    Api, Session, eventually, json_of as json, notified, num, post_alert, tv_alert as alert,
};
use common::*;
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::okx::LocalOkx;

use common::venues::{BINANCE_KEY, BINANCE_SECRET, OKX_KEY, OKX_PASS, OKX_SECRET};

async fn positions(api: &Api<'_>, s: &Session) -> Vec<Value> {
    json(api.get("/positions", &s.access).await)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn orders(api: &Api<'_>, s: &Session) -> Vec<Value> {
    json(api.get("/orders?per_page=200", &s.access).await).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn binance_account(api: &Api<'_>, s: &Session) -> i64 {
    let res = api
        .post(
            "/accounts/register",
            Some(&s.access),
            json!({ "exchange": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    json(res).await["id"].as_i64().unwrap()
}

async fn strategy(api: &Api<'_>, s: &Session, body: Value) -> Value {
    let res = api.post("/strategies", Some(&s.access), body).await;
    let status = res.status();
    let v = json(res).await;
    assert_eq!(status, 201, "{v}");
    v
}

#[tokio::test]
async fn binance_alerts_open_protect_close_and_reverse_positions() {
    binance_flow(&[]).await;
}

/// The same flow with PostgreSQL for the records and Redis for the replay
/// cache and budgets (two instances could share them).
#[tokio::test]
async fn binance_alerts_on_postgres_and_redis() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("binance_alerts_on_postgres_and_redis", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("binance_alerts_on_postgres_and_redis", "TEST_REDIS_URL");
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    binance_flow(&[
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
    ])
    .await;
    db.cleanup().await;
    announce("postgres+redis: alerts traded, protected, stopped out and reversed");
}

async fn binance_flow(extra: &[(&str, &str)]) {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let mut env = common::venues::polled(&venue, None);
    env.extend_from_slice(extra);
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("trader@example.com").await;
    let account = binance_account(&api, &u).await;
    let s = strategy(
        &api,
        &u,
        json!({ "name": "EMA 9/21", "indicator_id": "ema_crossover", "symbols": ["BTCUSDT"],
                "account_id": account, "investment_pct": 10, "leverage": 3 }),
    )
    .await;
    assert!(
        s["webhook_url"]
            .as_str()
            .unwrap()
            .contains("/api/v1/webhook/tradingview/")
    );
    assert_eq!(s["long_sl_pct"], 2.0);
    // Leverage and margin mode are set before the first alert.
    eventually("leverage configured", || async {
        venue
            .requests()
            .iter()
            .any(|r| r.path == "/fapi/v1/leverage" && r.code == 0)
            .then_some(())
    })
    .await;

    // Long: $10,000 × 10 % × 3 at 43,000 = 0.0697… → 0.069 BTC.
    let started = Instant::now();
    let first = alert(&s, "buy", "long", "Long-1");
    let (status, body) = post_alert(&api, &s, first.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["intent"], "open_long");
    let answered = started.elapsed();
    assert!(
        answered < Duration::from_secs(1),
        "answered in {answered:?}"
    );
    let signal_id = body["signal_id"].as_i64().unwrap();

    let pos = eventually("a protected position", || async {
        let p = positions(&api, &u).await;
        p.first()
            .filter(|p| !p["stop_loss"].is_null() && !p["take_profit"].is_null())
            .cloned()
    })
    .await;
    assert_eq!(pos["side"], "LONG");
    assert_eq!(pos["symbol"], "BTCUSDT");
    assert_eq!(pos["exchange"], "binance");
    assert_eq!(num(&pos["entry_price"]), dec!(43000));
    assert_eq!(num(&pos["quantity"]), dec!(0.069));
    assert_eq!(pos["leverage"], 3);
    // SL 2 % below, TP 5 % above, on the 0.10 tick.
    assert_eq!(num(&pos["stop_loss"]), dec!(42140));
    assert_eq!(num(&pos["take_profit"]), dec!(45150));
    {
        let v = venue.venue();
        let acct = &v.accounts[BINANCE_KEY];
        let entry = acct
            .orders
            .iter()
            .find(|o| o.client_id.ends_with('e'))
            .expect("entry");
        assert_eq!(
            (entry.side.as_str(), entry.kind.as_str(), entry.qty),
            ("BUY", "MARKET", dec!(0.069))
        );
        assert_eq!(acct.positions["BTCUSDT"].amt, dec!(0.069));
        let mut algos: Vec<(String, Decimal, bool)> = acct
            .algos
            .iter()
            .map(|a| (a.kind.clone(), a.trigger, a.close_position))
            .collect();
        algos.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            algos,
            [
                ("STOP_MARKET".to_owned(), dec!(42140.0), true),
                ("TAKE_PROFIT_MARKET".to_owned(), dec!(45150.0), true)
            ]
        );
    }
    // Protective orders went to the Algo Order API, never to /fapi/v1/order.
    assert!(
        venue
            .requests()
            .iter()
            .any(|r| r.path.contains("algoOrder") && r.code == 0)
    );
    assert!(!venue.requests().iter().any(|r| r.code == -4120));

    let all = orders(&api, &u).await;
    let entry = all.iter().find(|o| o["leg"] == "entry").unwrap();
    assert_eq!(entry["status"], "FILLED");
    assert_eq!(entry["signal_id"], signal_id);
    assert_eq!(entry["position_id"], pos["id"]);
    assert_eq!(num(&entry["filled_qty"]), dec!(0.069));
    for leg in ["stop_loss", "take_profit"] {
        let o = all.iter().find(|o| o["leg"] == leg).unwrap();
        assert_eq!(o["status"], "NEW", "{o}");
        assert!(o["reduce_only"].as_bool().unwrap());
    }

    // The same alert again: a duplicate, and nothing more is sent.
    let orders_before = venue.venue().accounts[BINANCE_KEY].orders.len();
    let (status, body) = post_alert(&api, &s, first).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    // Already long: a second long is refused, not pyramided.
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "Long-2")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_in_position")),
        "{body}"
    );
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].orders.len(),
        orders_before
    );

    // The price falls through the stop: the venue closes, we record it.
    venue.set_mark("BTCUSDT", dec!(42100));
    let closed = eventually("the stop-loss to close the position", || async {
        let p = json(
            api.get(&format!("/positions/{}", pos["id"]), &u.access)
                .await,
        )
        .await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await;
    assert_eq!(closed["close_reason"], "stop_loss");
    assert_eq!(num(&closed["exit_price"]), dec!(42100));
    let fees = num(&closed["fees"]);
    assert!(fees > Decimal::ZERO);
    // (42,100 − 43,000) × 0.069 − fees.
    assert_eq!(num(&closed["realized_pnl"]), dec!(-62.1) - fees);
    assert!(positions(&api, &u).await.is_empty());
    // The take-profit that is no longer needed is cancelled.
    eventually("the take-profit cancelled", || async {
        let v = venue.venue();
        v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .find(|a| a.kind == "TAKE_PROFIT_MARKET")
            .filter(|a| a.status == "CANCELED")
            .map(|_| ())
    })
    .await;

    // Short, then an opposite alert reverses it: close, then open long.
    venue.set_mark("BTCUSDT", dec!(43000));
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "short", "Short-1")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("open_short")),
        "{body}"
    );
    let short = eventually("a short", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| p["side"] == "SHORT" && !p["stop_loss"].is_null())
    })
    .await;
    assert_eq!(num(&short["stop_loss"]), dec!(43860)); // 2 % above
    assert_eq!(num(&short["take_profit"]), dec!(40850)); // 5 % below
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "Long-3")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("reverse_to_long")),
        "{body}"
    );
    let long = eventually("the reversal", || async {
        let p = positions(&api, &u).await;
        (p.len() == 1 && p[0]["side"] == "LONG" && !p[0]["take_profit"].is_null())
            .then(|| p[0].clone())
    })
    .await;
    let was = json(
        api.get(&format!("/positions/{}", short["id"]), &u.access)
            .await,
    )
    .await;
    assert_eq!(
        (was["status"].as_str(), was["close_reason"].as_str()),
        (Some("CLOSED"), Some("reversal"))
    );
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"].amt,
        num(&long["quantity"])
    );

    // TradingView closing the long (`sell` leaving the strategy flat) closes it.
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "flat", "Close-1")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("close")),
        "{body}"
    );
    eventually("flat", || async {
        (positions(&api, &u).await.is_empty()
            && venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"]
                .amt
                .is_zero())
        .then_some(())
    })
    .await;
    // Nothing left resting on the venue.
    eventually("no resting protection", || async {
        let v = venue.venue();
        (!v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .any(|a| a.status == "NEW"))
        .then_some(())
    })
    .await;

    // Every client order id is unique, venue-side too.
    let mut ids: Vec<String> = venue.venue().accounts[BINANCE_KEY]
        .orders
        .iter()
        .map(|o| o.client_id.clone())
        .filter(|c| c.starts_with("tb"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "a client order id was used twice");

    // The signals log shows what each alert did.
    let signals = json(api.get("/signals?per_page=50", &u.access).await).await;
    let outcomes: Vec<&str> = signals["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"duplicate")
            && outcomes.contains(&"rejected")
            && outcomes.contains(&"accepted")
    );
    let _ = Method::GET;
}

#[tokio::test]
async fn okx_alerts_trade_contracts_and_take_profit() {
    let binance = LocalBinance::start();
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&binance, Some(&okx)));
    let api = Api::new(&bot);
    let u = api.user("okx@example.com").await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "okx", "api_key": OKX_KEY, "api_secret": OKX_SECRET,
                    "passphrase": OKX_PASS, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json(res).await["id"].as_i64().unwrap();
    let s = strategy(
        &api,
        &u,
        json!({ "name": "OKX swing", "symbol": "BTC-USDT-SWAP", "account_id": account,
                "investment_pct": 20, "leverage": 5, "margin_mode": "cross" }),
    )
    .await;
    assert_eq!(s["symbols"], json!(["BTCUSDT"]));

    // $7,000 × 20 % × 5 at 43,000 = 0.16279 BTC → 16.27 contracts of 0.01 BTC.
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "L1")).await;
    assert_eq!(status, 202, "{body}");
    let pos = eventually("a protected OKX position", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| !p["stop_loss"].is_null() && !p["take_profit"].is_null())
    })
    .await;
    assert_eq!(num(&pos["quantity"]), dec!(0.1627));
    assert_eq!(pos["margin_mode"], "cross");
    assert_eq!(num(&pos["stop_loss"]), dec!(42140));
    assert_eq!(num(&pos["take_profit"]), dec!(45150));
    {
        let v = okx.venue();
        let a = &v.accounts[OKX_KEY];
        assert_eq!(a.positions["BTC-USDT-SWAP"].pos, dec!(16.27));
        let entry = a
            .orders
            .iter()
            .find(|o| o.cl_ord_id.ends_with('e'))
            .unwrap();
        assert_eq!(
            (entry.side.as_str(), entry.sz, entry.td_mode.as_str()),
            ("buy", dec!(16.27), "cross")
        );
        assert_eq!(
            a.leverage[&("BTC-USDT-SWAP".to_owned(), "cross".to_owned())],
            5
        );
        let live: Vec<_> = a.algos.iter().filter(|x| x.state == "live").collect();
        assert_eq!(live.len(), 2, "a stop and a target rest on OKX");
    }

    okx.set_mark("BTC-USDT-SWAP", dec!(45200));
    let closed = eventually("the take-profit to close it", || async {
        let p = json(
            api.get(&format!("/positions/{}", pos["id"]), &u.access)
                .await,
        )
        .await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await;
    assert_eq!(closed["close_reason"], "take_profit");
    assert_eq!(num(&closed["exit_price"]), dec!(45200));
    // (45,200 − 43,000) × 0.1627 = 357.94, less fees.
    let pnl = num(&closed["realized_pnl"]);
    assert!(pnl > dec!(357.94) - dec!(10) && pnl < dec!(357.94), "{pnl}");
    eventually("the stop cancelled", || async {
        let v = okx.venue();
        (!v.accounts[OKX_KEY].algos.iter().any(|a| a.state == "live")).then_some(())
    })
    .await;
}

async fn refused(api: &Api<'_>, s: &Value, body: String) -> (u16, String) {
    let (status, v) = post_alert(api, s, body).await;
    (status, v["code"].as_str().unwrap_or_default().to_owned())
}

/// `body` with `key` set, as a new alert (its own id).
fn with(body: &str, key: &str, value: Value) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap();
    v[key] = value;
    v["id"] = json!(uuid::Uuid::new_v4().to_string());
    v.to_string()
}

#[tokio::test]
async fn every_refusal_has_its_reason_and_no_order_leaks() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    create_admin(&dir);
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let u = api.user("careful@example.com").await;
    let account = binance_account(&api, &u).await;
    let a = strategy(
        &api,
        &u,
        json!({ "name": "A", "symbols": ["BTCUSDT"], "account_id": account, "leverage": 3 }),
    )
    .await;
    let orders_now = || venue.venue().accounts[BINANCE_KEY].orders.len();

    // Routing and authentication.
    let res = api
        .http
        .post(api.url("/webhook/tradingview/not-a-token"))
        .body(alert(&a, "buy", "long", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(json(res).await["code"], "webhook_unknown");
    let good = alert(&a, "buy", "long", "auth");
    assert_eq!(
        refused(&api, &a, with(&good, "secret", json!("guess"))).await,
        (401, "webhook_auth_failed".into())
    );
    let stale = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(
        refused(&api, &a, with(&good, "timestamp", json!(stale))).await,
        (422, "webhook_stale".into())
    );
    assert_eq!(
        refused(&api, &a, "long BTCUSDT now".into()).await,
        (400, "webhook_malformed".into())
    );
    assert_eq!(
        refused(&api, &a, with(&good, "action", json!("hodl"))).await,
        (422, "webhook_invalid".into())
    );
    let (status, _) = refused(&api, &a, with(&good, "padding", json!("x".repeat(5000)))).await;
    assert_eq!(status, 413);
    assert_eq!(
        refused(&api, &a, with(&good, "symbol", json!("ETHUSDT"))).await,
        (422, "symbol_not_in_strategy".into())
    );
    assert_eq!(
        refused(&api, &a, with(&good, "size_pct", json!(50))).await,
        (422, "override_out_of_bounds".into())
    );
    assert_eq!(
        refused(&api, &a, with(&good, "leverage", json!(10))).await,
        (422, "override_out_of_bounds".into())
    );
    assert_eq!(orders_now(), 0, "no refused alert reached the exchange");

    // Too small for the venue: $10,000 × 1 % × 1x = 0.002 BTC = $86 < $100.
    let small = strategy(
        &api,
        &u,
        json!({ "name": "small", "symbol": "BTCUSDT", "account_id": account, "investment_pct": 1, "leverage": 1 }),
    )
    .await;
    assert_eq!(
        refused(&api, &small, alert(&small, "buy", "long", "s1")).await,
        (422, "below_min_notional".into())
    );

    // Risk rules, each refusing its case.
    let put_risk = |body: Value| {
        let api = &api;
        let token = u.access.clone();
        async move {
            let res = api
                .call(Method::PUT, "/risk", Some(&token), Some(body))
                .await;
            assert_eq!(res.status(), 200);
            json(res).await
        }
    };
    put_risk(json!({ "max_leverage": 2 })).await;
    assert_eq!(
        refused(&api, &a, alert(&a, "buy", "long", "r1")).await,
        (422, "max_leverage".into())
    );
    put_risk(json!({ "max_leverage": 125, "max_position_notional": 1000 })).await;
    assert_eq!(
        refused(&api, &a, alert(&a, "buy", "long", "r2")).await,
        (422, "max_position_notional".into())
    );
    let r = put_risk(json!({ "max_position_notional": null, "max_open_positions": 1 })).await;
    assert!(r["max_position_notional"].is_null());
    assert_eq!(orders_now(), 0);

    // A programmatic sender signs instead of carrying the secret.
    let body = json!({ "action": "long", "symbol": "BTCUSDT", "id": "signed-1" }).to_string();
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let sig = tradingbot_core::signal::signature(
        a["webhook_secret"].as_str().unwrap().as_bytes(),
        &ts,
        body.as_bytes(),
    );
    let res = api
        .http
        .post(a["webhook_url"].as_str().unwrap())
        .header("x-webhook-timestamp", &ts)
        .header("x-webhook-signature", &sig)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let bad = tradingbot_core::signal::signature(b"wrong", &ts, body.as_bytes());
    let res = api
        .http
        .post(a["webhook_url"].as_str().unwrap())
        .header("x-webhook-timestamp", &ts)
        .header("x-webhook-signature", &bad)
        .body(body.replace("signed-1", "signed-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    eventually("the signed entry", || async {
        positions(&api, &u)
            .await
            .first()
            .filter(|p| !p["stop_loss"].is_null())
            .cloned()
    })
    .await;

    // One position allowed: a second strategy's entry is refused.
    let b = strategy(
        &api,
        &u,
        json!({ "name": "B", "symbol": "ETHUSDT", "account_id": account }),
    )
    .await;
    let eth = alert(&b, "buy", "long", "e1").replace("BTCUSDT.P", "ETHUSDT");
    assert_eq!(
        refused(&api, &b, eth.clone()).await,
        (422, "max_open_positions".into())
    );

    // The user's kill switch stops entries, never exits.
    put_risk(json!({ "max_open_positions": 10 })).await;
    let res = api
        .post(
            "/risk/kill-switch",
            Some(&u.access),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(json(res).await["kill_switch"], true);
    assert_eq!(
        refused(&api, &b, eth.replace("e1", "e2")).await,
        (422, "user_kill_switch".into())
    );
    // The token-less path of the seed routes by the secret in the body.
    let close = alert(&a, "close", "flat", "c1");
    let res = api
        .http
        .post(api.url("/webhook/tradingview"))
        .header("content-type", "text/plain")
        .body(close)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(json(res).await["intent"], "close");
    eventually("closed under the kill switch", || async {
        positions(&api, &u).await.is_empty().then_some(())
    })
    .await;
    api.post(
        "/risk/kill-switch",
        Some(&u.access),
        json!({ "enabled": false }),
    )
    .await;

    // The operator's switch halts everyone.
    let res = api
        .login("ops@example.com", "operator passphrase 2026")
        .await;
    let admin = json(res).await["access_token"].as_str().unwrap().to_owned();
    let res = api
        .post(
            "/admin/kill-switch",
            Some(&u.access),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 403, "members cannot");
    let res = api
        .post(
            "/admin/kill-switch",
            Some(&admin),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(json(res).await["enabled"], true);
    assert_eq!(
        refused(&api, &b, eth.replace("e1", "e3")).await,
        (422, "global_kill_switch".into())
    );
    api.post(
        "/admin/kill-switch",
        Some(&admin),
        json!({ "enabled": false }),
    )
    .await;

    // The exchange refuses (the margin is gone behind our back): the alert
    // was accepted, the order is recorded rejected with the venue's code,
    // and no position appears.
    venue.venue().accounts.get_mut(BINANCE_KEY).unwrap().wallet = dec!(50);
    let (status, body) = post_alert(&api, &a, alert(&a, "buy", "long", "m1")).await;
    assert_eq!(status, 202, "{body}");
    let rejected = eventually("the venue's refusal", || async {
        orders(&api, &u)
            .await
            .into_iter()
            .find(|o| o["signal_id"] == body["signal_id"] && o["status"] == "REJECTED")
    })
    .await;
    assert_eq!(rejected["error_code"], "-2019");
    assert!(positions(&api, &u).await.is_empty());
    venue.venue().accounts.get_mut(BINANCE_KEY).unwrap().wallet = dec!(10000);

    // The daily loss limit: down 1 % today, entries stop until 00:00 UTC.
    put_risk(json!({ "daily_loss_limit_pct": 1 })).await;
    let (status, body) = post_alert(&api, &a, alert(&a, "buy", "long", "d1")).await;
    assert_eq!(status, 202, "{body}");
    eventually("a position", || async {
        positions(&api, &u)
            .await
            .first()
            .filter(|p| !p["stop_loss"].is_null())
            .cloned()
    })
    .await;
    venue.set_mark("BTCUSDT", dec!(40000)); // through the stop: −$207 on 0.069 BTC
    eventually("stopped out", || async {
        positions(&api, &u).await.is_empty().then_some(())
    })
    .await;
    venue.set_mark("BTCUSDT", dec!(43000));
    let code = eventually("the daily limit", || async {
        let (status, code) = refused(
            &api,
            &b,
            eth.replace("e1", &format!("e{}", chrono::Utc::now().timestamp_micros())),
        )
        .await;
        (status == 422).then_some(code)
    })
    .await;
    assert_eq!(code, "daily_loss_limit");
    let r = json(api.get("/risk", &u.access).await).await;
    assert_eq!(r["halted_today"], true);
}

#[tokio::test]
async fn the_embedded_default_trades_on_paper_and_keeps_positions_across_a_restart() {
    let (_tmp, dir) = workdir();
    let env = [
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
    ];
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("paper@example.com").await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "paper" }),
        )
        .await;
    let account = json(res).await["id"].as_i64().unwrap();
    let s = strategy(
        &api,
        &u,
        json!({ "name": "paper EMA", "indicator_id": "ema_crossover", "symbol": "BTCUSDT",
                "account_id": account, "investment_pct": 25, "leverage": 2 }),
    )
    .await;
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "p1")).await;
    assert_eq!(status, 202, "{body}");
    let pos = eventually("a protected paper position", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| !p["stop_loss"].is_null() && !p["take_profit"].is_null())
    })
    .await;
    let entry = num(&pos["entry_price"]);
    let qty = num(&pos["quantity"]);
    // $10,000 × 25 % × 2 = $5,000 of BTC at the replayed price, on the 0.001 step.
    assert!(
        (qty * entry - dec!(5000)).abs() <= dec!(0.001) * entry + dec!(5000) * dec!(0.001),
        "{qty} at {entry}"
    );
    assert!(num(&pos["stop_loss"]) < entry && num(&pos["take_profit"]) > entry);
    let legs: Vec<String> = orders(&api, &u)
        .await
        .iter()
        .map(|o| {
            format!(
                "{}:{}",
                o["leg"].as_str().unwrap(),
                o["status"].as_str().unwrap()
            )
        })
        .collect();
    for leg in ["entry:FILLED", "stop_loss:NEW", "take_profit:NEW"] {
        assert!(legs.contains(&leg.to_owned()), "{legs:?}");
    }

    // A graceful restart: the position, its protection and the paper books survive.
    let (status, _) = bot.signal_and_wait("TERM");
    assert!(status.success());
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let res = api.login("paper@example.com", common::api::PASSWORD).await;
    let token = json(res).await["access_token"].as_str().unwrap().to_owned();
    let u = Session { access: token, ..u };
    // The public URL follows the new port; the webhook token is the same.
    let s = json(
        api.get(&format!("/strategies/{}", s["id"]), &u.access)
            .await,
    )
    .await;
    let after = positions(&api, &u).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], pos["id"]);
    assert_eq!(after[0]["stop_loss"], pos["stop_loss"]);

    // And the strategy still answers: close it.
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "flat", "p2")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("close")),
        "{body}"
    );
    let closed = eventually("closed", || async {
        let p = json(
            api.get(&format!("/positions/{}", pos["id"]), &u.access)
                .await,
        )
        .await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await;
    assert_eq!(closed["close_reason"], "signal");
    assert!(!closed["exit_price"].is_null());
    let statuses: Vec<String> = orders(&api, &u)
        .await
        .iter()
        .filter(|o| o["leg"] == "stop_loss" || o["leg"] == "take_profit")
        .map(|o| o["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(statuses.iter().all(|s| s == "CANCELED"), "{statuses:?}");
}

#[tokio::test]
async fn killed_mid_flow_the_bot_converges_to_the_exchange_without_duplicates() {
    use tradingbot_testkit::binance::Failure;
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    // REST only (no websocket API), so the venue can hold the stop's answer.
    let env = [
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        (
            "TRADINGBOT_BINANCE_TESTNET_REST_URL",
            venue.rest_url.as_str(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            "ws://127.0.0.1:9/ws-fapi/v1",
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            venue.stream_url.as_str(),
        ),
    ];
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("crash@example.com").await;
    let account = binance_account(&api, &u).await;
    let s = strategy(
        &api,
        &u,
        json!({ "name": "crash", "symbols": ["BTCUSDT"], "account_id": account }),
    )
    .await;

    // The entry fills; the stop-loss request hangs, and the bot dies.
    venue.fail_next(
        "/fapi/v1/algoOrder",
        Failure::Unknown {
            execute: false,
            delay_ms: 3000,
        },
    );
    let (status, _) = post_alert(&api, &s, alert(&s, "buy", "long", "k1")).await;
    assert_eq!(status, 202);
    eventually("the entry recorded", || async {
        positions(&api, &u).await.first().cloned()
    })
    .await;
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"].amt,
        dec!(0.069)
    );
    let (status, _) = bot.signal_and_wait("KILL");
    assert!(!status.success());
    assert!(
        !venue.venue().accounts[BINANCE_KEY]
            .algos
            .iter()
            .any(|a| a.status == "NEW"),
        "the position is unprotected while the bot is down"
    );

    // Restarted, it finds the position and protects it — once.
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let login = |api: &Api<'_>| {
        let api_url = api.url("/auth/login");
        let http = api.http.clone();
        async move {
            let res = http
                .post(api_url)
                .json(&json!({ "email": "crash@example.com", "password": common::api::PASSWORD }))
                .send()
                .await
                .unwrap();
            json(res).await["access_token"].as_str().unwrap().to_owned()
        }
    };
    let u = Session {
        access: login(&api).await,
        ..u
    };
    let protected = eventually("the restarted bot to protect the position", || async {
        let v = venue.venue();
        let live: Vec<String> = v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .filter(|a| a.status == "NEW")
            .map(|a| a.kind.clone())
            .collect();
        (live.len() == 2).then_some(live)
    })
    .await;
    assert!(
        protected.contains(&"STOP_MARKET".to_owned())
            && protected.contains(&"TAKE_PROFIT_MARKET".to_owned())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let v = venue.venue();
        let a = &v.accounts[BINANCE_KEY];
        assert_eq!(
            a.algos.iter().filter(|x| x.status == "NEW").count(),
            2,
            "no duplicate protection"
        );
        assert_eq!(
            a.orders
                .iter()
                .filter(|o| o.client_id.ends_with('e'))
                .count(),
            1,
            "one entry"
        );
    }
    let p = eventually("the position shown protected", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| !p["stop_loss"].is_null())
    })
    .await;
    assert_eq!(num(&p["stop_loss"]), dec!(42140));

    // Down again; meanwhile the stop fills on the exchange.
    let (status, _) = bot.signal_and_wait("KILL");
    assert!(!status.success());
    venue.set_mark("BTCUSDT", dec!(42000));
    assert!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"]
            .amt
            .is_zero()
    );
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = Session {
        access: login(&api).await,
        ..u
    };
    let closed = eventually("the stop recorded after the restart", || async {
        let p = json(api.get(&format!("/positions/{}", p["id"]), &u.access).await).await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await;
    assert_eq!(closed["close_reason"], "stop_loss");
    assert_eq!(num(&closed["exit_price"]), dec!(42000));
    eventually("the orphaned take-profit cancelled", || async {
        let v = venue.venue();
        (!v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .any(|a| a.status == "NEW"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn risk_sizing_loses_the_stated_share_of_the_wallet_at_the_stop() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let u = api.user("risk@example.com").await;
    let account = binance_account(&api, &u).await;
    let s = strategy(
        &api,
        &u,
        json!({ "name": "R", "symbol": "BTCUSDT", "account_id": account, "leverage": 10,
                "long_sl_pct": 1, "sizing_mode": "risk_pct", "risk_pct": 1 }),
    )
    .await;
    assert_eq!(
        (&s["sizing_mode"], &s["risk_pct"], &s["qty_usdt"]),
        (&json!("risk_pct"), &json!(1.0), &Value::Null)
    );

    // Alerts may lower the risk, not raise it, and not size by another mode.
    let good = alert(&s, "buy", "long", "risk-1");
    assert_eq!(
        refused(&api, &s, with(&good, "risk_pct", json!(2))).await,
        (422, "override_out_of_bounds".into())
    );
    assert_eq!(
        refused(&api, &s, with(&good, "size_pct", json!(5))).await,
        (422, "override_not_for_sizing".into())
    );
    assert_eq!(
        refused(&api, &s, with(&good, "qty_usdt", json!(100))).await,
        (422, "override_not_for_sizing".into())
    );

    // Wallet 10,000, 1 % = 100 USDT at risk; long at 43,000, stop 1 % below
    // at 42,570: each BTC loses 430 + 0.05 % × 85,570 = 472.785 → 0.211 BTC.
    let (status, body) = post_alert(&api, &s, good).await;
    assert_eq!(status, 202, "{body}");
    let pos = eventually("a protected position", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| !p["stop_loss"].is_null())
    })
    .await;
    assert_eq!(num(&pos["quantity"]), dec!(0.211));
    assert_eq!(num(&pos["stop_loss"]), dec!(42570));
    {
        let v = venue.venue();
        let acct = &v.accounts[BINANCE_KEY];
        let entry = acct
            .orders
            .iter()
            .find(|o| o.client_id.ends_with('e'))
            .expect("entry");
        assert_eq!(entry.qty, dec!(0.211));
        let stop = acct
            .algos
            .iter()
            .find(|a| a.kind == "STOP_MARKET")
            .expect("a stop on the venue");
        let loss = entry.qty * (dec!(43000) - stop.trigger)
            + dec!(0.0005) * entry.qty * (dec!(43000) + stop.trigger);
        assert!(loss <= dec!(100) && loss > dec!(99), "{loss}");
    }

    // A size whose margin the account does not have is refused, not shrunk:
    // 50 % of the wallet at risk on a 0.1 % stop at 1x is a $2.2M position.
    let big = strategy(
        &api,
        &u,
        json!({ "name": "B", "symbol": "ETHUSDT", "account_id": account, "leverage": 1,
                "long_sl_pct": 0.1, "sizing_mode": "risk_pct", "risk_pct": 50 }),
    )
    .await;
    venue.set_mark("ETHUSDT", dec!(2300));
    let before = venue.venue().accounts[BINANCE_KEY].orders.len();
    let (status, body) = eventually("ETHUSDT priced", || async {
        let mut a: Value = serde_json::from_str(&alert(&big, "buy", "long", "big")).unwrap();
        a["symbol"] = json!("ETHUSDT");
        a["id"] = json!(uuid::Uuid::new_v4().to_string());
        let (status, body) = post_alert(&api, &big, a.to_string()).await;
        (status != 503).then_some((status, body))
    })
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("insufficient_margin")),
        "{body}"
    );
    assert_eq!(venue.venue().accounts[BINANCE_KEY].orders.len(), before);

    // Switching modes needs the new mode's amount.
    let id = s["id"].as_i64().unwrap();
    let res = api
        .call(
            Method::PUT,
            &format!("/strategies/{id}"),
            Some(&u.access),
            Some(json!({ "sizing_mode": "fixed_usdt" })),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = api
        .call(
            Method::PUT,
            &format!("/strategies/{id}"),
            Some(&u.access),
            Some(json!({ "sizing_mode": "fixed_usdt", "qty_usdt": 500 })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    assert_eq!(
        (&v["sizing_mode"], &v["qty_usdt"], &v["risk_pct"]),
        (&json!("fixed_usdt"), &json!(500.0), &Value::Null)
    );
}

#[tokio::test]
async fn protections_hold_entries_back_with_their_codes_and_survive_a_restart() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let env = common::venues::polled(&venue, None);
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("guarded@example.com").await;
    let account = binance_account(&api, &u).await;
    let s = strategy(
        &api,
        &u,
        json!({ "name": "Guarded", "symbol": "BTCUSDT", "account_id": account,
                "cooldown_after_sl_min": 60 }),
    )
    .await;
    assert_eq!(
        (&s["cooldown_after_sl_min"], &s["max_entries_per_day"]),
        (&json!(60), &Value::Null)
    );

    // An entry, then its stop-loss.
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "g-1")).await;
    assert_eq!(status, 202, "{body}");
    let pos = eventually("a protected position", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| !p["stop_loss"].is_null())
    })
    .await;
    venue.set_mark("BTCUSDT", dec!(42100));
    eventually("the stop-loss to close it", || async {
        let p = json(
            api.get(&format!("/positions/{}", pos["id"]), &u.access)
                .await,
        )
        .await;
        (p["close_reason"] == "stop_loss").then_some(())
    })
    .await;
    venue.set_mark("BTCUSDT", dec!(43000));
    let orders_before = venue.venue().accounts[BINANCE_KEY].orders.len();

    // The cooldown refuses the next entry, tells the trader once.
    for id in ["g-2", "g-3"] {
        assert_eq!(
            refused(&api, &s, alert(&s, "buy", "long", id)).await,
            (422, "cooldown_after_stop_loss".into())
        );
    }
    let told = notified(&api, &u.access, "risk_alert", |d| {
        d["kind"] == "protection_cooldown_after_stop_loss"
    })
    .await;
    assert!(
        told["message"].as_str().unwrap().contains("Guarded"),
        "{told}"
    );
    let page: Value = json(
        api.get("/notifications?kind=risk_alert&per_page=200", &u.access)
            .await,
    )
    .await;
    let notices = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["data"]["kind"] == "protection_cooldown_after_stop_loss")
        .count();
    assert_eq!(notices, 1, "one notice per pause: {page}");

    // One entry a day, the cooldown off: today's entry already counts.
    let id = s["id"].as_i64().unwrap();
    let res = api
        .call(
            Method::PUT,
            &format!("/strategies/{id}"),
            Some(&u.access),
            Some(json!({ "cooldown_after_sl_min": 0, "max_entries_per_day": 1 })),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        refused(&api, &s, alert(&s, "buy", "long", "g-4")).await,
        (422, "max_entries_per_day".into())
    );

    // After a restart the day is rebuilt from the stored positions.
    let (status, _) = bot.signal_and_wait("TERM");
    assert!(status.success());
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let s = {
        let res = api
            .login("guarded@example.com", common::api::PASSWORD)
            .await;
        let token = json(res).await["access_token"].as_str().unwrap().to_owned();
        json(api.get(&format!("/strategies/{id}"), &token).await).await
    };
    assert_eq!(
        refused(&api, &s, alert(&s, "buy", "long", "g-5")).await,
        (422, "max_entries_per_day".into())
    );
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].orders.len(),
        orders_before,
        "no refused entry reached the venue"
    );
}
