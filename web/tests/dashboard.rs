//! The dashboard over HTTP on the paper exchange: balances refreshed in the
//! background and pushed as `account_update`, read from memory with their
//! age; the four cards before and after a trade.

mod common;

use common::api::{Api, json_of, post_alert, tv_alert, ws_subscribed};
use common::*;
use futures_util::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

#[tokio::test]
async fn the_cards_come_from_memory_and_follow_the_trades() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("TRADINGBOT_BALANCE_REFRESH_SECS", "1"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("dash@example.com").await;
    let mut ws = ws_subscribed(&bot, &u.access, &["positions"]).await;
    let account = json_of(
        api.post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "paper" }),
        )
        .await,
    )
    .await;

    // The refresher reads the new account and pushes its balances.
    let deadline = Instant::now() + Duration::from_secs(15);
    let update = loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("no account_update");
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, ws.next()).await {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["event"] == "account_update" && f["data"]["account_id"] == account["id"] {
                break f["data"].clone();
            }
        }
    };
    assert_eq!(update["wallet_balance"], 10000.0);
    assert_eq!(update["exchange"], "paper");

    let b = json_of(
        api.get(&format!("/accounts/{}/balance", account["id"]), &u.access)
            .await,
    )
    .await;
    assert_eq!(b["status"], "fresh", "{b}");
    assert_eq!(dec(&b["wallet_balance"]), Decimal::from(10000));
    assert!(b["age_seconds"].as_f64().unwrap() < 5.0);

    let empty = json_of(api.get("/dashboard/summary", &u.access).await).await;
    assert_eq!(dec(&empty["total_equity"]), Decimal::from(10000));
    assert_eq!(empty["active_positions"], 0);
    assert_eq!(empty["accounts"][0]["status"], "fresh");

    // A protected long: the open risk is what the stop-loss would lose.
    let s = json_of(
        api.post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "d", "symbol": "BTCUSDT", "account_id": account["id"] }),
        )
        .await,
    )
    .await;
    let (status, body) = post_alert(&api, &s, tv_alert(&s, "buy", "long", "D1")).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (summary, position) = loop {
        let positions: Value = api.get("/positions", &u.access).await.json().await.unwrap();
        let summary = json_of(api.get("/dashboard/summary", &u.access).await).await;
        if let Some(p) = positions
            .as_array()
            .and_then(|p| p.first())
            .filter(|p| !p["stop_loss"].is_null())
            && summary["active_positions"] == 1
        {
            break (summary, p.clone());
        }
        assert!(
            Instant::now() < deadline,
            "no protected position: {positions}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let entry = dec(&position["entry_price"]);
    let sl = dec(&position["stop_loss"]);
    let qty = dec(&position["quantity"]);
    assert_eq!(
        dec(&summary["open_risk"]),
        ((entry - sl).abs() * qty).normalize()
    );
    assert_eq!(summary["unprotected_positions"], 0);
    assert!(
        ["day_start_equity", "realized_and_opened_today"]
            .contains(&summary["today_pnl_basis"].as_str().unwrap())
    );

    // Closed: today's realized PnL and the win rate count it.
    let res = api
        .post(
            &format!("/positions/{}/close", position["id"]),
            Some(&u.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let s = json_of(api.get("/dashboard/summary", &u.access).await).await;
        if s["total_trades"] == 1 {
            break s;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let history: Value = api
        .get("/positions/history", &u.access)
        .await
        .json()
        .await
        .unwrap();
    let realized = dec(&history["items"][0]["realized_pnl"]);
    assert_eq!(dec(&after["realized_pnl_today"]), realized.normalize());
    assert_eq!(after["active_positions"], 0);
    assert_eq!(after["open_risk"], "0");
    let win = if realized > Decimal::ZERO { 100.0 } else { 0.0 };
    assert_eq!(after["win_rate"], win);

    let other = api.user("dash-other@example.com").await;
    assert_eq!(
        api.get(
            &format!("/accounts/{}/balance", account["id"]),
            &other.access
        )
        .await
        .status(),
        404
    );
}

/// Positions on the local Binance (isolated) and OKX (cross) servers: the
/// equity is each venue's wallet plus every position's profit at the mark
/// — isolated ones included — as the venues report them.
#[tokio::test]
async fn the_cards_add_up_positions_on_binance_and_okx() {
    use common::venues::{self, BINANCE_KEY, BINANCE_SECRET, OKX_KEY, OKX_PASS, OKX_SECRET};
    use rust_decimal_macros::dec;
    use tradingbot_testkit::binance::LocalBinance;
    use tradingbot_testkit::okx::LocalOkx;
    let binance = LocalBinance::start();
    binance.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    binance.set_mark("BTCUSDT", dec!(43000));
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    okx.set_mark("BTC-USDT-SWAP", dec!(43000));
    let (_tmp, dir) = workdir();
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_BALANCE_REFRESH_SECS", "1"),
    ];
    env.extend(venues::env(Some(&binance), Some(&okx)));
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("venues@example.com").await;
    let mut strategies = Vec::new();
    for (body, symbol, margin) in [
        (venues::binance_account(), "BTCUSDT", "isolated"),
        (venues::okx_account(), "BTC-USDT-SWAP", "cross"),
    ] {
        let res = api.post("/accounts/register", Some(&u.access), body).await;
        assert_eq!(res.status(), 201);
        let account = json_of(res).await["id"].as_i64().unwrap();
        let s = json_of(
            api.post(
                "/strategies",
                Some(&u.access),
                json!({ "name": symbol, "symbol": symbol, "account_id": account,
                        "investment_pct": 10, "leverage": 3, "margin_mode": margin }),
            )
            .await,
        )
        .await;
        let (status, body) = post_alert(&api, &s, tv_alert(&s, "buy", "long", symbol)).await;
        assert_eq!(status, 202, "{body}");
        strategies.push((account, s));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let positions = loop {
        let p: Value = api.get("/positions", &u.access).await.json().await.unwrap();
        let protected: Vec<Value> = p
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !p["stop_loss"].is_null())
            .cloned()
            .collect();
        if protected.len() == 2 {
            break protected;
        }
        assert!(Instant::now() < deadline, "two protected positions: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The market moves; the venues value the positions at the new mark.
    binance.set_mark("BTCUSDT", dec!(43500));
    okx.set_mark("BTC-USDT-SWAP", dec!(43500));
    let profit: Decimal = positions
        .iter()
        .map(|p| (dec!(43500) - dec(&p["entry_price"])) * dec(&p["quantity"]))
        .sum();
    assert!(profit > Decimal::ZERO);
    let open_risk: Decimal = positions
        .iter()
        .map(|p| (dec(&p["entry_price"]) - dec(&p["stop_loss"])).abs() * dec(&p["quantity"]))
        .sum();
    let wallets =
        || binance.venue().accounts[BINANCE_KEY].wallet + okx.venue().accounts[OKX_KEY].cash;
    let deadline = Instant::now() + Duration::from_secs(20);
    let summary = loop {
        let s = json_of(api.get("/dashboard/summary", &u.access).await).await;
        let fresh = s["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "fresh");
        if fresh && dec(&s["total_equity"]) == (wallets() + profit).normalize() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "equity {} ≠ wallets {} + profit {profit}: {s}",
            s["total_equity"],
            wallets()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(summary["active_positions"], 2);
    assert_eq!(dec(&summary["open_risk"]), open_risk.normalize());
    assert_eq!(summary["unprotected_positions"], 0);
    let mut exchanges: Vec<&str> = summary["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["exchange"].as_str().unwrap())
        .collect();
    exchanges.sort();
    assert_eq!(exchanges, ["binance", "okx"]);
    for a in summary["accounts"].as_array().unwrap() {
        assert!(dec(&a["unrealized_pnl"]) > Decimal::ZERO, "{a}");
        assert!(a["age_seconds"].as_f64().unwrap() < 10.0, "{a}");
    }
    // One account's balance, from memory, says the same.
    let (binance_account, _) = &strategies[0];
    let b = json_of(
        api.get(&format!("/accounts/{binance_account}/balance"), &u.access)
            .await,
    )
    .await;
    assert_eq!(
        dec(&b["wallet_balance"]),
        binance.venue().accounts[BINANCE_KEY].wallet.normalize()
    );
}

/// With rounds an hour apart, the book still follows the account: a new
/// account shows the balances its connection test read, and a fill (the
/// venue's fee leaves the wallet) is read again at once.
#[tokio::test]
async fn a_fill_refreshes_its_account_without_waiting_for_the_round() {
    use common::venues::{self, BINANCE_KEY, BINANCE_SECRET};
    use rust_decimal_macros::dec;
    use tradingbot_testkit::binance::LocalBinance;
    let binance = std::sync::Arc::new(LocalBinance::start());
    binance.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    binance.set_mark("BTCUSDT", dec!(43000));
    let (_tmp, dir) = workdir();
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_BALANCE_REFRESH_SECS", "3600"),
    ];
    env.extend(venues::env(Some(&*binance), None));
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("fill@example.com").await;
    let mut ws = ws_subscribed(&bot, &u.access, &["positions"]).await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            venues::binance_account(),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json_of(res).await["id"].as_i64().unwrap();
    let b = json_of(
        api.get(&format!("/accounts/{account}/balance"), &u.access)
            .await,
    )
    .await;
    assert_eq!(b["status"], "fresh", "{b}");
    assert_eq!(dec(&b["wallet_balance"]), Decimal::from(10000));

    let s = json_of(
        api.post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "f", "symbol": "BTCUSDT", "account_id": account }),
        )
        .await,
    )
    .await;
    let (status, body) = post_alert(&api, &s, tv_alert(&s, "buy", "long", "F1")).await;
    assert_eq!(status, 202, "{body}");
    // A live market: marks keep moving while the fill is read.
    let ticking = {
        let venue = binance.clone();
        tokio::spawn(async move {
            for i in 0u32.. {
                venue.set_mark("BTCUSDT", dec!(43000) + Decimal::from(i % 2));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let update = loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("no account_update after the fill");
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, ws.next()).await {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["event"] == "account_update" && f["data"]["wallet_balance"] != 10000.0 {
                break f["data"].clone();
            }
        }
    };
    ticking.abort();
    let wallet = binance.venue().accounts[BINANCE_KEY].wallet;
    assert!(wallet < dec!(10000), "the venue charged the entry's fee");
    assert_eq!(update["account_id"], account);
    let b = json_of(
        api.get(&format!("/accounts/{account}/balance"), &u.access)
            .await,
    )
    .await;
    assert_eq!(dec(&b["wallet_balance"]), wallet.normalize(), "{b}");
}
