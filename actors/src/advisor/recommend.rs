//! The recommendation for a position: the technical advice on the
//! computed analysis, plus the configured language models' votes on the
//! same data, combined by `core::analysis::ensemble`.

use super::{Advisor, Prompt, SYSTEM};
use serde_json::{Value, json};
use tradingbot_core::analysis::Analysis;
use tradingbot_core::analysis::advice::{TechnicalAdvice, advise};
use tradingbot_core::analysis::ensemble::{Recommendation, combine};
use tradingbot_core::exchange::types::PositionSide;

/// What the models are shown: the analysis as numbers, not a chart.
pub fn prompt_data(
    symbol: &str,
    timeframe: &str,
    a: &Analysis,
    technical: &TechnicalAdvice,
    position: &Value,
) -> Value {
    let close = a.bars.last().map_or(0.0, |b| b.close);
    let recent = a.bars.len().saturating_sub(50);
    json!({
        "symbol": symbol,
        "timeframe": timeframe,
        "last_close": close,
        "atr": a.atr_now,
        "position": position,
        "technical": {
            "score": technical.score,
            "bias": technical.bias,
            "suggested_action": technical.action,
            "components": technical.components,
            "reasons": technical.reasons,
        },
        "levels": a.levels.iter().take(5).collect::<Vec<_>>(),
        "trendlines": a.trendlines.iter().take(3).collect::<Vec<_>>(),
        "recent_patterns": a.patterns.iter().filter(|p| p.points.last().is_some_and(|x| x.index >= recent)).collect::<Vec<_>>(),
        "volume_profile": a.profile.as_ref().map(|p| json!({
            "poc": p.poc_price, "value_area_low": p.value_area_low, "value_area_high": p.value_area_high })),
        "volume_spikes_recent": a.spikes.iter().filter(|s| s.index >= recent).count(),
        "fractal": {
            "hurst_rs": a.fractal.hurst_rs,
            "hurst_dfa": a.fractal.hurst_dfa,
            "higuchi_dimension": a.fractal.higuchi_dimension,
            "regime": a.fractal.regime,
        },
    })
}

/// The technical advice alone without a position; with one, the
/// ensemble of it and the models.
pub async fn recommend(
    advisor: &Advisor,
    symbol: &str,
    timeframe: &str,
    a: &Analysis,
    side: Option<PositionSide>,
    position: Value,
) -> (TechnicalAdvice, Recommendation) {
    let technical = advise(a, side);
    let Some(side) = side else {
        return (
            technical.clone(),
            combine(&technical, Vec::new(), Vec::new()),
        );
    };
    let prompt = Prompt {
        system: SYSTEM.to_owned(),
        data: prompt_data(symbol, timeframe, a, &technical, &position),
    };
    let side_word = if side == PositionSide::Long {
        "long"
    } else {
        "short"
    };
    let last = a.bars.last().map_or(0, |b| b.time_ms);
    // One answer per subject and closed candle, whoever asks.
    let key = format!("{symbol}:{timeframe}:{side_word}:{last}");
    let votes = advisor.votes(&key, &prompt).await;
    let rec = combine(&technical, votes.0.clone(), votes.1.clone());
    (technical, rec)
}
