//! What the user's alerts did: `/api/v1/positions`, `/api/v1/orders` and
//! `/api/v1/signals`, read from the store the execution core writes behind.

use super::listing::{self, ListQuery};
use super::views::Page;
use crate::auth::AuthUser;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tradingbot_actors::execution::events::PositionValue;
use tradingbot_actors::history::After;
use tradingbot_actors::store::entities::{orders, positions};
use tradingbot_actors::store::enums::{
    MarginMode, OrderLeg, OrderSide, OrderStatus, OrderType, PositionSide, PositionStatus,
    SignalOutcome,
};
use tradingbot_core::exchange::{ClientOrderId, Leg};
use utoipa::{IntoParams, ToSchema};

pub(crate) mod float_opt {
    use rust_decimal::Decimal;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::float_option::serialize(v, s)
    }
}

/// A position, with the seed's field names.
#[derive(Serialize, ToSchema)]
pub struct PositionView {
    pub id: i64,
    pub strategy_id: Option<i64>,
    pub account_id: Option<i64>,
    pub exchange: String,
    pub symbol: String,
    /// `LONG` or `SHORT`.
    #[schema(value_type = String)]
    pub side: PositionSide,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub entry_price: Decimal,
    /// In the base asset (BTC for BTCUSDT).
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub quantity: Decimal,
    pub leverage: i32,
    #[schema(value_type = String)]
    pub margin_mode: MarginMode,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub stop_loss: Option<Decimal>,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub take_profit: Option<Decimal>,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub liquidation_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub unrealized_pnl: Decimal,
    /// Net of fees.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub realized_pnl: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub fees: Decimal,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub exit_price: Option<Decimal>,
    /// `signal`, `stop_loss`, `take_profit`, `trailing_stop`, `reversal`,
    /// `liquidation`, …
    pub close_reason: Option<String>,
    /// `OPEN` or `CLOSED`.
    #[schema(value_type = String)]
    pub status: PositionStatus,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Open positions: the latest mark the monitor valued it at.
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub current_price: Option<Decimal>,
    /// Open positions: unrealized PnL over the margin, percent (ROE).
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub pnl_percentage: Option<Decimal>,
    /// Open positions: unrealized PnL over the notional, percent (ROI).
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub roi_pct: Option<Decimal>,
    /// Open positions: how far the price may still move against the
    /// position before its stop-loss, percent of the price.
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub distance_to_sl_pct: Option<Decimal>,
    /// Open positions: how far to the take-profit, percent of the price.
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub distance_to_tp_pct: Option<Decimal>,
    /// When the valuation was made.
    pub valued_at: Option<DateTime<Utc>>,
    /// The take-profit ladder's targets as they stand (empty with one
    /// take-profit for the whole position).
    pub targets: Vec<PositionTarget>,
}

/// One target of a position's take-profit ladder.
#[derive(Serialize, ToSchema)]
pub struct PositionTarget {
    /// 1-based, in the order the price reaches them.
    pub target: u8,
    /// Its trigger.
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub price: Option<Decimal>,
    /// The share of the position it closes, in the base asset.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub filled_qty: Decimal,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub avg_fill_price: Option<Decimal>,
    /// `pending` (being placed), `resting` (on the exchange), `filled`, or
    /// `canceled` (the position closed before it).
    pub state: &'static str,
}

