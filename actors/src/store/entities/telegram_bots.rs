//! `telegram_bots`: a user's notification bot (token encrypted).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "telegram_bots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub user_id: i64,
    pub bot_token_enc: Vec<u8>,
    pub bot_username: Option<String>,
    pub chat_id: Option<i64>,
    pub is_active: bool,
    /// The next `getUpdates` offset: updates before it were handled.
    pub update_offset: Option<i64>,
    /// The `/start` code of the deep link that binds the chat.
    pub link_code: Option<String>,
    /// Why the last message could not be delivered (cleared on success).
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("telegram_bots::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("bot_username", &self.bot_username)
            .field("chat_id", &self.chat_id)
            .field("is_active", &self.is_active)
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
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
