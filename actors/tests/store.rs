//! The schema and entities against real databases: SQLite always, and
//! PostgreSQL when `TEST_DATABASE_URL` is set (CI sets it).

use chrono::Utc;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, Statement,
};
use std::str::FromStr;
use tradingbot_actors::store::entities::{orders, positions, strategies, users};
use tradingbot_actors::store::enums::*;
use tradingbot_actors::store::testing::{TestDatabase, announce, announce_skip, user_row};
use tradingbot_actors::store::{DbDecimal, Store};

const TABLES: &[&str] = &[
    "users",
    "backtest_jobs",
    "shard_fences",
    "refresh_tokens",
    "email_verification_tokens",
    "totp_recovery_codes",
    "audit_log",
    "api_keys",
    "telegram_bots",
    "strategies",
    "webhook_tokens",
    "signals",
    "positions",
    "orders",
    "performances",
    "paper_accounts",
    "paper_orders",
    "risk_settings",
    "system_settings",
    "security_alert_settings",
    "equity_snapshots",
    "notifications",
];

async fn table_names(store: &Store) -> Vec<String> {
    let db = store.conn();
    let sql = match store.backend() {
        tradingbot_actors::store::Backend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        tradingbot_actors::store::Backend::Postgres => {
            "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .filter(|n| n != "seaql_migrations")
        .collect();
    names.sort();
    names
}

async fn up_down_up(store: &Store) {
    let mut expected: Vec<String> = TABLES.iter().map(|s| s.to_string()).collect();
    expected.sort();

    store.migrate_up().await.unwrap();
    assert_eq!(table_names(store).await, expected);
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, done)| *done)
    );

    store.migrate_down(None).await.unwrap();
    assert!(
        table_names(store).await.is_empty(),
        "down leaves no tables behind"
    );
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, done)| !*done)
    );

    store.migrate_up().await.unwrap();
    assert_eq!(table_names(store).await, expected);
    // Applying again is a no-op.
    store.migrate_up().await.unwrap();
}

async fn insert_user(store: &Store, email: &str) -> users::Model {
    user_row(email).insert(store.conn()).await.unwrap()
}

