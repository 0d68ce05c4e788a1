//! `equity_snapshots`: each exchange account's equity at each snapshot
//! boundary (see the migration).

use crate::store::DbDecimal;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "equity_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub account_id: i64,
    /// The boundary the snapshot belongs to (not the moment it was read).
    pub taken_at: DateTimeUtc,
    pub wallet_balance: DbDecimal,
    pub unrealized_pnl: DbDecimal,
    /// Wallet plus unrealized PnL.
    pub equity: DbDecimal,
    pub created_at: DateTimeUtc,
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
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
