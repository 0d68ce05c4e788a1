//! The notification history in the store: written off the hot path from
//! the live bus (see the web crate's recorder), listed newest first by
//! keyset, marked read one by one or all at once.

use crate::history::{After, Slice, Window, window};
use crate::store::Store;
use crate::store::entities::notifications;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// A notification to store.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: String,
    pub severity: &'static str,
    pub title: String,
    pub message: String,
    pub data: String,
    pub position_id: Option<i64>,
    pub symbol: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Filters of the list.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub unread_only: bool,
    pub kind: Option<String>,
}

/// Stores a batch in one statement.
pub async fn insert(store: &Store, batch: &[NewNotification]) -> Result<(), DbErr> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = batch.iter().map(|n| notifications::ActiveModel {
        user_id: Set(n.user_id),
        kind: Set(n.kind.chars().take(32).collect()),
        severity: Set(n.severity.to_owned()),
        title: Set(n.title.chars().take(200).collect()),
        message: Set(n.message.clone()),
        data: Set(n.data.clone()),
        position_id: Set(n.position_id),
        symbol: Set(n.symbol.as_ref().map(|s| s.chars().take(32).collect())),
        created_at: Set(n.created_at),
        read_at: Set(None),
        ..Default::default()
    });
    notifications::Entity::insert_many(rows)
        .exec_without_returning(store.conn())
        .await
        .map(|_| ())
}

/// One window of the user's notifications, newest first, and the total.
pub async fn list(
    store: &Store,
    user_id: i64,
    f: &NotificationFilter,
    w: &Window,
) -> Result<Slice<notifications::Model>, DbErr> {
    let mut q = notifications::Entity::find().filter(notifications::Column::UserId.eq(user_id));
    if f.unread_only {
        q = q.filter(notifications::Column::ReadAt.is_null());
    }
    if let Some(k) = &f.kind {
        q = q.filter(notifications::Column::Kind.eq(k.clone()));
    }
    let keyset = match &w.after {
        None => None,
        Some(After::Id(id)) => Some(Condition::all().add(notifications::Column::Id.lt(*id))),
        Some(_) => return Err(DbErr::Custom("a cursor of another list".into())),
    };
    let q = q.order_by_desc(notifications::Column::Id);
    window(store.conn(), q, keyset, w).await
}

pub async fn unread_count(store: &Store, user_id: i64) -> Result<u64, DbErr> {
    notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(user_id))
        .filter(notifications::Column::ReadAt.is_null())
        .count(store.conn())
        .await
}

/// Marks one read (again: no change); `false` when it is not the user's.
pub async fn mark_read(store: &Store, user_id: i64, id: i64) -> Result<bool, DbErr> {
    let found = notifications::Entity::find_by_id(id)
        .filter(notifications::Column::UserId.eq(user_id))
        .one(store.conn())
        .await?;
    let Some(n) = found else { return Ok(false) };
    if n.read_at.is_none() {
        notifications::Entity::update_many()
            .col_expr(notifications::Column::ReadAt, Expr::value(Utc::now()))
            .filter(notifications::Column::Id.eq(id))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(store.conn())
            .await?;
    }
    Ok(true)
}

/// Marks every unread notification up to `up_to` (all when `None`) read;
/// returns how many changed.
pub async fn mark_all_read(store: &Store, user_id: i64, up_to: Option<i64>) -> Result<u64, DbErr> {
    let mut q = notifications::Entity::update_many()
        .col_expr(notifications::Column::ReadAt, Expr::value(Utc::now()))
        .filter(notifications::Column::UserId.eq(user_id))
        .filter(notifications::Column::ReadAt.is_null());
    if let Some(id) = up_to {
        q = q.filter(notifications::Column::Id.lte(id));
    }
    Ok(q.exec(store.conn()).await?.rows_affected)
}

/// The user's latest AI recommendations, newest first (at most `limit`).
pub async fn latest_ai(
    store: &Store,
    user_id: i64,
    limit: u64,
) -> Result<Vec<notifications::Model>, DbErr> {
    notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(user_id))
        .filter(notifications::Column::Kind.eq("ai_recommendation"))
        .order_by_desc(notifications::Column::Id)
        .limit(limit)
        .all(store.conn())
        .await
}

/// Deletes notifications older than `before`; returns how many.
pub async fn prune(store: &Store, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(notifications::Entity::delete_many()
        .filter(notifications::Column::CreatedAt.lt(before))
        .exec(store.conn())
        .await?
        .rows_affected)
}
