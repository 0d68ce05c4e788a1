//! Watches the event bus for abnormal trading (off the hot path: a
//! separate task reading the live channel) and raises each finding of
//! `core::anomaly` as a risk alert — which reaches the websocket's `alerts`
//! channel and Telegram like any other. Strategies whose owner chose it are
//! then paused (deactivated through the same path as the API's).

use crate::execution::Execution;
use crate::execution::events::{Event, RiskAlert};
use crate::identity::{RequestContext, audit};
use crate::store::Store;
use crate::store::entities::strategies;
use crate::store::enums::{OrderLeg, SignalOutcome};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tradingbot_core::anomaly::{Anomaly, Detector, Settings};

pub fn spawn(execution: Arc<Execution>, store: Store, settings: Settings) {
    let bus = execution.bus().clone();
    let mut rx = bus.subscribe_where(Arc::new(|e: &Event| match e {
        Event::Signal(_) | Event::AccountUpdate(_) => true,
        Event::OrderFilled(o) | Event::OrderUpdated(o) => o.leg == OrderLeg::Entry,
        _ => false,
    }));
    tokio::spawn(async move {
        let mut strategies: HashMap<i64, Detector> = HashMap::new();
        let mut accounts: HashMap<i64, Detector> = HashMap::new();
        // Entries counted once, when first seen filled.
        let mut seen_fills: std::collections::HashSet<i64> = std::collections::HashSet::new();
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    metrics::counter!("anomaly_events_lagged_total").increment(n);
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            // (user, strategy, account, finding)
            let found: Vec<(i64, Option<i64>, Option<i64>, Anomaly)> = match event.as_ref() {
                Event::Signal(s) => match (s.user_id, s.strategy_id) {
                    (Some(user), Some(strategy)) if s.outcome != SignalOutcome::Duplicate => {
                        strategies
                            .entry(strategy)
                            .or_insert_with(|| Detector::new(settings))
                            .signal(
                                s.received_at.timestamp_millis(),
                                s.outcome == SignalOutcome::Accepted,
                            )
                            .into_iter()
                            .map(|a| (user, Some(strategy), None, a))
                            .collect()
                    }
                    _ => Vec::new(),
                },
                // Filled, or part-filled and then cancelled or expired.
                Event::OrderFilled(o) | Event::OrderUpdated(o)
                    if o.leg == OrderLeg::Entry && o.filled_qty > rust_decimal::Decimal::ZERO =>
                {
                    match (o.strategy_id, o.avg_fill_price.or(o.price)) {
                        (Some(strategy), Some(price)) if seen_fills.insert(o.id) => {
                            if seen_fills.len() > 100_000 {
                                seen_fills.clear();
                            }
                            strategies
                                .entry(strategy)
                                .or_insert_with(|| Detector::new(settings))
                                .order(o.filled_qty * price)
                                .map(|a| vec![(o.user_id, Some(strategy), None, a)])
                                .unwrap_or_default()
                        }
                        _ => Vec::new(),
                    }
                }
                Event::AccountUpdate(a) => accounts
                    .entry(a.account_id)
                    .or_insert_with(|| Detector::new(settings))
                    .equity(a.at.timestamp_millis(), a.wallet + a.unrealized_pnl)
                    .map(|x| vec![(a.user_id, None, Some(a.account_id), x)])
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            for (user_id, strategy, account, a) in found {
                metrics::counter!("anomalies_total", "kind" => a.code()).increment(1);
                let scope =
                    strategy.map_or_else(|| "an account".to_owned(), |s| format!("strategy {s}"));
                bus.publish(Event::RiskAlert(RiskAlert {
                    user_id,
                    kind: format!("anomaly_{}", a.code()),
                    rule: None,
                    message: format!("Unusual activity on {scope}: {}", a.message()),
                    position_id: None,
                }));
                tokio::spawn(pause(
                    execution.clone(),
                    store.clone(),
                    user_id,
                    strategy,
                    account,
                    a.code(),
                ));
            }
        }
    });
}

/// Deactivates the strategy an anomaly was found on (or every strategy of
/// the account), where its owner turned `auto_pause_on_anomaly` on.
async fn pause(
    execution: Arc<Execution>,
    store: Store,
    user_id: i64,
    strategy: Option<i64>,
    account: Option<i64>,
    code: &'static str,
) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut q = strategies::Entity::find()
        .filter(strategies::Column::UserId.eq(user_id))
        .filter(strategies::Column::IsActive.eq(true))
        .filter(strategies::Column::AutoPauseOnAnomaly.eq(true));
    q = match (strategy, account) {
        (Some(s), _) => q.filter(strategies::Column::Id.eq(s)),
        (None, Some(a)) => q.filter(strategies::Column::AccountId.eq(a)),
        (None, None) => return,
    };
    let rows = match q.all(store.conn()).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, user_id, "strategies to pause unreadable");
            return;
        }
    };
    for row in rows {
        let paused = strategies::Entity::update_many()
            .col_expr(strategies::Column::IsActive, false.into())
            .col_expr(strategies::Column::UpdatedAt, chrono::Utc::now().into())
            .filter(strategies::Column::Id.eq(row.id))
            .filter(strategies::Column::IsActive.eq(true))
            .exec(store.conn())
            .await;
        match paused {
            Ok(r) if r.rows_affected == 1 => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(error = %e, strategy_id = row.id, "strategy could not be paused");
                continue;
            }
        }
        if let Err(e) = execution.strategy_saved(row.id).await {
            tracing::error!(error = %e, strategy_id = row.id, "paused strategy not taken by the core");
        }
        metrics::counter!("strategies_auto_paused_total", "kind" => code).increment(1);
        audit::record(
            &store,
            Some(user_id),
            "strategy_auto_paused",
            &RequestContext::default(),
            serde_json::json!({ "strategy": row.id, "anomaly": code }),
        )
        .await;
        execution.bus().publish(Event::RiskAlert(RiskAlert {
            user_id,
            kind: "strategy_auto_paused".into(),
            rule: None,
            message: format!(
                "Strategy {} ({}) was paused after the anomaly above ({code}); activate it again when you have checked it",
                row.id, row.name
            ),
            position_id: None,
        }));
    }
}
