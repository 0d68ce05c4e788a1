//! The trader's window, end to end over real sockets: a position opened by
//! a webhook shows up live on the websocket with its PnL moving as the
//! venue's mark moves, crosses PnL steps, is closed from the API, and lands
//! in the history and the performance figures — and no other user hears of
//! any of it.

mod common;

use common::api::{Api, binance_trader, json_of, notified, post_alert, tv_alert as alert};
use common::*;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tradingbot_testkit::binance::LocalBinance;

use common::venues::{BINANCE_KEY as KEY, BINANCE_SECRET as SECRET};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn env(b: &LocalBinance) -> Vec<(&str, &str)> {
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_POSITION_UPDATE_MS", "100"),
    ];
    env.extend(common::venues::env(Some(b), None));
    env
}

fn ws_url(bot: &Spawned) -> String {
    bot.url("/api/v1/ws").replacen("http://", "ws://", 1)
}

/// Connects with the token as the `bearer` subprotocol, as a browser would.
async fn connect_protocol(bot: &Spawned, token: &str) -> Ws {
    let mut req = ws_url(bot).into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("bearer, {token}").parse().unwrap(),
    );
    let (ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        res.headers()["sec-websocket-protocol"],
        "bearer",
        "the server picks the marker, never echoes the token"
    );
    ws
}

async fn connect_query(bot: &Spawned, token: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}?token={token}", ws_url(bot)))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text frame, within `wait`.
async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Reads frames until one named `event` satisfies `pred`; returns it and
/// every frame seen on the way.
async fn until(ws: &mut Ws, event: &str, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(f) = next(ws, left).await else { break };
        if f["event"] == event && pred(&f["data"]) {
            return (f, seen);
        }
        seen.push(f);
    }
    panic!("no `{event}` frame; saw {seen:#?}");
}