/// The targets of each position, from their orders (the latest order of
/// each target number).
async fn targets_of(
    state: &AppState,
    user_id: i64,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<PositionTarget>>, ApiError> {
    let rows = state
        .history
        .ladder_orders(user_id, ids)
        .await
        .map_err(ApiError::internal)?;
    let mut out: HashMap<i64, BTreeMap<u8, PositionTarget>> = HashMap::new();
    for o in rows {
        let (Some(pid), Some(n)) = (
            o.position_id,
            ClientOrderId::try_from(o.client_order_id.clone())
                .ok()
                .and_then(|id| id.leg())
                .and_then(Leg::target_number),
        ) else {
            continue;
        };
        let state = match o.status {
            OrderStatus::Pending => "pending",
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::Unknown => "resting",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled | OrderStatus::Rejected | OrderStatus::Expired => "canceled",
        };
        out.entry(pid).or_default().insert(
            n,
            PositionTarget {
                target: n,
                price: o.trigger_price.map(|d| d.get()),
                quantity: o.quantity.get(),
                filled_qty: o.filled_qty.get(),
                avg_fill_price: o.avg_fill_price.map(|d| d.get()),
                state,
            },
        );
    }
    Ok(out
        .into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect())
}

impl PositionView {
    /// Adds the monitor's live valuation (open positions only).
    pub fn valued(mut self, v: Option<PositionValue>) -> Self {
        if let Some(v) = v.filter(|_| self.status == PositionStatus::Open) {
            self.current_price = Some(v.current_price);
            self.unrealized_pnl = v.unrealized_pnl;
            self.pnl_percentage = Some(v.pnl_percentage);
            self.roi_pct = Some(v.roi_pct);
            self.liquidation_price = v.liquidation_price.or(self.liquidation_price);
            self.distance_to_sl_pct = v.distance_to_sl_pct;
            self.distance_to_tp_pct = v.distance_to_tp_pct;
            self.valued_at = Some(v.at);
        }
        self
    }
}

impl From<positions::Model> for PositionView {
    fn from(p: positions::Model) -> Self {
        Self {
            id: p.id,
            strategy_id: p.strategy_id,
            account_id: p.account_id,
            exchange: p.exchange,
            symbol: p.symbol,
            side: p.side,
            entry_price: p.entry_price.get(),
            quantity: p.quantity.get(),
            leverage: p.leverage,
            margin_mode: p.margin_mode,
            stop_loss: p.stop_loss.map(|d| d.get()),
            take_profit: p.take_profit.map(|d| d.get()),
            liquidation_price: p.liquidation_price.map(|d| d.get()),
            unrealized_pnl: p.unrealized_pnl.get(),
            realized_pnl: p.realized_pnl.get(),
            fees: p.fees.get(),
            exit_price: p.exit_price.map(|d| d.get()),
            close_reason: p.close_reason,
            status: p.status,
            opened_at: p.opened_at,
            closed_at: p.closed_at,
            current_price: None,
            pnl_percentage: None,
            roi_pct: None,
            distance_to_sl_pct: None,
            distance_to_tp_pct: None,
            valued_at: None,
            targets: Vec::new(),
        }
    }
}

/// Open positions
#[utoipa::path(get, path = "/api/v1/positions", tag = "trading",
    security(("bearer" = [])), responses((status = 200, body = [PositionView])))]
