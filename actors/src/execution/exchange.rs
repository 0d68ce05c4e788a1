//! One actor per exchange account: the session, its stream, and the order
//! sequences that must not be interleaved wrongly — an entry, then its
//! stop-loss and take-profit as soon as it fills; a close, then the
//! cancellation of the protection it no longer needs.
//!
//! It holds no trading state of its own: it does I/O and reports results to
//! the owning user's actor, which decides and records. Requests run as
//! spawned futures, so a slow venue answer for one symbol never holds up
//! another.

use super::FromExchange;
use super::mailbox::Depth;
use super::view::AccountView;
use crate::exchange::budget::Priority;
use crate::exchange::updates::{UpdateStream, VenueUpdate};
use crate::exchange::{Connection, Endpoints, handoff};
use actix::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradingbot_core::exchange::{
    ClientOrderId, ExchangeError, Leg, MarginMode, OrderKind, OrderReport, OrderRequest, OrderSize,
    OrderStatus, PositionSide, TriggerPrice,
};

/// How long an entry that did not fill at once is followed before giving up.
const FILL_WAIT: Duration = Duration::from_secs(10);
/// How often balances are read again when no stream says they changed.
const BALANCE_REFRESH: Duration = Duration::from_secs(30);
/// How often prices of the watched symbols are refreshed.
const MARK_REFRESH: Duration = Duration::from_secs(2);

/// Whether this instance may still send for the account's user (it owns
/// the user's shard), asked right before each order or cancel leaves.
pub type Fence = Arc<dyn Fn() -> bool + Send + Sync>;

fn fenced() -> ExchangeError {
    ExchangeError::InvalidRequest(
        "this instance no longer trades for the account's user; the owner takes over".into(),
    )
}

pub struct ExchangeActor {
    view: Arc<AccountView>,
    fence: Fence,
    conn: Connection,
    endpoints: Endpoints,
    owner: Recipient<FromExchange>,
    stream: Option<UpdateStream>,
    watched: BTreeSet<String>,
    refreshing: bool,
    /// When balances were last read: a reconnect right after one does not
    /// read them again (a hundred accounts reconnecting at once must not
    /// spend the address's budget on it).
    balances_read: Option<Instant>,
    depth: Arc<Depth>,
}

impl ExchangeActor {
    pub fn new(
        view: Arc<AccountView>,
        conn: Connection,
        endpoints: Endpoints,
        owner: Recipient<FromExchange>,
        depth: Arc<Depth>,
        fence: Fence,
    ) -> Self {
        Self {
            view,
            fence,
            conn,
            endpoints,
            owner,
            stream: None,
            watched: BTreeSet::new(),
            refreshing: false,
            balances_read: None,
            depth,
        }
    }

    fn account_id(&self) -> i64 {
        self.view.account_id
    }

    /// Reads balances and the watched symbols' rules and prices.
    fn refresh(&mut self, ctx: &mut Context<Self>, with_balances: bool) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        let with_balances = with_balances
            && self
                .balances_read
                .is_none_or(|t| t.elapsed() > Duration::from_secs(10));
        if with_balances {
            self.balances_read = Some(Instant::now());
        }
        let (conn, view) = (self.conn.clone(), self.view.clone());
        let symbols: Vec<String> = self.watched.iter().cloned().collect();
        ctx.spawn(
            async move {
                if with_balances || view.balance().is_none() {
                    let read = if view.balance().is_none() {
                        conn.balances().await
                    } else {
                        conn.poll_balances().await
                    };
                    match read {
                        Ok(b) => view.set_balances(&b),
                        Err(e) => tracing::warn!(account = view.account_id, error = %e, "balance refresh failed"),
                    }
                }
                for s in symbols {
                    if view.rules(&s).is_none() {
                        match conn.rules(&s).await {
                            Ok(r) => view.set_rules(r),
                            Err(e) => tracing::warn!(account = view.account_id, symbol = %s, error = %e, "rules unavailable"),
                        }
                    }
                    view.want_mark(&s);
                    // The venue's stream, or another account, may have just read it.
                    if view.mark_age(&s).is_some_and(|age| age < MARK_REFRESH) {
                        continue;
                    }
                    match conn.mark_price(&s).await {
                        Ok(p) => view.set_mark(&s, p),
                        Err(e) => tracing::debug!(symbol = %s, error = %e, "mark refresh failed"),
                    }
                }
            }
            .into_actor(self)
            .map(|(), act, _| act.refreshing = false),
        );
    }
}

