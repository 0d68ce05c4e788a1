//! The OKX client against a local venue that checks requests as OKX does
//! (headers, passphrase, timestamp window, signature, demo environment,
//! lot sizes, attached TP/SL).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use tradingbot_actors::exchange::Connection;
use tradingbot_actors::exchange::VenueClient;
use tradingbot_actors::exchange::budget::Priority;
use tradingbot_actors::exchange::okx::OkxClient;
use tradingbot_core::exchange::{
    AttachedProtection, ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderReport,
    OrderRequest, OrderSize, OrderStatus, Side, TriggerPrice,
};
use tradingbot_testkit::okx::LocalOkx;

const KEY: &str = "c6ad9e38-5e25-4d8b-9f1a-0f1c3b2a7d11";
const SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
const PASS: &str = "Correct-Passphrase-1";
const INST: &str = "BTC-USDT-SWAP";

/// Orders go through `Connection::place`, where the rule against placing
/// twice lives, as the execution core sends them.
trait PlaceThroughConnection {
    async fn place(
        &self,
        order: &OrderRequest,
        margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError>;
}

impl PlaceThroughConnection for Arc<OkxClient> {
    async fn place(
        &self,
        order: &OrderRequest,
        margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        Connection::new(self.clone())
            .place(order, margin, reference_price, priority)
            .await
    }
}

fn venue(demo: bool) -> (LocalOkx, Arc<OkxClient>) {
    let venue = LocalOkx::start();
    venue.add_account(KEY, SECRET, PASS, dec!(10000), demo);
    let client = OkxClient::new(&venue.rest_url, KEY, SECRET.as_bytes(), PASS, demo);
    (venue, Arc::new(client))
}

fn market(signal: i64, side: Side, base: Decimal, reduce_only: bool, leg: Leg) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId::derive(2, signal, leg),
        symbol: INST.into(),
        side,
        kind: OrderKind::Market,
        size: OrderSize::Base(base),
        reduce_only,
        attach: None,
    }
}

