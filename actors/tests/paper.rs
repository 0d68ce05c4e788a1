//! The paper exchange as a venue: fills at the feed's marks, stops fired by
//! the feed, books persisted and reopened exactly.

use chrono::Utc;
use rust_decimal_macros::dec;
use sea_orm::{ActiveModelTrait, Set};
use std::time::Duration;
use tradingbot_actors::exchange::paper::feed::FeedSource;
use tradingbot_actors::exchange::paper::{PaperBooks, PaperClient, PriceFeed};
use tradingbot_actors::store::Store;
use tradingbot_actors::store::entities::api_keys;
use tradingbot_actors::store::enums::Exchange;
use tradingbot_actors::store::testing::TestDatabase;
use tradingbot_core::exchange::paper::{PaperConfig, PaperEvent};
use tradingbot_core::exchange::{
    ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderRequest, OrderSize, OrderStatus,
    Side, TriggerPrice,
};

async fn paper_account(store: &Store) -> i64 {
    let now = Utc::now();
    let user = tradingbot_actors::store::testing::user_row("paper@example.com")
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
        PaperBooks::new(store.clone()),
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
        PaperBooks::new(store.clone()),
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

/// Books written before orders had rows of their own (the account's row
/// holding every order) open with their orders, which the next write
/// moves into rows; the account's row then holds no order.
#[tokio::test]
async fn books_of_the_earlier_format_open_and_move_to_rows() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use tradingbot_actors::store::entities::{paper_accounts, paper_orders};
    let db = TestDatabase::sqlite();
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let account = paper_account(&store).await;
    let feed = PriceFeed::start(FeedSource::Manual);
    feed.set("BTCUSDT", dec!(43000));
    let open = || {
        PaperClient::open(
            PaperBooks::new(store.clone()),
            account,
            dec!(10000),
            feed.clone(),
            PaperConfig::default(),
        )
    };
    let paper = open().await.unwrap();
    let entry = order(
        Leg::Entry,
        Side::Buy,
        OrderKind::Market,
        OrderSize::Base(dec!(0.05)),
        false,
    );
    paper.place(&entry).unwrap();
    paper.flush().await;
    drop(paper);
    let rows = paper_orders::Entity::find()
        .filter(paper_orders::Column::AccountId.eq(account))
        .all(store.conn())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the order has its row");
    let row = paper_accounts::Entity::find_by_id(account)
        .one(store.conn())
        .await
        .unwrap()
        .unwrap();
    let mut header: serde_json::Value = serde_json::from_str(&row.state).unwrap();
    assert_eq!(header["orders"], serde_json::json!([]));

    // Rewritten as the earlier version kept it: orders inside the row.
    header["orders"] =
        serde_json::json!([serde_json::from_str::<serde_json::Value>(&rows[0].state).unwrap()]);
    let mut legacy: paper_accounts::ActiveModel = row.into();
    legacy.state = Set(header.to_string());
    legacy.update(store.conn()).await.unwrap();
    paper_orders::Entity::delete_many()
        .exec(store.conn())
        .await
        .unwrap();

    let reopened = open().await.unwrap();
    assert_eq!(
        reopened.query(&entry.client_id).unwrap().status,
        OrderStatus::Filled
    );
    assert!(reopened.place(&entry).is_err(), "its client id still spent");
    let rows = paper_orders::Entity::find()
        .filter(paper_orders::Column::AccountId.eq(account))
        .count(store.conn())
        .await
        .unwrap();
    assert_eq!(rows, 1, "moved into its row at the first write");
    let state = paper_accounts::Entity::find_by_id(account)
        .one(store.conn())
        .await
        .unwrap()
        .unwrap()
        .state;
    assert!(state.contains("\"orders\":[]"), "{state}");
}

/// The paper exchange lists only what its feed can price: offline (the
/// bundled BTC candles) BTCUSDT, not ETHUSDT, whose alerts it could never fill.
#[tokio::test]
async fn lists_only_what_its_feed_prices() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let account = paper_account(&store).await;
    let feed = PriceFeed::start(FeedSource::Replay { candle_ms: 60_000 });
    let paper = PaperClient::open(
        PaperBooks::new(store.clone()),
        account,
        dec!(10000),
        feed,
        PaperConfig::default(),
    )
    .await
    .unwrap();
    assert!(paper.rules("BTCUSDT").is_ok());
    assert!(paper.mark_price("BTCUSDT").is_ok());
    match paper.rules("ETHUSDT") {
        Err(ExchangeError::UnknownSymbol { message, .. }) => {
            assert!(
                message.contains("TRADINGBOT_PAPER_FEED=binance"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}
