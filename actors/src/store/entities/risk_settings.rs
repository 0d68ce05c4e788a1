//! `risk_settings`: one user's risk limits, and the risk state that must
//! survive a restart (kill switches, the day's starting equity, a tripped
//! daily loss limit). No row: the defaults.

use crate::store::DbDecimal;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "risk_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub max_leverage: i32,
    pub max_open_positions: i32,
    pub max_position_notional: Option<DbDecimal>,
    pub daily_loss_limit_pct: Option<DbDecimal>,
    pub kill_switch: bool,
    pub admin_kill_switch: bool,
    /// UTC day number of `day_start_equity`.
    pub day: i64,
    pub day_start_equity: DbDecimal,
    pub halted_day: Option<i64>,
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
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
