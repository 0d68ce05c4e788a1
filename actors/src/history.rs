//! The read side of trading: positions, orders and signals as the execution
//! core wrote them, always filtered by their owner.

use crate::store::entities::{orders, positions, signals};
use crate::store::enums::{PositionSide, PositionStatus, SignalOutcome};
use crate::store::{Backend, Store};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use tradingbot_core::performance::ClosedTrade;

/// Why positions close, as the execution core writes them: a stop or target
/// filled on the venue, the strategy's own signal, the opposite signal
/// turning it around, the API or Telegram, the risk kill switch, a
/// liquidation, or the trader on the exchange itself.
pub const CLOSE_REASONS: &[&str] = &[
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "signal",
    "reversal",
    "manual",
    "emergency",
    "liquidation",
    "closed_externally",
];

/// Where a keyset page resumes: just after the last row the reader saw, so
/// rows arriving meanwhile neither repeat nor hide an item the way an
/// offset would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// Lists in time order: that row's time and id.
    At(DateTime<Utc>, i64),
    /// Closed positions by result: that row's realized PnL and id.
    Pnl(Decimal, i64),
    /// Signals: that row's id (ids grow as alerts arrive).
    Id(i64),
}

/// The rows asked for: from an offset, or after a row (keyset).
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
    pub after: Option<After>,
}

/// One window of rows, how many match the filters in all, and whether more
/// follow the window.
#[derive(Debug, Clone)]
pub struct Slice<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub more: bool,
}

/// The order of the position history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClosedOrder {
    /// Last closed first.
    #[default]
    NewestFirst,
    OldestFirst,
    /// Largest realized PnL first.
    BestFirst,
    WorstFirst,
}

/// PnL as a number both backends order alike: SQLite keeps decimals as
/// exact text (see `DbDecimal`), which would sort as strings. Only the
/// order comes from the float; the amounts shown stay exact.
const PNL_ORDER: &str = "CAST(realized_pnl AS DOUBLE PRECISION)";

impl ClosedOrder {
    fn descending(self) -> bool {
        matches!(self, Self::NewestFirst | Self::BestFirst)
    }

    /// The rows strictly after `after` in this order.
    fn after(self, after: &After, backend: Backend) -> Result<Condition, DbErr> {
        let desc = self.descending();
        match (self, after) {
            (Self::NewestFirst | Self::OldestFirst, After::At(t, id)) => Ok(past(
                positions::Column::ClosedAt,
                positions::Column::Id,
                *t,
                *id,
                desc,
            )),
            (Self::BestFirst | Self::WorstFirst, After::Pnl(p, id)) => {
                // The cursor's amount is cast by the database as the
                // column is, so a tie compares equal on both backends.
                let op = if desc { "<" } else { ">" };
                // sea-query passes a custom expression's placeholder through
                // as written: numbered on PostgreSQL, positional on SQLite
                // (where two `$1` would name one parameter).
                let arg = match backend {
                    Backend::Postgres => "$1",
                    Backend::Sqlite => "?",
                };
                let beyond = Expr::cust_with_values(
                    format!("{PNL_ORDER} {op} CAST({arg} AS DOUBLE PRECISION)"),
                    [*p],
                );
                let tie = Expr::cust_with_values(
                    format!("{PNL_ORDER} = CAST({arg} AS DOUBLE PRECISION)"),
                    [*p],
                );
                let id_past = if desc {
                    positions::Column::Id.lt(*id)
                } else {
                    positions::Column::Id.gt(*id)
                };
                Ok(Condition::any()
                    .add(beyond)
                    .add(Condition::all().add(tie).add(id_past)))
            }
            _ => Err(DbErr::Custom("a cursor of another order".into())),
        }
    }

    fn sort(self, q: Select<positions::Entity>) -> Select<positions::Entity> {
        let order = if self.descending() {
            Order::Desc
        } else {
            Order::Asc
        };
        let q = match self {
            Self::NewestFirst | Self::OldestFirst => {
                q.order_by(positions::Column::ClosedAt, order.clone())
            }
            Self::BestFirst | Self::WorstFirst => q.order_by(Expr::cust(PNL_ORDER), order.clone()),
        };
        q.order_by(positions::Column::Id, order)
    }
}

/// Rows past `(t, id)` in `(time, id)` order, descending or ascending.
fn past<C: ColumnTrait>(time: C, id_col: C, t: DateTime<Utc>, id: i64, desc: bool) -> Condition {
    if desc {
        Condition::any()
            .add(time.lt(t))
            .add(Condition::all().add(time.eq(t)).add(id_col.lt(id)))
    } else {
        Condition::any()
            .add(time.gt(t))
            .add(Condition::all().add(time.eq(t)).add(id_col.gt(id)))
    }
}

