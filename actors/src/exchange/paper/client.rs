//! One paper account as a venue: places, cancels and queries orders against
//! the core engine at the feed's marks, fires stops and liquidations as the
//! marks move, reports every change on a channel (like a user data stream),
//! and writes its books behind — coalesced, in order, never on the caller's
//! path. A change only bumps a counter; the writer then stores what changed
//! since its last write (the account's small part, and each order that
//! changed), not the whole history of the account.

use super::feed::PriceFeed;
use crate::exchange::budget::Priority;
use crate::exchange::endpoints::Endpoints;
use crate::exchange::updates::{self, UpdateStream, VenueUpdate};
use crate::exchange::venue::VenueClient;
use crate::store::Store;
use crate::store::entities::{paper_accounts, paper_orders};
use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tradingbot_core::exchange::Venue;
use tradingbot_core::exchange::paper::{
    PaperAccount, PaperConfig, PaperEvent, PaperOrder, PaperPosition, paper_rules,
};
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport,
};
use tradingbot_core::simulator::Tier;

/// The balance a new paper account starts with, in USDT.
pub const DEFAULT_BALANCE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

pub struct PaperClient {
    account_id: i64,
    state: Arc<Mutex<PaperAccount>>,
    feed: Arc<PriceFeed>,
    cfg: PaperConfig,
    events: broadcast::Sender<PaperEvent>,
    /// Counts changes; the writer stores the books up to the count it saw.
    changes: watch::Sender<u64>,
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
        books: PaperBooks,
        account_id: i64,
        initial: Decimal,
        feed: Arc<PriceFeed>,
        cfg: PaperConfig,
    ) -> Result<Arc<Self>, ExchangeError> {
        let store = books.store.clone();
        let row = paper_accounts::Entity::find_by_id(account_id)
            .one(store.conn())
            .await
            .map_err(store_error)?;
        let mut account = match row {
            Some(r) => serde_json::from_str(&r.state).map_err(store_error)?,
            None => PaperAccount::new(initial),
        };
        let stored = paper_orders::Entity::find()
            .filter(paper_orders::Column::AccountId.eq(account_id))
            .order_by_asc(paper_orders::Column::OrderNo)
            .all(store.conn())
            .await
            .map_err(store_error)?;
        let mut written_orders = HashMap::new();
        for row in stored {
            let order: PaperOrder = serde_json::from_str(&row.state).map_err(store_error)?;
            written_orders.insert(row.client_id, order);
        }
        // Books written before orders had rows of their own carry them in
        // the account's row: they are written as rows at the first write.
        account
            .orders
            .retain(|o| !written_orders.contains_key(o.request.client_id.as_str()));
        account.orders.extend(written_orders.values().cloned());
        account.orders.sort_by_key(|o| o.id);
        let state = Arc::new(Mutex::new(account));
        // Change 1 is the books as opened: written (a new account's row
        // created) before `open` returns.
        let (changes, rx) = watch::channel(1);
        // A broadcast channel allocates every slot up front (a few hundred
        // bytes each): 1,024 per account made 1,000 paper accounts weigh
        // ~300 MB. Its one reader drains it as events come; one that fell
        // behind anyway is told to reconcile (`updates.rs`).
        let (events, _) = broadcast::channel(64);
        let client = Arc::new(Self {
            account_id,
            state: state.clone(),
            feed,
            cfg,
            events,
            changes,
            written: Arc::new(AtomicU64::new(0)),
            written_notify: Arc::new(Notify::new()),
        });
        tokio::spawn(persist(
            books.clone(),
            account_id,
            state,
            written_orders,
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

    /// Publishes a change: events to subscribers; the writer learns that
    /// there is something to write (and works out what, off this path).
    /// Called with the books locked, so changes are heard in the order they
    /// were made.
    fn commit(&self, events: Vec<PaperEvent>) {
        self.changes.send_modify(|n| *n += 1);
        for e in events {
            let _ = self.events.send(e);
        }
    }

    /// Waits until the books as they are now have been written.
    pub async fn flush(&self) {
        let target = *self.changes.borrow();
        loop {
            let notified = self.written_notify.notified();
            if self.written.load(Ordering::Acquire) >= target {
                return;
            }
            notified.await;
        }
    }

    pub fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        paper_rules(symbol)
            .filter(|_| self.feed.prices(symbol))
            .ok_or_else(|| ExchangeError::UnknownSymbol {
                code: "paper".into(),
                message: match self.feed.priced() {
                    Some(p) if p.len() == 1 => format!(
                        "the paper exchange lists {} with bundled prices (ETHUSDT too with \
                         TRADINGBOT_PAPER_FEED=binance), not {symbol}",
                        p[0]
                    ),
                    Some(p) => {
                        format!("the paper exchange lists {}, not {symbol}", p.join(" and "))
                    }
                    None => format!("the paper exchange lists BTCUSDT and ETHUSDT, not {symbol}"),
                },
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
        self.commit(Vec::new());
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
        self.commit(events);
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
        self.commit(vec![PaperEvent::Order(report.clone())]);
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
            self.commit(events);
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

/// The small part of the books, as `PaperAccount` reads it (its orders
/// have rows of their own).
#[derive(serde::Serialize)]
struct Header<'a> {
    wallet: Decimal,
    positions: &'a BTreeMap<String, PaperPosition>,
    orders: [PaperOrder; 0],
    leverage: &'a BTreeMap<String, u32>,
    margin_mode: &'a BTreeMap<String, tradingbot_core::exchange::MarginMode>,
    next_id: u64,
}

/// What one write stores: the account's row, the orders that changed since
/// the last write, the orders the books no longer keep.
#[derive(Default)]
struct Delta {
    header: String,
    upserts: Vec<(PaperOrder, String)>,
    removed: Vec<String>,
    /// Once this delta is written, every order numbered below this one is
    /// finished and written: the next delta need not look at them.
    settled_below: u64,
    /// The books' size and next order number as this delta saw them.
    books: Books,
}

/// How many orders the books held and the number the next would take:
/// orders only come with a new number and leave only when the history is
/// trimmed, so a later pair tells whether any left in between.
#[derive(Default, Clone, Copy)]
struct Books {
    len: usize,
    next_id: u64,
}

impl Books {
    fn of(account: &PaperAccount) -> Self {
        Self {
            len: account.orders.len(),
            next_id: account.next_id,
        }
    }

    /// Whether orders left the books between `self` and `now`.
    fn lost_some(self, now: Books) -> bool {
        let added = now.next_id.saturating_sub(self.next_id) as usize;
        self.len + added > now.len
    }
}

/// The books against what was last written. Orders numbered below
/// `settled_below` were finished when written, and a finished order never
/// changes: they are passed over with one comparison each (most of the
/// books are the finished orders kept for queries). The books written
/// before (`last`, unknown at the first write) tell whether any order left
/// them since: only then are the written ones looked for in the books.
fn delta(
    account: &PaperAccount,
    written: &HashMap<String, PaperOrder>,
    settled_below: u64,
    last: Option<Books>,
) -> Result<Delta, serde_json::Error> {
    let header = serde_json::to_string(&Header {
        wallet: account.wallet,
        positions: &account.positions,
        orders: [],
        leverage: &account.leverage,
        margin_mode: &account.margin_mode,
        next_id: account.next_id,
    })?;
    let mut upserts = Vec::new();
    // Numbers only grow (`next_id`): the lowest still open bounds the next.
    let mut open_below = account.next_id;
    for o in &account.orders {
        if o.id < settled_below {
            continue;
        }
        if !o.status.is_final() {
            open_below = open_below.min(o.id);
        }
        match written.get(o.request.client_id.as_str()) {
            // A finished order never changes again: written once is enough
            // (and most of the books are finished orders).
            Some(w) if w.id == o.id && w.status.is_final() => {}
            Some(w) if w == o => {}
            _ => upserts.push((o.clone(), serde_json::to_string(o)?)),
        }
    }
    let books = Books::of(account);
    let removed = if last.is_none_or(|l| l.lost_some(books)) {
        let kept: std::collections::HashSet<&str> = account
            .orders
            .iter()
            .map(|o| o.request.client_id.as_str())
            .collect();
        written
            .keys()
            .filter(|k| !kept.contains(k.as_str()))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    Ok(Delta {
        header,
        upserts,
        removed,
        settled_below: open_below.max(settled_below),
        books,
    })
}

/// Stores one account's delta inside the caller's transaction.
async fn write_in(
    txn: &sea_orm::DatabaseTransaction,
    account_id: i64,
    d: &Delta,
) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    paper_accounts::Entity::insert(paper_accounts::ActiveModel {
        account_id: Set(account_id),
        state: Set(d.header.clone()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(paper_accounts::Column::AccountId)
            .update_columns([
                paper_accounts::Column::State,
                paper_accounts::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    for chunk in d.upserts.chunks(200) {
        paper_orders::Entity::insert_many(chunk.iter().map(|(o, json)| {
            paper_orders::ActiveModel {
                account_id: Set(account_id),
                client_id: Set(o.request.client_id.as_str().to_owned()),
                order_no: Set(o.id as i64),
                state: Set(json.clone()),
                updated_at: Set(now),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                paper_orders::Column::AccountId,
                paper_orders::Column::ClientId,
            ])
            .update_columns([
                paper_orders::Column::OrderNo,
                paper_orders::Column::State,
                paper_orders::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    for chunk in d.removed.chunks(200) {
        paper_orders::Entity::delete_many()
            .filter(paper_orders::Column::AccountId.eq(account_id))
            .filter(paper_orders::Column::ClientId.is_in(chunk.iter().cloned()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The writer of every paper account's books on one store. Each account
/// works out its own delta; the writer stores the deltas waiting at the
/// same moment in one transaction. One transaction per account per change
/// had a hundred busy accounts queue for SQLite's single write lock, and
/// the trading records' writer starved behind them.
#[derive(Clone)]
pub struct PaperBooks {
    store: Store,
    tx: Arc<Mutex<Option<mpsc::UnboundedSender<Job>>>>,
}

struct Job {
    account_id: i64,
    delta: Delta,
    done: oneshot::Sender<(Delta, Result<(), String>)>,
}

/// Accounts' deltas stored together at most.
const ACCOUNTS_PER_WRITE: usize = 256;

impl std::fmt::Debug for PaperBooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperBooks").finish_non_exhaustive()
    }
}

impl PaperBooks {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            tx: Arc::default(),
        }
    }

    /// Stores `delta`; hands it back with the outcome.
    async fn write(&self, account_id: i64, delta: Delta) -> (Delta, Result<(), String>) {
        let (done, answer) = oneshot::channel();
        let mut job = Job {
            account_id,
            delta,
            done,
        };
        // The writer lives on the runtime that first needed it; started
        // again here if that runtime has gone.
        for _ in 0..2 {
            let sender = {
                let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
                match tx.as_ref().filter(|t| !t.is_closed()) {
                    Some(t) => t.clone(),
                    None => {
                        let (t, rx) = mpsc::unbounded_channel();
                        tokio::spawn(write_together(self.store.clone(), rx));
                        *tx = Some(t.clone());
                        t
                    }
                }
            };
            match sender.send(job) {
                Ok(()) => break,
                Err(mpsc::error::SendError(j)) => job = j,
            }
        }
        // Dropped unanswered only if the writer itself went away.
        answer.await.unwrap_or_else(|_| {
            (
                Delta::default(),
                Err("the paper books writer stopped".into()),
            )
        })
    }
}

async fn write_together(store: Store, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < ACCOUNTS_PER_WRITE {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let outcome = async {
            let txn = store.writer().await?.begin().await?;
            for j in &jobs {
                write_in(&txn, j.account_id, &j.delta).await?;
            }
            txn.commit().await
        }
        .await
        .map_err(|e| e.to_string());
        metrics::counter!("paper_books_writes_total").increment(1);
        for j in jobs {
            let _ = j.done.send((j.delta, outcome.clone()));
        }
    }
}

/// Writes the books behind the account: whenever they changed, what
/// changed since the last write, in one transaction.
async fn persist(
    books: PaperBooks,
    account_id: i64,
    state: Arc<Mutex<PaperAccount>>,
    mut written_orders: HashMap<String, PaperOrder>,
    mut rx: watch::Receiver<u64>,
    written: Arc<AtomicU64>,
    notify: Arc<Notify>,
) {
    let mut settled_below = 0;
    let mut books_written = None;
    loop {
        let seq = *rx.borrow_and_update();
        let d = {
            let account = state.lock().unwrap_or_else(|e| e.into_inner());
            delta(&account, &written_orders, settled_below, books_written)
        };
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(account_id, error = %e, "paper books could not be serialized");
                return;
            }
        };
        let mut d = d;
        let d = loop {
            match books.write(account_id, d).await {
                (d, Ok(())) => break d,
                (_, Err(e)) => {
                    tracing::error!(account_id, error = %e, "paper books could not be written; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    // The books as they are by now.
                    let account = state.lock().unwrap_or_else(|e| e.into_inner());
                    d = match delta(&account, &written_orders, settled_below, books_written) {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::error!(account_id, error = %e, "paper books could not be serialized");
                            return;
                        }
                    };
                }
            }
        };
        settled_below = d.settled_below;
        books_written = Some(d.books);
        for id in &d.removed {
            written_orders.remove(id);
        }
        for (o, _) in d.upserts {
            written_orders.insert(o.request.client_id.as_str().to_owned(), o);
        }
        written.store(seq, Ordering::Release);
        notify.notify_waiters();
        if rx.changed().await.is_err() {
            return;
        }
        // An order placed, filled, then its stop and target: the changes
        // of one trade come within a few milliseconds and are written as
        // one delta, as the trading records are (they linger as long).
        tokio::time::sleep(BOOKS_LINGER).await;
    }
}

/// How long a change to the books waits for the next before it is written.
const BOOKS_LINGER: std::time::Duration = std::time::Duration::from_millis(5);

#[async_trait::async_trait]
impl VenueClient for PaperClient {
    fn venue(&self) -> Venue {
        Venue::Paper
    }

    async fn check(&self) -> Result<(Vec<Balance>, KeyPermissions), ExchangeError> {
        Ok((self.balances(), self.permissions()))
    }

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        PaperClient::rules(self, symbol)
    }

    async fn balances_at(&self, _priority: Priority) -> Result<Vec<Balance>, ExchangeError> {
        Ok(self.balances())
    }

    async fn positions_at(
        &self,
        _priority: Priority,
    ) -> Result<Vec<PositionReport>, ExchangeError> {
        Ok(self.positions())
    }

    async fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        PaperClient::mark_price(self, symbol)
    }

    /// Binance's published BTCUSDT brackets: the paper exchange follows
    /// Binance's rules.
    async fn maintenance_tiers(
        &self,
        _symbol: &str,
        _mode: MarginMode,
        _price: Decimal,
    ) -> Result<Vec<Tier>, ExchangeError> {
        Ok(tradingbot_core::simulator::binance_btcusdt_tiers())
    }

    async fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError> {
        PaperClient::configure(self, symbol, leverage, mode)
    }

    async fn send_order(
        &self,
        order: &OrderRequest,
        _margin: MarginMode,
        _reference_price: Decimal,
        _priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        self.place(order)
    }

    async fn query_at(
        &self,
        _symbol: &str,
        id: &ClientOrderId,
        _conditional: bool,
        _priority: Priority,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        Ok(self.query(id))
    }

    async fn open_orders(
        &self,
        symbol: &str,
        _priority: Priority,
    ) -> Result<Vec<OrderReport>, ExchangeError> {
        Ok(PaperClient::open_orders(self, symbol))
    }

    async fn cancel(
        &self,
        _symbol: &str,
        id: &ClientOrderId,
        _conditional: bool,
    ) -> Result<OrderReport, ExchangeError> {
        PaperClient::cancel(self, id)
    }

    fn start_updates(
        self: Arc<Self>,
        _endpoints: &Endpoints,
        _testnet: bool,
        tx: mpsc::Sender<VenueUpdate>,
    ) -> UpdateStream {
        updates::paper(self, tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_reads_back_as_the_account_without_its_orders() {
        let mut account = PaperAccount::new(Decimal::new(12_345, 1));
        account.next_id = 42;
        account.leverage.insert("BTCUSDT".into(), 7);
        let header = delta(&account, &HashMap::new(), 0, None).unwrap().header;
        let back: PaperAccount = serde_json::from_str(&header).unwrap();
        assert_eq!(back, account);
    }

    #[test]
    fn a_write_carries_only_what_changed() {
        use tradingbot_core::exchange::{
            ClientOrderId, Leg, OrderKind, OrderRequest, OrderSize, OrderStatus, Side,
        };
        let order = |id: u64, status| PaperOrder {
            id,
            request: OrderRequest {
                client_id: ClientOrderId::derive(id as i64, 1, Leg::Entry),
                symbol: "BTCUSDT".into(),
                side: Side::Buy,
                kind: OrderKind::Market,
                size: OrderSize::Base(Decimal::ONE),
                reduce_only: false,
                attach: None,
            },
            status,
            quantity: Decimal::ONE,
            filled: Decimal::ZERO,
            avg_price: None,
            fee: Decimal::ZERO,
            updated_ms: 0,
            best: None,
        };
        let mut account = PaperAccount::new(Decimal::ONE_HUNDRED);
        account.orders = vec![order(1, OrderStatus::Filled), order(2, OrderStatus::New)];
        account.next_id = 3;
        let first = delta(&account, &HashMap::new(), 0, None).unwrap();
        let books = first.books;
        assert_eq!(first.upserts.len(), 2);
        // Order 1 is finished and written: passed over from now on.
        assert_eq!(first.settled_below, 2);
        let mut written: HashMap<String, PaperOrder> = first
            .upserts
            .into_iter()
            .map(|(o, _)| (o.request.client_id.as_str().to_owned(), o))
            .collect();
        let same = delta(&account, &written, 2, Some(books)).unwrap();
        assert!(same.upserts.is_empty() && same.removed.is_empty());
        // Order 2 fills, order 3 comes; order 1 leaves the kept history.
        account.orders[1].status = OrderStatus::Filled;
        account.orders.push(order(3, OrderStatus::New));
        account.next_id = 4;
        account.orders.remove(0);
        let d = delta(&account, &written, 2, Some(books)).unwrap();
        assert_eq!(
            d.upserts.iter().map(|(o, _)| o.id).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(
            d.removed,
            vec![order(1, OrderStatus::Filled).request.client_id.to_string()]
        );
        // Order 3 still rests: it bounds what the next delta looks at.
        assert_eq!(d.settled_below, 3);
        let books = d.books;
        for (o, _) in d.upserts {
            written.insert(o.request.client_id.as_str().to_owned(), o);
        }
        written.remove(&order(1, OrderStatus::Filled).request.client_id.to_string());
        // A client id used again by a new order (the old one was
        // cancelled) is a new order to write, though its id was written.
        account.orders[1].status = OrderStatus::Canceled;
        let d = delta(&account, &written, 3, Some(books)).unwrap();
        assert_eq!(d.upserts.len(), 1);
        assert!(d.removed.is_empty(), "a change is not an order gone");
        assert_eq!(d.settled_below, 4);
        let books = d.books;
        for (o, _) in d.upserts {
            written.insert(o.request.client_id.as_str().to_owned(), o);
        }
        let mut again = order(3, OrderStatus::New);
        again.id = 4;
        account.orders.push(again);
        account.next_id = 5;
        let d = delta(&account, &written, 4, Some(books)).unwrap();
        assert_eq!(d.upserts.iter().map(|(o, _)| o.id).collect::<Vec<_>>(), [4]);
        assert!(d.removed.is_empty());
        // Two orders come while the two oldest leave (one trim): the
        // books keep their size, and the order gone is found (order 3's
        // client id stays: order 4 holds it).
        let books = d.books;
        for (o, _) in d.upserts {
            written.insert(o.request.client_id.as_str().to_owned(), o);
        }
        account.orders.drain(..2);
        for id in [5, 6] {
            account.orders.push(order(id, OrderStatus::New));
        }
        account.next_id = 7;
        let d = delta(&account, &written, 4, Some(books)).unwrap();
        assert_eq!(
            d.removed,
            vec![order(2, OrderStatus::New).request.client_id.to_string()]
        );
        assert_eq!(
            d.upserts.iter().map(|(o, _)| o.id).collect::<Vec<_>>(),
            [5, 6]
        );
    }
}
