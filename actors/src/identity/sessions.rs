//! Sessions as rotating refresh tokens. A login starts a family; each
//! refresh spends the presented token and issues its successor in the same
//! family. Presenting a spent token means it was copied: the whole family is
//! revoked (theft detection, as OAuth 2.0 Security BCP §4.14 recommends).

use super::{Identity, IdentityError, RequestContext, audit, secrets};
use crate::store::entities::{refresh_tokens as rt, users};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

pub const REFRESH_TTL: ChronoDuration = ChronoDuration::days(7);

/// A refresh token as handed to the client (the only time it exists in clear).
#[derive(Clone)]
pub struct IssuedRefresh {
    pub token: String,
    pub family_id: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedRefresh")
            .field("family_id", &self.family_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One signed-in device, as the user sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Identity {
    /// Starts a session (`family_id: None`) or continues one.
    pub async fn issue_refresh(
        &self,
        user_id: i64,
        family_id: Option<String>,
        ctx: &RequestContext,
    ) -> Result<IssuedRefresh, IdentityError> {
        let token = secrets::token(32);
        let family_id = family_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = Utc::now();
        let expires_at = now + REFRESH_TTL;
        rt::ActiveModel {
            user_id: Set(user_id),
            family_id: Set(family_id.clone()),
            token_hash: Set(secrets::digest(&token)),
            expires_at: Set(expires_at),
            ip: Set(ctx.ip.clone()),
            user_agent: Set(ctx
                .user_agent
                .as_deref()
                .map(|ua| ua.chars().take(255).collect())),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(self.store.conn())
        .await?;
        Ok(IssuedRefresh {
            token,
            family_id,
            expires_at,
        })
    }

    /// Spends `token` and issues its successor.
    pub async fn rotate_refresh(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(users::Model, IssuedRefresh), IdentityError> {
        let db = self.store.conn();
        let now = Utc::now();
        let row = rt::Entity::find()
            .filter(rt::Column::TokenHash.eq(secrets::digest(token)))
            .one(db)
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(IdentityError::InvalidToken);
        }
        if row.used_at.is_some() {
            return Err(self.reuse_detected(&row, ctx).await);
        }
        // Spend it; of two concurrent refreshes with one token, one wins and
        // the other is a reuse.
        let spent = rt::Entity::update_many()
            .col_expr(rt::Column::UsedAt, Expr::value(now))
            .filter(rt::Column::Id.eq(row.id))
            .filter(rt::Column::UsedAt.is_null())
            .exec(db)
            .await?;
        if spent.rows_affected != 1 {
            return Err(self.reuse_detected(&row, ctx).await);
        }
        let user = self.user(row.user_id).await?;
        if !user.is_active {
            return Err(IdentityError::Deactivated);
        }
        let next = self
            .issue_refresh(user.id, Some(row.family_id.clone()), ctx)
            .await?;
        Ok((user, next))
    }

    async fn reuse_detected(&self, row: &rt::Model, ctx: &RequestContext) -> IdentityError {
        if let Err(e) = self.revoke_family(row.user_id, &row.family_id).await {
            return e;
        }
        // Access tokens of the family may be in a thief's hands as well.
        if let Err(e) = self.revoke_access_tokens(row.user_id).await {
            return e;
        }
        audit::record(
            &self.store,
            Some(row.user_id),
            "refresh_token_reused",
            ctx,
            json!({ "session": row.family_id }),
        )
        .await;
        IdentityError::RefreshReused
    }

    /// Revokes every token of one session of `user_id`; false if it has none.
    pub async fn revoke_family(
        &self,
        user_id: i64,
        family_id: &str,
    ) -> Result<bool, IdentityError> {
        let res = rt::Entity::update_many()
            .col_expr(rt::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(rt::Column::UserId.eq(user_id))
            .filter(rt::Column::FamilyId.eq(family_id))
            .filter(rt::Column::RevokedAt.is_null())
            .exec(self.store.conn())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Revokes the session a refresh token belongs to (logout without an
    /// access token). Returns (user, session) when the token was known.
    pub async fn revoke_by_refresh(
        &self,
        token: &str,
    ) -> Result<Option<(i64, String)>, IdentityError> {
        let row = rt::Entity::find()
            .filter(rt::Column::TokenHash.eq(secrets::digest(token)))
            .one(self.store.conn())
            .await?;
        let Some(row) = row else { return Ok(None) };
        self.revoke_family(row.user_id, &row.family_id).await?;
        Ok(Some((row.user_id, row.family_id)))
    }

    /// Revokes every session of `user_id`, or all but `keep`.
    pub async fn revoke_all_sessions_except(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<u64, IdentityError> {
        let mut q = rt::Entity::update_many()
            .col_expr(rt::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(rt::Column::UserId.eq(user_id))
            .filter(rt::Column::RevokedAt.is_null());
        if let Some(family) = keep {
            q = q.filter(rt::Column::FamilyId.ne(family));
        }
        Ok(q.exec(self.store.conn()).await?.rows_affected)
    }

    pub async fn revoke_all_sessions(&self, user_id: i64) -> Result<u64, IdentityError> {
        self.revoke_all_sessions_except(user_id, None).await
    }

    /// The user's live sessions, most recently used first.
    pub async fn sessions(&self, user_id: i64) -> Result<Vec<SessionInfo>, IdentityError> {
        let now = Utc::now();
        let rows = rt::Entity::find()
            .filter(rt::Column::UserId.eq(user_id))
            .filter(rt::Column::RevokedAt.is_null())
            .filter(rt::Column::UsedAt.is_null())
            .filter(rt::Column::ExpiresAt.gt(now))
            .order_by_desc(rt::Column::CreatedAt)
            .all(self.store.conn())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let started = rt::Entity::find()
                .filter(rt::Column::FamilyId.eq(row.family_id.clone()))
                .order_by_asc(rt::Column::Id)
                .one(self.store.conn())
                .await?
                .map_or(row.created_at, |first| first.created_at);
            out.push(SessionInfo {
                id: row.family_id,
                created_at: started,
                last_used_at: row.created_at,
                expires_at: row.expires_at,
                ip: row.ip,
                user_agent: row.user_agent,
            });
        }
        Ok(out)
    }
}