/// Counts what `q` matches, then reads one window of it (ordered already);
/// one row more than asked tells whether more follow.
pub(crate) async fn window<E: EntityTrait>(
    conn: &sea_orm::DatabaseConnection,
    q: Select<E>,
    keyset: Option<Condition>,
    w: &Window,
) -> Result<Slice<E::Model>, DbErr>
where
    E::Model: Sync,
{
    let total = q.clone().count(conn).await?;
    let q = match keyset {
        Some(c) => q.filter(c),
        None => q,
    };
    let mut items = q.offset(w.offset).limit(w.limit + 1).all(conn).await?;
    let more = items.len() as u64 > w.limit;
    items.truncate(w.limit as usize);
    Ok(Slice { items, total, more })
}

/// Filters of the order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub strategy_id: Option<i64>,
    pub position_id: Option<i64>,
    pub signal_id: Option<i64>,
    pub symbol: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// Filters of the signal list.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub strategy_id: Option<i64>,
    pub outcome: Option<SignalOutcome>,
    /// Canonical (`BTCUSDT`).
    pub symbol: Option<String>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub to: Option<DateTime<Utc>>,
}

/// Filters of closed positions (the history and the performance figures).
#[derive(Debug, Clone, Default)]
pub struct ClosedFilter {
    pub strategy_id: Option<i64>,
    /// Canonical (`BTCUSDT`).
    pub symbol: Option<String>,
    /// Closed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Closed before.
    pub to: Option<DateTime<Utc>>,
    pub side: Option<PositionSide>,
    /// `binance`, `okx` or `paper`.
    pub exchange: Option<String>,
    /// One of [`CLOSE_REASONS`].
    pub close_reason: Option<String>,
}

impl ClosedFilter {
    fn apply(
        &self,
        mut q: sea_orm::Select<positions::Entity>,
    ) -> sea_orm::Select<positions::Entity> {
        if let Some(id) = self.strategy_id {
            q = q.filter(positions::Column::StrategyId.eq(id));
        }
        if let Some(s) = &self.symbol {
            q = q.filter(positions::Column::Symbol.eq(s.clone()));
        }
        if let Some(t) = self.from {
            q = q.filter(positions::Column::ClosedAt.gte(t));
        }
        if let Some(t) = self.to {
            q = q.filter(positions::Column::ClosedAt.lt(t));
        }
        if let Some(side) = self.side {
            q = q.filter(positions::Column::Side.eq(side));
        }
        if let Some(e) = &self.exchange {
            q = q.filter(positions::Column::Exchange.eq(e.clone()));
        }
        if let Some(r) = &self.close_reason {
            q = q.filter(positions::Column::CloseReason.eq(r.clone()));
        }
        q
    }
}

