//! Response shapes shared by several routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tradingbot_actors::store::entities::users;
use tradingbot_actors::store::enums::Role;
use utoipa::ToSchema;

/// A user as the API shows it (never the password hash or TOTP secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    /// `user` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
    pub is_active: bool,
    pub is_2fa_enabled: bool,
    pub email_verified: bool,
    pub email_verified_at: Option<DateTime<Utc>>,
    /// `en` or `ko`.
    pub language: String,
    /// AI recommendations to close or reduce are sent from this
    /// confidence on (0–1, default 0.7).
    pub ai_alert_confidence: f64,
    /// An email change waiting for its confirmation link to be followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            role: u.role,
            is_active: u.is_active,
            is_2fa_enabled: u.is_2fa_enabled,
            language: u.language.clone(),
            ai_alert_confidence: u.ai_alert_confidence,
            email_verified: u.email_verified_at.is_some(),
            email_verified_at: u.email_verified_at,
            pending_email: None,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many items match the filters in all.
    pub total: u64,
    /// The page number asked for; `null` for a page asked by `cursor`.
    pub page: Option<u64>,
    pub per_page: u64,
    /// Pass as `cursor` for the items after these; `null` at the end.
    pub next_cursor: Option<String>,
}
