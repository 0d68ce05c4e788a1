//! The database's fencing of shard owners, through the real writer on real
//! databases (SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set):
//! once a new owner has raised a shard's fence, a record the old owner
//! made under its older lease adds what is new and overwrites nothing.

use actix::prelude::*;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait};
use std::sync::Arc;
use tradingbot_actors::cluster::shard_of;
use tradingbot_actors::execution::bus::Published;
use tradingbot_actors::execution::events::{Event, SignalRecord};
use tradingbot_actors::execution::fences;
use tradingbot_actors::execution::mailbox::Depth;
use tradingbot_actors::execution::persist::{Drain, PersistActor};
use tradingbot_actors::store::Store;
use tradingbot_actors::store::entities::signals;
use tradingbot_actors::store::enums::SignalOutcome;
use tradingbot_actors::store::testing::{TestDatabase, announce};

async fn user(store: &Store) -> i64 {
    tradingbot_actors::store::testing::user_row("fenced@example.com")
        .insert(store.conn())
        .await
        .unwrap()
        .id
}

fn signal(id: i64, user_id: i64, outcome: SignalOutcome, reason: &str) -> Event {
    Event::Signal(SignalRecord {
        id,
        user_id: Some(user_id),
        strategy_id: None,
        signal_key: format!("k{id}"),
        action: Some("buy".into()),
        symbol: Some("BTCUSDT".into()),
        price: None,
        outcome,
        reason: Some(reason.into()),
        latency_us: 1,
        source_ip: None,
        received_at: Utc::now(),
    })
}

async fn write(writer: &Addr<PersistActor>, event: Event, lease: Option<u64>) {
    writer.do_send(Published(Arc::new(event), 0, lease));
    let (tx, rx) = tokio::sync::oneshot::channel();
    writer.do_send(Drain(tx));
    rx.await.unwrap();
}

async fn reason(store: &Store, id: i64) -> Option<String> {
    signals::Entity::find_by_id(id)
        .one(store.conn())
        .await
        .unwrap()
        .and_then(|s| s.reason)
}

async fn stale_owner_adds_but_never_overwrites(db: &TestDatabase) {
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let user_id = user(&store).await;
    let shard = shard_of(user_id);
    let writer = PersistActor::new(
        store.clone(),
        Arc::new(Depth::new("persist")),
        None,
        Arc::default(),
    )
    .start();

    // Instance a owns the shard under token 5.
    fences::raise(&store, "a", &[(shard, 5)]).await.unwrap();
    write(
        &writer,
        signal(1, user_id, SignalOutcome::Accepted, "a"),
        Some(5),
    )
    .await;
    assert_eq!(reason(&store, 1).await.as_deref(), Some("a"));

    // b takes it over (token 6) and updates the record.
    fences::raise(&store, "b", &[(shard, 6)]).await.unwrap();
    write(
        &writer,
        signal(1, user_id, SignalOutcome::Rejected, "b"),
        Some(6),
    )
    .await;
    assert_eq!(reason(&store, 1).await.as_deref(), Some("b"));

    // a resumes: its late update changes nothing, its new fact is kept.
    write(
        &writer,
        signal(1, user_id, SignalOutcome::Accepted, "a late"),
        Some(5),
    )
    .await;
    write(
        &writer,
        signal(2, user_id, SignalOutcome::Accepted, "a new"),
        Some(5),
    )
    .await;
    assert_eq!(reason(&store, 1).await.as_deref(), Some("b"));
    assert_eq!(reason(&store, 2).await.as_deref(), Some("a new"));
    // Neither does a record made where the shard is not held at all.
    write(
        &writer,
        signal(2, user_id, SignalOutcome::Rejected, "no lease"),
        Some(0),
    )
    .await;
    assert_eq!(reason(&store, 2).await.as_deref(), Some("a new"));

    // A fence never goes down: a raise with an older token is ignored.
    fences::raise(&store, "a", &[(shard, 5)]).await.unwrap();
    write(
        &writer,
        signal(1, user_id, SignalOutcome::Accepted, "a again"),
        Some(5),
    )
    .await;
    assert_eq!(reason(&store, 1).await.as_deref(), Some("b"));
    write(
        &writer,
        signal(1, user_id, SignalOutcome::Accepted, "b again"),
        Some(6),
    )
    .await;
    assert_eq!(reason(&store, 1).await.as_deref(), Some("b again"));

    // A lone instance (no lease at all) writes as always.
    write(
        &writer,
        signal(1, user_id, SignalOutcome::Accepted, "alone"),
        None,
    )
    .await;
    assert_eq!(reason(&store, 1).await.as_deref(), Some("alone"));
}

