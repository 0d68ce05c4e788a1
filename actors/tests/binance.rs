//! The Binance client against a local venue that checks requests as
//! Binance does (signatures recomputed, timestamp window, filters, the
//! algo endpoint rule, weight and bans).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use tradingbot_actors::exchange::Connection;
use tradingbot_actors::exchange::VenueClient;
use tradingbot_actors::exchange::binance::BinanceClient;
use tradingbot_actors::exchange::binance::user_stream::{StreamMessage, StreamTiming, UserStream};
use tradingbot_actors::exchange::budget::Priority;
use tradingbot_core::exchange::binance::stream::UserEvent;
use tradingbot_core::exchange::{
    ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderReport, OrderRequest, OrderSize,
    OrderStatus, Side, TriggerPrice,
};
use tradingbot_testkit::binance::{Failure, LocalBinance};

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// Orders go through `Connection::place`, where the rule against placing
/// twice lives, as the execution core sends them.
trait PlaceThroughConnection {
    async fn place(
        &self,
        order: &OrderRequest,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError>;
}

impl PlaceThroughConnection for Arc<BinanceClient> {
    async fn place(
        &self,
        order: &OrderRequest,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        Connection::new(self.clone())
            .place(order, MarginMode::Cross, reference_price, priority)
            .await
    }
}

fn venue() -> (LocalBinance, Arc<BinanceClient>) {
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, dec!(10000));
    let client = Arc::new(BinanceClient::new(&venue.rest_url, KEY, SECRET.as_bytes()));
    (venue, client)
}

fn market(signal: i64, side: Side, base: Decimal, reduce_only: bool, leg: Leg) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId::derive(1, signal, leg),
        symbol: "BTCUSDT".into(),
        side,
        kind: OrderKind::Market,
        size: OrderSize::Base(base),
        reduce_only,
        attach: None,
    }
}

fn stop(signal: i64, side: Side, trigger: Decimal) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId::derive(1, signal, Leg::StopLoss),
        symbol: "BTCUSDT".into(),
        side,
        kind: OrderKind::StopMarket {
            trigger,
            trigger_by: TriggerPrice::Mark,
        },
        size: OrderSize::ClosePosition,
        reduce_only: true,
        attach: None,
    }
}

