//! Steering positions: `POST /api/v1/positions/{id}/close` (manual close)
//! and `GET /api/v1/positions/history` (closed positions).

use super::admin::PageQuery;
use super::trading::PositionView;
use super::views::Page;
use crate::auth::{AuthUser, ClientIp};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tradingbot_actors::execution::CloseError;
use tradingbot_actors::execution::user::{CloseRefused, CloseSource};
use tradingbot_actors::history::ClosedFilter;
use tradingbot_core::symbol::Symbol;
use utoipa::{IntoParams, ToSchema};

/// A close on its way.
#[derive(Serialize, ToSchema)]
pub struct CloseView {
    pub position_id: i64,
    /// Always `closing`: the position closes when the order fills, which
    /// `position_closed` on the websocket announces.
    pub status: &'static str,
    /// The record of this instruction in `GET /signals`.
    pub signal_id: i64,
    pub client_order_id: String,
}

/// Close a position now
///
/// A reduce-only market order for the whole position; its stop-loss and
/// take-profit orders are cancelled. Not blocked by risk limits or kill
/// switches: closing only ever lowers risk.
#[utoipa::path(post, path = "/api/v1/positions/{id}/close", tag = "trading",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, body = CloseView),
        (status = 404, description = "not yours, or not open"),
        (status = 409, description = "`position_opening` or `position_closing`")))]
pub async fn close(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    user: AuthUser,
    ip: ClientIp,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if let Some(answer) = crate::cluster::to_owner(&state, &req, user.id, Vec::new()).await {
        return answer;
    }
    let id = id.into_inner();
    let started = state
        .execution
        .close_position(user.id, id, CloseSource::Api, ip.0.map(|a| a.to_string()))
        .await
        .map_err(|e| match e {
            CloseError::Refused(CloseRefused::NotFound) => ApiError::NotFound,
            CloseError::Refused(r) => ApiError::conflict(r.code(), r.to_string()),
            CloseError::Unavailable => ApiError::internal("the trading core is not running"),
        })?;
    Ok(HttpResponse::Accepted().json(CloseView {
        position_id: started.position_id,
        status: "closing",
        signal_id: started.signal_id,
        client_order_id: started.client_order_id,
    }))
}

/// Filters shared by the history and the performance figures.
#[derive(Deserialize, IntoParams, Default)]
pub struct ClosedQuery {
    pub strategy_id: Option<i64>,
    /// `BTCUSDT`, `BTC-USDT-SWAP`, `btc/usdt`: any spelling.
    pub symbol: Option<String>,
    /// Closed on or after this day or instant (UTC).
    pub from: Option<String>,
    /// Closed on or before this day, or before this instant (UTC).
    pub to: Option<String>,
}

/// `2026-11-24` (a whole day) or an RFC 3339 instant.
fn instant(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(field, "a date (2026-11-24) or an RFC 3339 instant"))
}

impl ClosedQuery {
    pub fn filter(&self) -> Result<ClosedFilter, ApiError> {
        let symbol = match self.symbol.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                Symbol::parse(s)
                    .map_err(|e| ApiError::invalid("symbol", e.to_string()))?
                    .as_str()
                    .to_owned(),
            ),
        };
        let from = self
            .from
            .as_deref()
            .map(|s| instant("from", s, false))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|s| instant("to", s, true))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(ApiError::invalid("to", "must come after `from`"));
        }
        Ok(ClosedFilter {
            strategy_id: self.strategy_id,
            symbol,
            from,
            to,
        })
    }
}

/// Closed positions, last closed first
#[utoipa::path(get, path = "/api/v1/positions/history", tag = "trading",
    security(("bearer" = [])), params(PageQuery, ClosedQuery),
    responses((status = 200, body = Page<PositionView>)))]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<PageQuery>,
    query: web::Query<ClosedQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = page.resolve()?;
    let f = query.filter()?;
    let (items, total) = state
        .history
        .closed_positions(user.id, &f, page - 1, per_page)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(PositionView::from).collect(),
        total,
        page,
        per_page,
    }))
}
