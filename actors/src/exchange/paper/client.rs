//! One paper account as a venue: places, cancels and queries orders against
//! the core engine at the feed's marks, fires stops and liquidations as the
//! marks move, reports every change on a channel (like a user data stream),
//! and writes its books behind — coalesced, in order, never on the caller's
//! path.

use super::feed::PriceFeed;
use crate::store::Store;
use crate::store::entities::paper_accounts;
use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast, watch};
use tradingbot_core::exchange::paper::{PaperAccount, PaperConfig, PaperEvent, paper_rules};
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport,
};

/// The balance a new paper account starts with, in USDT.
pub const DEFAULT_BALANCE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

pub struct PaperClient {
    account_id: i64,
    state: Mutex<PaperAccount>,
    feed: Arc<PriceFeed>,
    cfg: PaperConfig,
    events: broadcast::Sender<PaperEvent>,
    snapshots: watch::Sender<(u64, String)>,
    written: Arc<AtomicU64>,
    written_notify: Arc<Notify>,
}

impl std::fmt::Debug for PaperClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperClient")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

fn store_error(e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Unreachable(format!("paper books: {e}"))
}

impl PaperClient {
    /// Opens the paper account `account_id`, creating its books with
    /// `initial` USDT the first time.
    pub async fn open(
        store: Store,
        account_id: i64,
        initial: Decimal,
        feed: Arc<PriceFeed>,
        cfg: PaperConfig,
    ) -> Result<Arc<Self>, ExchangeError> {
        let row = paper_accounts::Entity::find_by_id(account_id)
            .one(store.conn())
            .await
            .map_err(store_error)?;
        let account = match row {
            Some(r) => serde_json::from_str(&r.state).map_err(store_error)?,
            None => PaperAccount::new(initial),
        };
        let snapshot = serde_json::to_string(&account).map_err(store_error)?;
        let (snapshots, rx) = watch::channel((1, snapshot));
        let (events, _) = broadcast::channel(1024);
        let client = Arc::new(Self {
            account_id,
            state: Mutex::new(account),
            feed,
            cfg,
            events,
            snapshots,
            written: Arc::new(AtomicU64::new(0)),
            written_notify: Arc::new(Notify::new()),
        });
        tokio::spawn(persist(
            store,
            account_id,
            rx,
            client.written.clone(),
            client.written_notify.clone(),
        ));
        tokio::spawn(watch_marks(Arc::downgrade(&client)));
        client.flush().await;
        Ok(client)
    }

    pub fn account_id(&self) -> i64 {
        self.account_id
    }

    /// Fills, order changes and liquidations, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<PaperEvent> {
        self.events.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaperAccount> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the state after a change: events to subscribers, the
    /// snapshot to the writer.
    fn commit(&self, account: &PaperAccount, events: Vec<PaperEvent>) {
        if let Ok(json) = serde_json::to_string(account) {
            self.snapshots.send_modify(|(seq, s)| {
                *seq += 1;
                *s = json;
            });
        }
        for e in events {
            let _ = self.events.send(e);
        }
    }

    /// Waits until the books as they are now have been written.
    pub async fn flush(&self) {
        let target = self.snapshots.borrow().0;
        loop {
            let notified = self.written_notify.notified();
            if self.written.load(Ordering::Acquire) >= target {
                return;
            }
            notified.await;
        }
    }

