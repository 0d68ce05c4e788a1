//! Where backtest jobs are kept: rows of `backtest_jobs`, visible to every
//! instance and kept across restarts. The web crate runs the jobs; this
//! holds their rows.

use crate::store::Store;
use crate::store::entities::backtest_jobs::{self, ActiveModel, Column, Entity, Model};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

pub use backtest_jobs::Model as JobRow;
/// The store's error, as callers outside this crate name it.
pub use sea_orm::DbErr as StoreError;

/// What a running job's row says of it now.
#[derive(Debug, Clone)]
pub struct Progress {
    pub status: &'static str,
    pub phase: &'static str,
    pub permille: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct Ending {
    pub error: Option<(String, String)>,
    /// JSON.
    pub result: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JobStore {
    store: Store,
}

impl JobStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// A new queued job of `user_id`, run by `instance`.
    pub async fn insert(
        &self,
        id: &str,
        user_id: i64,
        request: &str,
        instance: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        ActiveModel {
            id: Set(id.to_owned()),
            user_id: Set(user_id),
            status: Set("queued".into()),
            phase: Set("waiting".into()),
            permille: Set(0),
            request: Set(request.to_owned()),
            result: Set(None),
            error_code: Set(None),
            error_detail: Set(None),
            instance: Set(instance.to_owned()),
            created_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
            updated_at: Set(now),
        }
        .insert(self.store.conn())
        .await?;
        Ok(())
    }

    /// Brings a job's row up to date (and records how it ended).
    pub async fn update(
        &self,
        id: &str,
        p: &Progress,
        ending: Option<Ending>,
    ) -> Result<(), DbErr> {
        let mut row = ActiveModel {
            id: Set(id.to_owned()),
            status: Set(p.status.into()),
            phase: Set(p.phase.into()),
            permille: Set(p.permille),
            started_at: Set(p.started_at),
            finished_at: Set(p.finished_at),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        if let Some(e) = ending {
            row.error_code = Set(e.error.as_ref().map(|(c, _)| c.clone()));
            row.error_detail = Set(e.error.map(|(_, d)| d));
            row.result = Set(e.result);
        }
        row.update(self.store.conn()).await?;
        Ok(())
    }

    pub async fn get(&self, user_id: i64, id: &str) -> Result<Option<Model>, DbErr> {
        Entity::find_by_id(id.to_owned())
            .filter(Column::UserId.eq(user_id))
            .one(self.store.conn())
            .await
    }

    /// The user's newest `limit` jobs, newest first.
    pub async fn list(&self, user_id: i64, limit: u64) -> Result<Vec<Model>, DbErr> {
        Entity::find()
            .filter(Column::UserId.eq(user_id))
            .order_by_desc(Column::CreatedAt)
            .limit(limit)
            .all(self.store.conn())
            .await
    }

    /// How many of the user's jobs are queued or running (written since `alive_since`).
    pub async fn active(&self, user_id: i64, alive_since: DateTime<Utc>) -> Result<u64, DbErr> {
        Entity::find()
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Status.is_in(["queued", "running"]))
            .filter(Column::UpdatedAt.gt(alive_since))
            .count(self.store.conn())
            .await
    }

    /// Deletes the user's finished jobs beyond the newest `keep`, and those
    /// created before `older_than`.
    pub async fn prune(
        &self,
        user_id: i64,
        keep: usize,
        older_than: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let finished: Vec<(String, DateTime<Utc>)> = Entity::find()
            .select_only()
            .columns([Column::Id, Column::CreatedAt])
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Status.is_in(["completed", "failed"]))
            .order_by_desc(Column::CreatedAt)
            .into_tuple()
            .all(self.store.conn())
            .await?;
        let gone: Vec<String> = finished
            .into_iter()
            .enumerate()
            .filter(|(i, (_, at))| *i >= keep || *at < older_than)
            .map(|(_, (id, _))| id)
            .collect();
        if !gone.is_empty() {
            Entity::delete_many()
                .filter(Column::Id.is_in(gone))
                .exec(self.store.conn())
                .await?;
        }
        Ok(())
    }

    /// The jobs `instance` was running when it stopped: failed, `interrupted`.
    pub async fn interrupted(&self, instance: &str) -> Result<u64, DbErr> {
        let r = Entity::update_many()
            .col_expr(Column::Status, Expr::value("failed"))
            .col_expr(Column::Phase, Expr::value("done"))
            .col_expr(Column::ErrorCode, Expr::value("interrupted"))
            .col_expr(
                Column::ErrorDetail,
                Expr::value("the instance running it restarted"),
            )
            .col_expr(Column::FinishedAt, Expr::value(Utc::now()))
            .filter(Column::Instance.eq(instance))
            .filter(Column::Status.is_in(["queued", "running"]))
            .exec(self.store.conn())
            .await?;
        Ok(r.rows_affected)
    }
}