impl Actor for ExchangeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        self.stream = Some(
            self.conn
                .start_updates(&self.endpoints, self.view.testnet, tx),
        );
        let me = ctx.address();
        let depth = self.depth.clone();
        actix::spawn(async move {
            while let Some(update) = rx.recv().await {
                depth.sent();
                if me.try_send(FromVenue(update)).is_err() {
                    depth.handled();
                    return;
                }
            }
        });
        self.refresh(ctx, true);
        ctx.run_interval(MARK_REFRESH, |act, ctx| act.refresh(ctx, false));
        ctx.run_interval(BALANCE_REFRESH, |act, ctx| {
            let (conn, view) = (act.conn.clone(), act.view.clone());
            ctx.spawn(
                async move {
                    if let Ok(b) = conn.poll_balances().await {
                        view.set_balances(&b);
                    }
                }
                .into_actor(act),
            );
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stream = None;
    }
}

/// Stop: the account's user is handled elsewhere now (or its credentials
/// changed). Requests in flight are dropped with the actor; the next owner
/// reconciles them by client id.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Self::Context) {
        self.depth.handled();
        ctx.stop();
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct FromVenue(VenueUpdate);

impl Handler<FromVenue> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: FromVenue, ctx: &mut Self::Context) {
        self.depth.handled();
        match &msg.0 {
            VenueUpdate::Balances(b) => self.view.set_balances(b),
            VenueUpdate::Position {
                symbol,
                position: Some(p),
            } => {
                if let Some(m) = p.mark_price {
                    self.view.set_mark(symbol, m);
                }
            }
            VenueUpdate::Connected => self.refresh(ctx, true),
            _ => {}
        }
        self.owner.do_send(FromExchange::Venue {
            account_id: self.account_id(),
            update: msg.0,
        });
    }
}

/// Keep rules and prices of these symbols (venue spelling) in the view, and
/// set leverage and margin mode ahead of the first signal.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    pub symbols: Vec<(String, u32, MarginMode)>,
}

impl Handler<Watch> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: Watch, ctx: &mut Self::Context) {
        self.depth.handled();
        let conn = self.conn.clone();
        let view = self.view.clone();
        for (s, _, _) in &msg.symbols {
            self.watched.insert(s.clone());
        }
        ctx.spawn(
            async move {
                for (symbol, leverage, mode) in msg.symbols {
                    match conn.rules(&symbol).await {
                        Ok(r) => view.set_rules(r),
                        Err(e) => {
                            tracing::warn!(account = view.account_id, %symbol, error = %e, "rules unavailable");
                            continue;
                        }
                    }
                    if let Ok(p) = conn.mark_price(&symbol).await {
                        view.set_mark(&symbol, p);
                    }
                    if let Err(e) = conn.configure(&symbol, leverage, mode).await {
                        tracing::warn!(account = view.account_id, %symbol, error = %e, "cannot set leverage/margin mode yet");
                    }
                }
            }
            .into_actor(self),
        );
    }
}

/// Loads what sizing needs for `symbol` (rules, price, balance) now;
/// answers when done, or after a few seconds at most.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Warm {
    pub symbol: String,
}

impl Handler<Warm> for ExchangeActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Warm, _: &mut Self::Context) -> Self::Result {
        self.depth.handled();
        self.watched.insert(msg.symbol.clone());
        let (conn, view) = (self.conn.clone(), self.view.clone());
        Box::pin(async move {
            let load = async {
                if view.rules(&msg.symbol).is_none()
                    && let Ok(r) = conn.rules(&msg.symbol).await
                {
                    view.set_rules(r);
                }
                if view.mark(&msg.symbol).is_none()
                    && let Ok(p) = conn.mark_price(&msg.symbol).await
                {
                    view.set_mark(&msg.symbol, p);
                }
                if view.balance().is_none()
                    && let Ok(b) = conn.balances().await
                {
                    view.set_balances(&b);
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(3), load).await;
        })
    }
}

