//! Keeps `BalanceBook` fresh: every `TRADINGBOT_BALANCE_REFRESH_SECS` each
//! active exchange account's balances are read through its connection (the
//! paper exchange answers from memory); an account whose positions the
//! exchange connection reports changed (a fill) is read again within half a
//! second; a new account starts with its connection test's balances. A
//! change is pushed on the websocket as `account_update`. Requests read
//! memory only.

use super::BalanceBook;
use crate::accounts::Accounts;
use crate::execution::bus::EventBus;
use crate::execution::events::{AccountBalances, Event};
use crate::store::entities::api_keys;
use std::sync::Arc;
use std::time::Duration;

/// One exchange call may take this long before the round moves on.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A position changing on an account (a fill: fees, realized profit, new
/// margin) makes its balances read again this soon, instead of at the next
/// round; several changes in a row make one read.
const AFTER_CHANGE: Duration = Duration::from_millis(500);

/// What the refresher reads from and writes to.
#[derive(Clone)]
pub struct BalanceRefresher {
    pub accounts: Arc<Accounts>,
    pub book: Arc<BalanceBook>,
    /// Fills are heard on it; balance changes are published on it.
    pub bus: Arc<EventBus>,
}

impl BalanceRefresher {
    /// Starts the periodic rounds and the reads after fills.
    pub fn spawn(self, every: Duration) {
        let rounds = self.clone();
        actix_rt::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                rounds.refresh().await;
            }
        });
        // Off the trading path: a listener of the live bus like the others.
        let mut rx = self
            .bus
            .subscribe_where(Arc::new(|e: &Event| e.position().is_some()));
        actix_rt::spawn(async move {
            // (user, account) pairs whose positions changed.
            let mut changed: std::collections::BTreeSet<(i64, i64)> = Default::default();
            // When the changes gathered so far are read: a deadline, not a
            // quiet spell — the bus of a live market is never quiet.
            let mut due: Option<tokio::time::Instant> = None;
            loop {
                let event = match due {
                    None => rx.recv().await.map(Some),
                    Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                        Ok(e) => e.map(Some),
                        Err(_) => Ok(None),
                    },
                };
                match event {
                    Ok(Some(e)) => {
                        if let Some(p) = e.position() {
                            changed.insert((p.user_id, p.account_id));
                            due.get_or_insert_with(|| tokio::time::Instant::now() + AFTER_CHANGE);
                        }
                    }
                    Ok(None) => {
                        due = None;
                        for (user_id, account_id) in std::mem::take(&mut changed) {
                            match self.accounts.get(user_id, account_id).await {
                                Ok(a) if a.is_active => self.read(a).await,
                                Ok(_) => {}
                                // Removed meanwhile.
                                Err(e) => {
                                    tracing::debug!(error = %e, account_id, "no balance refresh")
                                }
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// One round over every active account.
    pub async fn refresh(&self) {
        let accounts = match self.accounts.all_active().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "balance refresh could not list accounts");
                return;
            }
        };
        self.book
            .retain(&accounts.iter().map(|a| a.id).collect::<Vec<_>>());
        for a in accounts {
            self.read(a).await;
        }
    }

    /// Keeps balances just read from `a`'s exchange (by the refresher, or
    /// by the connection test of a new account) and pushes them when they
    /// changed.
    pub fn record(&self, a: &api_keys::Model, balances: Vec<tradingbot_core::exchange::Balance>) {
        let exchange = a.exchange.as_str();
        if self.book.set(a.id, a.user_id, exchange, balances)
            && let Some(entry) = self.book.get(a.id)
            && let (Some(usdt), Some(at)) = (entry.usdt(), entry.updated_at)
        {
            self.bus.publish_live(Event::AccountUpdate(AccountBalances {
                user_id: a.user_id,
                account_id: a.id,
                exchange: exchange.to_owned(),
                wallet: usdt.wallet,
                available: usdt.available,
                unrealized_pnl: usdt.unrealized_pnl,
                at,
            }));
        }
    }

    /// Reads one account's balances through its connection into the book.
    async fn read(&self, a: api_keys::Model) {
        let exchange = a.exchange.as_str();
        let conn = match self.accounts.connection(&a).await {
            Ok(c) => c,
            Err(e) => {
                self.book.failed(a.id, a.user_id, exchange, e.to_string());
                return;
            }
        };
        // A periodic read: it gives way to trading when the venue's budget
        // is short.
        match tokio::time::timeout(CALL_TIMEOUT, conn.poll_balances()).await {
            Ok(Ok(balances)) => self.record(&a, balances),
            Ok(Err(e)) => self.book.failed(a.id, a.user_id, exchange, e.to_string()),
            Err(_) => self
                .book
                .failed(a.id, a.user_id, exchange, "no answer within 10 s".into()),
        }
    }
}