fn count(venue: &LocalBinance, method: &str, path: &str) -> usize {
    venue
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

#[tokio::test]
async fn reads_rules_balances_permissions_and_positions() {
    let (venue, client) = venue();
    let rules = client.rules("BTCUSDT").await.unwrap();
    assert_eq!(
        (rules.tick_size, rules.step_size, rules.min_notional),
        (dec!(0.1), dec!(0.001), dec!(100))
    );
    assert!(matches!(
        client.rules("NOPEUSDT").await,
        Err(ExchangeError::UnknownSymbol { .. })
    ));
    let balances = client.balances().await.unwrap();
    assert_eq!(balances[0].wallet, dec!(10000));
    let p = client.permissions().await.unwrap();
    assert!(p.can_trade);
    assert_eq!(p.can_withdraw, Some(false));
    venue.venue().accounts.get_mut(KEY).unwrap().can_withdraw = true;
    assert_eq!(client.permissions().await.unwrap().can_withdraw, Some(true));
    assert!(client.positions().await.unwrap().is_empty());
    assert_eq!(client.max_leverage("BTCUSDT").await.unwrap(), 125);
    assert_eq!(client.mark_price("BTCUSDT").await.unwrap(), dec!(43000));
    // Every signed request carried the key header and a valid signature:
    // the venue recomputed each one and accepted it.
    assert!(
        venue.requests().iter().all(|r| r.status == 200),
        "{:?}",
        venue.requests()
    );
}

#[tokio::test]
async fn resynchronizes_its_clock_on_a_timestamp_refusal() {
    let (venue, client) = venue();
    venue.venue().clock_skew_ms = 30_000;
    let balances = client.balances().await.unwrap();
    assert_eq!(balances[0].asset, "USDT");
    let reqs = venue.requests();
    let codes: Vec<(String, i64)> = reqs.iter().map(|r| (r.path.clone(), r.code)).collect();
    assert_eq!(
        codes,
        [
            ("/fapi/v2/account".to_string(), -1021),
            ("/fapi/v1/time".to_string(), 0),
            ("/fapi/v2/account".to_string(), 0)
        ]
    );
    assert!((client.server_now_ms() - tradingbot_testkit::now_ms() - 30_000).abs() < 1000);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let (venue, _) = venue();
    let wrong = BinanceClient::new(&venue.rest_url, KEY, b"not-the-secret");
    assert!(
        matches!(wrong.balances().await, Err(ExchangeError::InvalidCredentials { ref code, .. }) if code == "-1022")
    );
    let unknown = BinanceClient::new(&venue.rest_url, "unknown-key", SECRET.as_bytes());
    assert!(
        matches!(unknown.balances().await, Err(ExchangeError::PermissionDenied { ref code, .. }) if code == "-2015")
    );
}

#[tokio::test]
async fn sets_leverage_and_margin_mode_once() {
    let (venue, client) = venue();
    client
        .configure("BTCUSDT", 5, MarginMode::Isolated)
        .await
        .unwrap();
    client
        .configure("BTCUSDT", 5, MarginMode::Isolated)
        .await
        .unwrap();
    assert_eq!(count(&venue, "POST", "/fapi/v1/leverage"), 1);
    assert_eq!(count(&venue, "POST", "/fapi/v1/marginType"), 1);
    {
        let v = venue.venue();
        assert_eq!(v.accounts[KEY].leverage["BTCUSDT"], 5);
        assert!(v.accounts[KEY].isolated["BTCUSDT"]);
    }
    // Another process already set it: "No need to change" is success.
    let other = BinanceClient::new(&venue.rest_url, KEY, SECRET.as_bytes());
    other
        .configure("BTCUSDT", 5, MarginMode::Isolated)
        .await
        .unwrap();
    assert!(matches!(
        client.configure("BTCUSDT", 200, MarginMode::Isolated).await,
        Err(ExchangeError::Rejected { ref code, .. }) if code == "-4028"
    ));
}

#[tokio::test]
async fn places_protects_queries_and_cancels() {
    let (venue, client) = venue();
    client
        .configure("BTCUSDT", 3, MarginMode::Isolated)
        .await
        .unwrap();
    // Entry: 0.0239 BTC rounds down to the 0.001 step.
    let entry = market(10, Side::Buy, dec!(0.0239), false, Leg::Entry);
    let filled = client
        .place(&entry, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(
        (filled.status, filled.filled, filled.avg_price),
        (OrderStatus::Filled, dec!(0.023), Some(dec!(43000)))
    );
    let sent = venue
        .requests()
        .into_iter()
        .find(|r| r.path == "/fapi/v1/order")
        .unwrap();
    assert_eq!(sent.param("quantity"), Some("0.023"));
    assert_eq!(sent.param("newClientOrderId"), Some("tb011ae"));
    assert_eq!(sent.param("type"), Some("MARKET"));

    // Protection on the algo service: a stop and a take-profit.
    let sl = client
        .place(
            &stop(10, Side::Sell, dec!(42140)),
            dec!(43000),
            Priority::Protective,
        )
        .await
        .unwrap();
    assert_eq!(sl.status, OrderStatus::New);
    let mut tp = stop(10, Side::Sell, dec!(45150));
    tp.client_id = ClientOrderId::derive(1, 10, Leg::TakeProfit);
    tp.kind = OrderKind::TakeProfitMarket {
        trigger: dec!(45150),
        trigger_by: TriggerPrice::Mark,
    };
    client
        .place(&tp, dec!(43000), Priority::Protective)
        .await
        .unwrap();
    assert_eq!(count(&venue, "POST", "/fapi/v1/algoOrder"), 2);
    let algo = venue
        .requests()
        .into_iter()
        .find(|r| r.path == "/fapi/v1/algoOrder")
        .unwrap();
    assert_eq!(algo.param("algoType"), Some("CONDITIONAL"));
    assert_eq!(algo.param("closePosition"), Some("true"));
    assert_eq!(algo.param("workingType"), Some("MARK_PRICE"));

    // Queries by client id.
    let q = client
        .query("BTCUSDT", &entry.client_id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.status, OrderStatus::Filled);
    let missing = ClientOrderId::derive(1, 999, Leg::Entry);
    assert_eq!(
        client.query("BTCUSDT", &missing, false).await.unwrap(),
        None
    );

    // The take-profit is cancelled; then the mark falls through the stop.
    let cancelled = client.cancel("BTCUSDT", &tp.client_id, true).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    venue.set_mark("BTCUSDT", dec!(42100));
    let sl_now = client
        .query("BTCUSDT", &sl_client(10), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (sl_now.status, sl_now.filled),
        (OrderStatus::Filled, dec!(0.023))
    );
    assert!(sl_now.triggered_order_id.is_some());
    assert!(
        client.positions().await.unwrap().is_empty(),
        "the stop closed the position"
    );
    let wallet = client.balances().await.unwrap()[0].wallet;
    // Lost (43000 - 42100) × 0.023 = 20.7, plus two taker fees.
    assert_eq!(
        wallet,
        dec!(10000) - dec!(20.7) - dec!(0.4945) - dec!(0.48415)
    );
}

async fn next(rx: &mut tokio::sync::mpsc::Receiver<StreamMessage>) -> StreamMessage {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a stream message")
        .expect("the stream task is alive")
}

fn sl_client(signal: i64) -> ClientOrderId {
    ClientOrderId::derive(1, signal, Leg::StopLoss)
}

#[tokio::test]
async fn conditional_orders_on_the_order_endpoint_are_refused_with_4120() {
    // What Binance answers since December 2025 — and what the client's own
    // request builder avoids by sending conditionals to /algoOrder.
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, dec!(10000));
    let signer =
        tradingbot_core::exchange::binance::sign::BinanceSigner::new(KEY, SECRET.as_bytes());
    let ts = tradingbot_testkit::now_ms();
    let payload = format!(
        "symbol=BTCUSDT&side=SELL&type=STOP_MARKET&stopPrice=42000&closePosition=true&recvWindow=5000&timestamp={ts}"
    );
    let url = format!(
        "{}/fapi/v1/order?{payload}&signature={}",
        venue.rest_url,
        signer.sign(&payload)
    );
    let res = tradingbot_testkit::http_client()
        .post(url)
        .header("X-MBX-APIKEY", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], -4120);
}

