//! TOTP two-factor authentication: setup (secret stored encrypted), enabling
//! with a first code (which issues one-time recovery codes, stored hashed),
//! checking codes at login — each accepted once — and disabling.

use super::{Identity, IdentityError, RequestContext, audit, secrets};
use crate::store::entities::{totp_recovery_codes as rc, users};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use serde_json::json;
use tradingbot_core::identity::totp::{self, TotpProblem};
use tradingbot_core::vault::Binding;

pub const RECOVERY_CODES: usize = 10;

/// What the user needs to add the account to an authenticator app.
pub struct TotpSetup {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSetup(..)")
    }
}

fn binding(user_id: i64) -> Binding<'static> {
    Binding {
        user_id,
        table: "users",
        row_id: user_id,
        column: "totp_secret",
    }
}

/// A recovery code: 10 base32 characters in two groups (50 bits).
fn recovery_code() -> String {
    let s = totp::secret_base32(&secrets::random(7)).to_lowercase();
    format!("{}-{}", &s[..5], &s[5..10])
}

fn normalize_recovery(code: &str) -> String {
    code.trim().to_lowercase().replace([' ', '-'], "")
}

fn now_unix() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

impl Identity {
    fn totp_secret(&self, user: &users::Model) -> Result<Vec<u8>, IdentityError> {
        let sealed = user
            .totp_secret
            .as_ref()
            .ok_or(IdentityError::TwoFactorNotSetUp)?;
        Ok(self.vault.open(&binding(user.id), sealed)?.to_vec())
    }

    /// A new secret for `user_id`, replacing any earlier unconfirmed one.
    pub async fn setup_two_factor(
        &self,
        user_id: i64,
        ctx: &RequestContext,
    ) -> Result<TotpSetup, IdentityError> {
        let user = self.user(user_id).await?;
        if user.is_2fa_enabled {
            return Err(IdentityError::TwoFactorEnabled);
        }
        let secret = secrets::random(totp::SECRET_LEN);
        let sealed = self
            .vault
            .seal(&binding(user.id), &secret, secrets::nonce());
        let otpauth_uri = totp::provisioning_uri(&secret, &user.email, &self.issuer)
            .map_err(IdentityError::InvalidCode)?;
        let secret_base32 = totp::secret_base32(&secret);
        let email = user.email.clone();
        let mut active = user.into_active_model();
        active.totp_secret = Set(Some(sealed));
        active.totp_last_step = Set(None);
        active.updated_at = Set(Utc::now());
        active.update(self.store.conn()).await?;
        audit::record(
            &self.store,
            Some(user_id),
            "2fa_setup_started",
            ctx,
            json!({}),
        )
        .await;
        tracing::debug!(account = %email.rsplit('@').next().unwrap_or_default(), "2fa setup");
        Ok(TotpSetup {
            secret_base32,
            otpauth_uri,
        })
    }

    /// Accepts a TOTP code once: the step is recorded atomically, so the same
    /// code presented twice (even concurrently) passes only once.
    async fn accept_totp(&self, user: &users::Model, code: &str) -> Result<(), IdentityError> {
        let secret = self.totp_secret(user)?;
        let last = user.totp_last_step.map(|s| s.max(0) as u64);
        let step =
            totp::verify(&secret, code, now_unix(), last).map_err(IdentityError::InvalidCode)?;
        let step = step as i64;
        let res = users::Entity::update_many()
            .col_expr(users::Column::TotpLastStep, Expr::value(step))
            .filter(users::Column::Id.eq(user.id))
            .filter(
                Condition::any()
                    .add(users::Column::TotpLastStep.is_null())
                    .add(users::Column::TotpLastStep.lt(step)),
            )
            .exec(self.store.conn())
            .await?;
        if res.rows_affected == 1 {
            Ok(())
        } else {
            Err(IdentityError::InvalidCode(TotpProblem::Reused))
        }
    }