    pub fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        paper_rules(symbol).ok_or_else(|| ExchangeError::UnknownSymbol {
            code: "paper".into(),
            message: format!("the paper exchange lists BTCUSDT and ETHUSDT, not {symbol}"),
        })
    }

    pub fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        self.rules(symbol)?;
        self.feed
            .mark(symbol)
            .ok_or_else(|| ExchangeError::Unreachable(format!("no price for {symbol} yet")))
    }

    pub fn balances(&self) -> Vec<Balance> {
        vec![self.lock().balance(&self.feed.marks())]
    }

    pub fn positions(&self) -> Vec<PositionReport> {
        self.lock().positions(&self.feed.marks(), &self.cfg)
    }

    pub fn permissions(&self) -> KeyPermissions {
        KeyPermissions {
            can_trade: true,
            can_withdraw: Some(false),
            ip_restricted: None,
            account_id: Some(format!("paper-{}", self.account_id)),
        }
    }

    pub fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError> {
        let rules = self.rules(symbol)?;
        let mut account = self.lock();
        account.set_margin_mode(symbol, mode)?;
        account.set_leverage(symbol, leverage, &rules)?;
        self.commit(&account, Vec::new());
        Ok(())
    }

    pub fn place(&self, order: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        super::super::handoff::signed("paper");
        let rules = self.rules(&order.symbol)?;
        let mark = self.mark_price(&order.symbol)?;
        let marks = self.feed.marks();
        let mut account = self.lock();
        let events = account.place(
            order,
            &rules,
            mark,
            Utc::now().timestamp_millis(),
            &self.cfg,
            &marks,
        )?;
        let report = account
            .query(order.client_id.as_str())
            .ok_or_else(|| ExchangeError::Malformed("the order vanished".into()))?;
        self.commit(&account, events);
        Ok(report)
    }

    pub fn open_orders(&self, symbol: &str) -> Vec<OrderReport> {
        self.lock().open_orders(symbol)
    }

    pub fn query(&self, id: &ClientOrderId) -> Option<OrderReport> {
        self.lock().query(id.as_str())
    }

    pub fn cancel(&self, id: &ClientOrderId) -> Result<OrderReport, ExchangeError> {
        let mut account = self.lock();
        let report = account.cancel(id.as_str(), Utc::now().timestamp_millis())?;
        self.commit(&account, vec![PaperEvent::Order(report.clone())]);
        Ok(report)
    }

    /// Applies the feed's current marks (also called by the watcher task).
    pub fn apply_marks(&self) {
        let marks = self.feed.marks();
        let mut account = self.lock();
        let symbols: Vec<String> = account
            .positions
            .keys()
            .chain(
                account
                    .orders
                    .iter()
                    .filter(|o| !o.status.is_final())
                    .map(|o| &o.request.symbol),
            )
            .cloned()
            .collect();
        let mut events = Vec::new();
        for symbol in symbols {
            if let (Some(mark), Some(rules)) = (marks.get(&symbol), paper_rules(&symbol)) {
                events.extend(account.on_mark(
                    &symbol,
                    *mark,
                    &rules,
                    Utc::now().timestamp_millis(),
                    &self.cfg,
                ));
            }
        }
        if !events.is_empty() {
            self.commit(&account, events);
        }
    }
}

async fn watch_marks(client: std::sync::Weak<PaperClient>) {
    let Some(mut rx) = client.upgrade().map(|c| c.feed.subscribe()) else {
        return;
    };
    while rx.changed().await.is_ok() {
        let Some(c) = client.upgrade() else { return };
        c.apply_marks();
    }
}

async fn persist(
    store: Store,
    account_id: i64,
    mut rx: watch::Receiver<(u64, String)>,
    written: Arc<AtomicU64>,
    notify: Arc<Notify>,
) {
    loop {
        let (seq, state) = rx.borrow_and_update().clone();
        let row = paper_accounts::ActiveModel {
            account_id: Set(account_id),
            state: Set(state),
            updated_at: Set(Utc::now()),
        };
        let result = paper_accounts::Entity::insert(row)
            .on_conflict(
                OnConflict::column(paper_accounts::Column::AccountId)
                    .update_columns([
                        paper_accounts::Column::State,
                        paper_accounts::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(store.conn())
            .await;
        match result {
            Ok(_) => {
                written.store(seq, Ordering::Release);
                notify.notify_waiters();
            }
            Err(e) => {
                tracing::error!(account_id, error = %e, "paper books could not be written; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
