//! The security audit trail: logins, 2FA changes, password and email
//! changes, key and bot-token changes, session revocations. Recording never
//! fails the action it describes; a failure to record is logged loudly.

use super::RequestContext;
use crate::store::Store;
use crate::store::entities::audit_log;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// Appends one event. `details` must never hold a secret.
pub async fn record(
    store: &Store,
    user_id: Option<i64>,
    event: &str,
    ctx: &RequestContext,
    details: serde_json::Value,
) {
    let row = audit_log::ActiveModel {
        user_id: Set(user_id),
        event: Set(event.to_owned()),
        ip: Set(ctx.ip.clone()),
        user_agent: Set(ctx
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(255).collect())),
        details: Set((!details.is_null()).then(|| details.to_string())),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    match row.insert(store.conn()).await {
        Ok(row) => store.tap_audit(row),
        Err(e) => tracing::error!(error = %e, event, user_id, "audit event could not be recorded"),
    }
}

/// Events newest first: one user's (`Some`) or everyone's (`None`), before
/// the id `before` when paging.
pub async fn list(
    store: &Store,
    user_id: Option<i64>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_log::Model>, sea_orm::DbErr> {
    let mut q = audit_log::Entity::find();
    if let Some(u) = user_id {
        q = q.filter(audit_log::Column::UserId.eq(u));
    }
    if let Some(b) = before {
        q = q.filter(audit_log::Column::Id.lt(b));
    }
    q.order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(store.conn())
        .await
}
