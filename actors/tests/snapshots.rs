//! The daily performance snapshot against a real database: the right rows,
//! the right numbers, and idempotent when run twice.

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use tradingbot_actors::snapshots::snapshot_day;
use tradingbot_actors::store::entities::{performances, positions};
use tradingbot_actors::store::enums::*;
use tradingbot_actors::store::testing::TestDatabase;
use tradingbot_actors::store::{DbDecimal, Store};

async fn user(store: &Store, email: &str) -> i64 {
    tradingbot_actors::store::testing::user_row(email)
        .insert(store.conn())
        .await
        .unwrap()
        .id
}

/// A closed long: 0.1 BTC at 50,000, 10x (margin 500), closed on `day`.
async fn closed(store: &Store, user_id: i64, day: u32, hour: u32, pnl: Decimal) {
    let at = Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
    positions::ActiveModel {
        user_id: Set(user_id),
        exchange: Set("paper".into()),
        symbol: Set("BTCUSDT".into()),
        side: Set(PositionSide::Long),
        entry_price: Set(DbDecimal(dec!(50000))),
        quantity: Set(DbDecimal(dec!(0.1))),
        leverage: Set(10),
        margin_mode: Set(MarginMode::Isolated),
        unrealized_pnl: Set(DbDecimal(Decimal::ZERO)),
        realized_pnl: Set(DbDecimal(pnl)),
        fees: Set(DbDecimal(Decimal::ZERO)),
        exit_price: Set(Some(DbDecimal(dec!(50100)))),
        close_reason: Set(Some("signal".into())),
        status: Set(PositionStatus::Closed),
        opened_at: Set(at - chrono::Duration::hours(1)),
        closed_at: Set(Some(at)),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(store.conn())
    .await
    .unwrap();
}

#[tokio::test]
async fn the_day_close_writes_one_row_per_trading_user() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let idle = user(&store, "idle@example.com").await;
    // Alice: +10 on the 22nd; +50 and −20 on the 23rd. Bob: −5 on the 23rd.
    closed(&store, alice, 22, 12, dec!(10)).await;
    closed(&store, alice, 23, 1, dec!(50)).await;
    closed(&store, alice, 23, 23, dec!(-20)).await;
    closed(&store, bob, 23, 9, dec!(-5)).await;
    // A close of the 24th belongs to the next snapshot.
    closed(&store, bob, 24, 0, dec!(100)).await;

    let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    assert_eq!(snapshot_day(&store, day).await.unwrap(), 2);
    // Again: the same rows, rewritten, not doubled.
    assert_eq!(snapshot_day(&store, day).await.unwrap(), 2);

    let rows = performances::Entity::find()
        .filter(performances::Column::Date.eq(day))
        .all(store.conn())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let a = rows.iter().find(|r| r.user_id == alice).unwrap();
    assert_eq!(a.total_pnl.get(), dec!(30));
    assert_eq!(a.total_trades, 2);
    assert!((a.win_rate - 50.0).abs() < 1e-12);
    // 30 on two margins of 500.
    assert!((a.roi - 3.0).abs() < 1e-12);
    // The whole history to the 23rd: daily 10 then 30 → mean 20, sample
    // sd √200, Sharpe 20/√200·√365.
    let expected = 20.0 / 200f64.sqrt() * 365f64.sqrt();
    assert!((a.sharpe_ratio.unwrap() - expected).abs() < 1e-9);
    let b = rows.iter().find(|r| r.user_id == bob).unwrap();
    assert_eq!(b.total_pnl.get(), dec!(-5));
    assert_eq!(b.total_trades, 1);
    assert_eq!(b.win_rate, 0.0);
    // One day of history: no Sharpe.
    assert_eq!(b.sharpe_ratio, None);
    assert!(!rows.iter().any(|r| r.user_id == idle));
    db.cleanup().await;
}