    /// Confirms setup with a first code; returns the recovery codes, which
    /// are shown this once.
    pub async fn enable_two_factor(
        &self,
        user_id: i64,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, IdentityError> {
        let user = self.user(user_id).await?;
        if user.is_2fa_enabled {
            return Err(IdentityError::TwoFactorEnabled);
        }
        self.accept_totp(&user, code).await?;
        let codes = self.replace_recovery_codes(user.id).await?;
        users::Entity::update_many()
            .col_expr(users::Column::Is2faEnabled, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(users::Column::Id.eq(user.id))
            .exec(self.store.conn())
            .await?;
        audit::record(&self.store, Some(user.id), "2fa_enabled", ctx, json!({})).await;
        Ok(codes)
    }

    async fn replace_recovery_codes(&self, user_id: i64) -> Result<Vec<String>, IdentityError> {
        let db = self.store.conn();
        rc::Entity::delete_many()
            .filter(rc::Column::UserId.eq(user_id))
            .exec(db)
            .await?;
        let now = Utc::now();
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let rows = codes.iter().map(|c| rc::ActiveModel {
            user_id: Set(user_id),
            code_hash: Set(secrets::digest(&normalize_recovery(c))),
            created_at: Set(now),
            ..Default::default()
        });
        rc::Entity::insert_many(rows).exec(db).await?;
        Ok(codes)
    }

    /// Checks a second factor: a TOTP code, or an unused recovery code (which
    /// is then spent).
    pub async fn verify_second_factor(
        &self,
        user: &users::Model,
        code: &str,
    ) -> Result<(), IdentityError> {
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == totp::DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()) {
            return self.accept_totp(user, &digits).await;
        }
        let hash = secrets::digest(&normalize_recovery(code));
        let db = self.store.conn();
        let Some(row) = rc::Entity::find()
            .filter(rc::Column::UserId.eq(user.id))
            .filter(rc::Column::CodeHash.eq(hash))
            .filter(rc::Column::UsedAt.is_null())
            .one(db)
            .await?
        else {
            return Err(IdentityError::InvalidCode(TotpProblem::Invalid));
        };
        let spent = rc::Entity::update_many()
            .col_expr(rc::Column::UsedAt, Expr::value(Utc::now()))
            .filter(rc::Column::Id.eq(row.id))
            .filter(rc::Column::UsedAt.is_null())
            .exec(db)
            .await?;
        if spent.rows_affected == 1 {
            Ok(())
        } else {
            Err(IdentityError::InvalidCode(TotpProblem::Reused))
        }
    }

    /// Turns 2FA off; needs the password and a current code.
    pub async fn disable_two_factor(
        &self,
        user_id: i64,
        password: &str,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<(), IdentityError> {
        let user = self.user(user_id).await?;
        if !user.is_2fa_enabled {
            return Err(IdentityError::TwoFactorDisabled);
        }
        if !super::passwords::verify(password.to_owned(), user.password_hash.clone()).await? {
            return Err(IdentityError::InvalidCredentials);
        }
        self.verify_second_factor(&user, code).await?;
        let db = self.store.conn();
        rc::Entity::delete_many()
            .filter(rc::Column::UserId.eq(user.id))
            .exec(db)
            .await?;
        let mut active = user.into_active_model();
        active.is_2fa_enabled = Set(false);
        active.totp_secret = Set(None);
        active.totp_last_step = Set(None);
        active.updated_at = Set(Utc::now());
        active.update(db).await?;
        audit::record(&self.store, Some(user_id), "2fa_disabled", ctx, json!({})).await;
        Ok(())
    }

    /// How many recovery codes are left.
    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<u64, IdentityError> {
        use sea_orm::PaginatorTrait;
        Ok(rc::Entity::find()
            .filter(rc::Column::UserId.eq(user_id))
            .filter(rc::Column::UsedAt.is_null())
            .count(self.store.conn())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_and_normalize() {
        let c = recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(&c[5..6], "-");
        assert_eq!(normalize_recovery(&c.to_uppercase()), c.replace('-', ""));
    }
}
