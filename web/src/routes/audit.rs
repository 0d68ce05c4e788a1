//! `GET /api/v1/audit`: security events. Users read their own; admins read
//! everyone's (or one user's with `user_id`).

use crate::auth::AuthUser;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tradingbot_actors::identity::audit;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many events (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// Only events older than this event id (paging).
    pub before: Option<i64>,
    /// Admins: only this user's events.
    pub user_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub user_id: Option<i64>,
    /// e.g. `login_succeeded`, `login_failed`, `2fa_enabled`, `password_changed`.
    pub event: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Security events
#[utoipa::path(get, path = "/api/v1/audit", tag = "users",
    security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = [AuditEvent])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let scope = if user.is_admin() {
        query.user_id
    } else {
        Some(user.id)
    };
    let rows = audit::list(&state.store, scope, query.before, limit)
        .await
        .map_err(ApiError::internal)?;
    let events: Vec<AuditEvent> = rows
        .into_iter()
        .map(|r| AuditEvent {
            id: r.id,
            user_id: r.user_id,
            event: r.event,
            ip: r.ip,
            user_agent: r.user_agent,
            details: r
                .details
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_else(|| serde_json::json!({})),
            created_at: r.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(events))
}
