//! What the hot path needs to know about an exchange account, kept in
//! memory: instrument rules, recent prices and the balance.
//!
//! The account's [`ExchangeActor`](super::exchange::ExchangeActor) writes it
//! from the venue (streams, periodic refreshes); the user's actor reads it
//! synchronously while sizing an entry, so a webhook never waits for the
//! exchange to answer a question it could have answered beforehand.

use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tradingbot_core::exchange::{Balance, InstrumentRules, Venue};

/// How old a price may be and still size an order.
pub const MAX_MARK_AGE: Duration = Duration::from_secs(30);

/// Recent prices of one venue (and network), shared by every account on it:
/// prices are public, so one refresh serves all.
#[derive(Debug, Default)]
pub struct MarkTable {
    marks: RwLock<HashMap<String, (Decimal, Instant)>>,
    /// Symbols (venue spelling) someone trades: the venue's stream follows them.
    wanted: RwLock<std::collections::BTreeSet<String>>,
    changed: Arc<tokio::sync::Notify>,
}

impl MarkTable {
    /// Asks the venue's stream to follow `symbol` (idempotent).
    pub fn want(&self, symbol: &str) {
        if read(&self.wanted).contains(symbol) {
            return;
        }
        if write(&self.wanted).insert(symbol.to_owned()) {
            self.changed.notify_waiters();
        }
    }

    /// Stops following `symbol` and forgets its mark (idempotent).
    pub fn unwant(&self, symbol: &str) {
        if write(&self.wanted).remove(symbol) {
            write(&self.marks).remove(symbol);
            self.changed.notify_waiters();
        }
    }

    pub fn wanted(&self) -> Vec<String> {
        read(&self.wanted).iter().cloned().collect()
    }

    /// Wakes whoever follows the wanted set when it grows.
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    pub fn get(&self, symbol: &str) -> Option<(Decimal, Duration)> {
        read(&self.marks)
            .get(symbol)
            .map(|(p, at)| (*p, at.elapsed()))
    }

    pub fn set(&self, symbol: &str, price: Decimal) {
        if price > Decimal::ZERO {
            write(&self.marks).insert(symbol.to_owned(), (price, Instant::now()));
        }
    }
}

#[derive(Debug)]
pub struct AccountView {
    pub account_id: i64,
    pub user_id: i64,
    pub venue: Venue,
    pub testnet: bool,
    rules: RwLock<HashMap<String, Arc<InstrumentRules>>>,
    marks: Arc<MarkTable>,
    balance: RwLock<Option<(Balance, Instant)>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl AccountView {
    pub fn new(
        account_id: i64,
        user_id: i64,
        venue: Venue,
        testnet: bool,
        marks: Arc<MarkTable>,
    ) -> Self {
        Self {
            account_id,
            user_id,
            venue,
            testnet,
            rules: RwLock::default(),
            marks,
            balance: RwLock::default(),
        }
    }

    pub fn rules(&self, symbol: &str) -> Option<Arc<InstrumentRules>> {
        read(&self.rules).get(symbol).cloned()
    }

    pub fn set_rules(&self, rules: InstrumentRules) {
        write(&self.rules).insert(rules.symbol.clone(), Arc::new(rules));
    }

    /// A price no older than [`MAX_MARK_AGE`].
    pub fn mark(&self, symbol: &str) -> Option<Decimal> {
        self.marks
            .get(symbol)
            .filter(|(_, age)| *age <= MAX_MARK_AGE)
            .map(|(p, _)| p)
    }

    /// Asks the venue's price stream to follow `symbol`.
    pub fn want_mark(&self, symbol: &str) {
        self.marks.want(symbol);
    }

    /// How old the symbol's price is (any account of the venue may have
    /// refreshed it).
    pub fn mark_age(&self, symbol: &str) -> Option<Duration> {
        self.marks.get(symbol).map(|(_, age)| age)
    }

    pub fn set_mark(&self, symbol: &str, price: Decimal) {
        self.marks.set(symbol, price);
    }

    /// The margin balance in the quote asset trades settle in.
    pub fn balance(&self) -> Option<Balance> {
        read(&self.balance).as_ref().map(|(b, _)| b.clone())
    }

    pub fn balance_age(&self) -> Option<Duration> {
        read(&self.balance).as_ref().map(|(_, at)| at.elapsed())
    }

    /// Keeps the USDT balance (the settlement asset of the perpetuals traded).
    pub fn set_balances(&self, balances: &[Balance]) {
        if let Some(b) = balances.iter().find(|b| b.asset == "USDT") {
            *write(&self.balance) = Some((b.clone(), Instant::now()));
        }
    }
}
