//! The read side of trading: positions, orders and signals as the execution
//! core wrote them, always filtered by their owner.

use crate::store::Store;
use crate::store::entities::{orders, positions, signals};
use crate::store::enums::{PositionStatus, SignalOutcome};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use tradingbot_core::performance::ClosedTrade;

/// Filters of the order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub strategy_id: Option<i64>,
    pub position_id: Option<i64>,
    pub signal_id: Option<i64>,
    pub symbol: Option<String>,
}

/// Filters of the signal list.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub strategy_id: Option<i64>,
    pub outcome: Option<SignalOutcome>,
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

    pub async fn position(&self, user_id: i64, id: i64) -> Result<Option<positions::Model>, DbErr> {
        positions::Entity::find_by_id(id)
            .filter(positions::Column::UserId.eq(user_id))
            .one(self.store.conn())
            .await
    }

    /// One page (0-based) of the user's closed positions, last closed first,
    /// and the total.
    pub async fn closed_positions(
        &self,
        user_id: i64,
        f: &ClosedFilter,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<positions::Model>, u64), DbErr> {
        let q = positions::Entity::find()
            .filter(positions::Column::UserId.eq(user_id))
            .filter(positions::Column::Status.eq(PositionStatus::Closed));
        let pages = f
            .apply(q)
            .order_by_desc(positions::Column::ClosedAt)
            .order_by_desc(positions::Column::Id)
            .paginate(self.store.conn(), per_page);
        let total = pages.num_items().await?;
        Ok((pages.fetch_page(page).await?, total))
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

    /// One page (0-based) of the user's orders, newest first, and the total.
    pub async fn orders(
        &self,
        user_id: i64,
        f: &OrderFilter,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<orders::Model>, u64), DbErr> {
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
        let pages = q
            .order_by_desc(orders::Column::CreatedAt)
            .order_by_desc(orders::Column::Id)
            .paginate(self.store.conn(), per_page);
        let total = pages.num_items().await?;
        Ok((pages.fetch_page(page).await?, total))
    }

    /// One page (0-based) of the user's signals, newest first, and the total.
    pub async fn signals(
        &self,
        user_id: i64,
        f: &SignalFilter,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<signals::Model>, u64), DbErr> {
        let mut q = signals::Entity::find().filter(signals::Column::UserId.eq(user_id));
        if let Some(id) = f.strategy_id {
            q = q.filter(signals::Column::StrategyId.eq(id));
        }
        if let Some(o) = f.outcome {
            q = q.filter(signals::Column::Outcome.eq(o));
        }
        let pages = q
            .order_by_desc(signals::Column::Id)
            .paginate(self.store.conn(), per_page);
        let total = pages.num_items().await?;
        Ok((pages.fetch_page(page).await?, total))
    }
}
