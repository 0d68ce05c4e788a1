//! `api_keys`: a user's exchange accounts with encrypted credentials.

use crate::store::enums::Exchange;
use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The exchange's own account identifier, when known.
    pub account_id: Option<String>,
    pub label: String,
    pub exchange: Exchange,
    pub api_key_enc: Option<Vec<u8>>,
    pub api_secret_enc: Option<Vec<u8>>,
    pub passphrase_enc: Option<Vec<u8>>,
    pub api_key_mask: Option<String>,
    pub testnet: bool,
    pub is_active: bool,
    /// JSON object: what the connection test learnt about the key.
    pub permissions: Option<String>,
    pub last_tested_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Ciphertexts are left out: they are not secret in themselves, but a
/// `{:?}` of an account has no business carrying them into a log.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("api_keys::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("label", &self.label)
            .field("exchange", &self.exchange)
            .field("api_key_mask", &self.api_key_mask)
            .field("testnet", &self.testnet)
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
    #[sea_orm(has_many = "super::strategies::Entity")]
    Strategies,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::strategies::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Strategies.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
