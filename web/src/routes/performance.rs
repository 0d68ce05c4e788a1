//! `/api/v1/performance/*`: statistics of the user's closed positions,
//! computed by `core::performance`.

use super::positions::ClosedQuery;
use crate::auth::AuthUser;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{Days, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tradingbot_core::performance::{self, Bucket, Period, Summary};
use utoipa::{IntoParams, ToSchema};

/// Performance over the filtered closed positions
#[utoipa::path(get, path = "/api/v1/performance/summary", tag = "performance",
    security(("bearer" = [])), params(ClosedQuery),
    responses((status = 200, description = "total_pnl, win_rate, total_trades, profit_factor, roi, max_drawdown, sharpe_ratio, best_trade, worst_trade, exit_reasons (per close reason: trades, pnl), targets_filled (per take-profit ladder target number: how many filled), …")))]
pub async fn summary(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<ClosedQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = query.filter()?;
    let trades = state
        .history
        .closed_trades(user.id, &f)
        .await
        .map_err(ApiError::internal)?;
    let s: Summary = performance::summarize(&trades);
    // Each ladder leg: how often the trades' target number N filled.
    let ids: Vec<i64> = trades.iter().map(|t| t.position_id).collect();
    let mut targets_filled: std::collections::BTreeMap<u8, u32> = Default::default();
    for o in state
        .history
        .ladder_orders(user.id, &ids)
        .await
        .map_err(ApiError::internal)?
    {
        let n = tradingbot_core::exchange::ClientOrderId::try_from(o.client_order_id)
            .ok()
            .and_then(|id| id.leg())
            .and_then(tradingbot_core::exchange::Leg::target_number);
        if let (Some(n), tradingbot_actors::store::enums::OrderStatus::Filled) = (n, o.status) {
            *targets_filled.entry(n).or_default() += 1;
        }
    }
    #[derive(Serialize)]
    struct WithLegs {
        #[serde(flatten)]
        summary: Summary,
        targets_filled: std::collections::BTreeMap<u8, u32>,
    }
    Ok(HttpResponse::Ok().json(WithLegs {
        summary: s,
        targets_filled,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// How many periods back from `to` (days 1–3660, weeks 1–520, months
    /// 1–120; default 30 days, 12 weeks, 12 months). Ignored with `from`.
    pub periods: Option<u32>,
    /// First day (UTC), inclusive.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive; default today.
    pub to: Option<NaiveDate>,
    pub strategy_id: Option<i64>,
    pub symbol: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SeriesView {
    /// `daily`, `weekly` or `monthly`.
    pub period: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `date`, `total_pnl`, `total_trades`, `winning_trades`, `win_rate`,
    /// `roi`, `sharpe_ratio`, `cumulative_pnl`: the summary's names.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Bucket>,
}

async fn series(
    state: web::Data<AppState>,
    user: AuthUser,
    q: SeriesQuery,
    period: Period,
) -> Result<HttpResponse, ApiError> {
    let (default, max, name) = match period {
        Period::Daily => (30, 3660, "daily"),
        Period::Weekly => (12, 520, "weekly"),
        Period::Monthly => (12, 120, "monthly"),
    };
    let to = q.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = match q.from {
        Some(f) => f,
        None => {
            let n = q.periods.unwrap_or(default);
            if !(1..=max).contains(&n) {
                return Err(ApiError::invalid(
                    "periods",
                    format!("must be between 1 and {max}"),
                ));
            }
            back(period, to, n - 1)
        }
    };
    if from > to {
        return Err(ApiError::invalid("from", "must not come after `to`"));
    }
    // A bound on the answer's size whatever the range asked.
    if back(period, to, max) > from {
        return Err(ApiError::invalid(
            "from",
            format!("at most {max} periods at once"),
        ));
    }
    // From the first close: each period's Sharpe ratio is the history's.
    let f = ClosedQuery {
        strategy_id: q.strategy_id,
        symbol: q.symbol.clone(),
        to: Some(to.to_string()),
        ..Default::default()
    }
    .filter()?;
    let trades = state
        .history
        .closed_trades(user.id, &f)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(SeriesView {
        period: name,
        from,
        to,
        items: performance::series(&trades, period, from, to),
    }))
}

/// The first day of the period `n` periods before the one holding `to`.
fn back(period: Period, to: NaiveDate, n: u32) -> NaiveDate {
    let start = period.start(to);
    let d = match period {
        Period::Daily => start.checked_sub_days(Days::new(u64::from(n))),
        Period::Weekly => start.checked_sub_days(Days::new(7 * u64::from(n))),
        Period::Monthly => start.checked_sub_months(Months::new(n)),
    };
    d.unwrap_or(NaiveDate::MIN)
}

/// PnL per day
#[utoipa::path(get, path = "/api/v1/performance/daily", tag = "performance",
    security(("bearer" = [])), params(SeriesQuery), responses((status = 200, body = SeriesView)))]
pub async fn daily(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    series(state, user, q.into_inner(), Period::Daily).await
}

/// PnL per ISO week (Monday to Sunday)
#[utoipa::path(get, path = "/api/v1/performance/weekly", tag = "performance",
    security(("bearer" = [])), params(SeriesQuery), responses((status = 200, body = SeriesView)))]
pub async fn weekly(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    series(state, user, q.into_inner(), Period::Weekly).await
}

/// PnL per calendar month
#[utoipa::path(get, path = "/api/v1/performance/monthly", tag = "performance",
    security(("bearer" = [])), params(SeriesQuery), responses((status = 200, body = SeriesView)))]
pub async fn monthly(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    series(state, user, q.into_inner(), Period::Monthly).await
}
