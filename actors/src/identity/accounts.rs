//! Accounts: registration, email verification, password login with lockout,
//! profile changes, deletion, and the admin's view.

use super::{Identity, IdentityError, RequestContext, audit, passwords, secrets};
use crate::kv::{RateLimit, Revoke};
use crate::store::entities::audit_log;
use crate::store::entities::{email_verification_tokens as evt, users};
use crate::store::enums::Role;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};
use serde_json::json;
use std::time::Duration;
use tradingbot_core::identity::lockout::LockoutState;
use tradingbot_core::identity::{alerts, email, password};

/// Earlier sign-ins a new one is compared with.
const KNOWN_PLACES: u64 = 500;
/// How long an email verification link works.
pub const VERIFICATION_TTL: ChronoDuration = ChronoDuration::hours(24);
/// Login attempts one client address may make per window.
pub const LOGIN_ATTEMPTS_PER_IP: u32 = 30;
pub const LOGIN_ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long after a mass revocation old access tokens could still be
/// presented (their lifetime plus clock skew).
pub const ACCESS_TOKEN_HORIZON: Duration = Duration::from_secs(15 * 60 + 120);

fn lockout_state(u: &users::Model) -> LockoutState {
    LockoutState {
        failures: u.failed_login_count.max(0) as u32,
        window_start: u.failed_login_window_start.map(|t| t.timestamp()),
        locked_until: u.locked_until.map(|t| t.timestamp()),
    }
}

fn ts(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
}

impl Identity {
    pub async fn user(&self, id: i64) -> Result<users::Model, IdentityError> {
        users::Entity::find_by_id(id)
            .one(self.store.conn())
            .await?
            .ok_or(IdentityError::NotFound)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<users::Model>, IdentityError> {
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

    /// Checks a password login. Unknown emails and wrong passwords take the
    /// same time and give the same error; both lock after repeated failures.
    pub async fn authenticate(
        &self,
        raw_email: &str,
        raw_password: &str,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        self.check_source(ctx).await?;
        if let Some(ip) = &ctx.ip {
            let d = self
                .limiter
                .hit(
                    &format!("login-ip:{ip}"),
                    self.login_attempts_per_ip,
                    LOGIN_ATTEMPT_WINDOW,
                )
                .await?;
            if !d.allowed {
                return Err(IdentityError::RateLimited {
                    retry_after_secs: d.reset_after.as_secs().max(1),
                });
            }
        }
        let now = Utc::now();
        let normalized = email::normalize(raw_email).unwrap_or_else(|_| raw_email.to_owned());
        let Some(user) = self.user_by_email(&normalized).await? else {
            // Same work as a real check, and a lock that behaves like one.
            passwords::verify(raw_password.to_owned(), self.dummy_hash.clone()).await?;
            let d = self
                .limiter
                .hit(
                    &format!("login-unknown:{}", secrets::digest(&normalized)),
                    self.lockout.max_failures,
                    self.lockout.window,
                )
                .await?;
            audit::record(
                &self.store,
                None,
                "login_failed",
                ctx,
                json!({ "reason": "credentials" }),
            )
            .await;
            self.count_source_failure(ctx).await;
            return Err(if d.allowed {
                IdentityError::InvalidCredentials
            } else {
                IdentityError::Locked {
                    retry_after_secs: self.lockout.lock_for.as_secs(),
                }
            });
        };
        let state = lockout_state(&user);
        if let Some(left) = self.lockout.locked(&state, now.timestamp()) {
            audit::record(
                &self.store,
                Some(user.id),
                "login_refused_locked",
                ctx,
                json!({}),
            )
            .await;
            return Err(IdentityError::Locked {
                retry_after_secs: left as u64,
            });
        }
        let ok = passwords::verify(raw_password.to_owned(), user.password_hash.clone()).await?;
        if !ok {
            self.record_login_failure(&user, ctx, "credentials").await?;
            return Err(IdentityError::InvalidCredentials);
        }
        if !user.is_active {
            audit::record(
                &self.store,
                Some(user.id),
                "login_refused_deactivated",
                ctx,
                json!({}),
            )
            .await;
            return Err(IdentityError::Deactivated);
        }
        if state.failures > 0 || state.locked_until.is_some() {
            users::Entity::update_many()
                .col_expr(users::Column::FailedLoginCount, Expr::value(0))
                .col_expr(
                    users::Column::FailedLoginWindowStart,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    users::Column::LockedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(users::Column::Id.eq(user.id))
                .exec(self.store.conn())
                .await?;
        }
        Ok(user)
    }

    /// Audits a completed sign-in, saying whether it came from a network or
    /// a device this account was not used from before (which alerts).
    pub async fn record_login(&self, user_id: i64, ctx: &RequestContext, two_factor: bool) {
        let known: Vec<(Option<String>, Option<String>)> = audit_log::Entity::find()
            .select_only()
            .column(audit_log::Column::Ip)
            .column(audit_log::Column::UserAgent)
            .filter(audit_log::Column::UserId.eq(user_id))
            .filter(audit_log::Column::Event.is_in(["login_succeeded", "user_registered"]))
            .order_by_desc(audit_log::Column::Id)
            .limit(KNOWN_PLACES)
            .into_tuple()
            .all(self.store.conn())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, user_id, "sign-in history unreadable; no new-login check");
                Vec::new()
            });
        let n = alerts::novelty(&known, ctx.ip.as_deref(), ctx.user_agent.as_deref());
        audit::record(
            &self.store,
            Some(user_id),
            "login_succeeded",
            ctx,
            json!({ "2fa": two_factor, "new_ip": n.new_ip, "new_device": n.new_device }),
        )
        .await;
    }

