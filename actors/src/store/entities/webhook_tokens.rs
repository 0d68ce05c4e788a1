//! `webhook_tokens`: the unguessable path token of a strategy's webhook URL
//! (hashed for lookup, encrypted for display) and its body secret (encrypted).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub strategy_id: i64,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub token_enc: Vec<u8>,
    pub secret_enc: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook_tokens::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("strategy_id", &self.strategy_id)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
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
        on_delete = "Cascade"
    )]
    Strategy,
}

impl Related<super::strategies::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Strategy.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
