//! `users`: accounts of the service.

use crate::store::enums::Role;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    #[sea_orm(column_name = "is_2fa_enabled")]
    pub is_2fa_enabled: bool,
    /// Encrypted TOTP secret (vault ciphertext).
    pub totp_secret: Option<Vec<u8>>,
    /// The last TOTP time step accepted, so a code is never accepted twice.
    pub totp_last_step: Option<i64>,
    pub email_verified_at: Option<DateTimeUtc>,
    pub failed_login_count: i32,
    pub failed_login_window_start: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    /// `en` or `ko`: the language of Telegram messages and mails.
    pub language: String,
    /// Recommendations to close or reduce are sent from this confidence on.
    pub ai_alert_confidence: f64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::api_keys::Entity")]
    ApiKeys,
    #[sea_orm(has_many = "super::strategies::Entity")]
    Strategies,
    #[sea_orm(has_many = "super::positions::Entity")]
    Positions,
    #[sea_orm(has_many = "super::refresh_tokens::Entity")]
    RefreshTokens,
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKeys.def()
    }
}

impl Related<super::strategies::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Strategies.def()
    }
}

impl Related<super::positions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Positions.def()
    }
}

impl Related<super::refresh_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
