//! What a signed-in user changes about their account: password, email,
//! language, alert threshold; signing out everywhere; deletion.

use super::{Identity, IdentityError, RequestContext, audit, passwords};
use crate::kv::Revoke;
use crate::store::entities::{email_verification_tokens as evt, users};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use std::time::Duration;
use tradingbot_core::identity::{email, password};

/// How long after a mass revocation old access tokens could still be
/// presented (their lifetime plus clock skew).
pub const ACCESS_TOKEN_HORIZON: Duration = Duration::from_secs(15 * 60 + 120);

impl Identity {
    /// Changes the password (the current one is required) and signs out
    /// every other session.
    pub async fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        let user = self.user(user_id).await?;
        self.check_password(&user, current).await?;
        password::check(new, &user.email).map_err(IdentityError::WeakPassword)?;
        let hash = passwords::hash(new.to_owned()).await?;
        let now = Utc::now();
        let mut active = user.into_active_model();
        active.password_hash = Set(hash);
        active.updated_at = Set(now);
        let user = active.update(self.store.conn()).await?;
        audit::record(
            &self.store,
            Some(user.id),
            "password_changed",
            ctx,
            json!({}),
        )
        .await;
        Ok(user)
    }

    /// Starts an email change: the new address gets a link, and becomes the
    /// account's email only when the link is followed.
    pub async fn request_email_change(
        &self,
        user_id: i64,
        current_password: &str,
        raw_email: &str,
        ctx: &RequestContext,
    ) -> Result<String, IdentityError> {
        let user = self.user(user_id).await?;
        self.check_password(&user, current_password).await?;
        let email = email::normalize(raw_email).map_err(IdentityError::InvalidEmail)?;
        if email != user.email && self.user_by_email(&email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        self.send_verification(&user, &email).await?;
        audit::record(
            &self.store,
            Some(user.id),
            "email_change_requested",
            ctx,
            json!({}),
        )
        .await;
        Ok(email)
    }

    /// The address of the newest unexpired, unconsumed email change, if any.
    pub async fn pending_email(
        &self,
        user: &users::Model,
    ) -> Result<Option<String>, IdentityError> {
        let row = evt::Entity::find()
            .filter(evt::Column::UserId.eq(user.id))
            .filter(evt::Column::ConsumedAt.is_null())
            .filter(evt::Column::ExpiresAt.gt(Utc::now()))
            .filter(evt::Column::Email.ne(user.email.clone()))
            .order_by_desc(evt::Column::Id)
            .one(self.store.conn())
            .await?;
        Ok(row.map(|r| r.email))
    }

    /// The language of the user's messages (`en` or `ko`; the caller
    /// validated it, the database's CHECK holds it too).
    pub async fn set_language(&self, user_id: i64, language: &str) -> Result<(), IdentityError> {
        let user = self.user(user_id).await?;
        let mut active = user.into_active_model();
        active.language = Set(language.to_owned());
        active.updated_at = Set(Utc::now());
        active.update(self.store.conn()).await?;
        Ok(())
    }

    /// The confidence from which AI recommendations reach the user (0–1;
    /// validated by the caller and the database's CHECK).
    pub async fn set_ai_alert_confidence(
        &self,
        user_id: i64,
        confidence: f64,
    ) -> Result<(), IdentityError> {
        let user = self.user(user_id).await?;
        let mut active = user.into_active_model();
        active.ai_alert_confidence = Set(confidence);
        active.updated_at = Set(Utc::now());
        active.update(self.store.conn()).await?;
        Ok(())
    }

    /// Refuses every access token of `user_id` issued until now; returns
    /// the moment (Unix µs) so a token issued for the caller can be dated
    /// strictly after it.
    pub async fn revoke_access_tokens(&self, user_id: i64) -> Result<i64, IdentityError> {
        let at_us = Utc::now().timestamp_micros();
        self.revocations
            .revoke_user(user_id, at_us, ACCESS_TOKEN_HORIZON)
            .await?;
        Ok(at_us)
    }

    /// Deletes the account and everything it owns (cascade), after the
    /// password and, with 2FA on, a code. Every token stops working.
    pub async fn delete_account(
        &self,
        user_id: i64,
        password: &str,
        code: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(), IdentityError> {
        let user = self.user(user_id).await?;
        self.check_password(&user, password).await?;
        if user.is_2fa_enabled {
            let code = code.ok_or(IdentityError::CodeRequired)?;
            self.verify_second_factor(&user, code).await?;
        }
        audit::record(
            &self.store,
            Some(user.id),
            "account_deleted",
            ctx,
            json!({ "deleted_user_id": user.id }),
        )
        .await;
        users::Entity::delete_by_id(user.id)
            .exec(self.store.conn())
            .await?;
        self.revoke_access_tokens(user.id).await?;
        Ok(())
    }
}
