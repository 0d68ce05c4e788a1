//! Keeps what the user was told: a listener of the live bus (off the
//! trading path) stores each PnL step, risk alert, AI recommendation and
//! security alert with the very data its websocket frame carried, in
//! batches; old ones are pruned hourly.

use crate::state::AppState;
use crate::ws::protocol;
use actix_web::web;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tradingbot_actors::execution::events::Event;
use tradingbot_actors::notifications::{NewNotification, insert, prune};
use tradingbot_actors::store::enums::PositionSide;

/// The event kinds kept.
pub const KINDS: &[&str] = &[
    "pnl_alert",
    "risk_alert",
    "ai_recommendation",
    "security_alert",
];

/// Risk alerts about a position left at risk, or money lost.
const CRITICAL_RISK: &[&str] = &[
    "protection_failed",
    "protection_removed",
    "liquidated",
    "close_failed",
    "close_unconfirmed",
    "unmanaged_position",
];

/// The notification an event makes, if it makes one.
pub fn notification(event: &Event) -> Option<NewNotification> {
    let (severity, title, message, position_id): (&'static str, String, String, Option<i64>) =
        match event {
            Event::PnlStep(s) => (
                "info",
                format!(
                    "{} {} {:+}%",
                    s.symbol,
                    match s.side {
                        PositionSide::Long => "LONG",
                        PositionSide::Short => "SHORT",
                    },
                    (s.step_pct * rust_decimal::Decimal::from(s.step)).normalize()
                ),
                format!(
                    "{} reached {}% PnL on margin ({} USDT unrealized) at {}.",
                    s.symbol,
                    s.pnl_percentage.round_dp(2),
                    s.unrealized_pnl.round_dp(2),
                    s.current_price.normalize()
                ),
                Some(s.position_id),
            ),
            Event::RiskAlert(a) => (
                if CRITICAL_RISK.contains(&a.kind.as_str()) {
                    "critical"
                } else {
                    "warning"
                },
                a.kind.replace('_', " "),
                a.message.clone(),
                a.position_id,
            ),
            Event::AiRecommendation(a) => (
                if a.auto_closed { "warning" } else { "info" },
                format!("AI: {} {} {}", a.action, a.symbol, a.side),
                a.reason.clone(),
                Some(a.position_id),
            ),
            Event::SecurityAlert(a) => (
                if a.critical { "critical" } else { "warning" },
                a.title.clone(),
                a.message.clone(),
                None,
            ),
            _ => return None,
        };
    let out = protocol::outgoing(event)?;
    let user_id = out.user_id?;
    let frame: Value = serde_json::from_str(&out.text).ok()?;
    Some(NewNotification {
        user_id,
        kind: frame["event"].as_str()?.to_owned(),
        severity,
        title,
        message,
        data: frame["data"].to_string(),
        position_id,
        symbol: out.symbol,
        created_at: chrono::Utc::now(),
    })
}

/// Most notifications written in one statement.
const BATCH: usize = 500;

pub fn spawn(state: web::Data<AppState>, keep: Option<Duration>) {
    // With what the start's reconciliation told traders before this
    // recorder existed (a position adopted, closed meanwhile, …).
    let (early, mut rx) = state
        .execution
        .bus()
        .subscribe_with_early_where(std::sync::Arc::new(|e: &Event| {
            matches!(
                e,
                Event::PnlStep(_)
                    | Event::RiskAlert(_)
                    | Event::AiRecommendation(_)
                    | Event::SecurityAlert(_)
            )
        }));
    let store = state.store.clone();
    actix_web::rt::spawn(async move {
        let mut batch: Vec<NewNotification> =
            early.iter().filter_map(|e| notification(e)).collect();
        loop {
            if !batch.is_empty() {
                match insert(&store, &batch).await {
                    Ok(()) => metrics::counter!("notifications_stored_total")
                        .increment(batch.len() as u64),
                    Err(e) => {
                        metrics::counter!("notifications_lost_total").increment(batch.len() as u64);
                        tracing::warn!(error = %e, count = batch.len(), "notifications not stored");
                    }
                }
                batch.clear();
            }
            let first = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    metrics::counter!("notifications_lost_total").increment(n);
                    tracing::warn!(events = n, "notification recorder fell behind the bus");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            batch.extend(notification(&first));
            // What else is there already goes in the same statement (at
            // the top of the loop).
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(e) => batch.extend(notification(&e)),
                    Err(_) => break,
                }
            }
        }
    });
    let Some(keep) = keep else { return };
    let store = state.store.clone();
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let before = chrono::Utc::now()
                - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
            match prune(&store, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "old notifications deleted"),
                Err(e) => tracing::warn!(error = %e, "notification retention failed"),
            }
        }
    });
}