fn strategy(user_id: i64) -> strategies::ActiveModel {
    let now = Utc::now();
    strategies::ActiveModel {
        user_id: Set(user_id),
        name: Set("EMA 9/21".into()),
        indicator_id: Set("ema_crossover".into()),
        symbols: Set(r#"["BTCUSDT"]"#.into()),
        investment_pct: Set(dec!(10.00).into()),
        long_tp_pct: Set(dec!(5.00).into()),
        long_sl_pct: Set(dec!(2.00).into()),
        short_tp_pct: Set(dec!(5.00).into()),
        short_sl_pct: Set(dec!(2.00).into()),
        leverage: Set(3),
        margin_mode: Set(MarginMode::Isolated),
        opposite_signal: Set(OppositeSignal::Reverse),
        is_active: Set(true),
        ai_auto_exit: Set(false),
        auto_pause_on_anomaly: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

fn position(user_id: i64, strategy_id: Option<i64>, entry: Decimal) -> positions::ActiveModel {
    let now = Utc::now();
    positions::ActiveModel {
        user_id: Set(user_id),
        strategy_id: Set(strategy_id),
        exchange: Set("paper".into()),
        symbol: Set("BTCUSDT".into()),
        side: Set(PositionSide::Long),
        entry_price: Set(entry.into()),
        quantity: Set(dec!(0.00123456).into()),
        leverage: Set(3),
        margin_mode: Set(MarginMode::Isolated),
        stop_loss: Set(Some(dec!(42386.1).into())),
        take_profit: Set(None),
        unrealized_pnl: Set(DbDecimal::default()),
        realized_pnl: Set(DbDecimal::default()),
        fees: Set(DbDecimal::default()),
        status: Set(PositionStatus::Open),
        opened_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

fn order(user_id: i64, position_id: Option<i64>, client_id: &str) -> orders::ActiveModel {
    let now = Utc::now();
    orders::ActiveModel {
        user_id: Set(user_id),
        position_id: Set(position_id),
        exchange: Set("paper".into()),
        client_order_id: Set(client_id.into()),
        leg: Set(OrderLeg::Entry),
        symbol: Set("BTCUSDT".into()),
        side: Set(OrderSide::Buy),
        order_type: Set(OrderType::Market),
        quantity: Set(dec!(0.001).into()),
        filled_qty: Set(DbDecimal::default()),
        fee: Set(DbDecimal::default()),
        reduce_only: Set(false),
        status: Set(OrderStatus::Pending),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Everything the schema promises, on one backend.
async fn schema_contract(store: &Store) {
    store.migrate_up().await.unwrap();
    let db = store.conn();
    let user = insert_user(store, "trader@example.com").await;

    // Emails are unique.
    let dup = user_row("trader@example.com").insert(db).await;
    assert!(dup.is_err(), "duplicate email must be refused");

    // Decimals come back exactly, including values a double cannot hold.
    // 24 significant digits: a double keeps about 16.
    let exact = Decimal::from_str("12345678901234.1234567891").unwrap();
    let strat = strategy(user.id).insert(db).await.unwrap();
    let pos = position(user.id, Some(strat.id), exact)
        .insert(db)
        .await
        .unwrap();
    let back = positions::Entity::find_by_id(pos.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.entry_price.get(), exact);
    if store.backend() == tradingbot_actors::store::Backend::Sqlite {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT typeof(entry_price) AS t FROM positions WHERE id = {}",
                    pos.id
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "t").unwrap(), "text");
    }
    assert_eq!(back.quantity.get(), dec!(0.00123456));
    assert_eq!(back.stop_loss.map(DbDecimal::get), Some(dec!(42386.1)));
    assert_eq!(back.take_profit, None);
    let s = strategies::Entity::find_by_id(strat.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.investment_pct.get(), dec!(10.00));

    // The seed's defaults apply when a row is written without them.
    let sql = format!(
        "INSERT INTO strategies (user_id, name, indicator_id) VALUES ({}, 'defaults', 'rsi_reversal')",
        user.id
    );
    db.execute_unprepared(&sql).await.unwrap();
    let d = strategies::Entity::find()
        .filter(strategies::Column::Name.eq("defaults"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.investment_pct.get(), dec!(10.00));
    assert_eq!(d.long_tp_pct.get(), dec!(5.00));
    assert_eq!(d.long_sl_pct.get(), dec!(2.00));
    assert_eq!(d.short_tp_pct.get(), dec!(5.00));
    assert_eq!(d.short_sl_pct.get(), dec!(2.00));
    assert_eq!(d.leverage, 3);
    assert_eq!(d.margin_mode, MarginMode::Isolated);
    assert_eq!(d.opposite_signal, OppositeSignal::Reverse);
    assert!(d.is_active);
    assert!(
        (Utc::now() - d.created_at).num_seconds().abs() < 120,
        "{}",
        d.created_at
    );

    // The database refuses values outside the seed's ranges.
    let mut bad = strategy(user.id);
    bad.leverage = Set(126);
    assert!(
        bad.insert(db).await.is_err(),
        "leverage 126 must be refused"
    );
    let mut bad = strategy(user.id);
    bad.investment_pct = Set(dec!(100.01).into());
    assert!(
        bad.insert(db).await.is_err(),
        "investment 100.01% must be refused"
    );
    let mut bad = strategy(user.id);
    bad.long_sl_pct = Set(dec!(0.05).into());
    assert!(
        bad.insert(db).await.is_err(),
        "stop-loss 0.05% must be refused"
    );
    let mut edge = strategy(user.id);
    edge.investment_pct = Set(dec!(100).into());
    edge.long_sl_pct = Set(dec!(0.1).into());
    edge.leverage = Set(125);
    edge.insert(db).await.expect("range bounds are inclusive");

    // Client order ids are unique.
    let o = order(user.id, Some(pos.id), "tb-1-1-entry")
        .insert(db)
        .await
        .unwrap();
    assert!(
        order(user.id, Some(pos.id), "tb-1-1-entry")
            .insert(db)
            .await
            .is_err()
    );

    // Deleting a strategy keeps its positions, detached (ON DELETE SET NULL).
    strategies::Entity::delete_by_id(strat.id)
        .exec(db)
        .await
        .unwrap();
    let kept = positions::Entity::find_by_id(pos.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.strategy_id, None);

    // Deleting the user removes everything that is theirs (ON DELETE CASCADE).
    users::Entity::delete_by_id(user.id).exec(db).await.unwrap();
    assert!(
        positions::Entity::find_by_id(pos.id)
            .one(db)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        orders::Entity::find_by_id(o.id)
            .one(db)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        strategies::Entity::find().all(db).await.unwrap().len(),
        0,
        "strategies cascade with their user"
    );
}

#[tokio::test]
async fn migrations_up_down_up_sqlite() {
    let tdb = TestDatabase::sqlite();
    let store = tdb.connect().await.unwrap();
    up_down_up(&store).await;
}

#[tokio::test]
async fn schema_contract_sqlite() {
    let tdb = TestDatabase::sqlite();
    let store = tdb.connect().await.unwrap();
    schema_contract(&store).await;
}

#[tokio::test]
async fn migrations_up_down_up_postgres() {
    let Some(tdb) = TestDatabase::postgres().await else {
        return announce_skip("migrations_up_down_up_postgres", "TEST_DATABASE_URL");
    };
    let store = tdb.connect().await.unwrap();
    let version = store.server_version().await.unwrap();
    up_down_up(&store).await;
    store.close().await.unwrap();
    tdb.cleanup().await;
    announce(&format!(
        "postgres: migrations up/down/up passed on {version}"
    ));
}

#[tokio::test]
async fn schema_contract_postgres() {
    let Some(tdb) = TestDatabase::postgres().await else {
        return announce_skip("schema_contract_postgres", "TEST_DATABASE_URL");
    };
    let store = tdb.connect().await.unwrap();
    schema_contract(&store).await;
    store.close().await.unwrap();
    tdb.cleanup().await;
    announce("postgres: schema contract (decimals, defaults, checks, cascades) passed");
}

/// Retention deletes old refused and duplicate signals, and nothing else:
/// not a recent one, not an accepted one, not one an order points at.
async fn retention_contract(store: &Store) {
    use tradingbot_actors::store::entities::signals;
    store.migrate_up().await.unwrap();
    let user = insert_user(store, "retention@example.com").await;
    let old = Utc::now() - chrono::Duration::days(100);
    let recent = Utc::now() - chrono::Duration::days(10);
    let signal = |id: i64, outcome: SignalOutcome, at| signals::ActiveModel {
        id: Set(id),
        user_id: Set(Some(user.id)),
        strategy_id: Set(None),
        signal_key: Set(format!("k{id}")),
        action: Set(Some("buy".into())),
        symbol: Set(Some("BTCUSDT".into())),
        price: Set(None),
        outcome: Set(outcome),
        reason: Set(None),
        latency_us: Set(1),
        source_ip: Set(None),
        received_at: Set(at),
    };
    let rows = [
        (1, SignalOutcome::Rejected, old),
        (2, SignalOutcome::Duplicate, old),
        (3, SignalOutcome::Accepted, old),
        (4, SignalOutcome::Rejected, recent),
        (5, SignalOutcome::Rejected, old),
    ];
    for (id, outcome, at) in rows {
        signal(id, outcome, at).insert(store.conn()).await.unwrap();
    }
    // An order of signal 5 (an entry the exchange refused): kept with it.
    let mut o = order(user.id, None, "retention-5e");
    o.signal_id = Set(Some(5));
    o.insert(store.conn()).await.unwrap();
    // Batches of one: every batch is a statement of its own.
    let before = Utc::now() - chrono::Duration::days(90);
    let mut deleted = 0;
    loop {
        let n = tradingbot_actors::retention::prune_batch(store, before, 1)
            .await
            .unwrap();
        deleted += n;
        if n == 0 {
            break;
        }
    }
    assert_eq!(deleted, 2);
    let mut left: Vec<i64> = signals::Entity::find()
        .all(store.conn())
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec![3, 4, 5]);
}

#[tokio::test]
async fn retention_sqlite() {
    let tdb = TestDatabase::sqlite();
    let store = tdb.connect().await.unwrap();
    retention_contract(&store).await;
}

#[tokio::test]
async fn retention_postgres() {
    let Some(tdb) = TestDatabase::postgres().await else {
        return announce_skip("retention_postgres", "TEST_DATABASE_URL");
    };
    let store = tdb.connect().await.unwrap();
    retention_contract(&store).await;
    store.close().await.unwrap();
    tdb.cleanup().await;
    announce("postgres: retention deletes old refused and duplicate signals only");
}

async fn user_count(store: &Store) -> u64 {
    use sea_orm::PaginatorTrait;
    users::Entity::find().count(store.conn()).await.unwrap()
}

/// On a SQLite file the writers commit on one connection of their own:
/// what they commit is what the pool reads, and a second writer waits its
/// turn (for the connection, not in SQLite's busy loop) instead of running
/// beside the first.
#[tokio::test]
async fn writers_take_turns_on_their_own_sqlite_connection() {
    use sea_orm::TransactionTrait;
    let tdb = TestDatabase::sqlite();
    let store = tdb.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    // A transaction that has not written yet holds no lock of SQLite's:
    // on a connection of the pool the second would write and commit now.
    let first = store.writer().await.unwrap().begin().await.unwrap();
    let second = {
        let store = store.clone();
        tokio::spawn(async move {
            let txn = store.writer().await.unwrap().begin().await.unwrap();
            user_row("second@example.com").insert(&txn).await.unwrap();
            txn.commit().await.unwrap();
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "the second writer waits its turn");
    user_row("first@example.com").insert(&first).await.unwrap();
    assert_eq!(user_count(&store).await, 0, "not committed yet");
    first.commit().await.unwrap();
    second.await.unwrap();
    assert_eq!(user_count(&store).await, 2);
    store.close().await.unwrap();
}

/// An in-memory SQLite database is its one connection's own: the writers
/// use the pool, and see the schema it made.
#[tokio::test]
async fn an_in_memory_store_writes_through_its_pool() {
    let store = Store::connect(
        "sqlite::memory:",
        &tradingbot_actors::store::StoreOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    store.migrate_up().await.unwrap();
    user_row("memory@example.com")
        .insert(store.writer().await.unwrap())
        .await
        .unwrap();
    assert_eq!(user_count(&store).await, 1);
}

/// PostgreSQL's writers use the pool: two write side by side.
#[tokio::test]
async fn postgres_writers_use_the_pool() {
    use sea_orm::TransactionTrait;
    let Some(tdb) = TestDatabase::postgres().await else {
        return announce_skip("postgres_writers_use_the_pool", "TEST_DATABASE_URL");
    };
    let store = tdb.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let first = store.writer().await.unwrap().begin().await.unwrap();
    user_row("first@example.com").insert(&first).await.unwrap();
    let second = store.writer().await.unwrap().begin().await.unwrap();
    user_row("second@example.com")
        .insert(&second)
        .await
        .unwrap();
    second.commit().await.unwrap();
    assert_eq!(user_count(&store).await, 1, "the second committed first");
    first.commit().await.unwrap();
    assert_eq!(user_count(&store).await, 2);
    store.close().await.unwrap();
    tdb.cleanup().await;
}
