//! Password login with lockout: per account (failures in a window lock
//! it) and per client address, and the record of where sign-ins come from.

use super::{Identity, IdentityError, RequestContext, audit, passwords, secrets};
use crate::kv::RateLimit;
use crate::store::entities::audit_log;
use crate::store::entities::users;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use std::time::Duration;
use tradingbot_core::identity::lockout::LockoutState;
use tradingbot_core::identity::{alerts, email};

/// Earlier sign-ins a new one is compared with.
const KNOWN_PLACES: u64 = 500;
/// Login attempts one client address may make per window.
pub const LOGIN_ATTEMPTS_PER_IP: u32 = 30;
pub const LOGIN_ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

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

    pub(super) async fn check_password(
        &self,
        user: &users::Model,
        given: &str,
    ) -> Result<(), IdentityError> {
        if passwords::verify(given.to_owned(), user.password_hash.clone()).await? {
            Ok(())
        } else {
            Err(IdentityError::InvalidCredentials)
        }
    }
}
