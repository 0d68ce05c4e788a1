//! Takes the equity snapshots behind the asset chart: at each boundary of
//! `TRADINGBOT_EQUITY_SNAPSHOT_SECS` (UTC midnight always among them, the
//! day's close) every account whose balances the book read lately is
//! written, stamped with the boundary. Reads memory only: the balance
//! refresher already talks to the exchanges.

use super::{Reading, record};
use crate::balances::BalanceBook;
use crate::store::Store;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tradingbot_core::equity::interval_start;

/// Starts the snapshots: every `every`, from balances at most three
/// `refresh` periods old.
pub fn spawn(store: Store, book: Arc<BalanceBook>, every: Duration, refresh: Duration) {
    let every_secs = i64::try_from(every.as_secs()).unwrap_or(3600).max(1);
    // A balance older than this is not what the account holds at the
    // boundary: better a gap (the chart carries the last value) than a
    // wrong point.
    let max_age = chrono::Duration::from_std(refresh * 3 + Duration::from_secs(60))
        .unwrap_or(chrono::TimeDelta::MAX);
    actix_rt::spawn(async move {
        // The book fills at the refresher's first round.
        tokio::time::sleep(Duration::from_secs(2)).await;
        loop {
            let boundary = interval_start(Utc::now(), every_secs);
            let now = Utc::now();
            let readings: Vec<Reading> = book
                .all()
                .into_iter()
                .filter_map(|(account_id, e)| {
                    let fresh = e.updated_at.is_some_and(|t| now - t <= max_age);
                    let usdt = e.usdt().filter(|_| fresh)?;
                    Some(Reading {
                        user_id: e.user_id,
                        account_id,
                        wallet_balance: usdt.wallet,
                        unrealized_pnl: usdt.unrealized_pnl,
                    })
                })
                .collect();
            write(&store, boundary, &readings).await;
            let next = boundary + chrono::Duration::seconds(every_secs);
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            // Just past the boundary, so the next reading belongs to it.
            tokio::time::sleep(wait + Duration::from_millis(200)).await;
        }
    });
}

async fn write(store: &Store, boundary: chrono::DateTime<Utc>, readings: &[Reading]) {
    match record(store, boundary, readings).await {
        Ok(n) => {
            metrics::counter!("equity_snapshots_written_total").increment(n);
        }
        // An account deleted since the book read it fails the batch: the
        // others go in one by one.
        Err(e) if readings.len() > 1 => {
            tracing::debug!(error = %e, "equity snapshot batch refused; writing accounts one by one");
            for r in readings {
                if let Ok(n) = record(store, boundary, std::slice::from_ref(r)).await {
                    metrics::counter!("equity_snapshots_written_total").increment(n);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "equity snapshot not written"),
    }
}
