//! The websocket's `prices` channel for a symbol nobody trades: followed on
//! the venue's public mark-price stream (the local Binance speaking its
//! combined-stream protocol) while a session asks for it, and let go when
//! the last one stops.

mod common;

use common::api::{Api, Ws};
use common::*;
use futures_util::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tradingbot_testkit::binance::LocalBinance;

async fn open(bot: &Spawned, token: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!(
        "{}?token={token}",
        bot.url("/api/v1/ws").replacen("http://", "ws://", 1)
    ))
    .await
    .expect("websocket connects");
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The first frame named `event` satisfying `pred` within `wait`.
async fn until(ws: &mut Ws, event: &str, wait: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no `{event}` frame in {wait:?}"));
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, ws.next()).await {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["event"] == event && pred(&f["data"]) {
                return f["data"].clone();
            }
        }
    }
}

/// `ws_price_symbols_followed` from `/metrics`.
async fn followed(bot: &Spawned) -> f64 {
    let text = reqwest::get(bot.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("ws_price_symbols_followed "))
        .unwrap_or_else(|| panic!("no ws_price_symbols_followed in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

async fn followed_becomes(bot: &Spawned, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while followed(bot).await != n {
        assert!(
            Instant::now() < deadline,
            "followed stays {}",
            followed(bot).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn prices_of_any_symbol_flow_while_someone_asks() {
    let venue = LocalBinance::start();
    venue.set_mark("ETHUSDT", dec!(3210.5));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[(
            "TRADINGBOT_BINANCE_LIVE_STREAM_URL",
            venue.stream_url.as_str(),
        )],
    );
    let api = Api::new(&bot);
    let u = api.user("prices@example.com").await;
    assert_eq!(followed(&bot).await, 0.0);

    // Any spelling; nobody trades ETHUSDT.
    let mut a = open(&bot, &u.access).await;
    send(
        &mut a,
        json!({ "event": "subscribe", "data": { "channels": ["prices"], "symbols": ["eth/usdt"] } }),
    )
    .await;
    let ok = until(&mut a, "subscribed", Duration::from_secs(5), |_| true).await;
    assert_eq!(ok["symbols"], json!(["ETHUSDT"]));
    let tick = tokio::time::timeout(
        Duration::from_secs(9),
        until(&mut a, "price", Duration::from_secs(10), |d| {
            d["symbol"] == "ETHUSDT"
        }),
    )
    .await;
    let tick = match tick {
        Ok(t) => t,
        Err(_) => panic!("no tick: {}", bot.output()),
    };
    assert_eq!(tick["exchange"], "binance");
    assert_eq!(tick["price"], 3210.5);
    assert_eq!(followed(&bot).await, 1.0);

    // The venue moves: the next tick follows.
    venue.set_mark("ETHUSDT", dec!(3333.25));
    until(&mut a, "price", Duration::from_secs(10), |d| {
        d["price"] == 3333.25
    })
    .await;

    // A second session on the same symbol shares the one subscription.
    let mut b = open(&bot, &u.access).await;
    send(
        &mut b,
        json!({ "event": "subscribe", "data": { "channels": ["prices"], "symbols": ["ETHUSDT"] } }),
    )
    .await;
    until(&mut b, "price", Duration::from_secs(10), |d| {
        d["symbol"] == "ETHUSDT"
    })
    .await;
    assert_eq!(followed(&bot).await, 1.0);

    // The first stops asking; the second still hears it.
    send(
        &mut a,
        json!({ "event": "unsubscribe", "data": { "symbols": ["ETHUSDT"] } }),
    )
    .await;
    until(&mut a, "subscribed", Duration::from_secs(5), |d| {
        d["symbols"] == json!([])
    })
    .await;
    venue.set_mark("ETHUSDT", dec!(3400));
    until(&mut b, "price", Duration::from_secs(10), |d| {
        d["price"] == 3400.0
    })
    .await;
    assert_eq!(followed(&bot).await, 1.0);

    // The last one leaves: the stream lets the symbol go.
    b.close(None).await.unwrap();
    followed_becomes(&bot, 0.0).await;

    // One connection may not ask for the whole market.
    let many: Vec<String> = (0..21).map(|i| format!("S{i}USDT")).collect();
    send(
        &mut a,
        json!({ "event": "subscribe", "data": { "channels": ["prices"], "symbols": many } }),
    )
    .await;
    let err = until(&mut a, "error", Duration::from_secs(5), |_| true).await;
    assert_eq!(err["code"], "too_many_symbols", "{err}");
    assert_eq!(followed(&bot).await, 0.0);

    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
    announce("prices: a symbol nobody trades followed on the public stream while asked for");
}

#[tokio::test]
async fn offline_the_channel_says_which_prices_it_cannot_give() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_MARKET_DATA", "offline")]);
    let api = Api::new(&bot);
    let u = api.user("offline-prices@example.com").await;
    let mut ws = open(&bot, &u.access).await;
    send(
        &mut ws,
        json!({ "event": "subscribe", "data": { "channels": ["prices"], "symbols": ["SOLUSDT"] } }),
    )
    .await;
    until(&mut ws, "subscribed", Duration::from_secs(5), |_| true).await;
    let err = until(&mut ws, "error", Duration::from_secs(5), |_| true).await;
    assert_eq!(err["code"], "prices_unavailable", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("SOLUSDT"),
        "{err}"
    );
    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
}
