//! Equity snapshots in the store: written at each boundary from the balance
//! book, read back for the asset chart. Writing the same boundary twice (a
//! restart, another instance) keeps the first row.

pub mod snapshots;

use crate::store::entities::{api_keys, equity_snapshots};
use crate::store::{DbDecimal, Store};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use tradingbot_core::equity::Snapshot;

/// One account's balance at a boundary.
#[derive(Debug, Clone)]
pub struct Reading {
    pub user_id: i64,
    pub account_id: i64,
    pub wallet_balance: rust_decimal::Decimal,
    pub unrealized_pnl: rust_decimal::Decimal,
}

/// Stores `readings` as the snapshot of `taken_at`; returns how many rows
/// were new.
pub async fn record(
    store: &Store,
    taken_at: DateTime<Utc>,
    readings: &[Reading],
) -> Result<u64, DbErr> {
    if readings.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let rows = readings.iter().map(|r| equity_snapshots::ActiveModel {
        user_id: Set(r.user_id),
        account_id: Set(r.account_id),
        taken_at: Set(taken_at),
        wallet_balance: Set(DbDecimal(r.wallet_balance)),
        unrealized_pnl: Set(DbDecimal(r.unrealized_pnl)),
        equity: Set(DbDecimal(r.wallet_balance + r.unrealized_pnl)),
        created_at: Set(now),
        ..Default::default()
    });
    let inserted = equity_snapshots::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                equity_snapshots::Column::AccountId,
                equity_snapshots::Column::TakenAt,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(store.conn())
        .await;
    match inserted {
        Ok(n) => Ok(n),
        // Every row was there already.
        Err(DbErr::RecordNotInserted) => Ok(0),
        Err(e) => Err(e),
    }
}

fn snapshot(m: equity_snapshots::Model) -> Snapshot {
    Snapshot {
        account_id: m.account_id,
        taken_at: m.taken_at,
        wallet_balance: m.wallet_balance.get(),
        unrealized_pnl: m.unrealized_pnl.get(),
        equity: m.equity.get(),
    }
}

/// The user's snapshots taken in `[from, to)`, oldest first.
pub async fn between(
    store: &Store,
    user_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Snapshot>, DbErr> {
    Ok(equity_snapshots::Entity::find()
        .filter(equity_snapshots::Column::UserId.eq(user_id))
        .filter(equity_snapshots::Column::TakenAt.gte(from))
        .filter(equity_snapshots::Column::TakenAt.lt(to))
        .order_by_asc(equity_snapshots::Column::TakenAt)
        .all(store.conn())
        .await?
        .into_iter()
        .map(snapshot)
        .collect())
}

/// Each of the user's accounts' last snapshot before `t`.
pub async fn last_before(
    store: &Store,
    user_id: i64,
    t: DateTime<Utc>,
) -> Result<Vec<Snapshot>, DbErr> {
    // Per account: a user has few, and each is one index range read.
    let accounts: Vec<i64> = api_keys::Entity::find()
        .select_only()
        .column(api_keys::Column::Id)
        .filter(api_keys::Column::UserId.eq(user_id))
        .into_tuple()
        .all(store.conn())
        .await?;
    let mut out = Vec::with_capacity(accounts.len());
    for account in accounts {
        if let Some(m) = equity_snapshots::Entity::find()
            .filter(equity_snapshots::Column::AccountId.eq(account))
            .filter(equity_snapshots::Column::TakenAt.lt(t))
            .order_by_desc(equity_snapshots::Column::TakenAt)
            .one(store.conn())
            .await?
        {
            out.push(snapshot(m));
        }
    }
    Ok(out)
}
