//! The database writer: every event, written behind the hot path, in order,
//! in batches, and never dropped.
//!
//! Events accumulate while a batch is being written; the next batch takes
//! them all, so under load the writer does fewer, larger transactions rather
//! than falling behind. Each batch also stores the journal number of its
//! last event (see [`super::journal`]), in the same transaction, so a
//! restart writes again exactly what was not committed. A failed batch is
//! retried; an event the database refuses on its own is a bug: counted
//! (`persist_failures_total`, which the tests require to stay 0), logged,
//! and kept in the journal's rejected file — never silently dropped. On
//! shutdown [`Drain`] waits until everything received has been written.

use super::bus::{Lease, Published};
use super::events::{Event, OrderRecord, PositionRecord, SignalRecord};
use super::journal::{self, Journal};
use super::mailbox::Depth;
use crate::store::entities::{
    audit_log, orders, positions, risk_settings, signals, system_settings,
};
use crate::store::{DbDecimal, Store};
use actix::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use tradingbot_core::risk::RiskLedger;

/// An event waiting to be written: its journal number and the lease it
/// was made under.
#[derive(Clone)]
struct Item {
    event: Arc<Event>,
    seq: u64,
    lease: Lease,
}

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 4096;
/// How long an event may wait for companions before it is written.
const LINGER: Duration = Duration::from_millis(5);

pub struct PersistActor {
    store: Store,
    journal: Option<Arc<Journal>>,
    pending: Vec<Item>,
    flushing: bool,
    timer_armed: bool,
    waiters: Vec<oneshot::Sender<()>>,
    depth: Arc<Depth>,
    /// The bus's count of events handed here and not yet stored.
    unstored: Arc<AtomicI64>,
}

impl PersistActor {
    pub fn new(
        store: Store,
        depth: Arc<Depth>,
        journal: Option<Arc<Journal>>,
        unstored: Arc<AtomicI64>,
    ) -> Self {
        Self {
            unstored,
            store,
            journal,
            pending: Vec::new(),
            flushing: false,
            timer_armed: false,
            waiters: Vec::new(),
            depth,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        if self.pending.len() >= MAX_BATCH {
            self.flush(ctx);
        } else if !self.timer_armed {
            self.timer_armed = true;
            ctx.run_later(LINGER, |act, ctx| {
                act.timer_armed = false;
                act.flush(ctx);
            });
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.pending.is_empty() {
            if !self.flushing && self.pending.is_empty() {
                for w in self.waiters.drain(..) {
                    let _ = w.send(());
                }
            }
            return;
        }
        let take = self.pending.len().min(MAX_BATCH);
        let batch: Vec<Item> = self.pending.drain(..take).collect();
        self.flushing = true;
        let (store, journal) = (self.store.clone(), self.journal.clone());
        ctx.spawn(
            async move { write_with_retry(&store, journal.as_deref(), &batch).await }
                .into_actor(self)
                .map(move |(), act, ctx| {
                    let n = act.unstored.fetch_sub(take as i64, Ordering::Relaxed) - take as i64;
                    metrics::gauge!("persist_unstored_events").set(n.max(0) as f64);
                    act.flushing = false;
                    if act.pending.is_empty() {
                        for w in act.waiters.drain(..) {
                            let _ = w.send(());
                        }
                    } else {
                        act.flush(ctx);
                    }
                }),
        );
    }
}

impl Actor for PersistActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Events arrive by `do_send`, which no capacity refuses; `Drain`
        // waits behind them.
        ctx.set_mailbox_capacity(4096);
    }
}

impl Handler<Published> for PersistActor {
    type Result = ();

    fn handle(&mut self, msg: Published, ctx: &mut Self::Context) {
        self.depth.handled();
        self.pending.push(Item {
            event: msg.0,
            seq: msg.1,
            lease: msg.2,
        });
        self.schedule(ctx);
    }
}

/// Resolves once every event received so far is in the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain(pub oneshot::Sender<()>);

impl Handler<Drain> for PersistActor {
    type Result = ();

    fn handle(&mut self, msg: Drain, ctx: &mut Self::Context) {
        self.depth.handled();
        self.waiters.push(msg.0);
        self.flush(ctx);
    }
}

