//! `orders`: every order a signal produced, keyed by its deterministic
//! client order id.

use crate::store::DbDecimal;
use crate::store::enums::{OrderLeg, OrderSide, OrderStatus, OrderType};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub position_id: Option<i64>,
    pub strategy_id: Option<i64>,
    pub signal_id: Option<i64>,
    pub account_id: Option<i64>,
    pub exchange: String,
    /// The exchange's order id, once it acknowledged the order.
    pub order_id: Option<String>,
    #[sea_orm(unique)]
    pub client_order_id: String,
    pub leg: OrderLeg,
    pub symbol: String,
    pub side: OrderSide,
    #[sea_orm(column_name = "type")]
    pub order_type: OrderType,
    pub price: Option<DbDecimal>,
    pub trigger_price: Option<DbDecimal>,
    pub quantity: DbDecimal,
    pub filled_qty: DbDecimal,
    pub avg_fill_price: Option<DbDecimal>,
    pub fee: DbDecimal,
    pub fee_asset: Option<String>,
    pub reduce_only: bool,
    pub status: OrderStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub filled_at: Option<DateTimeUtc>,
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
        belongs_to = "super::positions::Entity",
        from = "Column::PositionId",
        to = "super::positions::Column::Id",
        on_delete = "Cascade"
    )]
    Position,
}

impl Related<super::positions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Position.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
