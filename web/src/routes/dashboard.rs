//! The dashboard's four cards and the balances behind them, from memory:
//! the balance book (refreshed in the background), the open positions and
//! the closed trades — never a fresh exchange call per request.

use crate::auth::AuthUser;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradingbot_actors::balances::Entry;
use tradingbot_actors::history::ClosedFilter;
use tradingbot_actors::store::entities::api_keys;
use tradingbot_core::performance;

fn exchange_name(a: &api_keys::Model) -> &'static str {
    use tradingbot_actors::store::enums::Exchange;
    match a.exchange {
        Exchange::Binance => "binance",
        Exchange::Okx => "okx",
        Exchange::Paper => "paper",
    }
}

/// One account's balances as the API shows them, with their age.
fn account_view(a: &api_keys::Model, e: Option<&Entry>) -> Value {
    let now = Utc::now();
    let usdt = e.and_then(|e| e.usdt());
    json!({
        "account_id": a.id,
        "label": a.label,
        "exchange": exchange_name(a),
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
/// `total_equity` (wallet + unrealized, across your accounts),
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
    let today = ClosedFilter {
        from: Some(midnight),
        ..Default::default()
    };
    let realized_today: Decimal = state
        .history
        .closed_trades(user.id, &today)
        .await
        .map_err(ApiError::internal)?
        .iter()
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
    let all_trades = state
        .history
        .closed_trades(user.id, &ClosedFilter::default())
        .await
        .map_err(ApiError::internal)?;
    let s = performance::summarize(&all_trades);
    Ok(HttpResponse::Ok().json(json!({
        "total_equity": total_equity.round_dp(8).normalize(),
        "today_pnl": today_pnl.round_dp(8).normalize(),
        "today_pnl_pct": (base > Decimal::ZERO).then(|| (today_pnl / base * Decimal::ONE_HUNDRED).round_dp(4).normalize()),
        "today_pnl_basis": basis,
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