/// Opens a position: configure and enter (its owner protects it when the
/// fill is reported).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Open {
    pub position_id: i64,
    pub entry: OrderRequest,
    pub leverage: u32,
    pub margin: MarginMode,
    pub reference_price: Decimal,
    /// When the webhook that caused it arrived.
    pub origin: Option<Instant>,
}

/// A protective order placed (or not) for a position.
#[derive(Debug, Clone)]
pub struct Placed {
    pub request: OrderRequest,
    pub trigger: Decimal,
    pub result: Result<OrderReport, ExchangeError>,
}

impl Handler<Open> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: Open, ctx: &mut Self::Context) {
        self.depth.handled();
        let (conn, owner, fence) = (self.conn.clone(), self.owner.clone(), self.fence.clone());
        self.watched.insert(msg.entry.symbol.clone());
        ctx.spawn(
            async move {
                let position_id = msg.position_id;
                let entry = if fence() {
                    enter(&conn, &msg).await
                } else {
                    Err(fenced())
                };
                // The owner records the stop and target before they go
                // (so no order exists on the venue that the store cannot
                // know of), then sends them: one hop on this arbiter.
                owner.do_send(FromExchange::EntryDone {
                    position_id,
                    result: entry,
                });
            }
            .into_actor(self),
        );
    }
}

/// A protective order: a stop-loss or take-profit that closes the whole
/// position when the mark price crosses `trigger`.
pub fn protective(
    symbol: &str,
    side: PositionSide,
    id: ClientOrderId,
    trigger: Decimal,
    stop: bool,
) -> (OrderRequest, Decimal) {
    let kind = if stop {
        OrderKind::StopMarket {
            trigger,
            trigger_by: TriggerPrice::Mark,
        }
    } else {
        OrderKind::TakeProfitMarket {
            trigger,
            trigger_by: TriggerPrice::Mark,
        }
    };
    (
        OrderRequest {
            client_id: id,
            symbol: symbol.to_owned(),
            side: side.exit_side(),
            kind,
            size: OrderSize::ClosePosition,
            reduce_only: true,
            attach: None,
        },
        trigger,
    )
}

async fn enter(conn: &Connection, msg: &Open) -> Result<OrderReport, ExchangeError> {
    conn.configure(&msg.entry.symbol, msg.leverage, msg.margin)
        .await?;
    let report = handoff::scope(
        msg.origin,
        conn.place(
            &msg.entry,
            msg.margin,
            msg.reference_price,
            Priority::Normal,
        ),
    )
    .await?;
    if matches!(msg.entry.kind, OrderKind::Limit { .. }) {
        // A limit entry rests: its fills come on the stream, and its owner
        // cancels it when its time runs out.
        return Ok(report);
    }
    follow_until_final(conn, &msg.entry, report).await
}

/// Cancels a limit entry and says how it ended (what filled before).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct CancelEntry {
    pub position_id: i64,
    pub symbol: String,
    pub id: ClientOrderId,
}

impl Handler<CancelEntry> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: CancelEntry, ctx: &mut Self::Context) {
        self.depth.handled();
        let (conn, owner, fence) = (self.conn.clone(), self.owner.clone(), self.fence.clone());
        ctx.spawn(
            async move {
                let result = if fence() {
                    // Refused when it filled or ended meanwhile: the query
                    // says how.
                    let canceled = conn.cancel(&msg.symbol, &msg.id, false).await;
                    match canceled {
                        Ok(r) if r.status.is_final() => Ok(r),
                        _ => match conn.query(&msg.symbol, &msg.id, false).await {
                            Ok(Some(r)) => Ok(r),
                            Ok(None) => Err(ExchangeError::OrderNotFound {
                                code: "cancel".into(),
                                message: "the exchange has no such order".into(),
                            }),
                            Err(e) => Err(e),
                        },
                    }
                } else {
                    Err(fenced())
                };
                owner.do_send(FromExchange::EntryCanceled {
                    position_id: msg.position_id,
                    result,
                });
            }
            .into_actor(self),
        );
    }
}

