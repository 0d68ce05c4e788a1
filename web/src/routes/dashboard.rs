//! The dashboard's four cards and the balances behind them, from memory:
//! the balance book (refreshed in the background), the open positions and
//! the closed trades — never a fresh exchange call per request.

use super::listing;
use crate::auth::AuthUser;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tradingbot_actors::balances::Entry;
use tradingbot_actors::history::ClosedFilter;
use tradingbot_actors::store::entities::api_keys;
use tradingbot_core::{equity, performance};
use utoipa::{IntoParams, ToSchema};

/// One account's balances as the API shows them, with their age.
fn account_view(a: &api_keys::Model, e: Option<&Entry>) -> Value {
    let now = Utc::now();
    let usdt = e.and_then(|e| e.usdt());
    json!({
        "account_id": a.id,
        "label": a.label,
        "exchange": a.exchange.as_str(),
        "testnet": a.testnet,
        "wallet_balance": usdt.map(|b| b.wallet),
        "available_balance": usdt.map(|b| b.available),
        "unrealized_pnl": usdt.map(|b| b.unrealized_pnl),
        "equity": usdt.map(|b| b.wallet + b.unrealized_pnl),
        "balances": e.map(|e| &e.balances),
        "updated_at": e.and_then(|e| e.updated_at),
        "age_seconds": e.and_then(|e| e.updated_at).map(|t| (now - t).num_milliseconds() as f64 / 1000.0),
        "status": match e {
            None => "pending",
            Some(e) if e.updated_at.is_none() => "unavailable",
            Some(e) if e.error.is_some() => "stale",
            Some(_) => "fresh",
        },
        "error": e.and_then(|e| e.error.clone()),
    })
}

/// The dashboard's cards
///
/// `total_equity` (wallet + unrealized, across your accounts) and its
/// change over 24 hours (`equity_change_24h`, `equity_change_24h_pct`, from
/// the equity snapshots; `null` before the first is a day old),
/// `today_pnl` and `today_pnl_pct` (realized + change in unrealized since
/// 00:00 UTC; `today_pnl_basis` says how it was computed), `active_positions`,
/// `win_rate`, `open_risk` (lost if every stop-loss filled, plus how many
/// positions have none) and each account's balances with their age.
#[utoipa::path(get, path = "/api/v1/dashboard/summary", tag = "dashboard",
    security(("bearer" = [])), responses((status = 200, description = "the four cards and the accounts")))]
pub async fn summary(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let accounts = state.accounts.list(user.id).await?;
    let views: Vec<Value> = accounts
        .iter()
        .map(|a| account_view(a, state.balances.get(a.id).as_ref()))
        .collect();
    let total_equity: Decimal = accounts
        .iter()
        .filter_map(|a| state.balances.get(a.id))
        .filter_map(|e| e.usdt().map(|b| b.wallet + b.unrealized_pnl))
        .sum();
    let open = state
        .history
        .open_positions(user.id)
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let midnight =
        Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
    // One read of the closed trades for every figure below, so the cards
    // agree with each other even while a position is closing.
    let all_trades = state
        .history
        .closed_trades(user.id, &ClosedFilter::default())
        .await
        .map_err(ApiError::internal)?;
    let realized_today: Decimal = all_trades
        .iter()
        .filter(|t| t.closed_at >= midnight)
        .map(|t| t.pnl)
        .sum();
    // With today's starting equity (the risk ledger rolls it at the day's
    // first signal), today's PnL is equity now minus it; otherwise realized
    // today plus the open positions opened today.
    let ledger = state
        .execution
        .risk(user.id)
        .await
        .ok()
        .flatten()
        .map(|r| r.ledger);
    let today_day = now.timestamp_millis().div_euclid(86_400_000);
    let (today_pnl, base, basis) = match ledger {
        Some(l)
            if l.day == today_day
                && l.start_equity > Decimal::ZERO
                && total_equity > Decimal::ZERO =>
        {
            (
                total_equity - l.start_equity,
                l.start_equity,
                "day_start_equity",
            )
        }
        _ => {
            let opened_today: Decimal = open
                .iter()
                .filter(|p| p.opened_at >= midnight)
                .map(|p| p.unrealized_pnl.get())
                .sum();
            let pnl = realized_today + opened_today;
            (pnl, total_equity - pnl, "realized_and_opened_today")
        }
    };
    let open_risk: Decimal = open
        .iter()
        .filter_map(|p| {
            p.stop_loss
                .as_ref()
                .map(|sl| (p.entry_price.get() - sl.get()).abs() * p.quantity.get())
        })
        .sum();
    let unprotected = open.iter().filter(|p| p.stop_loss.is_none()).count();
    let s = performance::summarize(&all_trades);
    // "Total assets change": now against the snapshots of a day ago.
    let day_ago = tradingbot_actors::equity::last_before(
        &state.store,
        user.id,
        now - chrono::Duration::hours(24) + chrono::Duration::seconds(1),
    )
    .await
    .map_err(ApiError::internal)?;
    let (equity_change_24h, equity_change_24h_pct) = if day_ago.is_empty() {
        (None, None)
    } else {
        let then: Decimal = day_ago.iter().map(|s| s.equity).sum();
        let (d, pct) = equity::change(then, total_equity);
        (Some(d.round_dp(8).normalize()), pct.map(|p| p.normalize()))
    };
    Ok(HttpResponse::Ok().json(json!({
        "total_equity": total_equity.round_dp(8).normalize(),
        "today_pnl": today_pnl.round_dp(8).normalize(),
        "today_pnl_pct": (base > Decimal::ZERO).then(|| (today_pnl / base * Decimal::ONE_HUNDRED).round_dp(4).normalize()),
        "today_pnl_basis": basis,
        "equity_change_24h": equity_change_24h,
        "equity_change_24h_pct": equity_change_24h_pct,
        "realized_pnl_today": realized_today.round_dp(8).normalize(),
        "active_positions": open.len(),
        "win_rate": s.win_rate,
        "total_trades": s.total_trades,
        "open_risk": open_risk.round_dp(8).normalize(),
        "unprotected_positions": unprotected,
        "accounts": views,
        "as_of": now,
    })))
}