#[tokio::test]
async fn refuses_locally_what_the_venue_would_refuse() {
    let (venue, client) = venue();
    let small = market(11, Side::Buy, dec!(0.002), false, Leg::Entry);
    assert!(matches!(
        client.place(&small, dec!(43000), Priority::Normal).await,
        Err(ExchangeError::BelowMinimum { .. })
    ));
    assert_eq!(
        count(&venue, "POST", "/fapi/v1/order"),
        0,
        "nothing was sent"
    );
    // Margin the account does not have: the venue refuses (-2019).
    client
        .configure("BTCUSDT", 1, MarginMode::Isolated)
        .await
        .unwrap();
    let huge = market(12, Side::Buy, dec!(1), false, Leg::Entry);
    assert!(matches!(
        client.place(&huge, dec!(43000), Priority::Normal).await,
        Err(ExchangeError::InsufficientMargin { .. })
    ));
    // Reduce-only with nothing to reduce (-2022).
    let close = market(13, Side::Sell, dec!(0.01), true, Leg::Close);
    assert!(matches!(
        client.place(&close, dec!(43000), Priority::Normal).await,
        Err(ExchangeError::ReduceOnlyRejected { .. })
    ));
    // A stop that would trigger at once (-2021).
    let wrong_side = stop(14, Side::Sell, dec!(43500));
    assert!(matches!(
        client.place(&wrong_side, dec!(43000), Priority::Protective).await,
        Err(ExchangeError::Rejected { ref code, .. }) if code == "-2021"
    ));
}