/// What the statistics need of a closed position.
pub fn closed_trade(p: &positions::Model) -> Option<ClosedTrade> {
    let leverage = Decimal::from(p.leverage.max(1));
    Some(ClosedTrade {
        position_id: p.id,
        symbol: p.symbol.clone(),
        closed_at: p.closed_at?,
        pnl: p.realized_pnl.get(),
        margin: p.entry_price.get() * p.quantity.get() / leverage,
        close_reason: p.close_reason.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct History {
    store: Store,
}

impl History {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn open_positions(&self, user_id: i64) -> Result<Vec<positions::Model>, DbErr> {
        positions::Entity::find()
            .filter(positions::Column::UserId.eq(user_id))
            .filter(positions::Column::Status.eq(PositionStatus::Open))
            .order_by_desc(positions::Column::OpenedAt)
            .all(self.store.conn())
            .await
    }

    /// The take-profit orders of `position_ids` that close a share of their
    /// position (a ladder's targets; a single take-profit closes it all and
    /// is not one), oldest first.
    pub async fn ladder_orders(
        &self,
        user_id: i64,
        position_ids: &[i64],
    ) -> Result<Vec<orders::Model>, DbErr> {
        let mut out = Vec::new();
        // In slices: a statement takes a bounded number of parameters.
        for ids in position_ids.chunks(500) {
            let rows = orders::Entity::find()
                .filter(orders::Column::UserId.eq(user_id))
                .filter(orders::Column::PositionId.is_in(ids.iter().copied()))
                .filter(orders::Column::Leg.eq(crate::store::enums::OrderLeg::TakeProfit))
                .order_by_asc(orders::Column::Id)
                .all(self.store.conn())
                .await?;
            out.extend(
                rows.into_iter()
                    .filter(|o| o.quantity.get() > Decimal::ZERO),
            );
        }
        Ok(out)
    }

    pub async fn position(&self, user_id: i64, id: i64) -> Result<Option<positions::Model>, DbErr> {
        positions::Entity::find_by_id(id)
            .filter(positions::Column::UserId.eq(user_id))
            .one(self.store.conn())
            .await
    }

    /// One window of the user's closed positions in `order`, and the total.
    pub async fn closed_positions(
        &self,
        user_id: i64,
        f: &ClosedFilter,
        order: ClosedOrder,
        w: &Window,
    ) -> Result<Slice<positions::Model>, DbErr> {
        let q = positions::Entity::find()
            .filter(positions::Column::UserId.eq(user_id))
            .filter(positions::Column::Status.eq(PositionStatus::Closed));
        let backend = self.store.backend();
        let keyset = w
            .after
            .as_ref()
            .map(|a| order.after(a, backend))
            .transpose()?;
        window(self.store.conn(), order.sort(f.apply(q)), keyset, w).await
    }

    /// Every closed position of the user matching `f`, as trades.
    pub async fn closed_trades(
        &self,
        user_id: i64,
        f: &ClosedFilter,
    ) -> Result<Vec<ClosedTrade>, DbErr> {
        let q = positions::Entity::find()
            .filter(positions::Column::UserId.eq(user_id))
            .filter(positions::Column::Status.eq(PositionStatus::Closed));
        let rows = f
            .apply(q)
            .order_by_asc(positions::Column::ClosedAt)
            .all(self.store.conn())
            .await?;
        Ok(rows.iter().filter_map(closed_trade).collect())
    }

    pub async fn open_positions_of_strategy(&self, strategy_id: i64) -> Result<u64, DbErr> {
        positions::Entity::find()
            .filter(positions::Column::StrategyId.eq(strategy_id))
            .filter(positions::Column::Status.eq(PositionStatus::Open))
            .count(self.store.conn())
            .await
    }

    /// One window of the user's orders, newest first, and the total.
    pub async fn orders(
        &self,
        user_id: i64,
        f: &OrderFilter,
        w: &Window,
    ) -> Result<Slice<orders::Model>, DbErr> {
        let mut q = orders::Entity::find().filter(orders::Column::UserId.eq(user_id));
        if let Some(id) = f.strategy_id {
            q = q.filter(orders::Column::StrategyId.eq(id));
        }
        if let Some(id) = f.position_id {
            q = q.filter(orders::Column::PositionId.eq(id));
        }
        if let Some(id) = f.signal_id {
            q = q.filter(orders::Column::SignalId.eq(id));
        }
        if let Some(s) = &f.symbol {
            q = q.filter(orders::Column::Symbol.eq(s.clone()));
        }
        if let Some(t) = f.from {
            q = q.filter(orders::Column::CreatedAt.gte(t));
        }
        if let Some(t) = f.to {
            q = q.filter(orders::Column::CreatedAt.lt(t));
        }
        let keyset = match &w.after {
            None => None,
            Some(After::At(t, id)) => Some(past(
                orders::Column::CreatedAt,
                orders::Column::Id,
                *t,
                *id,
                true,
            )),
            Some(_) => return Err(DbErr::Custom("a cursor of another list".into())),
        };
        let q = q
            .order_by_desc(orders::Column::CreatedAt)
            .order_by_desc(orders::Column::Id);
        window(self.store.conn(), q, keyset, w).await
    }

    /// One window of the user's signals, newest first, and the total.
    pub async fn signals(
        &self,
        user_id: i64,
        f: &SignalFilter,
        w: &Window,
    ) -> Result<Slice<signals::Model>, DbErr> {
        let mut q = signals::Entity::find().filter(signals::Column::UserId.eq(user_id));
        if let Some(id) = f.strategy_id {
            q = q.filter(signals::Column::StrategyId.eq(id));
        }
        if let Some(o) = f.outcome {
            q = q.filter(signals::Column::Outcome.eq(o));
        }
        if let Some(s) = &f.symbol {
            q = q.filter(signals::Column::Symbol.eq(s.clone()));
        }
        if let Some(t) = f.from {
            q = q.filter(signals::Column::ReceivedAt.gte(t));
        }
        if let Some(t) = f.to {
            q = q.filter(signals::Column::ReceivedAt.lt(t));
        }
        let keyset = match &w.after {
            None => None,
            Some(After::Id(id)) => Some(Condition::all().add(signals::Column::Id.lt(*id))),
            Some(_) => return Err(DbErr::Custom("a cursor of another list".into())),
        };
        let q = q.order_by_desc(signals::Column::Id);
        window(self.store.conn(), q, keyset, w).await
    }
}
