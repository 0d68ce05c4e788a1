//! The latest balances of every exchange account, in memory: refreshed in
//! the background (see the web crate's refresher) so that a dashboard
//! request reads memory, never the exchange, and says how old each
//! balance is.

pub mod refresh;

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::RwLock;
use tradingbot_core::exchange::types::Balance;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub user_id: i64,
    pub exchange: String,
    pub balances: Vec<Balance>,
    /// When the balances were read from the exchange.
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the last refresh failed, if it did (the balances are then older).
    pub error: Option<String>,
}

impl Entry {
    /// The quote asset's balance (USDT).
    pub fn usdt(&self) -> Option<&Balance> {
        self.balances.iter().find(|b| b.asset == "USDT")
    }
}

#[derive(Default)]
pub struct BalanceBook {
    accounts: RwLock<HashMap<i64, Entry>>,
}

impl BalanceBook {
    pub fn get(&self, account_id: i64) -> Option<Entry> {
        self.read().get(&account_id).cloned()
    }

    /// Records a fresh read; true when the balances changed.
    pub fn set(
        &self,
        account_id: i64,
        user_id: i64,
        exchange: &str,
        balances: Vec<Balance>,
    ) -> bool {
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(account_id).or_insert_with(|| Entry {
            user_id,
            exchange: exchange.to_owned(),
            balances: Vec::new(),
            updated_at: None,
            error: None,
        });
        let changed = entry.balances != balances || entry.updated_at.is_none();
        entry.balances = balances;
        entry.updated_at = Some(Utc::now());
        entry.error = None;
        changed
    }

    /// Records a failed read, keeping the last known balances.
    pub fn failed(&self, account_id: i64, user_id: i64, exchange: &str, error: String) {
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(account_id).or_insert_with(|| Entry {
            user_id,
            exchange: exchange.to_owned(),
            balances: Vec::new(),
            updated_at: None,
            error: None,
        });
        entry.error = Some(error);
    }

    /// Every account's entry, by id.
    pub fn all(&self) -> Vec<(i64, Entry)> {
        self.read().iter().map(|(id, e)| (*id, e.clone())).collect()
    }

    /// Forgets accounts that no longer exist.
    pub fn retain(&self, live: &[i64]) {
        self.accounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| live.contains(id));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<i64, Entry>> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }
}
