//! Registration and email verification: an account exists before it
//! is confirmed, and a link proves the address.

use super::{Identity, IdentityError, RequestContext, audit, passwords, secrets};
use crate::store::entities::{email_verification_tokens as evt, users};
use crate::store::enums::Role;
use chrono::{Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, SqlErr,
};
use serde_json::json;
use tradingbot_core::identity::{email, password};

/// How long an email verification link works.
pub const VERIFICATION_TTL: ChronoDuration = ChronoDuration::hours(24);

impl Identity {
    pub async fn user(&self, id: i64) -> Result<users::Model, IdentityError> {
        users::Entity::find_by_id(id)
            .one(self.store.conn())
            .await?
            .ok_or(IdentityError::NotFound)
    }

    pub(super) async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<users::Model>, IdentityError> {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(self.store.conn())
            .await?)
    }

    /// Creates an account (role `user`, email unverified) and mails the
    /// verification link.
    pub async fn register(
        &self,
        raw_email: &str,
        raw_password: &str,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        self.create_user(raw_email, raw_password, Role::User, ctx)
            .await
    }

    /// Creates an account with `role`; admins (made by the CLI) start verified.
    pub async fn create_user(
        &self,
        raw_email: &str,
        raw_password: &str,
        role: Role,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        let email = email::normalize(raw_email).map_err(IdentityError::InvalidEmail)?;
        password::check(raw_password, &email).map_err(IdentityError::WeakPassword)?;
        if self.user_by_email(&email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let hash = passwords::hash(raw_password.to_owned()).await?;
        let now = Utc::now();
        let user = users::ActiveModel {
            email: Set(email.clone()),
            password_hash: Set(hash),
            role: Set(role),
            // Set, not defaulted: SQLite's RETURNING has been seen to answer
            // NULL for the default of a column added by ALTER TABLE.
            ai_alert_confidence: Set(0.7),
            is_active: Set(true),
            is_2fa_enabled: Set(false),
            failed_login_count: Set(0),
            email_verified_at: Set((role == Role::Admin).then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(self.store.conn())
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => IdentityError::EmailTaken,
            _ => e.into(),
        })?;
        audit::record(
            &self.store,
            Some(user.id),
            "user_registered",
            ctx,
            json!({ "role": role }),
        )
        .await;
        if role == Role::User {
            self.send_verification(&user, &email).await?;
        }
        Ok(user)
    }

    /// Mails a link proving `address` (the account's, or a requested new one).
    pub async fn send_verification(
        &self,
        user: &users::Model,
        address: &str,
    ) -> Result<(), IdentityError> {
        let token = secrets::token(32);
        let now = Utc::now();
        evt::ActiveModel {
            user_id: Set(user.id),
            email: Set(address.to_owned()),
            token_hash: Set(secrets::digest(&token)),
            expires_at: Set(now + VERIFICATION_TTL),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(self.store.conn())
        .await?;
        let link = format!("{}/verify-email?token={token}", self.frontend_url);
        let body = format!(
            "Confirm that {address} is your email address for TradingBot:\n\n{link}\n\n\
             The link works once, for 24 hours. If you did not ask for it, ignore this message."
        );
        self.mailer
            .send(address, "Confirm your email address", &body)
            .await;
        Ok(())
    }

    /// Consumes a verification token: the address it names becomes the
    /// account's verified email.
    pub async fn verify_email(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        let db = self.store.conn();
        let now = Utc::now();
        let row = evt::Entity::find()
            .filter(evt::Column::TokenHash.eq(secrets::digest(token)))
            .one(db)
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        if row.consumed_at.is_some() || row.expires_at <= now {
            return Err(IdentityError::InvalidToken);
        }
        // Single use, even under concurrent requests.
        let spent = evt::Entity::update_many()
            .col_expr(evt::Column::ConsumedAt, Expr::value(now))
            .filter(evt::Column::Id.eq(row.id))
            .filter(evt::Column::ConsumedAt.is_null())
            .exec(db)
            .await?;
        if spent.rows_affected != 1 {
            return Err(IdentityError::InvalidToken);
        }
        let user = self.user(row.user_id).await?;
        let changed = user.email != row.email;
        if changed && self.user_by_email(&row.email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let previous = user.email.clone();
        let mut active = user.into_active_model();
        active.email = Set(row.email.clone());
        active.email_verified_at = Set(Some(now));
        active.updated_at = Set(now);
        let user = active.update(db).await.map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => IdentityError::EmailTaken,
            _ => e.into(),
        })?;
        let details = if changed {
            json!({ "email_changed": true, "previous_domain": previous.rsplit('@').next() })
        } else {
            json!({})
        };
        audit::record(&self.store, Some(user.id), "email_verified", ctx, details).await;
        Ok(user)
    }
}