/// An account's balances
///
/// From memory, with `updated_at`, `age_seconds` and `status` (`fresh`,
/// `stale` after a failed refresh, `pending` before the first).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/balance", tag = "accounts",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "balances and their age"), (status = 404)))]
pub async fn balance(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let a = state.accounts.get(user.id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(account_view(&a, state.balances.get(a.id).as_ref())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EquityQuery {
    /// From this day or instant (UTC); default: 7 days before `to` (90 with
    /// `interval=1d`).
    pub from: Option<String>,
    /// Up to this day (inclusive) or instant; default: now.
    pub to: Option<String>,
    /// `1h`, `4h` or `1d` (each day's close); default `1h` up to 7 days,
    /// `1d` beyond.
    #[param(value_type = Option<crate::routes::params::EquityIntervalParam>, inline)]
    pub interval: Option<String>,
}

/// One point of the asset chart.
#[derive(Serialize, ToSchema)]
pub struct EquityPointView {
    /// The interval's start; the values are as of its end.
    pub time: DateTime<Utc>,
    #[schema(value_type = String)]
    pub equity: Decimal,
    #[schema(value_type = String)]
    pub wallet_balance: Decimal,
    #[schema(value_type = String)]
    pub unrealized_pnl: Decimal,
    pub accounts: Vec<AccountEquityView>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountEquityView {
    pub account_id: i64,
    #[schema(value_type = String)]
    pub equity: Decimal,
}

/// The asset chart.
#[derive(Serialize, ToSchema)]
pub struct EquityView {
    pub interval: &'static str,
    pub currency: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Oldest first; an interval without a snapshot has no point.
    pub points: Vec<EquityPointView>,
    /// Last point against the first, in USDT and percent; `null` with fewer
    /// than two points.
    #[schema(value_type = Option<String>)]
    pub change: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub change_pct: Option<Decimal>,
}

/// Equity over time
///
/// Total equity (wallet + unrealized, USDT) of your exchange accounts from
/// the snapshots taken every `TRADINGBOT_EQUITY_SNAPSHOT_SECS` (hourly by
/// default, UTC midnight always: the day's close). An account that missed a
/// snapshot counts at its last known equity.
#[utoipa::path(get, path = "/api/v1/dashboard/equity", tag = "dashboard",
    security(("bearer" = [])), params(EquityQuery),
    responses((status = 200, body = EquityView),
        (status = 401, description = "not signed in"),
        (status = 422, description = "`validation_failed`: `from`, `to` or `interval`")))]
pub async fn equity_history(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<EquityQuery>,
) -> Result<HttpResponse, ApiError> {
    let to = match q.to.as_deref() {
        Some(t) => listing::instant("to", t, true)?,
        None => Utc::now(),
    };
    let explicit = match q.interval.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("1h") => Some(("1h", 3_600)),
        Some("4h") => Some(("4h", 14_400)),
        Some("1d") => Some(("1d", 86_400)),
        Some(_) => return Err(ApiError::invalid("interval", "1h, 4h or 1d")),
    };
    let from = match q.from.as_deref() {
        Some(f) => listing::instant("from", f, false)?,
        None => {
            to - chrono::Duration::days(if explicit.is_some_and(|e| e.1 == 86_400) {
                90
            } else {
                7
            })
        }
    };
    if from >= to {
        return Err(ApiError::invalid("to", "must come after `from`"));
    }
    let (interval, secs) = explicit.unwrap_or(if to - from <= chrono::Duration::days(7) {
        ("1h", 3_600)
    } else {
        ("1d", 86_400)
    });
    if (to - from).num_seconds() / secs > 5_000 {
        return Err(ApiError::invalid(
            "from",
            format!("at most 5000 points of {interval} at once"),
        ));
    }
    let before = tradingbot_actors::equity::last_before(&state.store, user.id, from)
        .await
        .map_err(ApiError::internal)?;
    let snaps = tradingbot_actors::equity::between(&state.store, user.id, from, to)
        .await
        .map_err(ApiError::internal)?;
    let points = equity::curve(&before, &snaps, secs);
    let (change, change_pct) = match (points.first(), points.last()) {
        (Some(a), Some(b)) if points.len() > 1 => {
            let (d, p) = equity::change(a.equity, b.equity);
            (Some(d), p)
        }
        _ => (None, None),
    };
    Ok(HttpResponse::Ok().json(EquityView {
        interval,
        currency: "USDT",
        from,
        to,
        points: points
            .into_iter()
            .map(|p| EquityPointView {
                time: p.time,
                equity: p.equity,
                wallet_balance: p.wallet_balance,
                unrealized_pnl: p.unrealized_pnl,
                accounts: p
                    .accounts
                    .into_iter()
                    .map(|(account_id, equity)| AccountEquityView { account_id, equity })
                    .collect(),
            })
            .collect(),
        change,
        change_pct,
    }))
}