/// Market orders usually answer filled; when one does not, it is followed
/// by query until the venue says it is done.
async fn follow_until_final(
    conn: &Connection,
    order: &OrderRequest,
    mut report: OrderReport,
) -> Result<OrderReport, ExchangeError> {
    let deadline = Instant::now() + FILL_WAIT;
    let conditional = order.kind.is_conditional();
    while !report.status.is_final() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(r) = conn
            .query(&order.symbol, &order.client_id, conditional)
            .await?
        {
            report = r;
        }
    }
    Ok(report)
}

/// How many times a protective order refused for a passing reason (a rate
/// limit, an unreachable venue) is sent again before the owner hears of
/// it; the owner's guard then tries again, so a stop is never given up on.
const PROTECT_ATTEMPTS: u32 = 8;

/// Places protective orders, each retried while the venue is merely busy.
/// An answer that an order with the same client id exists is resolved by
/// the connection into that order: found, never duplicated.
async fn place_all(
    conn: &Connection,
    fence: &Fence,
    orders: Vec<(OrderRequest, Decimal)>,
    margin: MarginMode,
    reference: Decimal,
) -> Vec<Placed> {
    let mut out = Vec::new();
    for (request, trigger) in orders {
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            if !fence() {
                break Err(fenced());
            }
            match conn
                .place(&request, margin, reference, Priority::Protective)
                .await
            {
                Err(e) if e.transient() && !e.outcome_unknown() && attempt < PROTECT_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => break other,
            }
        };
        out.push(Placed {
            request,
            trigger,
            result,
        });
    }
    out
}

/// 250 ms doubling, at most 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(5))
}

/// Places protective orders again (reconciliation found them missing).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Protect {
    pub position_id: i64,
    pub orders: Vec<(OrderRequest, Decimal)>,
    pub margin: MarginMode,
    pub reference: Decimal,
}

impl Handler<Protect> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: Protect, ctx: &mut Self::Context) {
        self.depth.handled();
        let (conn, owner, fence) = (self.conn.clone(), self.owner.clone(), self.fence.clone());
        ctx.spawn(
            async move {
                let placed = place_all(&conn, &fence, msg.orders, msg.margin, msg.reference).await;
                owner.do_send(FromExchange::ProtectionDone {
                    position_id: msg.position_id,
                    placed,
                });
            }
            .into_actor(self),
        );
    }
}

/// Closes a position: the reduce-only market order first (so the position
/// is never left unprotected and open), then the protection it no longer needs.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Close {
    pub position_id: i64,
    pub order: OrderRequest,
    pub margin: MarginMode,
    pub reference_price: Decimal,
    pub cancel: Vec<ClientOrderId>,
    pub origin: Option<Instant>,
}

impl Handler<Close> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: Close, ctx: &mut Self::Context) {
        self.depth.handled();
        let (conn, owner, fence) = (self.conn.clone(), self.owner.clone(), self.fence.clone());
        ctx.spawn(
            async move {
                let mut origin = msg.origin;
                let mut attempt = 0u32;
                // A close refused for a passing reason (a rate limit, a ban,
                // an unreachable venue) is the trader's decision all the
                // same: it waits and goes again, it is never dropped.
                let result = loop {
                    attempt += 1;
                    if !fence() {
                        break Err(fenced());
                    }
                    let placed = handoff::scope(
                        origin.take(),
                        conn.place(
                            &msg.order,
                            msg.margin,
                            msg.reference_price,
                            Priority::Protective,
                        ),
                    )
                    .await;
                    let result = match placed {
                        Ok(r) => follow_until_final(&conn, &msg.order, r).await,
                        Err(e) => Err(e),
                    };
                    // A reduce-only close sent again after an unknown outcome
                    // cannot close more than the position: the venue refuses
                    // it once the first went through.
                    match result {
                        Err(e) if e.transient() => {
                            if attempt == 3 {
                                tracing::warn!(client_id = %msg.order.client_id, error = %e, "a close keeps being refused for a passing reason; still trying");
                            }
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                        other => break other,
                    }
                };
                let canceled = if result
                    .as_ref()
                    .is_ok_and(|r| r.status == OrderStatus::Filled)
                    || matches!(result, Err(ExchangeError::ReduceOnlyRejected { .. }))
                {
                    cancel_all(&conn, &fence, &msg.order.symbol, &msg.cancel).await
                } else {
                    Vec::new()
                };
                owner.do_send(FromExchange::CloseDone {
                    position_id: msg.position_id,
                    result,
                    canceled,
                });
            }
            .into_actor(self),
        );
    }
}

