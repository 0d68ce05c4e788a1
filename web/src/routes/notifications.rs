//! `/api/v1/notifications`: what the user was told (PnL steps, risk
//! alerts, AI recommendations, security alerts), so the dashboard shows
//! them after a reload; and `/api/v1/dashboard/insights`, the latest AI
//! recommendation per open position and per symbol traded.

use super::listing::{self, ListQuery};
use super::views::Page;
use crate::auth::AuthUser;
use crate::notifications::KINDS;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use tradingbot_actors::history::After;
use tradingbot_actors::notifications::{self as store, NotificationFilter};
use tradingbot_actors::store::entities::notifications;
use utoipa::{IntoParams, ToSchema};

/// A notification, with the data its websocket frame carried.
#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    /// The websocket event: `pnl_alert`, `risk_alert`, `ai_recommendation`
    /// or `security_alert`.
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub title: String,
    pub message: String,
    /// The frame's `data`, as it was sent live.
    #[schema(value_type = Object)]
    pub data: Value,
    pub position_id: Option<i64>,
    pub symbol: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<notifications::Model> for NotificationView {
    fn from(n: notifications::Model) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            severity: n.severity,
            title: n.title,
            message: n.message,
            data: serde_json::from_str(&n.data).unwrap_or(Value::Null),
            position_id: n.position_id,
            symbol: n.symbol,
            created_at: n.created_at,
            read: n.read_at.is_some(),
            read_at: n.read_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// `true`: unread ones only.
    pub unread: Option<bool>,
    /// `pnl_alert`, `risk_alert`, `ai_recommendation` or `security_alert`.
    #[param(value_type = Option<crate::routes::params::NotificationKindParam>, inline)]
    pub kind: Option<String>,
}

/// Your notifications, newest first
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    security(("bearer" = [])), params(ListQuery, NotificationQuery),
    responses((status = 200, body = Page<NotificationView>),
        (status = 401, description = "not signed in"),
        (status = 422, description = "`validation_failed`")))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    list: web::Query<ListQuery>,
    q: web::Query<NotificationQuery>,
) -> Result<HttpResponse, ApiError> {
    let listing = list.resolve("notifications")?;
    let f = NotificationFilter {
        unread_only: q.unread.unwrap_or(false),
        kind: listing::one_of("kind", q.kind.as_deref(), KINDS)?,
    };
    let slice = store::list(&state.store, user.id, &f, &listing.window)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(listing.page(slice, |n| After::Id(n.id), NotificationView::from)))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadView {
    pub unread: u64,
}

/// How many are unread (the bell's badge)
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "notifications",
    security(("bearer" = [])), responses((status = 200, body = UnreadView), (status = 401)))]
pub async fn unread_count(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let unread = store::unread_count(&state.store, user.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(UnreadView { unread }))
}

/// Mark one read
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204, description = "read (already read: no change)"),
        (status = 401), (status = 404, description = "not yours")))]
pub async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if store::mark_read(&state.store, user.id, id.into_inner())
        .await
        .map_err(ApiError::internal)?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReadAllRequest {
    /// Only those up to this id (what the user has seen); default: all.
    pub up_to: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReadAllView {
    pub updated: u64,
}

/// Mark all read
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications",
    security(("bearer" = [])), request_body(content = Option<ReadAllRequest>, description = "optional"),
    responses((status = 200, body = ReadAllView), (status = 401)))]
pub async fn read_all(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // No body, or `null`, is "all of them" (the document says the body is
    // optional).
    let req: ReadAllRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReadAllRequest::default()
    } else {
        let bad = |e: String| ApiError::invalid("body", format!("expected {{\"up_to\": id}}: {e}"));
        match serde_json::from_slice::<Value>(&body).map_err(|e| bad(e.to_string()))? {
            Value::Null => ReadAllRequest::default(),
            v @ Value::Object(_) => serde_json::from_value(v).map_err(|e| bad(e.to_string()))?,
            _ => return Err(bad("not an object".into())),
        }
    };
    let updated = store::mark_all_read(&state.store, user.id, req.up_to)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(ReadAllView { updated }))
}

/// The latest AI recommendation stored for something.
#[derive(Serialize, ToSchema)]
pub struct InsightView {
    /// `close`, `reduce` or `reverse` as the frame says it
    /// (`CLOSE_POSITION`, …), with `confidence`, `reason`, `sources`.
    #[schema(value_type = Object)]
    pub recommendation: Value,
    pub notification_id: i64,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct PositionInsight {
    pub position_id: i64,
    pub symbol: String,
    /// `LONG` or `SHORT`.
    pub side: String,
    /// `null`: no recommendation for it yet.
    pub latest: Option<InsightView>,
}

#[derive(Serialize, ToSchema)]
pub struct SymbolInsight {
    pub symbol: String,
    pub latest: Option<InsightView>,
}

#[derive(Serialize, ToSchema)]
pub struct InsightsView {
    pub positions: Vec<PositionInsight>,
    /// The symbols of your open positions and active strategies.
    pub symbols: Vec<SymbolInsight>,
}

fn insight(n: &notifications::Model) -> InsightView {
    InsightView {
        recommendation: serde_json::from_str(&n.data).unwrap_or(Value::Null),
        notification_id: n.id,
        at: n.created_at,
    }
}

/// AI insights for the dashboard
///
/// From the recommendations already made (the AI watch), never a new
/// model call: the latest for each open position and each symbol you
/// trade.
#[utoipa::path(get, path = "/api/v1/dashboard/insights", tag = "dashboard",
    security(("bearer" = [])), responses((status = 200, body = InsightsView), (status = 401)))]
pub async fn insights(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let open = state
        .history
        .open_positions(user.id)
        .await
        .map_err(ApiError::internal)?;
    let ai = store::latest_ai(&state.store, user.id, 1_000)
        .await
        .map_err(ApiError::internal)?;
    let mut symbols: BTreeSet<String> = open.iter().map(|p| p.symbol.clone()).collect();
    for s in state.strategies.list(user.id).await? {
        if s.is_active
            && let Ok(list) = serde_json::from_str::<Vec<String>>(&s.symbols)
        {
            symbols.extend(list);
        }
    }
    let positions = open
        .iter()
        .map(|p| PositionInsight {
            position_id: p.id,
            symbol: p.symbol.clone(),
            side: match p.side {
                tradingbot_actors::store::enums::PositionSide::Long => "LONG".into(),
                tradingbot_actors::store::enums::PositionSide::Short => "SHORT".into(),
            },
            latest: ai.iter().find(|n| n.position_id == Some(p.id)).map(insight),
        })
        .collect();
    let symbols = symbols
        .into_iter()
        .map(|s| SymbolInsight {
            latest: ai
                .iter()
                .find(|n| n.symbol.as_deref() == Some(s.as_str()))
                .map(insight),
            symbol: s,
        })
        .collect();
    Ok(HttpResponse::Ok().json(InsightsView { positions, symbols }))
}