#[actix_rt::test]
async fn a_stale_owner_adds_records_but_never_overwrites_on_sqlite() {
    let db = TestDatabase::sqlite();
    stale_owner_adds_but_never_overwrites(&db).await;
    db.cleanup().await;
}

#[actix_rt::test]
async fn a_stale_owner_adds_records_but_never_overwrites_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return tradingbot_actors::store::testing::announce_skip(
            "a_stale_owner_adds_records_but_never_overwrites_on_postgres",
            "TEST_DATABASE_URL",
        );
    };
    stale_owner_adds_but_never_overwrites(&db).await;
    db.cleanup().await;
    announce("fencing: a stale owner's late records overwrite nothing on PostgreSQL");
}

/// Records of one row that meet in one batch are written as they would be
/// one by one: the last current record wins, a stale owner's record only
/// adds a row nothing newer wrote.
async fn one_batch_keeps_the_order_of_its_records(db: &TestDatabase) {
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let user_id = user(&store).await;
    let shard = shard_of(user_id);
    let writer = PersistActor::new(
        store.clone(),
        Arc::new(Depth::new("persist")),
        None,
        Arc::default(),
    )
    .start();
    fences::raise(&store, "b", &[(shard, 6)]).await.unwrap();
    for (id, reason, lease) in [
        (10, "b1", 6),
        (10, "a stale", 5),
        (10, "b2", 6),
        (11, "a first", 5),
        (11, "a second", 5),
        (12, "a", 5),
        (12, "b", 6),
    ] {
        writer.do_send(Published(
            Arc::new(signal(id, user_id, SignalOutcome::Accepted, reason)),
            0,
            Some(lease),
        ));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    writer.do_send(Drain(tx));
    rx.await.unwrap();
    assert_eq!(reason(&store, 10).await.as_deref(), Some("b2"));
    assert_eq!(reason(&store, 11).await.as_deref(), Some("a first"));
    assert_eq!(reason(&store, 12).await.as_deref(), Some("b"));
}

#[actix_rt::test]
async fn one_batch_keeps_the_order_of_its_records_on_sqlite() {
    let db = TestDatabase::sqlite();
    one_batch_keeps_the_order_of_its_records(&db).await;
    db.cleanup().await;
}

#[actix_rt::test]
async fn one_batch_keeps_the_order_of_its_records_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return tradingbot_actors::store::testing::announce_skip(
            "one_batch_keeps_the_order_of_its_records_on_postgres",
            "TEST_DATABASE_URL",
        );
    };
    one_batch_keeps_the_order_of_its_records(&db).await;
    db.cleanup().await;
}

/// A durable listener that keeps nothing: a writer stuck behind.
struct Stuck;
impl Actor for Stuck {
    type Context = Context<Self>;
}
impl Handler<Published> for Stuck {
    type Result = ();
    fn handle(&mut self, _: Published, _: &mut Self::Context) {}
}

#[actix_rt::test]
async fn new_positions_wait_while_the_writer_is_far_behind() {
    use tradingbot_actors::execution::bus::{EventBus, UNSTORED_LIMIT};
    let db = TestDatabase::sqlite();
    let store = db.connect().await.unwrap();
    store.migrate_up().await.unwrap();
    let user_id = user(&store).await;

    // The real writer, as the runtime wires it: the count rises with what
    // it is handed and falls to zero once it is stored.
    let bus = EventBus::default();
    let depth = Arc::new(Depth::new("persist"));
    let writer =
        PersistActor::new(store.clone(), depth.clone(), None, bus.unstored_events()).start();
    bus.subscribe_durable(writer.clone().recipient(), depth);
    for id in 1..=300 {
        bus.publish(signal(id, user_id, SignalOutcome::Accepted, "r"));
    }
    assert_eq!(
        bus.unstored_events()
            .load(std::sync::atomic::Ordering::Relaxed),
        300
    );
    assert!(!bus.records_behind());
    let (tx, rx) = tokio::sync::oneshot::channel();
    writer.do_send(Drain(tx));
    rx.await.unwrap();
    assert_eq!(
        bus.unstored_events()
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(reason(&store, 300).await.is_some());

    // A writer that stores nothing: past the limit, entries must wait.
    let stuck_bus = EventBus::default();
    stuck_bus.subscribe_durable(Stuck.start().recipient(), Arc::new(Depth::new("stuck")));
    for id in 1..=UNSTORED_LIMIT {
        stuck_bus.publish(signal(id, user_id, SignalOutcome::Accepted, "r"));
    }
    assert!(!stuck_bus.records_behind());
    stuck_bus.publish(signal(
        UNSTORED_LIMIT + 1,
        user_id,
        SignalOutcome::Accepted,
        "r",
    ));
    assert!(stuck_bus.records_behind());
    db.cleanup().await;
}
