//! `backtest_jobs`: backtests run in the background, with their progress
//! and result, visible from every instance and kept across restarts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backtest_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: i64,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// `waiting`, `download`, `simulation` or `done`.
    pub phase: String,
    pub permille: i32,
    pub request: String,
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub instance: String,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