pub async fn positions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let rows = state
        .history
        .open_positions(user.id)
        .await
        .map_err(ApiError::internal)?;
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let mut targets = targets_of(&state, user.id, &ids).await?;
    let views: Vec<PositionView> = rows
        .into_iter()
        .map(|p| {
            let v = state.execution.valuation(p.id);
            let t = targets.remove(&p.id).unwrap_or_default();
            PositionView {
                targets: t,
                ..PositionView::from(p).valued(v)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Read a position
#[utoipa::path(get, path = "/api/v1/positions/{id}", tag = "trading",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = PositionView), (status = 404)))]
pub async fn position(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .history
        .position(user.id, id.into_inner())
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    let v = state.execution.valuation(row.id);
    let targets = targets_of(&state, user.id, &[row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(PositionView {
        targets,
        ..PositionView::from(row).valued(v)
    }))
}

/// An order a signal produced.
#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub position_id: Option<i64>,
    pub strategy_id: Option<i64>,
    pub signal_id: Option<i64>,
    pub account_id: Option<i64>,
    pub exchange: String,
    /// The exchange's id, once it acknowledged the order.
    pub order_id: Option<String>,
    /// Ours, derived from (strategy, signal, leg): the same alert can never
    /// produce a second order.
    pub client_order_id: String,
    /// `entry`, `stop_loss`, `take_profit` or `close`.
    #[schema(value_type = String)]
    pub leg: OrderLeg,
    pub symbol: String,
    #[schema(value_type = String)]
    pub side: OrderSide,
    /// `MARKET`, `STOP_MARKET`, `TAKE_PROFIT_MARKET`, …
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub order_type: OrderType,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub price: Option<Decimal>,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub trigger_price: Option<Decimal>,
    /// Base asset; 0 for orders that close the whole position.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub filled_qty: Decimal,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub avg_fill_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub fee: Decimal,
    pub reduce_only: bool,
    /// `PENDING`, `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `REJECTED`, `EXPIRED`, `UNKNOWN`.
    #[schema(value_type = String)]
    pub status: OrderStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
}

impl From<orders::Model> for OrderView {
    fn from(o: orders::Model) -> Self {
        Self {
            id: o.id,
            position_id: o.position_id,
            strategy_id: o.strategy_id,
            signal_id: o.signal_id,
            account_id: o.account_id,
            exchange: o.exchange,
            order_id: o.order_id,
            client_order_id: o.client_order_id,
            leg: o.leg,
            symbol: o.symbol,
            side: o.side,
            order_type: o.order_type,
            price: o.price.map(|d| d.get()),
            trigger_price: o.trigger_price.map(|d| d.get()),
            quantity: o.quantity.get(),
            filled_qty: o.filled_qty.get(),
            avg_fill_price: o.avg_fill_price.map(|d| d.get()),
            fee: o.fee.get(),
            reduce_only: o.reduce_only,
            status: o.status,
            error_code: o.error_code,
            error_message: o.error_message,
            created_at: o.created_at,
            updated_at: o.updated_at,
            filled_at: o.filled_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    pub strategy_id: Option<i64>,
    pub position_id: Option<i64>,
    pub signal_id: Option<i64>,
    /// `BTCUSDT`, `BTC-USDT-SWAP`, `btc/usdt`: any spelling.
    pub symbol: Option<String>,
    /// Created on or after this day or instant (UTC).
    pub from: Option<String>,
    /// Created on or before this day, or before this instant (UTC).
    pub to: Option<String>,
}

/// Orders, newest first
///
/// Page by number, or go on with `next_cursor`: a cursor keeps its place
/// while new orders arrive.
#[utoipa::path(get, path = "/api/v1/orders", tag = "trading",
    security(("bearer" = [])), params(ListQuery, OrderFilter),
    responses((status = 200, body = Page<OrderView>)))]
pub async fn orders(
    state: web::Data<AppState>,
    user: AuthUser,
    list: web::Query<ListQuery>,
    filter: web::Query<OrderFilter>,
) -> Result<HttpResponse, ApiError> {
    let listing = list.resolve("orders")?;
    let (from, to) = listing::range(filter.from.as_deref(), filter.to.as_deref())?;
    let f = tradingbot_actors::history::OrderFilter {
        strategy_id: filter.strategy_id,
        position_id: filter.position_id,
        signal_id: filter.signal_id,
        symbol: listing::symbol(filter.symbol.as_deref())?,
        from,
        to,
    };
    let slice = state
        .history
        .orders(user.id, &f, &listing.window)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(listing.page(
        slice,
        |o| After::At(o.created_at, o.id),
        OrderView::from,
    )))
}

/// A received webhook and what became of it.
#[derive(Serialize, ToSchema)]
pub struct SignalView {
    pub id: i64,
    pub strategy_id: Option<i64>,
    /// The alert's `id` (or a hash of its body): what the replay check
    /// compares. Orders name the signal they came from.
    pub signal_key: String,
    pub action: Option<String>,
    pub symbol: Option<String>,
    #[serde(with = "float_opt")]
    #[schema(value_type = Option<f64>)]
    pub price: Option<Decimal>,
    /// `accepted`, `rejected` or `duplicate`.
    #[schema(value_type = String)]
    pub outcome: SignalOutcome,
    /// What was done (`open_long`, …) or why it was refused (`code: detail`).
    pub reason: Option<String>,
    /// Our time from the first byte to the answer, in microseconds.
    pub latency_us: i64,
    pub source_ip: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignalFilter {
    pub strategy_id: Option<i64>,
    /// `accepted`, `rejected` or `duplicate`.
    #[param(value_type = Option<crate::routes::params::SignalOutcomeParam>, inline)]
    pub outcome: Option<String>,
    /// `BTCUSDT`, `BTC-USDT-SWAP`, `btc/usdt`: any spelling.
    pub symbol: Option<String>,
    /// Received on or after this day or instant (UTC).
    pub from: Option<String>,
    /// Received on or before this day, or before this instant (UTC).
    pub to: Option<String>,
}

/// Received signals, newest first
///
/// Page by number, or go on with `next_cursor`: a cursor keeps its place
/// while alerts arrive.
#[utoipa::path(get, path = "/api/v1/signals", tag = "trading",
    security(("bearer" = [])), params(ListQuery, SignalFilter),
    responses((status = 200, body = Page<SignalView>)))]
pub async fn signals(
    state: web::Data<AppState>,
    user: AuthUser,
    list: web::Query<ListQuery>,
    filter: web::Query<SignalFilter>,
) -> Result<HttpResponse, ApiError> {
    let listing = list.resolve("signals")?;
    let outcome = listing::one_of(
        "outcome",
        filter.outcome.as_deref(),
        &["accepted", "rejected", "duplicate"],
    )?
    .map(|o| match o.as_str() {
        "accepted" => SignalOutcome::Accepted,
        "rejected" => SignalOutcome::Rejected,
        _ => SignalOutcome::Duplicate,
    });
    let (from, to) = listing::range(filter.from.as_deref(), filter.to.as_deref())?;
    let f = tradingbot_actors::history::SignalFilter {
        strategy_id: filter.strategy_id,
        outcome,
        symbol: listing::symbol(filter.symbol.as_deref())?,
        from,
        to,
    };
    let slice = state
        .history
        .signals(user.id, &f, &listing.window)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(listing.page(
        slice,
        |s| After::Id(s.id),
        |s| SignalView {
            id: s.id,
            strategy_id: s.strategy_id,
            signal_key: s.signal_key,
            action: s.action,
            symbol: s.symbol,
            price: s.price.map(|d| d.get()),
            outcome: s.outcome,
            reason: s.reason,
            latency_us: s.latency_us,
            source_ip: s.source_ip,
            received_at: s.received_at,
        },
    )))
}
