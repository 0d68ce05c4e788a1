//! `positions`: the seed's positions, open and closed.

use crate::store::DbDecimal;
use crate::store::enums::{MarginMode, PositionSide, PositionStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "positions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub strategy_id: Option<i64>,
    pub account_id: Option<i64>,
    pub exchange: String,
    pub symbol: String,
    pub side: PositionSide,
    pub entry_price: DbDecimal,
    pub quantity: DbDecimal,
    pub leverage: i32,
    pub margin_mode: MarginMode,
    pub stop_loss: Option<DbDecimal>,
    pub take_profit: Option<DbDecimal>,
    pub liquidation_price: Option<DbDecimal>,
    pub unrealized_pnl: DbDecimal,
    pub realized_pnl: DbDecimal,
    pub fees: DbDecimal,
    pub exit_price: Option<DbDecimal>,
    pub close_reason: Option<String>,
    pub status: PositionStatus,
    pub opened_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
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
    #[sea_orm(has_many = "super::orders::Entity")]
    Orders,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::strategies::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Strategy.def()
    }
}

impl Related<super::orders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