    /// Seconds left on the account's lock, if it is locked now.
    pub fn locked_for(&self, user: &users::Model) -> Option<u64> {
        self.lockout
            .locked(&lockout_state(user), Utc::now().timestamp())
            .map(|s| s as u64)
    }

    /// Counts a failed password or second-factor check towards the lockout.
    pub async fn record_login_failure(
        &self,
        user: &users::Model,
        ctx: &RequestContext,
        reason: &str,
    ) -> Result<(), IdentityError> {
        let now = Utc::now().timestamp();
        let next = self.lockout.record_failure(&lockout_state(user), now);
        users::Entity::update_many()
            .col_expr(
                users::Column::FailedLoginCount,
                Expr::value(next.failures as i32),
            )
            .col_expr(
                users::Column::FailedLoginWindowStart,
                Expr::value(ts(next.window_start)),
            )
            .col_expr(
                users::Column::LockedUntil,
                Expr::value(ts(next.locked_until)),
            )
            .filter(users::Column::Id.eq(user.id))
            .exec(self.store.conn())
            .await?;
        audit::record(
            &self.store,
            Some(user.id),
            "login_failed",
            ctx,
            json!({ "reason": reason, "failures": next.failures }),
        )
        .await;
        if next.locked_until.is_some() && self.lockout.locked(&next, now).is_some() {
            audit::record(&self.store, Some(user.id), "account_locked", ctx, json!({})).await;
        }
        self.count_source_failure(ctx).await;
        Ok(())
    }

    /// Refuses a source address that is blocked.
    pub async fn check_source(&self, ctx: &RequestContext) -> Result<(), IdentityError> {
        let Some(ip) = &ctx.ip else { return Ok(()) };
        match self.blocklist.blocked(&alerts::network(ip)).await? {
            Some(left) => Err(IdentityError::SourceBlocked {
                retry_after_secs: left.as_secs().max(1),
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed authentication against its source address, whatever
    /// account it aimed at; too many block the address (audited once, by
    /// the instance that blocked it). Never fails the request it counts.
    async fn count_source_failure(&self, ctx: &RequestContext) {
        let Some(ip) = &ctx.ip else { return };
        // An IPv6 /64 is one source: its owner picks any address in it.
        let source = alerts::network(ip);
        let p = self.source_policy;
        let counted = self
            .limiter
            .hit(
                &format!("auth-fail-source:{source}"),
                p.max_failures.saturating_sub(1),
                p.window,
            )
            .await;
        let over = match counted {
            Ok(d) => !d.allowed,
            Err(e) => {
                tracing::warn!(error = %e, "failed authentication not counted");
                false
            }
        };
        if !over {
            return;
        }
        match self.blocklist.block(&source, p.block_for).await {
            Ok(true) => {
                metrics::counter!("auth_sources_blocked_total").increment(1);
                tracing::warn!(source = %source, minutes = p.block_for.as_secs() / 60, "source address blocked after repeated failed sign-ins");
                audit::record(
                    &self.store,
                    None,
                    "source_blocked",
                    ctx,
                    json!({
                        "source": source,
                        "failures": p.max_failures,
                        "window_secs": p.window.as_secs(),
                        "blocked_secs": p.block_for.as_secs(),
                    }),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "source address could not be blocked"),
        }
    }

    async fn check_password(&self, user: &users::Model, given: &str) -> Result<(), IdentityError> {
        if passwords::verify(given.to_owned(), user.password_hash.clone()).await? {
            Ok(())
        } else {
            Err(IdentityError::InvalidCredentials)
        }
    }

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

    /// Admin: users, newest first, one page.
    pub async fn list_users(
        &self,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<users::Model>, u64), IdentityError> {
        let paginator = users::Entity::find()
            .order_by_desc(users::Column::Id)
            .paginate(self.store.conn(), per_page);
        let total = paginator.num_items().await?;
        let items = paginator.fetch_page(page).await?;
        Ok((items, total))
    }

    /// Admin: stops an account at once — no login, no valid token.
    pub async fn deactivate(
        &self,
        admin_id: i64,
        user_id: i64,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        let user = self.user(user_id).await?;
        let mut active = user.into_active_model();
        active.is_active = Set(false);
        active.updated_at = Set(Utc::now());
        let user = active.update(self.store.conn()).await?;
        self.revoke_all_sessions(user.id).await?;
        self.revoke_access_tokens(user.id).await?;
        audit::record(
            &self.store,
            Some(user.id),
            "account_deactivated",
            ctx,
            json!({ "by": admin_id }),
        )
        .await;
        Ok(user)
    }

    /// How many users there are (the CLI refuses a second first admin).
    pub async fn count_admins(&self) -> Result<u64, IdentityError> {
        Ok(users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin))
            .select_only()
            .column(users::Column::Id)
            .count(self.store.conn())
            .await?)
    }
}
