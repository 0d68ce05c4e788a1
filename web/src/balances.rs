//! Keeps `BalanceBook` fresh: every `TRADINGBOT_BALANCE_REFRESH_SECS` each
//! active exchange account's balances are read through its connection (the
//! paper exchange answers from memory); an account whose positions the
//! exchange connection reports changed (a fill) is read again within half a
//! second; a new account starts with its connection test's balances. A
//! change is pushed on the websocket as `account_update`. Requests read
//! memory only.

use crate::state::AppState;
use actix_web::web;
use std::time::Duration;
use tradingbot_actors::execution::events::{AccountBalances, Event};
use tradingbot_actors::store::enums::Exchange;

/// One exchange call may take this long before the round moves on.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A position changing on an account (a fill: fees, realized profit, new
/// margin) makes its balances read again this soon, instead of at the next
/// round; several changes in a row make one read.
const AFTER_CHANGE: Duration = Duration::from_millis(500);

pub fn spawn(state: web::Data<AppState>, every: Duration) {
    let rounds = state.clone();
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            refresh(&rounds).await;
        }
    });
    // Off the trading path: a listener of the live bus like the others.
    let mut rx = state.execution.bus().subscribe();
    actix_web::rt::spawn(async move {
        // (user, account) pairs whose positions changed.
        let mut changed: std::collections::BTreeSet<(i64, i64)> = Default::default();
        // When the changes gathered so far are read: a deadline, not a
        // quiet spell — the bus of a live market is never quiet.
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let event = match due {
                None => rx.recv().await.map(Some),
                Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                    Ok(e) => e.map(Some),
                    Err(_) => Ok(None),
                },
            };
            match event {
                Ok(Some(e)) => {
                    if let Event::Position(p) = e.as_ref() {
                        changed.insert((p.user_id, p.account_id));
                        due.get_or_insert_with(|| tokio::time::Instant::now() + AFTER_CHANGE);
                    }
                }
                Ok(None) => {
                    due = None;
                    for (user_id, account_id) in std::mem::take(&mut changed) {
                        match state.accounts.get(user_id, account_id).await {
                            Ok(a) if a.is_active => read(&state, a).await,
                            Ok(_) => {}
                            // Removed meanwhile.
                            Err(e) => tracing::debug!(error = %e, account_id, "no balance refresh"),
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

pub async fn refresh(state: &AppState) {
    let accounts = match state.accounts.all_active().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "balance refresh could not list accounts");
            return;
        }
    };
    state
        .balances
        .retain(&accounts.iter().map(|a| a.id).collect::<Vec<_>>());
    for a in accounts {
        read(state, a).await;
    }
}

/// Keeps balances just read from `a`'s exchange (by the refresher, or by
/// the connection test of a new account) and pushes them when they changed.
pub fn record(
    state: &AppState,
    a: &tradingbot_actors::store::entities::api_keys::Model,
    balances: Vec<tradingbot_core::exchange::Balance>,
) {
    let exchange = exchange_name(a.exchange);
    if state.balances.set(a.id, a.user_id, exchange, balances)
        && let Some(entry) = state.balances.get(a.id)
        && let (Some(usdt), Some(at)) = (entry.usdt(), entry.updated_at)
    {
        state
            .execution
            .bus()
            .publish_live(Event::AccountUpdate(AccountBalances {
                user_id: a.user_id,
                account_id: a.id,
                exchange: exchange.to_owned(),
                wallet: usdt.wallet,
                available: usdt.available,
                unrealized_pnl: usdt.unrealized_pnl,
                at,
            }));
    }
}

fn exchange_name(e: Exchange) -> &'static str {
    match e {
        Exchange::Binance => "binance",
        Exchange::Okx => "okx",
        Exchange::Paper => "paper",
    }
}

/// Reads one account's balances through its connection into the book.
async fn read(state: &AppState, a: tradingbot_actors::store::entities::api_keys::Model) {
    let exchange = exchange_name(a.exchange);
    let conn = match state.accounts.connection(&a).await {
        Ok(c) => c,
        Err(e) => {
            state
                .balances
                .failed(a.id, a.user_id, exchange, e.to_string());
            return;
        }
    };
    // A periodic read: it gives way to trading when the venue's budget is short.
    match tokio::time::timeout(CALL_TIMEOUT, conn.poll_balances()).await {
        Ok(Ok(balances)) => record(state, &a, balances),
        Ok(Err(e)) => state
            .balances
            .failed(a.id, a.user_id, exchange, e.to_string()),
        Err(_) => state
            .balances
            .failed(a.id, a.user_id, exchange, "no answer within 10 s".into()),
    }
}
