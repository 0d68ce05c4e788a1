//! `signals`: every webhook received, with its outcome and latency.

use crate::store::DbDecimal;
use crate::store::enums::SignalOutcome;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Option<i64>,
    pub strategy_id: Option<i64>,
    /// The alert's `id`, or the hash of its body: the replay-cache key.
    pub signal_key: String,
    pub action: Option<String>,
    pub symbol: Option<String>,
    pub price: Option<DbDecimal>,
    pub outcome: SignalOutcome,
    pub reason: Option<String>,
    pub latency_us: i64,
    pub source_ip: Option<String>,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    #[sea_orm(
        belongs_to = "super::strategies::Entity",
        from = "Column::StrategyId",
        to = "super::strategies::Column::Id",
        on_delete = "SetNull"
    )]
    Strategy,
}

impl Related<super::strategies::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Strategy.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
