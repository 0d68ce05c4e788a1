//! Steering positions: `POST /api/v1/positions/{id}/close` (manual close)
//! and `GET /api/v1/positions/history` (closed positions).

use super::listing::{self, ListQuery};
use super::trading::PositionView;
use super::views::Page;
use crate::auth::{AuthUser, ClientIp};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use tradingbot_actors::execution::CloseError;
use tradingbot_actors::execution::user::{CloseRefused, CloseSource};
use tradingbot_actors::history::{After, CLOSE_REASONS, ClosedFilter, ClosedOrder};
use tradingbot_actors::store::entities::positions;
use tradingbot_actors::store::enums::PositionSide;
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
#[into_params(parameter_in = Query)]
pub struct ClosedQuery {
    pub strategy_id: Option<i64>,
    /// `BTCUSDT`, `BTC-USDT-SWAP`, `btc/usdt`: any spelling.
    pub symbol: Option<String>,
    /// Closed on or after this day or instant (UTC).
    pub from: Option<String>,
    /// Closed on or before this day, or before this instant (UTC).
    pub to: Option<String>,
    /// `long` or `short`.
    #[param(value_type = Option<crate::routes::params::SideParam>, inline)]
    pub side: Option<String>,
    /// `binance`, `okx` or `paper`.
    #[param(value_type = Option<crate::routes::params::ExchangeParam>, inline)]
    pub exchange: Option<String>,
    /// `stop_loss`, `take_profit`, `trailing_stop`, `signal`, `reversal`,
    /// `manual`, `emergency`, `liquidation` or `closed_externally`.
    #[param(value_type = Option<crate::routes::params::CloseReasonParam>, inline)]
    pub close_reason: Option<String>,
}

impl ClosedQuery {
    pub fn filter(&self) -> Result<ClosedFilter, ApiError> {
        let (from, to) = listing::range(self.from.as_deref(), self.to.as_deref())?;
        let side = listing::one_of("side", self.side.as_deref(), &["long", "short"])?.map(|s| {
            if s == "long" {
                PositionSide::Long
            } else {
                PositionSide::Short
            }
        });
        Ok(ClosedFilter {
            strategy_id: self.strategy_id,
            symbol: listing::symbol(self.symbol.as_deref())?,
            from,
            to,
            side,
            exchange: listing::one_of(
                "exchange",
                self.exchange.as_deref(),
                &["binance", "okx", "paper"],
            )?,
            close_reason: listing::one_of(
                "close_reason",
                self.close_reason.as_deref(),
                CLOSE_REASONS,
            )?,
        })
    }
}

/// The order of the history.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct HistoryOrder {
    /// `closed_at_desc` (last closed first, the default), `closed_at_asc`,
    /// `pnl_desc` (best first) or `pnl_asc`.
    #[param(value_type = Option<crate::routes::params::HistorySortParam>, inline)]
    pub sort: Option<String>,
}

impl HistoryOrder {
    fn resolve(&self) -> Result<(ClosedOrder, &'static str), ApiError> {
        match self.sort.as_deref().map(str::trim) {
            None | Some("") | Some("closed_at_desc") => {
                Ok((ClosedOrder::NewestFirst, "history:closed_at_desc"))
            }
            Some("closed_at_asc") => Ok((ClosedOrder::OldestFirst, "history:closed_at_asc")),
            Some("pnl_desc") => Ok((ClosedOrder::BestFirst, "history:pnl_desc")),
            Some("pnl_asc") => Ok((ClosedOrder::WorstFirst, "history:pnl_asc")),
            Some(_) => Err(ApiError::invalid(
                "sort",
                "closed_at_desc, closed_at_asc, pnl_desc or pnl_asc",
            )),
        }
    }
}

/// Closed positions
///
/// Last closed first unless `sort` says otherwise. Page by number, or go on
/// with `next_cursor`: a cursor keeps its place while positions close.
#[utoipa::path(get, path = "/api/v1/positions/history", tag = "trading",
    security(("bearer" = [])), params(ListQuery, ClosedQuery, HistoryOrder),
    responses((status = 200, body = Page<PositionView>)))]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    list: web::Query<ListQuery>,
    query: web::Query<ClosedQuery>,
    order: web::Query<HistoryOrder>,
) -> Result<HttpResponse, ApiError> {
    let (order, kind) = order.resolve()?;
    let listing = list.resolve(kind)?;
    let f = query.filter()?;
    let slice = state
        .history
        .closed_positions(user.id, &f, order, &listing.window)
        .await
        .map_err(ApiError::internal)?;
    let key = |p: &positions::Model| match order {
        ClosedOrder::NewestFirst | ClosedOrder::OldestFirst => {
            After::At(p.closed_at.unwrap_or(p.updated_at), p.id)
        }
        ClosedOrder::BestFirst | ClosedOrder::WorstFirst => After::Pnl(p.realized_pnl.get(), p.id),
    };
    Ok(HttpResponse::Ok().json(listing.page(slice, key, PositionView::from)))
}