#[tokio::test]
async fn an_unknown_outcome_is_resolved_by_query_never_by_a_second_order() {
    let (venue, client) = venue();
    // The venue executes the order but the answer is lost (503 unknown).
    venue.fail_next(
        "/fapi/v1/order",
        Failure::Unknown {
            execute: true,
            delay_ms: 0,
        },
    );
    let order = market(20, Side::Buy, dec!(0.01), false, Leg::Entry);
    let report = client
        .place(&order, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(
        count(&venue, "POST", "/fapi/v1/order"),
        1,
        "never sent twice"
    );
    assert_eq!(venue.venue().accounts[KEY].orders.len(), 1);

    // An entry the venue did not execute and does not show: it stays
    // unknown (the caller reconciles) — sent again, it could fill twice.
    venue.fail_next(
        "/fapi/v1/order",
        Failure::Unknown {
            execute: false,
            delay_ms: 0,
        },
    );
    let order = market(21, Side::Buy, dec!(0.01), false, Leg::Entry);
    let result = client.place(&order, dec!(43000), Priority::Normal).await;
    assert!(
        matches!(result, Err(ExchangeError::UnknownOutcome { .. })),
        "{result:?}"
    );
    assert_eq!(count(&venue, "POST", "/fapi/v1/order"), 2, "not sent again");

    // A reduce-only close the venue did not execute: it cannot exceed the
    // position, so it is sent again, once.
    venue.fail_next(
        "/fapi/v1/order",
        Failure::Unknown {
            execute: false,
            delay_ms: 0,
        },
    );
    let order = market(23, Side::Sell, dec!(0.01), true, Leg::Close);
    let report = client
        .place(&order, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(count(&venue, "POST", "/fapi/v1/order"), 4);
    let orders = &venue.venue().accounts[KEY].orders;
    assert_eq!(
        orders
            .iter()
            .filter(|o| o.client_id == order.client_id.as_str())
            .count(),
        1
    );
}

/// The venue filled the entry but its lookups do not show it yet: the
/// outcome stays unknown and the entry is not sent again (Binance refuses a
/// reused client id only while the first order is open: a second copy of a
/// filled entry would fill too).
#[tokio::test]
async fn an_order_the_venue_holds_but_does_not_show_stays_unknown() {
    let (venue, client) = venue();
    venue.fail_next(
        "POST /fapi/v1/order",
        Failure::Unknown {
            execute: true,
            delay_ms: 0,
        },
    );
    for _ in 0..2 {
        venue.fail_next("GET /fapi/v1/order", Failure::NotVisible);
    }
    let order = market(22, Side::Buy, dec!(0.01), false, Leg::Entry);
    let result = client.place(&order, dec!(43000), Priority::Normal).await;
    assert!(
        matches!(result, Err(ExchangeError::UnknownOutcome { .. })),
        "{result:?}"
    );
    assert_eq!(
        count(&venue, "POST", "/fapi/v1/order"),
        1,
        "never sent again"
    );
    assert_eq!(
        venue.venue().accounts[KEY].orders.len(),
        1,
        "the venue holds it once"
    );
    // Visible now: reading it back finds the one order.
    let report = Connection::new(client.clone())
        .query(&order.symbol, &order.client_id, false)
        .await
        .unwrap()
        .expect("on the venue");
    assert_eq!(report.status, OrderStatus::Filled);
}

#[tokio::test]
async fn honours_429_and_stops_on_418() {
    let (venue, client) = venue();
    venue.fail_next(
        "/fapi/v2/account",
        Failure::RateLimited {
            retry_after_secs: 1,
        },
    );
    assert!(
        matches!(client.balances().await, Err(ExchangeError::RateLimited { retry_after }) if retry_after == Duration::from_secs(1))
    );
    // Protective requests wait out the pause, then go.
    let started = std::time::Instant::now();
    client
        .query("BTCUSDT", &ClientOrderId::derive(1, 1, Leg::Entry), false)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));

    venue.fail_next(
        "/fapi/v2/account",
        Failure::Banned {
            retry_after_secs: 120,
        },
    );
    assert!(matches!(
        client.balances().await,
        Err(ExchangeError::Banned { .. })
    ));
    let before = venue.requests().len();
    assert!(matches!(
        client.balances().await,
        Err(ExchangeError::Banned { .. })
    ));
    assert!(matches!(
        client.mark_price("BTCUSDT").await,
        Err(ExchangeError::Banned { .. })
    ));
    assert_eq!(
        venue.requests().len(),
        before,
        "nothing is sent while banned"
    );
    assert!(client.budget().usage(tradingbot_testkit::now_ms()).banned);
}

/// A stop, a close or the reads that protect a position are never refused
/// by a ban: they wait for its end, send nothing meanwhile, then go.
#[tokio::test]
async fn protective_requests_wait_out_a_ban_and_then_go() {
    let (venue, client) = venue();
    venue.fail_next(
        "/fapi/v2/account",
        Failure::Banned {
            retry_after_secs: 2,
        },
    );
    assert!(matches!(
        client.balances().await,
        Err(ExchangeError::Banned { .. })
    ));
    let before = venue.requests().len();
    let started = std::time::Instant::now();
    let positions = {
        let client = client.clone();
        tokio::spawn(async move { client.positions().await })
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(venue.requests().len(), before, "queued, not sent");
    assert!(positions.await.unwrap().is_ok());
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(venue.requests().len(), before + 1);
    assert_eq!(venue.venue().bans, 1);
}

#[tokio::test]
async fn throttles_before_the_venue_would_refuse() {
    // Budgets are per wall-clock minute: start well inside one.
    let into_minute = tradingbot_testkit::now_ms() % 60_000;
    if into_minute > 55_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into_minute + 100) as u64)).await;
    }
    let (venue, client) = venue();
    venue.venue().weight_limit = 20;
    client.load_rules().await.unwrap(); // adopts the limit (and spends 1)
    // Balance costs 5: three fit in 90 % of 20, the fourth is held back.
    for _ in 0..3 {
        client.balances().await.unwrap();
    }
    let err = client.balances().await.unwrap_err();
    assert!(matches!(err, ExchangeError::RateLimited { .. }), "{err:?}");
    assert!(
        venue.requests().iter().all(|r| r.status != 429),
        "the venue never had to refuse"
    );
}

