//! The paper exchange as a venue: fills at the feed's marks, stops fired by
//! the feed, books persisted and reopened exactly.

use chrono::Utc;
use rust_decimal_macros::dec;
use sea_orm::{ActiveModelTrait, Set};
use std::time::Duration;
use tradingbot_actors::exchange::paper::feed::FeedSource;
use tradingbot_actors::exchange::paper::{PaperClient, PriceFeed};
use tradingbot_actors::store::Store;
use tradingbot_actors::store::entities::{api_keys, users};
use tradingbot_actors::store::enums::{Exchange, Role};
use tradingbot_actors::store::testing::TestDatabase;
use tradingbot_core::exchange::paper::{PaperConfig, PaperEvent};
use tradingbot_core::exchange::{
    ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderRequest, OrderSize, OrderStatus,
    Side, TriggerPrice,
};

async fn paper_account(store: &Store) -> i64 {
    let now = Utc::now();
    let user = users::ActiveModel {
        email: Set("paper@example.com".into()),
        password_hash: Set("x".into()),
        role: Set(Role::User),
        ai_alert_confidence: Set(0.7),
        is_active: Set(true),
        is_2fa_enabled: Set(false),
        failed_login_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(store.conn())
    .await
    .unwrap();
    api_keys::ActiveModel {
        user_id: Set(user.id),
        label: Set("paper".into()),
        exchange: Set(Exchange::Paper),
        testnet: Set(false),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(store.conn())
    .await
    .unwrap()
    .id
}

fn order(
    leg: Leg,
    side: Side,
    kind: OrderKind,
    size: OrderSize,
    reduce_only: bool,
) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId::derive(5, 1, leg),
        symbol: "BTCUSDT".into(),
        side,
        kind,
        size,
        reduce_only,
        attach: None,
    }
}

#[tokio::test]
async fn trades_at_the_feed_and_keeps_its_books() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let account = paper_account(&store).await;
    let feed = PriceFeed::start(FeedSource::Manual);
    let paper = PaperClient::open(
        store.clone(),
        account,
        dec!(10000),
        feed.clone(),
        PaperConfig::default(),
    )
    .await
    .unwrap();

    // No price, no trade.
    let entry = order(
        Leg::Entry,
        Side::Buy,
        OrderKind::Market,
        OrderSize::Base(dec!(0.05)),
        false,
    );
    assert!(matches!(
        paper.place(&entry),
        Err(ExchangeError::Unreachable(_))
    ));
    feed.set("BTCUSDT", dec!(43000));

    paper.configure("BTCUSDT", 5, MarginMode::Isolated).unwrap();
    let mut events = paper.subscribe();
    let filled = paper.place(&entry).unwrap();
    assert_eq!(
        (filled.status, filled.filled, filled.avg_price),
        (OrderStatus::Filled, dec!(0.05), Some(dec!(43008.6)))
    );
    assert!(matches!(
        events.recv().await.unwrap(),
        PaperEvent::Fill { .. }
    ));
    let stop = order(
        Leg::StopLoss,
        Side::Sell,
        OrderKind::StopMarket {
            trigger: dec!(42000),
            trigger_by: TriggerPrice::Mark,
        },
        OrderSize::ClosePosition,
        true,
    );
    assert_eq!(paper.place(&stop).unwrap().status, OrderStatus::New);
    let _ = events.recv().await.unwrap();
    let positions = paper.positions();
    assert_eq!(
        (positions[0].quantity, positions[0].leverage),
        (dec!(0.05), Some(5))
    );
    assert!(positions[0].liquidation_price.unwrap() < dec!(35000));

    // The feed falls through the stop: the watcher fires it.
    feed.set("BTCUSDT", dec!(41950));
    let fill = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let PaperEvent::Fill {
                report,
                realized_pnl,
                ..
            } = events.recv().await.unwrap()
            {
                return (report, realized_pnl);
            }
        }
    })
    .await
    .expect("the stop fired");
    assert_eq!(fill.0.client_id, stop.client_id.to_string());
    assert!(fill.1 < dec!(0));
    assert!(paper.positions().is_empty());
    let wallet = paper.balances()[0].wallet;
    assert!(wallet < dec!(10000));

    // The books survive a restart exactly.
    paper.flush().await;
    drop(paper);
    let reopened = PaperClient::open(
        store.clone(),
        account,
        dec!(10000),
        feed.clone(),
        PaperConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(reopened.balances()[0].wallet, wallet);
    assert_eq!(
        reopened.query(&stop.client_id).unwrap().status,
        OrderStatus::Filled
    );
    // Its client ids are still spent.
    assert!(reopened.place(&entry).is_err());
    assert!(matches!(
        reopened.rules("DOGEUSDT"),
        Err(ExchangeError::UnknownSymbol { .. })
    ));
}