async fn write_with_retry(store: &Store, journal: Option<&Journal>, batch: &[Item]) {
    let started = std::time::Instant::now();
    let key = journal.map(Journal::key);
    let last = batch.iter().map(|i| i.seq).max().unwrap_or(0);
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match write_batch(store, batch, key, last).await {
            Ok(()) => {
                metrics::histogram!("persist_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("persist_events_total").increment(batch.len() as u64);
                if let Some(j) = journal {
                    j.committed(last);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, events = batch.len(), "writing events failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    // One by one: an event the database refuses must not hold back the rest.
    for item in batch {
        let mut delay = Duration::from_millis(200);
        loop {
            match write_batch(store, std::slice::from_ref(item), key, item.seq).await {
                Ok(()) => break,
                Err(e) if is_outage(&e) => {
                    tracing::error!(error = %e, "database unavailable; holding events until it returns");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    // An order the venue holds is kept even when a row it
                    // points at (its signal, its position) is missing:
                    // losing the order is worse than losing the link.
                    if let Some((unlinked, cleared)) =
                        without_missing_links(store, &item.event).await
                    {
                        let client_order_id = unlinked
                            .order()
                            .map(|o| o.client_order_id.as_str().to_owned())
                            .unwrap_or_default();
                        let again = Item {
                            event: Arc::new(unlinked),
                            ..item.clone()
                        };
                        if write_batch(store, std::slice::from_ref(&again), key, item.seq)
                            .await
                            .is_ok()
                        {
                            tracing::warn!(error = %e, client_order_id, cleared = ?cleared, "an order was stored without links to rows the database does not have");
                            metrics::counter!("persist_unlinked_total").increment(1);
                            break;
                        }
                    }
                    refused(journal, &item.event, &e);
                    break;
                }
            }
        }
    }
    if let Some(j) = journal {
        j.committed(last);
    }
}

/// The order event with its optional references to rows that do not exist
/// (signal, position, strategy) removed, and which were; `None` when
/// nothing was missing or it is not an order.
async fn without_missing_links(store: &Store, event: &Event) -> Option<(Event, Vec<&'static str>)> {
    let db = store.conn();
    let mut unlinked = event.clone();
    let o = match &mut unlinked {
        Event::OrderPlaced(o)
        | Event::OrderFound(o)
        | Event::OrderUpdated(o)
        | Event::OrderFilled(o)
        | Event::OrderRejected(o) => o,
        _ => return None,
    };
    let mut cleared = Vec::new();
    if let Some(id) = o.signal_id
        && matches!(signals::Entity::find_by_id(id).one(db).await, Ok(None))
    {
        o.signal_id = None;
        cleared.push("signal");
    }
    if let Some(id) = o.position_id
        && matches!(positions::Entity::find_by_id(id).one(db).await, Ok(None))
    {
        o.position_id = None;
        cleared.push("position");
    }
    if let Some(id) = o.strategy_id
        && matches!(
            crate::store::entities::strategies::Entity::find_by_id(id)
                .one(db)
                .await,
            Ok(None)
        )
    {
        o.strategy_id = None;
        cleared.push("strategy");
    }
    (!cleared.is_empty()).then_some((unlinked, cleared))
}

/// An event the database refuses on its own: a bug. Counted, logged, and
/// kept in the journal's rejected file for the operator.
fn refused(journal: Option<&Journal>, event: &Event, e: &sea_orm::DbErr) {
    metrics::counter!("persist_failures_total").increment(1);
    let line = serde_json::to_string(event).unwrap_or_default();
    tracing::error!(error = %e, kind = event_kind(event), "the database refused an event; kept in the rejected file");
    if let Some(j) = journal {
        journal::keep_rejected(j.dir(), &line);
    }
}

fn event_kind(e: &Event) -> &'static str {
    match e {
        Event::Signal(_) => "signal",
        Event::OrderPlaced(_) => "order_placed",
        Event::OrderFound(_) => "order_found",
        Event::OrderUpdated(_) => "order_updated",
        Event::OrderFilled(_) => "order_filled",
        Event::OrderRejected(_) => "order_rejected",
        Event::PositionOpened(_) => "position_opened",
        Event::PositionProtected(_) => "position_protected",
        Event::PositionReduced(_) => "position_reduced",
        Event::PositionClosed(_) => "position_closed",
        Event::RiskState { .. } => "risk_state",
        Event::RiskAlert(_) => "risk_alert",
        _ => "live",
    }
}

fn is_outage(e: &sea_orm::DbErr) -> bool {
    matches!(
        e,
        sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_)
    ) || e.to_string().contains("connection")
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("the journal in its directory cannot be read or started: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// Writes what an earlier run journaled and did not commit, before the
/// trading core reads the store; then starts this run's journal after it.
pub async fn recover(store: &Store, dir: &std::path::Path) -> Result<Arc<Journal>, RecoverError> {
    let lock = journal::lock(dir)?;
    let found = journal::read(dir)?;
    let checkpoint: u64 = system_settings::Entity::find_by_id(found.key.clone())
        .one(store.conn())
        .await?
        .and_then(|r| r.value.parse().ok())
        .unwrap_or(0);
    let todo: Vec<Item> = found
        .events
        .into_iter()
        .filter(|r| r.seq > checkpoint)
        .map(|r| Item {
            event: Arc::new(r.event),
            seq: r.seq,
            lease: r.lease,
        })
        .collect();
    if !todo.is_empty() {
        tracing::warn!(
            events = todo.len(),
            "writing the records an earlier run journaled but had not stored"
        );
        metrics::counter!("journal_recovered_events_total").increment(todo.len() as u64);
    }
    let j = Journal::start(dir, found.key.clone(), found.last_seq.max(checkpoint))?
        .hold(lock)
        .with_id(found.id.clone());
    for chunk in todo.chunks(MAX_BATCH) {
        write_with_retry(store, Some(&j), chunk).await;
    }
    j.retire(found.files);
    Ok(Arc::new(j))
}

async fn write_batch(
    store: &Store,
    batch: &[Item],
    journal_key: Option<&str>,
    last_seq: u64,
) -> Result<(), sea_orm::DbErr> {
    let txn = store.writer().await?.begin().await?;
    let fences =
        super::fences::read_locked(&txn, batch.iter().map(|i| (i.event.as_ref(), i.lease))).await?;
    let mut rows = Rows::default();
    for item in batch {
        // A record made under a lease the shard has since passed beyond
        // is a stale owner's: kept as a new fact, never overwriting.
        let current = super::fences::current(&fences, &item.event, item.lease);
        if !current {
            metrics::counter!("persist_fenced_total").increment(1);
            tracing::warn!(
                kind = event_kind(&item.event),
                lease = ?item.lease,
                "a record made under a lease its shard has passed beyond: kept only where nothing newer is"
            );
        }
        rows.add(&item.event, current);
    }
    rows.write(&txn).await?;
    if let Some(key) = journal_key
        && last_seq > 0
    {
        system_settings::Entity::insert(system_settings::ActiveModel {
            key: Set(key.to_owned()),
            value: Set(last_seq.to_string()),
            updated_at: Set(chrono::Utc::now()),
        })
        .on_conflict(
            OnConflict::column(system_settings::Column::Key)
                .update_columns([
                    system_settings::Column::Value,
                    system_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await
}

fn dec(d: Option<rust_decimal::Decimal>) -> Option<DbDecimal> {
    d.map(DbDecimal)
}

/// What an upsert does with a row already there: update the columns a
/// later record may change, or (a stale owner's record) leave it.
fn on_conflict<C: sea_orm::sea_query::IntoIden + Copy>(
    key: C,
    columns: impl IntoIterator<Item = C>,
    overwrite: bool,
) -> OnConflict {
    let mut c = OnConflict::column(key);
    if overwrite {
        c.update_columns(columns);
    } else {
        c.do_nothing();
    }
    c
}

/// Rows kept in one statement: SQLite allows 32,766 bound values and
/// PostgreSQL 65,535; an order row binds 27.
const ROWS_PER_STATEMENT: usize = 200;

/// One table's rows of a batch, one per key: a row's last current record
/// (it carries the whole state, so it supersedes the earlier ones) and,
/// apart, a stale owner's first (insert-only: the first would have been
/// the one inserted, and the rest would have found it there).
struct Keyed<K, R> {
    current: Vec<R>,
    current_at: HashMap<K, usize>,
    stale: Vec<R>,
    stale_seen: HashSet<K>,
}

impl<K, R> Default for Keyed<K, R> {
    fn default() -> Self {
        Self {
            current: Vec::new(),
            current_at: HashMap::new(),
            stale: Vec::new(),
            stale_seen: HashSet::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq, R> Keyed<K, R> {
    fn add(&mut self, key: K, current: bool, row: impl FnOnce() -> R) {
        if current {
            match self.current_at.get(&key) {
                Some(&i) => self.current[i] = row(),
                None => {
                    self.current_at.insert(key, self.current.len());
                    self.current.push(row());
                }
            }
        } else if self.stale_seen.insert(key) {
            self.stale.push(row());
        }
    }

    /// Stale rows first: a current record of the same row then overwrites
    /// what a stale one inserted, as if they had been written in order.
    fn parts(self) -> [(Vec<R>, bool); 2] {
        [(self.stale, false), (self.current, true)]
    }
}

/// A batch as the statements that store it: events of one row collapse to
/// the row's final state, and each table's rows go in a few multi-row
/// statements — one statement per event cost a round trip to the database
/// thread each, and the writer fell behind a busy bot (its queue, in
/// memory, grew by the minute). Tables are written parents first (signals
/// and positions before the orders that point at them).
#[derive(Default)]
struct Rows {
    signals: Keyed<i64, signals::ActiveModel>,
    positions: Keyed<i64, positions::ActiveModel>,
    orders: Keyed<String, orders::ActiveModel>,
    risk: Keyed<i64, risk_settings::ActiveModel>,
    audit: Vec<audit_log::ActiveModel>,
}

impl Rows {
    fn add(&mut self, event: &Event, current: bool) {
        match event {
            Event::Signal(s) => self.signals.add(s.id, current, || signal_row(s)),
            // Every order fact leaves the order's row as its record stands.
            Event::OrderPlaced(o)
            | Event::OrderFound(o)
            | Event::OrderUpdated(o)
            | Event::OrderFilled(o)
            | Event::OrderRejected(o) => {
                self.orders
                    .add(o.client_order_id.as_str().to_owned(), current, || {
                        order_row(o)
                    })
            }
            Event::PositionOpened(p)
            | Event::PositionProtected(p)
            | Event::PositionReduced(p)
            | Event::PositionClosed(p) => self.positions.add(p.id, current, || position_row(p)),
            Event::RiskState { user_id, ledger } => self
                .risk
                .add(*user_id, current, || risk_row(*user_id, ledger)),
            Event::RiskAlert(a) => self.audit.push(audit_log::ActiveModel {
                user_id: Set(Some(a.user_id)),
                event: Set(format!("risk.{}", a.kind)),
                details: Set(Some(
                    serde_json::json!({
                        "rule": a.rule.map(|r| r.as_str()),
                        "message": a.message,
                        "position_id": a.position_id,
                    })
                    .to_string(),
                )),
                created_at: Set(chrono::Utc::now()),
                ..Default::default()
            }),
            // Live-only events never reach this writer; nothing to keep.
            Event::PositionValue(_)
            | Event::PnlStep(_)
            | Event::AiRecommendation(_)
            | Event::AccountUpdate(_)
            | Event::SecurityAlert(_)
            | Event::Price(_)
            | Event::DayEnded { .. } => {}
        }
    }

    async fn write(self, db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
        for (rows, overwrite) in self.signals.parts() {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                signals::Entity::insert_many(chunk.iter().cloned())
                    .on_conflict(signal_conflict(overwrite))
                    .exec_without_returning(db)
                    .await?;
            }
        }
        for (rows, overwrite) in self.positions.parts() {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                positions::Entity::insert_many(chunk.iter().cloned())
                    .on_conflict(position_conflict(overwrite))
                    .exec_without_returning(db)
                    .await?;
            }
        }
        for (rows, overwrite) in self.orders.parts() {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                orders::Entity::insert_many(chunk.iter().cloned())
                    .on_conflict(order_conflict(overwrite))
                    .exec_without_returning(db)
                    .await?;
            }
        }
        for (rows, overwrite) in self.risk.parts() {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                risk_settings::Entity::insert_many(chunk.iter().cloned())
                    .on_conflict(risk_conflict(overwrite))
                    .exec_without_returning(db)
                    .await?;
            }
        }
        for chunk in self.audit.chunks(ROWS_PER_STATEMENT) {
            audit_log::Entity::insert_many(chunk.iter().cloned())
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }
}

fn signal_row(s: &SignalRecord) -> signals::ActiveModel {
    signals::ActiveModel {
        id: Set(s.id),
        user_id: Set(s.user_id),
        strategy_id: Set(s.strategy_id),
        signal_key: Set(s.signal_key.chars().take(128).collect()),
        action: Set(s.action.clone()),
        symbol: Set(s.symbol.clone()),
        price: Set(dec(s.price)),
        outcome: Set(s.outcome),
        reason: Set(s.reason.as_ref().map(|r| r.chars().take(255).collect())),
        latency_us: Set(s.latency_us),
        source_ip: Set(s.source_ip.clone()),
        received_at: Set(s.received_at),
    }
}

fn signal_conflict(overwrite: bool) -> OnConflict {
    on_conflict(
        signals::Column::Id,
        [signals::Column::Outcome, signals::Column::Reason],
        overwrite,
    )
}

fn order_row(o: &OrderRecord) -> orders::ActiveModel {
    orders::ActiveModel {
        id: Set(o.id),
        user_id: Set(o.user_id),
        position_id: Set(o.position_id),
        strategy_id: Set(o.strategy_id),
        signal_id: Set(o.signal_id),
        account_id: Set(Some(o.account_id)),
        exchange: Set(o.exchange.clone()),
        order_id: Set(o.venue_order_id.clone()),
        client_order_id: Set(o.client_order_id.as_str().to_owned()),
        leg: Set(o.leg),
        symbol: Set(o.symbol.clone()),
        side: Set(o.side),
        order_type: Set(o.order_type),
        price: Set(dec(o.price)),
        trigger_price: Set(dec(o.trigger_price)),
        quantity: Set(DbDecimal(o.quantity)),
        filled_qty: Set(DbDecimal(o.filled_qty)),
        avg_fill_price: Set(dec(o.avg_fill_price)),
        fee: Set(DbDecimal(o.fee)),
        fee_asset: Set(o.fee_asset.clone()),
        reduce_only: Set(o.reduce_only),
        status: Set(o.status),
        error_code: Set(o.error_code.clone()),
        error_message: Set(o
            .error_message
            .as_ref()
            .map(|m| m.chars().take(512).collect())),
        created_at: Set(o.created_at),
        updated_at: Set(o.updated_at),
        filled_at: Set(o.filled_at),
    }
}

fn order_conflict(overwrite: bool) -> OnConflict {
    use orders::Column as C;
    on_conflict(
        C::ClientOrderId,
        [
            C::PositionId,
            C::OrderId,
            C::Price,
            C::TriggerPrice,
            C::Quantity,
            C::FilledQty,
            C::AvgFillPrice,
            C::Fee,
            C::FeeAsset,
            C::Status,
            C::ErrorCode,
            C::ErrorMessage,
            C::UpdatedAt,
            C::FilledAt,
        ],
        overwrite,
    )
}

fn position_row(p: &PositionRecord) -> positions::ActiveModel {
    positions::ActiveModel {
        id: Set(p.id),
        user_id: Set(p.user_id),
        strategy_id: Set(p.strategy_id),
        account_id: Set(Some(p.account_id)),
        exchange: Set(p.exchange.clone()),
        symbol: Set(p.symbol.clone()),
        side: Set(p.side),
        entry_price: Set(DbDecimal(p.entry_price)),
        quantity: Set(DbDecimal(p.quantity)),
        leverage: Set(p.leverage as i32),
        margin_mode: Set(p.margin_mode),
        stop_loss: Set(dec(p.stop_loss)),
        take_profit: Set(dec(p.take_profit)),
        liquidation_price: Set(dec(p.liquidation_price)),
        unrealized_pnl: Set(DbDecimal(rust_decimal::Decimal::ZERO)),
        realized_pnl: Set(DbDecimal(p.realized_pnl)),
        fees: Set(DbDecimal(p.fees)),
        exit_price: Set(dec(p.exit_price)),
        close_reason: Set(p.close_reason.clone()),
        status: Set(p.status),
        opened_at: Set(p.opened_at),
        closed_at: Set(p.closed_at),
        updated_at: Set(chrono::Utc::now()),
    }
}

fn position_conflict(overwrite: bool) -> OnConflict {
    use positions::Column as C;
    on_conflict(
        C::Id,
        [
            C::EntryPrice,
            C::Quantity,
            C::StopLoss,
            C::TakeProfit,
            C::LiquidationPrice,
            C::RealizedPnl,
            C::Fees,
            C::ExitPrice,
            C::CloseReason,
            C::Status,
            C::ClosedAt,
            C::UpdatedAt,
        ],
        overwrite,
    )
}

fn risk_row(user_id: i64, l: &RiskLedger) -> risk_settings::ActiveModel {
    let defaults = tradingbot_core::risk::RiskLimits::default();
    risk_settings::ActiveModel {
        user_id: Set(user_id),
        max_leverage: Set(defaults.max_leverage as i32),
        max_open_positions: Set(defaults.max_open_positions as i32),
        max_position_notional: Set(None),
        daily_loss_limit_pct: Set(None),
        kill_switch: Set(l.kill_switch),
        admin_kill_switch: Set(l.admin_kill_switch),
        day: Set(l.day),
        day_start_equity: Set(DbDecimal(l.start_equity)),
        halted_day: Set(l.halted_day),
        updated_at: Set(chrono::Utc::now()),
    }
}

fn risk_conflict(overwrite: bool) -> OnConflict {
    use risk_settings::Column as C;
    on_conflict(
        C::UserId,
        [
            C::KillSwitch,
            C::AdminKillSwitch,
            C::Day,
            C::DayStartEquity,
            C::HaltedDay,
            C::UpdatedAt,
        ],
        overwrite,
    )
}