#[tokio::test]
async fn the_user_stream_reports_fills_and_survives_expiry_and_drops() {
    let (venue, client) = venue();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let timing = StreamTiming {
        keepalive: Duration::from_millis(300),
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    };
    let _stream = UserStream::spawn(client.clone(), venue.stream_url.clone(), timing, tx);
    assert_eq!(next(&mut rx).await, StreamMessage::Connected);
    venue.wait_for_stream(KEY).await;

    client
        .place(
            &market(30, Side::Buy, dec!(0.01), false, Leg::Entry),
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    let mut saw_fill = false;
    let mut saw_account = false;
    while !(saw_fill && saw_account) {
        match next(&mut rx).await {
            StreamMessage::Event(e) => match *e {
                UserEvent::Order {
                    report, last_fill, ..
                } => {
                    assert_eq!(report.client_id, "tb011ue");
                    assert_eq!(last_fill, Some((dec!(0.01), dec!(43000))));
                    saw_fill = true;
                }
                UserEvent::Account { positions, .. } => {
                    assert_eq!(positions[0].1.as_ref().unwrap().quantity, dec!(0.01));
                    saw_account = true;
                }
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
    // Keep-alives went out.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(count(&venue, "PUT", "/fapi/v1/listenKey") >= 1);

    // The key expires: a new key, a new connection.
    venue.expire_listen_keys(KEY);
    assert!(
        matches!(next(&mut rx).await, StreamMessage::Disconnected(reason) if reason.contains("expired"))
    );
    assert_eq!(next(&mut rx).await, StreamMessage::Connected);
    assert!(count(&venue, "POST", "/fapi/v1/listenKey") >= 2);

    // The network drops the connection: reconnects.
    venue.wait_for_stream(KEY).await;
    venue.drop_streams();
    assert!(matches!(
        next(&mut rx).await,
        StreamMessage::Disconnected(_)
    ));
    assert_eq!(next(&mut rx).await, StreamMessage::Connected);
    venue.wait_for_stream(KEY).await;
    client
        .place(
            &market(31, Side::Sell, dec!(0.01), true, Leg::Close),
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    loop {
        if let StreamMessage::Event(e) = next(&mut rx).await
            && let UserEvent::Order { report, .. } = *e
        {
            assert_eq!(report.client_id, "tb011vc");
            break;
        }
    }
}

#[tokio::test]
async fn places_over_the_websocket_api_and_falls_back_to_rest() {
    let (venue, client) = venue();
    client.use_ws_api(&venue.ws_api_url);
    for _ in 0..200 {
        if client.ws_api_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(client.ws_api_connected());
    let r = client
        .place(
            &market(40, Side::Buy, dec!(0.01), false, Leg::Entry),
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    let ws = venue
        .requests()
        .into_iter()
        .find(|r| r.method == "WS")
        .expect("sent over the websocket API");
    assert_eq!(
        (ws.path.as_str(), ws.status),
        ("order.place", 200),
        "signature over sorted parameters accepted"
    );
    assert_eq!(count(&venue, "POST", "/fapi/v1/order"), 0);
    // Protective orders go to the algo method.
    client
        .place(
            &stop(40, Side::Sell, dec!(42000)),
            dec!(43000),
            Priority::Protective,
        )
        .await
        .unwrap();
    assert!(
        venue
            .requests()
            .iter()
            .any(|r| r.method == "WS" && r.path == "algoOrder.place" && r.status == 200)
    );
    // Venue errors come back typed.
    let small = market(41, Side::Buy, dec!(0.01), true, Leg::Close);
    client
        .place(
            &market(41, Side::Sell, dec!(0.01), true, Leg::Close),
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    assert!(matches!(
        client.place(&small, dec!(43000), Priority::Normal).await,
        Err(ExchangeError::ReduceOnlyRejected { .. })
    ));

    // A request sent but never answered is resolved by a REST query.
    venue.venue().ws_api_silent = true;
    let r = client
        .place(
            &market(42, Side::Buy, dec!(0.01), false, Leg::Entry),
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(count(&venue, "POST", "/fapi/v1/order"), 0, "never re-sent");
    assert!(count(&venue, "GET", "/fapi/v1/order") >= 1);
    venue.venue().ws_api_silent = false;

    // The session drops: orders go over REST until it is back.
    venue.drop_ws_api();
    for _ in 0..200 {
        if !client.ws_api_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client
        .place(
            &market(43, Side::Buy, dec!(0.01), false, Leg::Entry),
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    assert_eq!(count(&venue, "POST", "/fapi/v1/order"), 1, "REST fallback");
}
