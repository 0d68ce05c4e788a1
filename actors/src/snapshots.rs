//! The day's close: at 00:00 UTC every user who closed positions the day
//! before gets a row in `performances` (that day's PnL, trades, win rate and
//! return on margin; the Sharpe ratio of the whole history up to that day),
//! and the bus hears `DayEnded` so reports can go out.
//!
//! Snapshots are idempotent (one row per user and day, rewritten), so the
//! start-up catch-up and the midnight run may overlap harmlessly.

use crate::execution::bus::EventBus;
use crate::execution::events::Event;
use crate::history::closed_trade;
use crate::store::entities::{performances, positions};
use crate::store::enums::PositionStatus;
use crate::store::{DbDecimal, Store};
use actix::prelude::*;
use chrono::{DateTime, Days, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tradingbot_core::performance::{self, ClosedTrade};

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Writes the `performances` rows of `day`; returns how many users had one.
pub async fn snapshot_day(store: &Store, day: NaiveDate) -> Result<usize, DbErr> {
    let start = midnight(day);
    let end = midnight(day.checked_add_days(Days::new(1)).unwrap_or(day));
    let rows = positions::Entity::find()
        .filter(positions::Column::Status.eq(PositionStatus::Closed))
        .filter(positions::Column::ClosedAt.gte(start))
        .filter(positions::Column::ClosedAt.lt(end))
        .all(store.conn())
        .await?;
    let mut by_user: BTreeMap<i64, Vec<ClosedTrade>> = BTreeMap::new();
    for p in &rows {
        if let Some(t) = closed_trade(p) {
            by_user.entry(p.user_id).or_default().push(t);
        }
    }
    let txn = store.conn().begin().await?;
    for (user_id, trades) in &by_user {
        let today = performance::summarize(trades);
        let history: Vec<ClosedTrade> = positions::Entity::find()
            .filter(positions::Column::UserId.eq(*user_id))
            .filter(positions::Column::Status.eq(PositionStatus::Closed))
            .filter(positions::Column::ClosedAt.lt(end))
            .order_by_asc(positions::Column::ClosedAt)
            .all(&txn)
            .await?
            .iter()
            .filter_map(closed_trade)
            .collect();
        let sharpe = performance::summarize(&history).sharpe_ratio;
        performances::Entity::delete_many()
            .filter(performances::Column::UserId.eq(*user_id))
            .filter(performances::Column::Date.eq(day))
            .exec(&txn)
            .await?;
        performances::ActiveModel {
            user_id: Set(*user_id),
            date: Set(day),
            total_pnl: Set(DbDecimal(today.total_pnl)),
            win_rate: Set(today.win_rate),
            total_trades: Set(i32::try_from(today.total_trades).unwrap_or(i32::MAX)),
            roi: Set(today.roi),
            sharpe_ratio: Set(sharpe),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(by_user.len())
}

/// Runs the snapshot at each UTC midnight, and once at start for the day
/// that ended while the service was down.
pub struct DailyClock {
    store: Store,
    bus: Arc<EventBus>,
}

impl DailyClock {
    pub fn new(store: Store, bus: Arc<EventBus>) -> Self {
        Self { store, bus }
    }

    fn schedule(&self, ctx: &mut Context<Self>) {
        let now = Utc::now();
        let next = midnight(
            now.date_naive()
                .checked_add_days(Days::new(1))
                .unwrap_or(now.date_naive()),
        );
        // A little after midnight: closes stamped 23:59:59.999 are written
        // behind and must be in.
        let wait = (next - now).to_std().unwrap_or_default() + Duration::from_secs(5);
        ctx.run_later(wait, |act, ctx| {
            let ended = Utc::now().date_naive() - Days::new(1);
            act.close_day(ctx, ended, true);
            act.schedule(ctx);
        });
    }

    fn close_day(&self, ctx: &mut Context<Self>, day: NaiveDate, announce: bool) {
        let (store, bus) = (self.store.clone(), self.bus.clone());
        ctx.spawn(
            async move {
                match snapshot_day(&store, day).await {
                    Ok(n) => tracing::info!(%day, users = n, "daily performance snapshot written"),
                    Err(e) => {
                        tracing::error!(%day, error = %e, "daily performance snapshot failed")
                    }
                }
                if announce {
                    bus.publish_live(Event::DayEnded { date: day });
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for DailyClock {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let yesterday = Utc::now().date_naive() - Days::new(1);
        self.close_day(ctx, yesterday, false);
        self.schedule(ctx);
    }
}