fn count(venue: &LocalOkx, method: &str, path: &str) -> usize {
    venue
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

#[tokio::test]
async fn reads_rules_balances_permissions_and_positions() {
    let (venue, client) = venue(true);
    let r = client.rules(INST).await.unwrap();
    assert_eq!(
        (r.contract_value, r.step_size, r.tick_size),
        (dec!(0.01), dec!(0.01), dec!(0.1))
    );
    assert!(matches!(
        client.rules("DOGE-USDT-SWAP").await,
        Err(ExchangeError::UnknownSymbol { .. })
    ));
    assert_eq!(client.balances().await.unwrap()[0].wallet, dec!(10000));
    let p = client.permissions().await.unwrap();
    assert!(p.can_trade);
    assert_eq!(
        (p.can_withdraw, p.ip_restricted),
        (Some(false), Some(false))
    );
    assert!(p.account_id.is_some());
    {
        let mut v = venue.venue();
        let a = v.accounts.get_mut(KEY).unwrap();
        a.perm = "read_only,trade,withdraw".into();
        a.ip = "203.0.113.7".into();
    }
    let p = client.permissions().await.unwrap();
    assert_eq!((p.can_withdraw, p.ip_restricted), (Some(true), Some(true)));
    assert!(client.positions().await.unwrap().is_empty());
    assert_eq!(client.mark_price(INST).await.unwrap(), dec!(43000));
    // Every private request carried the demo header and a valid signature.
    assert!(
        venue
            .requests()
            .iter()
            .all(|r| r.status == 200 && r.code == "0"),
        "{:?}",
        venue.requests()
    );
}

#[tokio::test]
async fn the_venue_refuses_wrong_credentials_and_environments() {
    let (venue, _) = venue(true);
    let wrong_pass = OkxClient::new(&venue.rest_url, KEY, SECRET.as_bytes(), "wrong", true);
    assert!(
        matches!(wrong_pass.balances().await, Err(ExchangeError::InvalidCredentials { ref code, .. }) if code == "50105")
    );
    let wrong_secret = OkxClient::new(&venue.rest_url, KEY, b"0000", PASS, true);
    assert!(
        matches!(wrong_secret.balances().await, Err(ExchangeError::InvalidCredentials { ref code, .. }) if code == "50113")
    );
    let live_header = OkxClient::new(&venue.rest_url, KEY, SECRET.as_bytes(), PASS, false);
    assert!(
        matches!(live_header.balances().await, Err(ExchangeError::InvalidCredentials { ref code, .. }) if code == "50101")
    );
}

#[tokio::test]
async fn resynchronizes_its_clock_when_the_timestamp_expired() {
    let (venue, client) = venue(false);
    venue.venue().clock_skew_ms = -45_000;
    client.balances().await.unwrap();
    let codes: Vec<String> = venue.requests().iter().map(|r| r.code.clone()).collect();
    assert_eq!(codes, ["50102", "0", "0"]);
}

#[tokio::test]
async fn enters_in_contracts_with_attached_protection_that_fires() {
    let (venue, client) = venue(true);
    client
        .configure(INST, 3, MarginMode::Isolated)
        .await
        .unwrap();
    client
        .configure(INST, 3, MarginMode::Isolated)
        .await
        .unwrap();
    assert_eq!(count(&venue, "POST", "/api/v5/account/set-leverage"), 1);

    let mut entry = market(5, Side::Buy, dec!(0.0239), false, Leg::Entry);
    entry.attach = Some(AttachedProtection {
        client_id: ClientOrderId::derive(2, 5, Leg::StopLoss),
        stop_loss: Some(dec!(42140)),
        take_profit: Some(dec!(45150)),
        trigger_by: TriggerPrice::Mark,
    });
    let report = client
        .place(&entry, MarginMode::Isolated, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(
        (report.status, report.filled, report.avg_price),
        (OrderStatus::Filled, dec!(0.0239), Some(dec!(43000)))
    );
    assert_eq!(report.fee, Some(dec!(0.51385)), "0.05 % of 0.0239 × 43000");
    let sent = venue
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v5/trade/order" && r.method == "POST")
        .unwrap();
    let body = sent.body.unwrap();
    assert_eq!(
        (body["sz"].as_str(), body["tdMode"].as_str()),
        (Some("2.39"), Some("isolated"))
    );
    assert_eq!(body["attachAlgoOrds"][0]["slTriggerPx"], "42140");

    let positions = client.positions().await.unwrap();
    assert_eq!(
        (positions[0].quantity, positions[0].leverage),
        (dec!(0.0239), Some(3))
    );

    // The attached stop fires when the mark falls through it.
    let sl_id = ClientOrderId::derive(2, 5, Leg::StopLoss);
    assert_eq!(
        client
            .query(INST, &sl_id, true)
            .await
            .unwrap()
            .unwrap()
            .status,
        OrderStatus::New
    );
    venue.set_mark(INST, dec!(42100));
    let sl = client.query(INST, &sl_id, true).await.unwrap().unwrap();
    assert_eq!(
        (sl.status, sl.filled),
        (OrderStatus::Triggered, dec!(0.0239))
    );
    assert!(client.positions().await.unwrap().is_empty());
}

#[tokio::test]
async fn places_and_cancels_a_close_all_stop() {
    let (venue, client) = venue(false);
    client.configure(INST, 2, MarginMode::Cross).await.unwrap();
    client
        .place(
            &market(6, Side::Sell, dec!(0.05), false, Leg::Entry),
            MarginMode::Cross,
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    let stop = OrderRequest {
        client_id: ClientOrderId::derive(2, 6, Leg::StopLoss),
        symbol: INST.into(),
        side: Side::Buy,
        kind: OrderKind::StopMarket {
            trigger: dec!(44000),
            trigger_by: TriggerPrice::Mark,
        },
        size: OrderSize::ClosePosition,
        reduce_only: true,
        attach: None,
    };
    let r = client
        .place(&stop, MarginMode::Cross, dec!(43000), Priority::Protective)
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::New);
    let sent = venue
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v5/trade/order-algo")
        .unwrap()
        .body
        .unwrap();
    assert_eq!(
        (sent["closeFraction"].as_str(), sent["ordType"].as_str()),
        (Some("1"), Some("conditional"))
    );
    let cancelled = client.cancel(INST, &stop.client_id, true).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    // Cancelled stops do not fire.
    venue.set_mark(INST, dec!(45000));
    assert_eq!(client.positions().await.unwrap()[0].quantity, dec!(0.05));
}

#[tokio::test]
async fn unknown_outcomes_are_resolved_by_query() {
    let (venue, client) = venue(false);
    client.configure(INST, 3, MarginMode::Cross).await.unwrap();
    venue.lose_next_answer("/api/v5/trade/order", true);
    let o = market(7, Side::Buy, dec!(0.01), false, Leg::Entry);
    let r = client
        .place(&o, MarginMode::Cross, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(count(&venue, "POST", "/api/v5/trade/order"), 1);

    // An entry the venue did not execute and does not show stays unknown:
    // sent again, it could fill twice (the caller reconciles instead).
    venue.lose_next_answer("/api/v5/trade/order", false);
    let o = market(8, Side::Buy, dec!(0.01), false, Leg::Entry);
    let r = client
        .place(&o, MarginMode::Cross, dec!(43000), Priority::Normal)
        .await;
    assert!(
        matches!(r, Err(ExchangeError::UnknownOutcome { .. })),
        "{r:?}"
    );
    assert_eq!(count(&venue, "POST", "/api/v5/trade/order"), 2);

    // A reduce-only close cannot exceed the position: sent again, once.
    venue.lose_next_answer("/api/v5/trade/order", false);
    let o = market(11, Side::Sell, dec!(0.01), true, Leg::Close);
    let r = client
        .place(&o, MarginMode::Cross, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(count(&venue, "POST", "/api/v5/trade/order"), 4);
    let orders = &venue.venue().accounts[KEY].orders;
    assert_eq!(
        orders
            .iter()
            .filter(|x| x.cl_ord_id == o.client_id.as_str())
            .count(),
        1
    );
}

#[tokio::test]
async fn maps_refusals() {
    let (venue, client) = venue(false);
    let tiny = market(9, Side::Buy, dec!(0.00005), false, Leg::Entry);
    assert!(matches!(
        client
            .place(&tiny, MarginMode::Cross, dec!(43000), Priority::Normal)
            .await,
        Err(ExchangeError::BelowMinimum { .. })
    ));
    assert_eq!(count(&venue, "POST", "/api/v5/trade/order"), 0);
    let huge = market(10, Side::Buy, dec!(10), false, Leg::Entry);
    assert!(matches!(
        client.place(&huge, MarginMode::Cross, dec!(43000), Priority::Normal).await,
        Err(ExchangeError::InsufficientMargin { ref code, .. }) if code == "51008"
    ));
    let close = market(11, Side::Sell, dec!(0.01), true, Leg::Close);
    assert!(matches!(
        client.place(&close, MarginMode::Cross, dec!(43000), Priority::Normal).await,
        Err(ExchangeError::ReduceOnlyRejected { ref code, .. }) if code == "51169"
    ));
    assert!(
        matches!(client.configure(INST, 150, MarginMode::Cross).await, Err(ExchangeError::Rejected { ref code, .. }) if code == "59102")
    );
}

#[tokio::test]
async fn the_private_stream_logs_in_reports_fills_and_carries_orders() {
    use std::time::Duration;
    use tradingbot_actors::exchange::okx::private_stream::{OkxStreamMessage, PrivateStream};
    let (venue, client) = venue(false);
    client.configure(INST, 3, MarginMode::Cross).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let stream = Arc::new(PrivateStream::spawn(
        client.clone(),
        venue.ws_private_url.clone(),
        tx,
    ));
    async fn next(rx: &mut tokio::sync::mpsc::Receiver<OkxStreamMessage>) -> OkxStreamMessage {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a stream message")
            .expect("alive")
    }
    let first = next(&mut rx).await;
    assert_eq!(first, OkxStreamMessage::Connected);
    client.use_stream(stream.clone());

    // Orders go over the socket; fills come back as pushes.
    let o = market(20, Side::Buy, dec!(0.01), false, Leg::Entry);
    let r = client
        .place(&o, MarginMode::Cross, dec!(43000), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert!(
        venue
            .requests()
            .iter()
            .any(|r| r.method == "WS" && r.path == "order" && r.code == "0")
    );
    assert_eq!(count(&venue, "POST", "/api/v5/trade/order"), 0);
    loop {
        match next(&mut rx).await {
            OkxStreamMessage::Orders(orders) => {
                assert_eq!(orders[0].cl_ord_id, o.client_id.as_str());
                assert_eq!(orders[0].state, "filled");
                break;
            }
            OkxStreamMessage::Positions(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Refusals over the socket are typed like REST ones.
    let close = market(21, Side::Sell, dec!(1), true, Leg::Close);
    assert!(matches!(
        client
            .place(&close, MarginMode::Cross, dec!(43000), Priority::Normal)
            .await,
        Err(ExchangeError::ReduceOnlyRejected { .. })
    ));

    // The connection drops: REST until it is back.
    venue.drop_streams();
    loop {
        if let OkxStreamMessage::Disconnected(_) = next(&mut rx).await {
            break;
        }
    }
    client
        .place(
            &market(22, Side::Buy, dec!(0.01), false, Leg::Entry),
            MarginMode::Cross,
            dec!(43000),
            Priority::Normal,
        )
        .await
        .unwrap();
    assert_eq!(count(&venue, "POST", "/api/v5/trade/order"), 1);
    loop {
        if next(&mut rx).await == OkxStreamMessage::Connected {
            break;
        }
    }
    assert!(stream.is_ready());

    // A wrong passphrase is refused at login.
    let bad = Arc::new(OkxClient::new(
        &venue.rest_url,
        KEY,
        SECRET.as_bytes(),
        "wrong",
        false,
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let _s = PrivateStream::spawn(bad, venue.ws_private_url.clone(), tx);
    assert!(
        matches!(next(&mut rx).await, OkxStreamMessage::Disconnected(reason) if reason.contains("60024"))
    );
}
