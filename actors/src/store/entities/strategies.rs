//! `strategies`: the seed's risk rules of one trading strategy.

use crate::store::DbDecimal;
use crate::store::enums::{MarginMode, OppositeSignal};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "strategies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The exchange account (`api_keys.id`) it trades on.
    pub account_id: Option<i64>,
    pub name: String,
    pub indicator_id: String,
    /// JSON array of symbols.
    pub symbols: String,
    pub investment_pct: DbDecimal,
    /// `investment_pct`, `risk_pct`, `fixed_usdt` or `fixed_qty`.
    pub sizing_mode: String,
    pub risk_pct: Option<DbDecimal>,
    pub qty_usdt: Option<DbDecimal>,
    pub qty_base: Option<DbDecimal>,
    pub max_entries_per_day: Option<i32>,
    pub cooldown_after_sl_min: Option<i32>,
    pub pause_after_sl_streak: Option<i32>,
    pub max_drawdown_pct: Option<DbDecimal>,
    /// JSON list of `{gain_pct, size_pct}`.
    pub tp_levels: Option<String>,
    pub break_even_after: Option<i32>,
    pub break_even_to: Option<String>,
    pub trail_pct: Option<DbDecimal>,
    pub trail_activation_pct: Option<DbDecimal>,
    pub order_type: String,
    pub limit_offset_pct: Option<DbDecimal>,
    pub limit_expiry_sec: Option<i32>,
    pub limit_fallback: Option<String>,
    pub post_only: Option<bool>,
    pub long_tp_pct: DbDecimal,
    pub long_sl_pct: DbDecimal,
    pub short_tp_pct: DbDecimal,
    pub short_sl_pct: DbDecimal,
    pub leverage: i32,
    pub margin_mode: MarginMode,
    pub opposite_signal: OppositeSignal,
    pub is_active: bool,
    /// The AI watch may close this strategy's positions by itself.
    pub ai_auto_exit: bool,
    /// An anomaly on this strategy (or its account) deactivates it.
    pub auto_pause_on_anomaly: bool,
    pub created_at: DateTimeUtc,
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
        belongs_to = "super::api_keys::Entity",
        from = "Column::AccountId",
        to = "super::api_keys::Column::Id",
        on_delete = "SetNull"
    )]
    Account,
    #[sea_orm(has_many = "super::positions::Entity")]
    Positions,
    #[sea_orm(has_many = "super::webhook_tokens::Entity")]
    WebhookTokens,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::positions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Positions.def()
    }
}

impl Related<super::webhook_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WebhookTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
