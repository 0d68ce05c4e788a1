//! Keeps `BalanceBook` fresh: every `TRADINGBOT_BALANCE_REFRESH_SECS` each
//! active exchange account's balances are read through its connection (the
//! paper exchange answers from memory), and a change is pushed on the
//! websocket as `account_update`. Requests then read memory only.

use crate::state::AppState;
use actix_web::web;
use std::time::Duration;
use tradingbot_actors::execution::events::{AccountBalances, Event};
use tradingbot_actors::store::enums::Exchange;

/// One exchange call may take this long before the round moves on.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub fn spawn(state: web::Data<AppState>, every: Duration) {
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            refresh(&state).await;
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
        let exchange = match a.exchange {
            Exchange::Binance => "binance",
            Exchange::Okx => "okx",
            Exchange::Paper => "paper",
        }
        .to_owned();
        let conn = match state.accounts.connection(&a).await {
            Ok(c) => c,
            Err(e) => {
                state
                    .balances
                    .failed(a.id, a.user_id, &exchange, e.to_string());
                continue;
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, conn.balances()).await {
            Ok(Ok(balances)) => {
                if state.balances.set(a.id, a.user_id, &exchange, balances)
                    && let Some(entry) = state.balances.get(a.id)
                    && let (Some(usdt), Some(at)) = (entry.usdt(), entry.updated_at)
                {
                    state
                        .execution
                        .bus()
                        .publish_live(Event::AccountUpdate(AccountBalances {
                            user_id: a.user_id,
                            account_id: a.id,
                            exchange: exchange.clone(),
                            wallet: usdt.wallet,
                            available: usdt.available,
                            unrealized_pnl: usdt.unrealized_pnl,
                            at,
                        }));
                }
            }
            Ok(Err(e)) => state
                .balances
                .failed(a.id, a.user_id, &exchange, e.to_string()),
            Err(_) => {
                state
                    .balances
                    .failed(a.id, a.user_id, &exchange, "no answer within 10 s".into())
            }
        }
    }
}
