//! Watches the event bus for abnormal trading (off the hot path: a
//! separate task reading the live channel) and raises each finding of
//! `core::anomaly` as a risk alert — which reaches the websocket's `alerts`
//! channel and Telegram like any other.

use crate::execution::bus::EventBus;
use crate::execution::events::{Event, RiskAlert};
use crate::store::enums::{OrderLeg, SignalOutcome};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tradingbot_core::anomaly::{Anomaly, Detector, Settings};

pub fn spawn(bus: Arc<EventBus>, settings: Settings) {
    let mut rx = bus.subscribe();
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
            let found: Vec<(i64, Option<i64>, Anomaly)> = match event.as_ref() {
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
                            .map(|a| (user, Some(strategy), a))
                            .collect()
                    }
                    _ => Vec::new(),
                },
                Event::Order(o)
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
                                .map(|a| vec![(o.user_id, Some(strategy), a)])
                                .unwrap_or_default()
                        }
                        _ => Vec::new(),
                    }
                }
                Event::AccountUpdate(a) => accounts
                    .entry(a.account_id)
                    .or_insert_with(|| Detector::new(settings))
                    .equity(a.at.timestamp_millis(), a.wallet + a.unrealized_pnl)
                    .map(|x| vec![(a.user_id, None, x)])
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            for (user_id, strategy, a) in found {
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
            }
        }
    });
}
