//! The risk book decides entries in place: closed until it has read the
//! store, then each approval takes a slot (two entries racing for the last
//! slot cannot both pass), a released slot is free again, and a kill switch
//! refuses entries.

use rust_decimal_macros::dec;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tradingbot_actors::execution::bus::EventBus;
use tradingbot_actors::execution::risk::{CheckEntry, RiskBook};
use tradingbot_actors::store::testing::TestDatabase;
use tradingbot_core::risk::{RiskLimits, RiskRule};

fn entry(user_id: i64) -> CheckEntry {
    CheckEntry {
        user_id,
        leverage: 5,
        notional: dec!(1000),
        equity: dec!(10000),
        now_ms: chrono::Utc::now().timestamp_millis(),
        replacing: false,
    }
}

#[tokio::test]
async fn approvals_take_slots_and_a_kill_switch_refuses() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await.unwrap();
    let global = Arc::new(AtomicBool::new(false));
    // Before the store is readable the book refuses (fail closed).
    let book = RiskBook::start(0, 1, store.clone(), Arc::new(EventBus::default()), global);
    assert_eq!(
        book.check_entry(entry(7)).unwrap_err().rule,
        RiskRule::StateLoading
    );
    store.migrate_up().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while book.get(7).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the book never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    book.set_limits(
        7,
        RiskLimits {
            max_open_positions: 2,
            ..RiskLimits::default()
        },
    );
    let a = book.check_entry(entry(7)).expect("first slot");
    assert_eq!((a.notional, a.leverage), (dec!(1000), 5));
    let _b = book.check_entry(entry(7)).expect("second slot");
    let third = book.check_entry(entry(7)).unwrap_err();
    assert_eq!(third.rule, RiskRule::MaxOpenPositions);
    assert_eq!(book.get(7).unwrap().ledger.open_positions, 2);
    // A position closed: its slot is free again.
    book.release_slot(7);
    let _c = book.check_entry(entry(7)).expect("the freed slot");
    // The user's kill switch refuses every entry, slots or not.
    book.release_slot(7);
    book.set_kill_switch(7, Some(true), None);
    let refused = book.check_entry(entry(7)).unwrap_err();
    assert_eq!(refused.rule, RiskRule::UserKillSwitch);
    // Other users are not affected.
    assert!(book.check_entry(entry(8)).is_ok());
}
