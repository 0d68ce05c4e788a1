//! The AI watch: every `TRADINGBOT_AI_WATCH_SECS`, each open position gets
//! a recommendation (the technical advice, with the models' votes when
//! keys are configured). Close, reduce or reverse at or above the user's
//! `ai_alert_confidence` becomes an `ai_recommendation` event (websocket
//! and Telegram, which offers `/close SYMBOL`). Only when the position's
//! strategy has `ai_auto_exit` on, and the advice is close or reverse, is
//! the position closed — through the same path as a close from the API;
//! a reversal is never opened by the watch.

use super::Advisor;
use super::recommend::recommend;
use crate::execution::Execution;
use crate::execution::events::{AiAdvice, Event};
use crate::execution::user::CloseSource;
use crate::market_data::{MarketData, MarketDataError};
use crate::store::Store;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradingbot_core::analysis::advice::Action;
use tradingbot_core::analysis::{Analysis, Settings};
use tradingbot_core::exchange::types::PositionSide;

/// Candles the watch reads: hourly, or daily where only those exist
/// (offline, the bundled BTC data).
const TIMEFRAMES: [&str; 2] = ["1h", "1d"];

/// What was last said about a position, so it is not repeated every tick.
/// (the advice, when, whether the watch closed the position then).
type Said = HashMap<i64, (Action, Instant, bool)>;

/// What the watch reads, asks and acts through.
#[derive(Clone)]
pub struct AiWatch {
    pub store: Store,
    pub execution: Arc<Execution>,
    pub market_data: Arc<MarketData>,
    pub advisor: Arc<Advisor>,
}

/// Starts the watch's rounds.
pub fn spawn(watch: AiWatch, every: Duration) {
    actix_rt::spawn(async move {
        let mut said = Said::new();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: wait one period before looking.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match tick(&watch, &mut said, every).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(recommendations = n, "AI watch");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "AI watch skipped a round"),
            }
        }
    });
}

/// One round; returns how many recommendations were sent.
pub async fn tick(
    state: &AiWatch,
    said: &mut Said,
    every: Duration,
) -> Result<usize, crate::store::DbErr> {
    let open = crate::watchlist::open_positions(&state.store).await?;
    said.retain(|id, _| open.iter().any(|w| w.position.id == *id));
    if open.is_empty() {
        return Ok(0);
    }
    let mut analyses: HashMap<String, Option<(String, Arc<Analysis>)>> = HashMap::new();
    let mut sent = 0;
    for w in &open {
        let p = &w.position;
        if !analyses.contains_key(&p.symbol) {
            let a = analyse(state, &p.symbol).await;
            analyses.insert(p.symbol.clone(), a);
        }
        let Some(Some((timeframe, a))) = analyses.get(&p.symbol) else {
            continue;
        };
        let side = PositionSide::from(p.side);
        let position = json!({
            "side": if side == PositionSide::Long { "long" } else { "short" },
            "entry_price": p.entry_price.get(),
            "quantity": p.quantity.get(),
            "leverage": p.leverage,
            "unrealized_pnl": p.unrealized_pnl.get(),
            "stop_loss": p.stop_loss.as_ref().map(|d| d.get()),
            "take_profit": p.take_profit.as_ref().map(|d| d.get()),
            "opened_at": p.opened_at,
        });
        let (_, rec) = recommend(
            &state.advisor,
            &p.symbol,
            timeframe,
            a,
            Some(side),
            position,
        )
        .await;
        if rec.action == Action::Hold || rec.confidence < w.threshold {
            continue;
        }
        let may_close = w.auto_exit && matches!(rec.action, Action::Close | Action::Reverse);
        // The same advice is repeated only after four rounds (a close the
        // strategy allows is carried out at once).
        if let Some((a, at, closed)) = said.get(&p.id)
            && (*closed || (!may_close && *a == rec.action && at.elapsed() < every * 4))
        {
            continue;
        }
        let auto_closed = may_close
            && match state
                .execution
                .close_position(p.user_id, p.id, CloseSource::Ai, None)
                .await
            {
                Ok(_) => {
                    crate::identity::audit::record(
                        &state.store,
                        Some(p.user_id),
                        "ai_auto_exit",
                        &crate::identity::RequestContext {
                            ip: None,
                            user_agent: Some("tradingbot-ai-watch".into()),
                        },
                        json!({ "position": p.id, "strategy": p.strategy_id, "confidence": rec.confidence,
                                "sources": rec.agreed }),
                    )
                    .await;
                    true
                }
                Err(e) => {
                    tracing::warn!(position = p.id, error = ?e, "AI watch could not close the position");
                    false
                }
            };
        said.insert(p.id, (rec.action, Instant::now(), auto_closed));
        let reason = if rec.reasons.is_empty() {
            "the evidence turned against the position".to_owned()
        } else {
            rec.reasons
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        };
        state
            .execution
            .bus()
            .publish_live(Event::AiRecommendation(AiAdvice {
                user_id: p.user_id,
                position_id: p.id,
                strategy_id: p.strategy_id,
                symbol: p.symbol.clone(),
                side: if side == PositionSide::Long {
                    "LONG"
                } else {
                    "SHORT"
                }
                .into(),
                action: rec.action.as_str().into(),
                confidence: rec.confidence,
                reason,
                sources: rec.agreed.clone(),
                auto_closed,
            }));
        sent += 1;
    }
    Ok(sent)
}

/// The analysis of a symbol's recent candles, on the first timeframe that
/// has them.
async fn analyse(state: &AiWatch, symbol: &str) -> Option<(String, Arc<Analysis>)> {
    for tf in TIMEFRAMES {
        match state.market_data.candles(symbol, tf, 500).await {
            Ok(c) if c.bars.len() >= 50 => {
                let bars = c.bars.clone();
                let a = tokio::task::spawn_blocking(move || {
                    tradingbot_core::analysis::analyse(&bars, &Settings::default())
                })
                .await
                .ok()?;
                return Some((tf.to_owned(), Arc::new(a)));
            }
            Ok(_) | Err(MarketDataError::Unavailable { .. }) => continue,
            Err(e) => {
                tracing::debug!(symbol, error = %e, "AI watch has no candles");
                return None;
            }
        }
    }
    None
}