async fn subscribe(ws: &mut Ws, data: Value) -> Value {
    send(ws, json!({ "event": "subscribe", "data": data })).await;
    let f = next(ws, Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(f["event"], "subscribed", "{f}");
    f
}

fn num(v: &Value) -> Decimal {
    Decimal::from_str_exact(
        &v.as_f64()
            .unwrap_or_else(|| panic!("not a number: {v}"))
            .to_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_position_lives_on_the_websocket_closes_from_the_api_and_counts_in_performance() {
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, dec!(10000));
    venue.set_mark("BTCUSDT", dec!(43000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &env(&venue));
    let api = Api::new(&bot);
    let (a, s) = binance_trader(&api, "alice@example.com", KEY, SECRET).await;
    let b = api.user("bob@example.com").await;

    // No token, a bad token: refused before the upgrade.
    let err = tokio_tungstenite::connect_async(ws_url(&bot))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let err = tokio_tungstenite::connect_async(format!("{}?token=forged", ws_url(&bot)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let mut ws_a = connect_protocol(&bot, &a.access).await;
    let mut ws_b = connect_query(&bot, &b.access).await;
    // Bad requests are answered, not fatal.
    send(
        &mut ws_a,
        json!({ "event": "subscribe", "data": { "channels": ["gossip"] } }),
    )
    .await;
    let f = next(&mut ws_a, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (f["event"].as_str(), f["data"]["code"].as_str()),
        (Some("error"), Some("unknown_channel"))
    );
    send(&mut ws_a, json!({ "event": "ping" })).await;
    assert_eq!(
        next(&mut ws_a, Duration::from_secs(5)).await.unwrap()["event"],
        "pong"
    );
    let f = subscribe(
        &mut ws_a,
        json!({ "channels": ["positions", "orders", "alerts"] }),
    )
    .await;
    assert_eq!(
        f["data"]["channels"],
        json!(["alerts", "orders", "positions"])
    );
    subscribe(
        &mut ws_b,
        json!({ "channels": ["positions", "orders", "alerts"] }),
    )
    .await;

    // The alert: an entry fills, the position opens and is valued live.
    assert_eq!(
        post_alert(&api, &s, alert(&s, "buy", "long", "L1")).await.0,
        202
    );
    let (filled, before_fill) = until(&mut ws_a, "order_filled", |d| d["leg"] == "entry").await;
    assert_eq!(filled["data"]["symbol"], "BTCUSDT");
    assert_eq!(filled["data"]["side"], "LONG");
    // $10,000 × 10 % × 3 at 43,000 = 0.0697… → 0.069 BTC.
    assert_eq!(num(&filled["data"]["quantity"]), dec!(0.069));
    assert_eq!(num(&filled["data"]["price"]), dec!(43000));
    // Opened once; its stop and target are told as they come to rest, not
    // as another opening.
    let (protected, until_protected) = until(&mut ws_a, "position_protected", |d| {
        d["stop_loss"].is_number()
    })
    .await;
    assert!(protected["data"]["take_profit"].is_number(), "{protected}");
    let heard: Vec<&Value> = before_fill.iter().chain(&until_protected).collect();
    let opened: Vec<&&Value> = heard
        .iter()
        .filter(|f| f["event"] == "position_opened")
        .collect();
    assert_eq!(opened.len(), 1, "{heard:#?}");
    assert_eq!(
        opened[0]["data"]["position_id"],
        protected["data"]["position_id"]
    );
    let at_entry = |d: &Value| d["current_price"].as_f64() == Some(43000.0);
    let update = match heard
        .iter()
        .find(|f| f["event"] == "position_update" && at_entry(&f["data"]))
    {
        Some(f) => (*f).clone(),
        None => until(&mut ws_a, "position_update", at_entry).await.0,
    };
    let position_id = update["data"]["position_id"].as_i64().unwrap();
    assert_eq!(num(&update["data"]["unrealized_pnl"]), dec!(0));

    // The mark rises 1 %: 0.069 × 430 = 29.67 profit, 3 % of the margin
    // (0.069 × 43,000 / 3 = 989): steps 1, 2, 3 are crossed at once → one
    // alert at step 3.
    venue.set_mark("BTCUSDT", dec!(43430));
    let (update, seen) = until(&mut ws_a, "position_update", |d| {
        d["current_price"].as_f64() == Some(43430.0)
    })
    .await;
    let d = &update["data"];
    assert_eq!(num(&d["unrealized_pnl"]), dec!(29.67));
    assert_eq!(num(&d["pnl_percentage"]), dec!(3));
    assert_eq!(num(&d["roi_pct"]), dec!(1));
    assert!(num(&d["distance_to_sl_pct"]) > dec!(0));
    // Isolated long, 3x, 0.4 % maintenance: 43,000 × (2/3) / 0.996.
    assert_eq!(num(&d["liquidation_price"]), dec!(28781.79));
    let step = match seen.iter().find(|f| f["event"] == "pnl_alert") {
        Some(f) => f.clone(),
        None => until(&mut ws_a, "pnl_alert", |_| true).await.0,
    };
    assert_eq!(step["data"]["step"], 3);
    assert_eq!(step["data"]["position_id"], position_id);

    // The step is kept: listed, counted unread, marked read — Alice's only.
    let kept = notified(&api, &a.access, "pnl_alert", |d| *d == step["data"]).await;
    assert_eq!(kept["severity"], "info");
    assert_eq!(kept["position_id"], position_id);
    assert_eq!(kept["symbol"], "BTCUSDT");
    assert!(
        kept["title"]
            .as_str()
            .unwrap()
            .starts_with("BTCUSDT LONG +3"),
        "{kept}"
    );
    let unread = |token: String| {
        let api = &api;
        async move {
            json_of(api.get("/notifications/unread-count", &token).await).await["unread"]
                .as_u64()
                .unwrap()
        }
    };
    let before = unread(a.access.clone()).await;
    assert!(before >= 1);
    let id = kept["id"].as_i64().unwrap();
    let read = |token: String| {
        let api = &api;
        async move {
            api.post(
                &format!("/notifications/{id}/read"),
                Some(&token),
                json!({}),
            )
            .await
            .status()
        }
    };
    assert_eq!(read(b.access.clone()).await, 404, "not Bob's");
    assert_eq!(read(a.access.clone()).await, 204);
    assert_eq!(read(a.access.clone()).await, 204, "read again: no change");
    assert_eq!(unread(a.access.clone()).await, before - 1);
    let page = json_of(api.get("/notifications?unread=true", &a.access).await).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["id"] != id && n["read"] == false)
    );
    let bobs = json_of(api.get("/notifications", &b.access).await).await;
    assert_eq!(bobs["total"], 0, "{bobs}");
    let all = json_of(
        api.post("/notifications/read-all", Some(&a.access), json!({}))
            .await,
    )
    .await;
    assert_eq!(all["updated"], before - 1);
    assert_eq!(unread(a.access.clone()).await, 0);
    let bad = api.get("/notifications?kind=gossip", &a.access).await;
    assert_eq!(bad.status(), 422);

    // Marks come from the public stream: REST polling for them went quiet.
    let polls = || {
        venue
            .requests()
            .iter()
            .filter(|r| r.path == "/fapi/v1/premiumIndex")
            .count()
    };
    let before = polls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(polls(), before, "the mark stream keeps prices fresh");

    // REST shows the same live numbers.
    let p = json_of(
        api.get(&format!("/positions/{position_id}"), &a.access)
            .await,
    )
    .await;
    assert_eq!(num(&p["current_price"]), dec!(43430));
    assert_eq!(num(&p["unrealized_pnl"]), dec!(29.67));
    assert_eq!(num(&p["pnl_percentage"]), dec!(3));

    // Bob can neither see nor close it.
    let res = api
        .post(
            &format!("/positions/{position_id}/close"),
            Some(&b.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 404);
    // Alice closes it by hand.
    let res = api
        .post(
            &format!("/positions/{position_id}/close"),
            Some(&a.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let close = json_of(res).await;
    assert_eq!(close["status"], "closing");
    // A second press while it closes is refused clearly.
    let again = api
        .post(
            &format!("/positions/{position_id}/close"),
            Some(&a.access),
            json!({}),
        )
        .await;
    assert!([404, 409].contains(&again.status().as_u16()));
    let (closed, _) = until(&mut ws_a, "position_closed", |d| {
        d["position_id"] == position_id
    })
    .await;
    let d = &closed["data"];
    assert_eq!(d["close_reason"], "manual");
    assert_eq!(num(&d["exit_price"]), dec!(43430));
    let realized = num(&d["realized_pnl"]);
    // 29.67 gross, less whatever fees the venue charged on both fills.
    assert_eq!(realized, dec!(29.67) - num(&d["fees"]));

    // Protective orders went with it; the close is an order of its own
    // (the records are written behind: poll briefly).
    let want = ["close:FILLED", "stop_loss:CANCELED", "take_profit:CANCELED"];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let orders = json_of(
            api.get(&format!("/orders?position_id={position_id}"), &a.access)
                .await,
        )
        .await;
        let legs: Vec<String> = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{}:{}",
                    o["leg"].as_str().unwrap(),
                    o["status"].as_str().unwrap()
                )
            })
            .collect();
        if want.iter().all(|w| legs.contains(&(*w).to_owned())) {
            break;
        }
        assert!(Instant::now() < deadline, "{legs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // History and performance reflect it (written behind: poll briefly).
    let deadline = Instant::now() + Duration::from_secs(10);
    let history = loop {
        let h = json_of(
            api.get("/positions/history?symbol=BTCUSDT", &a.access)
                .await,
        )
        .await;
        if h["total"] == 1 || Instant::now() > deadline {
            break h;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(history["total"], 1, "{history}");
    assert_eq!(history["items"][0]["id"], position_id);
    let summary = json_of(api.get("/performance/summary", &a.access).await).await;
    assert_eq!(summary["total_trades"], 1);
    assert_eq!(summary["winning_trades"], 1);
    assert_eq!(num(&summary["total_pnl"]), realized);
    assert_eq!(summary["win_rate"], 100.0);
    assert_eq!(summary["best_trade"]["position_id"], position_id);
    let daily = json_of(api.get("/performance/daily?periods=7", &a.access).await).await;
    let items = daily["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert_eq!(items[6]["total_trades"], 1);
    assert_eq!(num(&items[6]["total_pnl"]), realized);
    let monthly = json_of(api.get("/performance/monthly", &a.access).await).await;
    assert_eq!(monthly["items"].as_array().unwrap().len(), 12);
    let bad = api.get("/performance/daily?periods=0", &a.access).await;
    assert_eq!(bad.status(), 422);
    let bad = api
        .get("/positions/history?from=yesterday", &a.access)
        .await;
    assert_eq!(bad.status(), 422);

    // Bob's summary and feed stayed empty of Alice's trading.
    let bob = json_of(api.get("/performance/summary", &b.access).await).await;
    assert_eq!(bob["total_trades"], 0);
    if let Some(f) = next(&mut ws_b, Duration::from_millis(300)).await {
        panic!("bob heard {f}");
    }
}

/// Two instances sharing PostgreSQL and Redis: a client on B hears of an
/// order filled on A.
#[tokio::test]
async fn events_fan_out_between_instances_over_redis() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip(
            "events_fan_out_between_instances_over_redis",
            "TEST_DATABASE_URL",
        );
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip(
            "events_fan_out_between_instances_over_redis",
            "TEST_REDIS_URL",
        );
    };
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, dec!(10000));
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    // Two directories, the deployment's secrets shared.
    let (_tmp, dir) = workdir();
    let (_tmp2, dir2) = workdir();
    let mut e = env(&venue);
    e.extend_from_slice(&[
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
    ]);
    e.extend_from_slice(&SHARED_SECRETS);
    let bot_a = Spawned::start(&dir, &e);
    let bot_b = Spawned::start(&dir2, &e);
    settled_cluster(&[&bot_a, &bot_b]).await;
    let api_a = Api::new(&bot_a);
    let (a, s) = binance_trader(&api_a, "carol@example.com", KEY, SECRET).await;
    let mut ws = connect_query(&bot_b, &a.access).await;
    subscribe(&mut ws, json!({ "channels": ["orders", "positions"] })).await;
    // Let B's subscription to Redis settle before A trades.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        post_alert(&api_a, &s, alert(&s, "buy", "long", "R1"))
            .await
            .0,
        202
    );
    let (filled, before_fill) = until(&mut ws, "order_filled", |d| d["leg"] == "entry").await;
    assert_eq!(filled["data"]["symbol"], "BTCUSDT");
    assert_eq!(num(&filled["data"]["quantity"]), dec!(0.069));
    let (_, after_fill) = until(&mut ws, "position_protected", |_| true).await;
    let opened = before_fill
        .iter()
        .chain(&after_fill)
        .filter(|f| f["event"] == "position_opened")
        .count();
    assert_eq!(opened, 1, "{before_fill:#?} {after_fill:#?}");
    drop(ws);
    drop(bot_b);
    drop(bot_a);
    db.cleanup().await;
    announce("redis: a client on instance B heard an order filled on instance A");
}