async fn cancel_all(
    conn: &Connection,
    fence: &Fence,
    symbol: &str,
    ids: &[ClientOrderId],
) -> Vec<(ClientOrderId, Result<OrderReport, ExchangeError>)> {
    let mut out = Vec::new();
    for id in ids {
        let conditional = id.leg().is_some_and(Leg::is_protective);
        let mut attempt = 0;
        let r = loop {
            attempt += 1;
            if !fence() {
                break Err(fenced());
            }
            match conn.cancel(symbol, id, conditional).await {
                Err(e) if e.transient() && attempt < PROTECT_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => break other,
            }
        };
        if let Err(e) = &r
            && !matches!(e, ExchangeError::OrderNotFound { .. })
        {
            tracing::warn!(client_id = %id, error = %e, "cancelling a protective order failed");
        }
        out.push((id.clone(), r));
    }
    out
}

/// Cancels protective orders that are no longer needed (the sibling of a
/// stop or target that filled).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Cancel {
    pub symbol: String,
    pub ids: Vec<ClientOrderId>,
}

impl Handler<Cancel> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: Cancel, ctx: &mut Self::Context) {
        self.depth.handled();
        let (conn, fence) = (self.conn.clone(), self.fence.clone());
        ctx.spawn(
            async move {
                cancel_all(&conn, &fence, &msg.symbol, &msg.ids).await;
            }
            .into_actor(self),
        );
    }
}

/// Asks the venue for the truth: its positions, each order of ours by
/// client id (`true`: a conditional order), and every open order of the
/// listed symbols (to find protection placed under ids we lost, duplicates
/// and leftovers).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Reconcile {
    pub orders: Vec<(String, ClientOrderId, bool)>,
    pub symbols: Vec<String>,
    /// A periodic sweep: its reads give way (and are skipped) when the
    /// venue's budget is short; a reconciliation after a start, a
    /// reconnect or an unknown outcome goes first.
    pub background: bool,
}

impl Handler<Reconcile> for ExchangeActor {
    type Result = ();

    fn handle(&mut self, msg: Reconcile, ctx: &mut Self::Context) {
        self.depth.handled();
        let (conn, owner, account_id) = (self.conn.clone(), self.owner.clone(), self.account_id());
        ctx.spawn(
            async move {
                let priority = if msg.background {
                    Priority::Background
                } else {
                    Priority::Protective
                };
                let positions = conn.positions_at(priority).await;
                let mut orders = Vec::new();
                let mut open = HashMap::new();
                if positions.is_err() {
                    // Nothing to compare with; the next round asks again.
                    owner.do_send(FromExchange::Reconciled {
                        account_id,
                        positions,
                        orders,
                        open,
                    });
                    return;
                }
                for (symbol, id, conditional) in msg.orders {
                    let r = conn.query_at(&symbol, &id, conditional, priority).await;
                    orders.push((id, r));
                }
                for symbol in msg.symbols {
                    match conn.open_orders(&symbol, priority).await {
                        Ok(list) => {
                            open.insert(symbol, list);
                        }
                        Err(e) => {
                            tracing::warn!(account_id, %symbol, error = %e, "open orders unavailable; the sweep waits for the next round");
                        }
                    }
                }
                owner.do_send(FromExchange::Reconciled {
                    account_id,
                    positions,
                    orders,
                    open,
                });
            }
            .into_actor(self),
        );
    }
}
