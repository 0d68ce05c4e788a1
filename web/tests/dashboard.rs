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
